package wizard

import (
	"errors"
	"strings"
	"testing"

	"vmmpm/store"
	"vmmpm/vmm"
)

// wantRule checks err against a table row: "" means valid, otherwise the field must match and the rule
// must contain the fragment.
func wantRule(t *testing.T, err error, field, fragment string) {
	t.Helper()
	if field == "" {
		if err != nil {
			t.Fatalf("want valid, got %v", err)
		}
		return
	}
	var ve *store.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("want a ValidationError on %s, got %v", field, err)
	}
	if ve.Field != field || !strings.Contains(ve.Rule, fragment) {
		t.Fatalf("want %s: …%s…, got %s: %s", field, fragment, ve.Field, ve.Rule)
	}
}

func testCatalog() *Catalog {
	return &Catalog{
		DataCenters: []*store.DataCenter{
			{ID: 1, Name: "Moscow"},
			{ID: 2, Name: "Partner DC", ExternalID: "ext-42"},
			{ID: 3, Name: "7"},
		},
		Departments: []*store.Department{{ID: 1, Name: "Support"}, {ID: 2, Name: "Sales"}},
		Modules: []*store.Module{
			{ID: 5, Name: "KVM one", DataCenterID: 1, Sort: 10},
			{ID: 6, Name: "LXD one", DataCenterID: 3, Sort: 20},
		},
		NextModuleID: 7,
	}
}

var testClusters = []vmm.Cluster{
	{ID: 1, Name: "kvm-main", Virtualization: "kvm", Interfaces: []int{0, 1}},
	{ID: 2, Name: "lxd-main", Virtualization: "lxd", Interfaces: []int{0}},
}

func TestStepOrderAndIndicator(t *testing.T) {
	want := []string{"Product type", "Processing module", "Integration", "Module parameters", "Review"}
	for i, s := range Steps() {
		if s.Title() != want[i] {
			t.Fatalf("step %d is %q, want %q", i+1, s.Title(), want[i])
		}
	}
	if got := StepIntegration.Indicator(); got != "Step 3 of 5 · Integration" {
		t.Fatalf("indicator %q", got)
	}
	if StepProductType.Prev() != StepProductType || StepReview.Next() != StepReview || StepModule.Next() != StepIntegration {
		t.Fatal("Prev/Next leave the range or skip")
	}
}

func TestProductTypeAndKind(t *testing.T) {
	for _, c := range []struct{ in, field, frag string }{
		{"vps", "", ""}, {"VPS", "", ""}, {"", "product_type", `must be "vps"`}, {"dedicated", "product_type", "VPS"},
	} {
		wantRule(t, ValidateProductType(c.in), c.field, c.frag)
	}
	for _, c := range []struct{ in, field, frag string }{
		{"vmmanager6", "", ""}, {"VMmanager 6", "", ""}, {"vmmanager5", "module", "VMmanager 6"}, {"", "module", "vmmanager6"},
	} {
		wantRule(t, ValidateKind(c.in), c.field, c.frag)
	}
}

func TestIntegrationFields(t *testing.T) {
	for _, c := range []struct{ in, field, frag string }{
		{"vmm.example.com", "", ""},
		{"https://10.0.0.5:8443/", "", ""},
		{"http://127.0.0.1:1500", "", ""},
		{"", "url", "empty"},
		{"https://vmm.example.com/vmmgr", "url", "path"},
		{"ftp://vmm.example.com", "url", "scheme"},
		{"https://user:pw@vmm.example.com", "url", "user name"},
		{"https://vmm.example.com:99999", "url", "port"},
	} {
		t.Run("url "+c.in, func(t *testing.T) { wantRule(t, ValidateURL(c.in), c.field, c.frag) })
	}
	for _, c := range []struct{ in, field, frag string }{
		{"admin@example.com", "", ""},
		{" admin@example.com ", "", ""},
		{"", "username", "empty"},
		{"admin", "username", "email"},
		{"Admin <admin@example.com>", "username", "email"},
		{"a b@example.com", "username", "email"},
	} {
		t.Run("user "+c.in, func(t *testing.T) { wantRule(t, ValidateUsername(c.in), c.field, c.frag) })
	}
	for _, c := range []struct{ in, field, frag string }{
		{"s3cret", "", ""}, {"", "password", "empty"}, {"a\nb", "password", "single line"},
	} {
		wantRule(t, ValidatePassword(c.in), c.field, c.frag)
	}
}

func TestDataCenterRules(t *testing.T) {
	cat := testCatalog()
	for _, c := range []struct {
		id          uint64
		field, frag string
	}{
		{1, "", ""}, {0, "datacenter", "chosen"}, {99, "datacenter", "existing"},
		{2, "datacenter", `External Data Center id "ext-42"`},
	} {
		wantRule(t, cat.ValidateDataCenter(c.id), c.field, c.frag)
	}
	ch := cat.DataCenterChoices()
	if len(ch) != 3 || !ch[0].Selectable || ch[1].Selectable || !strings.Contains(ch[1].Reason, "ext-42") {
		t.Fatalf("external-id data center must be listed, unselectable, with the reason: %+v", ch)
	}
}

func TestNameRules(t *testing.T) {
	cat := testCatalog()
	for _, c := range []struct {
		name        string
		self        uint64
		field, frag string
	}{
		{"KVM two", 0, "", ""},
		{strings.Repeat("n", 64), 0, "", ""},
		{strings.Repeat("ж", 64), 0, "", ""},
		{strings.Repeat("n", 65), 0, "name", "at most 64"},
		{"", 0, "name", "empty"},
		{"   ", 0, "name", "empty"},
		{"tab\there", 0, "name", "control"},
		{"KVM one", 0, "name", "unique"},
		{" kvm ONE ", 0, "name", "module 5"},
		{"KVM one", 5, "", ""}, // renaming a module to its own name
	} {
		t.Run(c.name, func(t *testing.T) { wantRule(t, cat.ValidateName(c.name, c.self), c.field, c.frag) })
	}
}

func TestDepartmentRules(t *testing.T) {
	cat := testCatalog()
	wantRule(t, cat.ValidateDepartment(2), "", "")
	wantRule(t, cat.ValidateDepartment(0), "department", "chosen")
	wantRule(t, cat.ValidateDepartment(9), "department", "existing")
}

func TestSortRules(t *testing.T) {
	for _, c := range []struct {
		in          string
		want        int
		field, frag string
	}{
		{"0", 0, "", ""}, {"9999", 9999, "", ""}, {"", 0, "", ""}, {" 42 ", 42, "", ""},
		{"-1", 0, "sort", "between 0 and 9999"}, {"10000", 0, "sort", "between 0 and 9999"},
		{"ten", 0, "sort", "whole number"}, {"1.5", 0, "sort", "whole number"},
		{"99999999999999999999", 0, "sort", "in range"},
	} {
		t.Run(c.in, func(t *testing.T) {
			n, err := ParseSort(c.in)
			wantRule(t, err, c.field, c.frag)
			if err == nil && n != c.want {
				t.Fatalf("ParseSort(%q) = %d, want %d", c.in, n, c.want)
			}
		})
	}
}

func TestDuplicateSortIsFlaggedNotRefused(t *testing.T) {
	cat := testCatalog()
	if w := cat.SortWarning(10, 1, 0); !strings.Contains(w, `"KVM one" (id 5)`) {
		t.Fatalf("same sort on the same data center must be flagged, got %q", w)
	}
	for _, c := range []struct {
		sort     int
		dc, self uint64
	}{{10, 3, 0}, {11, 1, 0}, {10, 1, 5}} { // other data center, other sort, the module itself
		if w := cat.SortWarning(c.sort, c.dc, c.self); w != "" {
			t.Fatalf("sort %d dc %d self %d flagged: %q", c.sort, c.dc, c.self, w)
		}
	}
	d := validDraft()
	d.Sort = 10
	if err := cat.Validate(d); err != nil {
		t.Fatalf("a duplicate sort must not be refused: %v", err)
	}
	if len(cat.Warnings(d)) != 1 {
		t.Fatal("the draft's duplicate sort must be among its warnings")
	}
}

func TestClusterRules(t *testing.T) {
	wantRule(t, ValidateCluster(testClusters, 2), "", "")
	wantRule(t, ValidateCluster(testClusters, 0), "cluster", "chosen")
	wantRule(t, ValidateCluster(testClusters, 3), "cluster", "VMmanager listed")
	wantRule(t, ValidateCluster(nil, 1), "cluster", "listed none")
	for _, c := range []struct {
		ref   Ref
		want  uint64
		field string
	}{
		{Ref{Name: "lxd-main"}, 2, ""}, {Ref{ID: 1}, 1, ""}, {ParseRef("2"), 2, ""},
		{Ref{Name: "nope"}, 0, "cluster"}, {Ref{}, 0, "cluster"},
	} {
		id, err := ResolveCluster(testClusters, c.ref)
		wantRule(t, err, c.field, "")
		if id != c.want {
			t.Fatalf("ResolveCluster(%v) = %d, want %d", c.ref, id, c.want)
		}
	}
	ch := ClusterChoices(testClusters)
	if ch[0].Label != "kvm-main (KVM)" || ch[1].Label != "lxd-main (LXD)" {
		t.Fatalf("cluster labels must carry the virtualization: %+v", ch)
	}
}

func TestAdditionalInterfaceRule(t *testing.T) {
	if ok, reason := AdditionalInterface(testClusters, 1); !ok || reason == "" {
		t.Fatal("KVM cluster with a pool on interface 1 must allow the second interface")
	}
	ok, reason := AdditionalInterface(testClusters, 2)
	if ok || !strings.Contains(reason, `"lxd-main"`) || !strings.Contains(reason, "only on the main one") {
		t.Fatalf("LXD cluster without an interface ≥ 1 pool must refuse with the reason, got %v %q", ok, reason)
	}
	if ok, _ := AdditionalInterface(testClusters, 0); ok {
		t.Fatal("no cluster chosen must not allow the switch")
	}
	wantRule(t, ValidateAdditionalInterface(testClusters, 2, true), "additional_interface", "lxd-main")
	wantRule(t, ValidateAdditionalInterface(testClusters, 2, false), "", "")
	wantRule(t, ValidateAdditionalInterface(testClusters, 1, true), "", "")
}

func TestRecipeWaitRule(t *testing.T) {
	wantRule(t, ValidateRecipeWait(true, "os"), "", "")
	wantRule(t, ValidateRecipeWait(true, "recipe"), "", "")
	wantRule(t, ValidateRecipeWait(false, "whatever"), "", "")
	wantRule(t, ValidateRecipeWait(true, "later"), "recipe_wait", `"os"`)
}

func validDraft() *Draft {
	d := NewDraft()
	d.URL, d.Username = "vmm.example.com", "admin@example.com"
	d.DataCenterID, d.DepartmentID, d.Name, d.Sort = 1, 1, "KVM two", 30
	d.SetClusters(testClusters)
	_ = d.ChooseCluster(1)
	return d
}

func TestStepValidation(t *testing.T) {
	cat := testCatalog()
	for _, c := range []struct {
		name        string
		step        Step
		edit        func(*Draft)
		field, frag string
	}{
		{"valid review", StepReview, func(*Draft) {}, "", ""},
		{"product", StepProductType, func(d *Draft) { d.ProductType = "vds" }, "product_type", "vps"},
		{"kind", StepModule, func(d *Draft) { d.Kind = "dcimanager6" }, "module", "vmmanager6"},
		{"url", StepIntegration, func(d *Draft) { d.URL = "" }, "url", "empty"},
		{"username", StepIntegration, func(d *Draft) { d.Username = "root" }, "username", "email"},
		{"external dc", StepParams, func(d *Draft) { d.DataCenterID = 2 }, "datacenter", "External"},
		{"lxd second iface", StepParams, func(d *Draft) { _ = d.ChooseCluster(2); d.AdditionalInterface = true }, "additional_interface", "lxd-main"},
		{"no clusters fetched", StepParams, func(d *Draft) { d.SetClusters(nil) }, "cluster", "listed none"},
		{"params", StepParams, func(d *Draft) { d.Params.QueueCount = 0 }, "queue_count", "between 1 and 64"},
		{"review sees step 4", StepReview, func(d *Draft) { d.Name = "KVM one" }, "name", "unique"},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := validDraft()
			c.edit(d)
			wantRule(t, cat.ValidateStep(c.step, d), c.field, c.frag)
		})
	}
	d := validDraft()
	d.Cluster = store.Cluster{}
	if err := cat.ValidateOffline(d); err != nil {
		t.Fatalf("offline validation must not need the cluster: %v", err)
	}
}

func TestDraftModule(t *testing.T) {
	d := validDraft()
	d.URL = "VMM.example.com/"
	d.Name = "  KVM two "
	m := d.Module()
	if m.URL != "https://vmm.example.com" || m.Name != "KVM two" || m.ProductType != "vps" || m.Kind != "vmmanager6" {
		t.Fatalf("module %+v", m)
	}
	if m.Cluster != (store.Cluster{ID: 1, Name: "kvm-main", Virtualization: "kvm"}) || !m.Enabled || m.RecipeWait != "" {
		t.Fatalf("module %+v", m)
	}
	if m.Params != store.DefaultParams() || m.Params.SessionTTL != 3600 || m.Params.Queue || m.Params.QueueKey != "vmm6-__PMID__" || m.Params.QueueCount != 1 {
		t.Fatalf("spec §4 defaults: %+v", m.Params)
	}
	d.UseRecipes, d.RecipeWait = true, "recipe"
	if d.Module().RecipeWait != "recipe" {
		t.Fatal("recipe_wait must be kept with recipes on")
	}
	if err := d.Module().Validate(); err != nil {
		t.Fatal(err)
	}
	d.SetClusters(testClusters[1:])
	if d.Cluster.ID != 0 || d.AdditionalInterface {
		t.Fatal("a cluster VMmanager no longer lists must be dropped with its switch")
	}
	d = NewDraft()
	d.AdditionalInterface = true
	d.SetClusters(testClusters)
	if !d.AdditionalInterface {
		t.Fatal("fetching clusters before one is chosen must keep the switch (a spec sets it first)")
	}
}
