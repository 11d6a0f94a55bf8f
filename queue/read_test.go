package queue

import (
	"strings"
	"testing"
	"time"

	"vmmpm/internal/damagetest"
	"vmmpm/store"
	"vmmpm/vmm/sim"
)

// TestPageShowsUnreadableRecord: a finished job's record overwritten with garbage on the closed file
// (the engine never reads it again, so nothing quarantines it) keeps its row in every page that holds
// it, as a placeholder in state unreadable with its module and the damage's sentence; the other rows
// read as before, and the totals still count it.
func TestPageShowsUnreadableRecord(t *testing.T) {
	f := newFileFixture(t, sim.Config{Seed: 1}, queueParams("q-__PMID__", 2))
	e := f.engine(fastOptions())
	_, err := e.CreateServices(f.tariff.ID, 4, "page@example.org")
	f.must(err)
	runIdle(t, e, 60*time.Second)
	f.must(e.Close(), f.db.Close())
	damagetest.Record(t, f.path, "jobs", 2)
	f.open()
	e = f.engine(fastOptions())
	for _, state := range []string{"", store.JobDone} {
		page, total, err := e.Page(state, 0, 10)
		f.must(err)
		if total != 4 || len(page) != 4 {
			t.Fatalf("page %q: %d rows of %d; want all 4, the unreadable one in its place", state, len(page), total)
		}
		for _, j := range page {
			switch {
			case j.ID == 2 && (j.State != JobUnreadable || j.ModuleID != f.module.ID ||
				!strings.Contains(j.Error, `is damaged in bucket "jobs", key 2: its record cannot be decoded`)):
				t.Errorf("page %q: the damaged job's row is %+v", state, j)
			case j.ID != 2 && j.State != store.JobDone:
				t.Errorf("page %q: job %d reads %s", state, j.ID, j.State)
			}
		}
		if page[2].ID != 2 {
			t.Errorf("page %q: row 3 is job %d; want job 2 in its place among the newest first", state, page[2].ID)
		}
	}
}
