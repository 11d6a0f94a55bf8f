package wizard

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"vmmpm/store"
	"vmmpm/vmm"
	"vmmpm/vmm/sim"
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
		{`"vps"`, "spec", "must be a JSON object, not string"},
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
	// A data center called "7" is found by name before id 7 is tried, a name in another case when no
	// name matches exactly; an unknown one is refused.
	for _, c := range []struct {
		dc    string
		want  uint64
		field string
	}{{`"7"`, 3, ""}, {`"Partner DC"`, 2, ""}, {`"partner dc"`, 2, ""}, {`"Nowhere"`, 0, "datacenter"}, {`0`, 0, "datacenter"}} {
		s, _ := ParseSpec(strings.NewReader(`{"datacenter":` + c.dc + `,"department":1}`))
		d, err := cat.Draft(s)
		wantRule(t, err, c.field, "")
		if err == nil && d.DataCenterID != c.want {
			t.Fatalf("datacenter %s resolved to %d, want %d", c.dc, d.DataCenterID, c.want)
		}
	}
}

// TestResolveNameCase: a name in another case finds the one record it names, never one of several.
func TestResolveNameCase(t *testing.T) {
	cs := []vmm.Cluster{{ID: 1, Name: "KVM"}, {ID: 2, Name: "kvm"}, {ID: 3, Name: "Lxd"}}
	for ref, want := range map[string]uint64{"kvm": 2, "KVM": 1, "LXD": 3, "Kvm": 0, "3": 3} {
		id, err := ResolveCluster(cs, ParseRef(ref))
		if id != want || (want == 0) != (err != nil) {
			t.Errorf("cluster %q resolved to %d (%v), want %d", ref, id, err, want)
		}
	}
}

// TestSpecRoundTrip: a parsed spec written as JSON (as it crosses the socket) reads back the same,
// data center, department and cluster given by name, by id or not at all.
func TestSpecRoundTrip(t *testing.T) {
	for _, in := range []string{ExampleSpec, `{"datacenter": 3, "department": "12", "cluster": " kvm "}`, `{}`} {
		s, err := ParseSpec(strings.NewReader(in))
		if err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseSpec(bytes.NewReader(b))
		if err != nil || !reflect.DeepEqual(back, s) {
			t.Fatalf("%s → %s → %+v (%v), want %+v", in, b, back, err, s)
		}
	}
}

// specDB is seededDB with the emulator's admin: the spec of a module on it and an empty secrets store.
func specDB(t *testing.T) (*store.DB, store.Secrets, *sim.Sim, func(edit string) *Spec) {
	t.Helper()
	s := sim.New(sim.Config{})
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	spec := func(edit string) *Spec {
		t.Helper()
		sp, err := ParseSpec(strings.NewReader(`{"product_type": "vps", "module": "vmmanager6", "url": "` + srv.URL + `", "username": "` + simAdmin + `",
			"datacenter": "moscow", "department": 1, "name": "KVM one", "sort": 10, "cluster": "kvm-main"` + edit + `}`))
		if err != nil {
			t.Fatal(err)
		}
		return sp
	}
	return seededDB(t), store.NewMemorySecrets(), s, spec
}

func TestAddFromSpec(t *testing.T) {
	db, secrets, vm, spec := specDB(t)
	ctx := context.Background()
	m, warnings, err := AddFromSpec(ctx, db, secrets, spec(`, "additional_interface": true`), simPassword)
	if err != nil || len(warnings) != 0 {
		t.Fatalf("add: %v, warnings %q", err, warnings)
	}
	got, err := store.Load[store.Module](db, m.ID)
	if err != nil || got.Name != "KVM one" || got.DataCenterID != 1 || got.Cluster.Name != "kvm-main" ||
		!got.AdditionalInterface || got.LastCheck == nil || !got.LastCheck.OK {
		t.Fatalf("saved %+v, %v", got, err)
	}
	if pw, err := secrets.Get(m.ID); err != nil || pw != simPassword {
		t.Fatalf("secrets hold %q, %v", pw, err)
	}
	// Another module with the same sort on the data center is saved with a warning.
	_, warnings, err = AddFromSpec(ctx, db, secrets, spec(`, "name": "LXD one", "cluster": 2`), simPassword)
	if err != nil || len(warnings) != 1 || !strings.Contains(warnings[0], `sort 10 is also used by module "KVM one"`) {
		t.Fatalf("duplicate sort: %v, warnings %q", err, warnings)
	}
	logins := vm.Stats().LoginsOK

	for _, c := range []struct {
		name, edit, password string
		check                func(error)
	}{
		{"refused offline", `, "name": "x", "datacenter": "Partner DC"`, simPassword,
			func(err error) { wantRule(t, err, "datacenter", "External Data Center id") }},
		{"name taken", ``, simPassword, func(err error) { wantRule(t, err, "name", "unique") }},
		{"unknown cluster", `, "name": "x", "cluster": "nope"`, simPassword,
			func(err error) { wantRule(t, err, "cluster", `"kvm-main" (id 1)`) }},
		{"no interface", `, "name": "x", "cluster": "lxd-main", "additional_interface": true`, simPassword,
			func(err error) { wantRule(t, err, "additional_interface", "lxd-main") }},
		{"bad credentials", `, "name": "x"`, "wrong-password",
			func(err error) { wantCause(t, err, CauseBadCredentials) }},
		{"unreachable", `, "name": "x", "url": "http://127.0.0.1:1"`, simPassword,
			func(err error) { wantCause(t, err, CauseConnection) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, _, err := AddFromSpec(ctx, db, secrets, spec(c.edit), c.password)
			if m != nil {
				t.Fatalf("refused, yet returned module %+v", m)
			}
			c.check(err)
			if n := moduleCount(t, db); n != 2 {
				t.Fatalf("a refusal left %d modules", n)
			}
			if _, err := secrets.Get(3); !errors.Is(err, store.ErrSecretNotFound) {
				t.Fatalf("a refusal left a password: %v", err)
			}
		})
	}
	// The offline refusals (data center, name) never reached VMmanager: only the cluster and interface
	// refusals logged in, and the wrong password failed to.
	if st := vm.Stats(); st.LoginsOK-logins != 2 || st.LoginsFailed != 1 {
		t.Errorf("the refusals logged in %d times and failed %d, want 2 and 1", st.LoginsOK-logins, st.LoginsFailed)
	}
}
