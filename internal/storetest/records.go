package storetest

import (
	"testing"

	"vmmpm/store"
)

// BenchRecords saves what a benchmark's engine needs on an empty database: a data center, a
// department, one enabled module whose lanes are lanes queue keys (its VMmanager never reached: the
// benchmarks run a no-op executor) and a tariff on it, which it returns.
func BenchRecords(tb testing.TB, db *store.DB, lanes int) *store.Tariff {
	tb.Helper()
	p := store.DefaultParams()
	p.Queue, p.QueueKey, p.QueueCount = true, "b-__PMID__", lanes
	dc, dept := &store.DataCenter{Name: "dc"}, &store.Department{Name: "ops"}
	m := &store.Module{Name: "bench", ProductType: store.ProductVPS, Kind: store.KindVMmanager6, URL: "https://vmm.invalid",
		Username: "admin@example.com", DataCenterID: 1, DepartmentID: 1, Enabled: true,
		Cluster: store.Cluster{ID: 1, Name: "kvm", Virtualization: store.VirtKVM}, Params: p}
	t := &store.Tariff{Name: "t", DataCenterID: 1, ModuleIDs: []uint64{1}, CPU: 1, RAMMiB: 1024, DiskMiB: 10240, OSID: 1}
	for _, r := range []store.Record{dc, dept, m, t} {
		if err := db.Save(r); err != nil {
			tb.Fatal(err)
		}
	}
	return t
}
