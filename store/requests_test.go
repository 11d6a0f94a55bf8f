package store_test

import (
	"testing"
	"time"

	"vmmpm/store"
)

// TestJobRequests: requests are listed after a row, unanswered ones only, oldest first; an answer
// is kept with the request; answering drops answered requests older than ten minutes, never the
// one it answers.
func TestJobRequests(t *testing.T) {
	db := feedDB(t)
	ask := func(job uint64, at time.Time) uint64 {
		t.Helper()
		var seq uint64
		if err := db.Update(func(tx *store.Tx) (err error) {
			seq, err = store.AskJob(tx, &store.JobRequest{Job: job, Action: store.RequestCancel, By: "uid 1000 (ann)", At: at})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return seq
	}
	after := func(seq uint64) (jobs []uint64) {
		t.Helper()
		_ = db.View(func(tx *store.Tx) error {
			for _, r := range store.JobRequestsAfter(tx, seq) {
				jobs = append(jobs, r.Job)
			}
			return nil
		})
		return jobs
	}
	answer := func(seq uint64, text string, now time.Time) {
		t.Helper()
		if err := db.Update(func(tx *store.Tx) error { return store.AnswerJob(tx, seq, text, now) }); err != nil {
			t.Fatal(err)
		}
	}
	get := func(seq uint64) (r store.JobRequest, ok bool) {
		_ = db.View(func(tx *store.Tx) error { r, ok = store.GetJobRequest(tx, seq); return nil })
		return r, ok
	}
	long := time.Now().Add(-time.Hour)
	first, second := ask(11, long), ask(12, long)
	if got := after(0); len(got) != 2 || got[0] != 11 || got[1] != 12 {
		t.Fatalf("requests after 0: jobs %v, want [11 12]", got)
	}
	if got := after(first); len(got) != 1 || got[0] != 12 {
		t.Errorf("requests after the first: jobs %v, want [12]", got)
	}
	answer(first, "job 11 is done; only unfinished jobs can be cancelled", time.Now().Add(-time.Hour))
	if got := after(0); len(got) != 1 || got[0] != 12 {
		t.Errorf("unanswered requests after an answer: jobs %v, want [12]", got)
	}
	if r, ok := get(first); !ok || !r.Answered || r.Error != "job 11 is done; only unfinished jobs can be cancelled" || r.By != "uid 1000 (ann)" {
		t.Errorf("the answered request reads %+v, %v", r, ok)
	}
	answer(second, "", time.Now()) // the first, answered an hour ago, goes; the second stays
	if _, ok := get(first); ok {
		t.Error("an answered request an hour old is still kept")
	}
	if r, ok := get(second); !ok || !r.Answered || r.Error != "" {
		t.Errorf("the request answered now reads %+v, %v; want it kept, answered, no error", r, ok)
	}
}
