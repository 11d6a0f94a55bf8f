package store_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"vmmpm/store"
)

// validationCase mutates a valid record; field is the ValidationError.Field expected, "" for valid.
type validationCase[T any] struct {
	name  string
	edit  func(*T)
	field string
}

func checkValidation[T any, P interface {
	*T
	store.Record
}](t *testing.T, valid func() P, cases []validationCase[T]) {
	t.Helper()
	if err := valid().Validate(); err != nil {
		t.Fatalf("the valid %T fails: %v", valid(), err)
	}
	for _, c := range cases {
		r := valid()
		c.edit((*T)(r))
		err := r.Validate()
		var ve *store.ValidationError
		switch {
		case c.field == "" && err != nil:
			t.Errorf("%T %s: %v, want valid", r, c.name, err)
		case c.field != "" && (!errors.As(err, &ve) || ve.Field != c.field):
			t.Errorf("%T %s: %v, want a ValidationError on %q", r, c.name, err, c.field)
		case c.field != "" && !strings.HasPrefix(err.Error(), c.field+": "):
			t.Errorf("%T %s: message %q does not start with the field", r, c.name, err)
		}
	}
}

var long = strings.Repeat("й", store.MaxNameLen+1)

func TestDataCenterValidate(t *testing.T) {
	checkValidation(t, fullDataCenter, []validationCase[store.DataCenter]{
		{"no external id", func(d *store.DataCenter) { d.ExternalID = "" }, ""},
		{"64 runes", func(d *store.DataCenter) { d.Name = long[len("й"):] }, ""},
		{"empty name", func(d *store.DataCenter) { d.Name = "" }, "name"},
		{"blank name", func(d *store.DataCenter) { d.Name = " \t" }, "name"},
		{"65 runes", func(d *store.DataCenter) { d.Name = long }, "name"},
		{"blank external id", func(d *store.DataCenter) { d.ExternalID = "  " }, "external_id"},
		{"long external id", func(d *store.DataCenter) { d.ExternalID = long }, "external_id"},
	})
}

func TestDepartmentValidate(t *testing.T) {
	checkValidation(t, fullDepartment, []validationCase[store.Department]{
		{"empty name", func(d *store.Department) { d.Name = "" }, "name"},
		{"65 runes", func(d *store.Department) { d.Name = long }, "name"},
	})
}

func TestModuleValidate(t *testing.T) {
	checkValidation(t, fullModule, []validationCase[store.Module]{
		{"recipes off", func(m *store.Module) { m.UseRecipes, m.RecipeWait = false, "" }, ""},
		{"no last check", func(m *store.Module) { m.LastCheck = nil }, ""},
		{"lxd", func(m *store.Module) { m.Cluster.Virtualization = store.VirtLXD }, ""},
		{"sort 0 and 9999", func(m *store.Module) { m.Sort = store.MaxSort }, ""},
		{"ttl 0", func(m *store.Module) { m.Params.SessionTTL = 0 }, ""},
		{"queue off, empty key", func(m *store.Module) { m.Params.Queue, m.Params.QueueKey = false, "" }, ""},
		{"empty name", func(m *store.Module) { m.Name = "" }, "name"},
		{"long name", func(m *store.Module) { m.Name = long }, "name"},
		{"product", func(m *store.Module) { m.ProductType = "dedicated" }, "product_type"},
		{"kind", func(m *store.Module) { m.Kind = "vmmanager5" }, "module"},
		{"url", func(m *store.Module) { m.URL = "" }, "url"},
		{"username", func(m *store.Module) { m.Username = "" }, "username"},
		{"datacenter", func(m *store.Module) { m.DataCenterID = 0 }, "datacenter"},
		{"department", func(m *store.Module) { m.DepartmentID = 0 }, "department"},
		{"sort negative", func(m *store.Module) { m.Sort = -1 }, "sort"},
		{"sort 10000", func(m *store.Module) { m.Sort = store.MaxSort + 1 }, "sort"},
		{"no cluster", func(m *store.Module) { m.Cluster.ID = 0 }, "cluster"},
		{"virtualization", func(m *store.Module) { m.Cluster.Virtualization = "xen" }, "cluster"},
		{"recipe wait missing", func(m *store.Module) { m.RecipeWait = "" }, "recipe_wait"},
		{"recipe wait unknown", func(m *store.Module) { m.UseRecipes, m.RecipeWait = false, "later" }, "recipe_wait"},
		{"activation limit negative", func(m *store.Module) { m.ActivationLimit = -1 }, "activation_limit"},
		{"activation limit huge", func(m *store.Module) { m.ActivationLimit = store.MaxActivationCap + 1 }, "activation_limit"},
		{"reconcile every unreadable", func(m *store.Module) { m.ReconcileEvery = "often" }, "reconcile_every"},
		{"reconcile every too short", func(m *store.Module) { m.ReconcileEvery = "10s" }, "reconcile_every"},
		{"reconcile every off", func(m *store.Module) { m.ReconcileEvery = "0" }, ""},
		{"ttl negative", func(m *store.Module) { m.Params.SessionTTL = -1 }, "session_ttl"},
		{"ttl over a day", func(m *store.Module) { m.Params.SessionTTL = store.MaxSessionTTL + 1 }, "session_ttl"},
		{"queue count 0", func(m *store.Module) { m.Params.QueueCount = 0 }, "queue_count"},
		{"queue count 65", func(m *store.Module) { m.Params.QueueCount = store.MaxQueueCount + 1 }, "queue_count"},
		{"queue on, empty key", func(m *store.Module) { m.Params.QueueKey = "" }, "queue_key"},
		{"key too long", func(m *store.Module) { m.Params.QueueKey = strings.Repeat("k", store.MaxQueueKeyLen+1) }, "queue_key"},
	})
	if p := store.DefaultParams(); p.Validate() != nil || p.QueueKey != store.DefaultQueueKey || p.SessionTTL != 3600 || p.QueueCount != 1 || p.Queue {
		t.Errorf("DefaultParams are not spec §4's defaults: %+v", p)
	}
}

func TestTariffValidate(t *testing.T) {
	checkValidation(t, fullTariff, []validationCase[store.Tariff]{
		{"no recipe", func(x *store.Tariff) { x.RecipeID = 0 }, ""},
		{"no ipv4", func(x *store.Tariff) { x.IPv4Count = 0 }, ""},
		{"empty name", func(x *store.Tariff) { x.Name = "" }, "name"},
		{"datacenter", func(x *store.Tariff) { x.DataCenterID = 0 }, "datacenter"},
		{"no modules", func(x *store.Tariff) { x.ModuleIDs = nil }, "modules"},
		{"module 0", func(x *store.Tariff) { x.ModuleIDs = []uint64{0} }, "modules"},
		{"repeated module", func(x *store.Tariff) { x.ModuleIDs = []uint64{2, 2} }, "modules"},
		{"cpu 0", func(x *store.Tariff) { x.CPU = 0 }, "cpu"},
		{"cpu 257", func(x *store.Tariff) { x.CPU = 257 }, "cpu"},
		{"ram small", func(x *store.Tariff) { x.RAMMiB = 127 }, "ram_mib"},
		{"disk small", func(x *store.Tariff) { x.DiskMiB = 1023 }, "disk_mib"},
		{"os", func(x *store.Tariff) { x.OSID = 0 }, "os_id"},
		{"ipv4 17", func(x *store.Tariff) { x.IPv4Count = 17 }, "ipv4_count"},
	})
}

func TestServiceValidate(t *testing.T) {
	cases := []validationCase[store.Service]{
		{"tariff", func(s *store.Service) { s.TariffID = 0 }, "tariff"},
		{"client", func(s *store.Service) { s.ClientEmail = "client" }, "client"},
		{"status", func(s *store.Service) { s.Status = "paused" }, "status"},
	}
	for _, st := range []string{store.ServiceOrdered, store.ServiceProcessing, store.ServiceActive,
		store.ServiceSuspended, store.ServiceDeleted, store.ServiceFailed} {
		cases = append(cases, validationCase[store.Service]{st, func(s *store.Service) { s.Status = st }, ""})
	}
	checkValidation(t, fullService, cases)
}

func TestJobValidate(t *testing.T) {
	cases := []validationCase[store.Job]{
		{"service", func(j *store.Job) { j.ServiceID = 0 }, "service"},
		{"type", func(j *store.Job) { j.Type = "migrate" }, "type"},
		{"state", func(j *store.Job) { j.State = "paused" }, "state"},
	}
	for _, op := range store.OpTypes {
		cases = append(cases, validationCase[store.Job]{op, func(j *store.Job) { j.Type = op }, ""})
	}
	for _, st := range store.JobStates {
		cases = append(cases, validationCase[store.Job]{st, func(j *store.Job) { j.State = st }, ""})
	}
	checkValidation(t, fullJob, cases)
	if len(store.OpTypes) != 8 || len(store.JobStates) != 6 {
		t.Errorf("spec §5 has 8 operation types and §6 six job states: %v %v", store.OpTypes, store.JobStates)
	}
}

func TestJobLogIsBounded(t *testing.T) {
	j := fullJob()
	for i := 0; i < store.MaxJobLogLines+10; i++ {
		j.Logf(t0.Add(time.Duration(i)*time.Second), "line %d", i)
	}
	if len(j.Log) != store.MaxJobLogLines || j.Log[len(j.Log)-1].Text != "line 59" || j.Log[0].Text != "line 10" {
		t.Fatalf("log keeps %d lines, first %q, last %q", len(j.Log), j.Log[0].Text, j.Log[len(j.Log)-1].Text)
	}
}

func TestFinished(t *testing.T) {
	for _, st := range store.JobStates {
		want := st == store.JobDone || st == store.JobFailed || st == store.JobCancelled
		if store.Finished(st) != want {
			t.Errorf("Finished(%q) = %v", st, !want)
		}
	}
}

func TestTaskValidate(t *testing.T) {
	checkValidation(t, fullTask, []validationCase[store.Task]{
		{"open task", func(x *store.Task) { x.ClosedAt = time.Time{} }, ""},
		{"title", func(x *store.Task) { x.Title = "" }, "title"},
	})
}
