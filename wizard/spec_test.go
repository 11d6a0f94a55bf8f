package wizard

import (
	"strings"
	"testing"
)

func TestParseSpecExample(t *testing.T) {
	s, err := ParseSpec(strings.NewReader(ExampleSpec))
	if err != nil {
		t.Fatal(err)
	}
	if s.DataCenter.Name != "Moscow" || s.Cluster.Name != "kvm-main" || s.Params == nil || *s.Params.QueueCount != 3 {
		t.Fatalf("spec %+v", s)
	}
}

func TestParseSpecRefuses(t *testing.T) {
	for _, c := range []struct{ in, field, frag string }{
		{`{"nmae":"x"}`, "nmae", "not a spec field"},
		{`{"sort":"ten"}`, "sort", "JSON int"},
		{`{"params":{"queue_count":"3"}}`, "params.queue_count", "JSON int"},
		{`{"datacenter":true}`, "spec", "name (string) or an id"},
		{`{"params":{"queue":"sometimes"}}`, "spec", "on or off"},
		{`{"name":`, "spec", "not valid"},
		{`{} {}`, "spec", "exactly one"},
		{`{"password":"x"}`, "password", "not a spec field"},
	} {
		t.Run(c.in, func(t *testing.T) {
			_, err := ParseSpec(strings.NewReader(c.in))
			wantRule(t, err, c.field, c.frag)
		})
	}
}

func TestCatalogDraftFromSpec(t *testing.T) {
	cat := testCatalog()
	s, err := ParseSpec(strings.NewReader(`{"product_type":"VPS","module":"VMmanager 6","url":"vmm.example.com",
		"username":"admin@example.com","datacenter":1,"department":"Sales","name":"new","cluster":"lxd-main",
		"params":{"queue":"on","queue_key":"k-__IID__"}}`))
	if err != nil {
		t.Fatal(err)
	}
	d, err := cat.Draft(s)
	if err != nil {
		t.Fatal(err)
	}
	if d.ProductType != "vps" || d.Kind != "vmmanager6" || d.DataCenterID != 1 || d.DepartmentID != 2 ||
		!d.Params.Queue || d.Params.QueueKey != "k-__IID__" || d.Params.QueueCount != 1 || d.Params.SessionTTL != 3600 {
		t.Fatalf("draft %+v", d)
	}
	d.SetClusters(testClusters)
	if err := d.ResolveSpecCluster(s); err != nil || d.Cluster.Virtualization != "lxd" {
		t.Fatalf("cluster by name: %v %+v", err, d.Cluster)
	}
	// A data center called "7" is found by name before id 7 is tried; an unknown one is refused.
	for _, c := range []struct {
		dc    string
		want  uint64
		field string
	}{{`"7"`, 3, ""}, {`"Partner DC"`, 2, ""}, {`"Nowhere"`, 0, "datacenter"}, {`0`, 0, "datacenter"}} {
		s, _ := ParseSpec(strings.NewReader(`{"datacenter":` + c.dc + `,"department":1}`))
		d, err := cat.Draft(s)
		wantRule(t, err, c.field, "")
		if err == nil && d.DataCenterID != c.want {
			t.Fatalf("datacenter %s resolved to %d, want %d", c.dc, d.DataCenterID, c.want)
		}
	}
}
