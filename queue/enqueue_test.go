package queue

import (
	"encoding/json"
	"testing"
	"time"

	"vmmpm/store"
	"vmmpm/vmm/sim"
)

// TestCreateServicesAnswersWhatIsStored: the services CreateServices returns (the API's order
// answer) are, field for field, what the database holds once it committed: processing on the module
// chosen, with the domain filled in.
func TestCreateServicesAnswersWhatIsStored(t *testing.T) {
	f := newFixture(t, sim.Config{TaskTime: time.Millisecond, Seed: 1}, queueParams("q-__PMID__", 1))
	e := f.engine(fastOptions())
	svcs, err := e.CreateServices(f.tariff.ID, 3, "erin@example.org")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range svcs {
		if s.Status != store.ServiceProcessing || s.ModuleID != f.module.ID {
			t.Errorf("service %d answered %s on module %d, want %s on %d", s.ID, s.Status, s.ModuleID, store.ServiceProcessing, f.module.ID)
		}
		var stored *store.Service
		if err := f.db.View(func(tx *store.Tx) error {
			stored, err = store.Get[store.Service](tx, s.ID)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		got, _ := json.Marshal(s)
		want, _ := json.Marshal(stored)
		if string(got) != string(want) {
			t.Errorf("service %d answered\n%s\nstored\n%s", s.ID, got, want)
		}
	}
}
