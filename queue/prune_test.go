package queue

import (
	"slices"
	"testing"
	"time"

	"vmmpm/store"
)

// prunedModel is a read model holding a few unfinished jobs among finished ones (the oldest first),
// and the pruning batch that takes the oldest finished.
func prunedModel(finished, batch int) (*readModel, []move) {
	rm := newReadModel()
	rm.ready = true
	var gone []move
	for id := uint64(1); id <= uint64(finished); id++ {
		state := store.JobDone
		if id%3 == 0 {
			state = store.JobFailed
		}
		if id%1000 == 500 {
			rm.apply(move{id: id, to: store.JobQueued}) // an old job still waiting: not pruned
			continue
		}
		rm.apply(move{id: id, to: state})
		if len(gone) < batch {
			gone = append(gone, move{id: id, from: state})
		}
	}
	return rm, gone
}

// TestDropGoneIsTheRemovesOneByOne: removing a pruning batch at once leaves every list as removing
// its jobs one by one does.
func TestDropGoneIsTheRemovesOneByOne(t *testing.T) {
	want, gone := prunedModel(5000, 1200)
	got, _ := prunedModel(5000, 1200)
	for _, m := range gone {
		want.apply(m)
	}
	got.dropGone(append(gone, move{id: 999_999, from: store.JobDone})) // one no list holds: nothing
	if !slices.Equal(got.all.ids, want.all.ids) || !slices.Equal(got.finished.ids, want.finished.ids) {
		t.Fatalf("all %d/%d, finished %d/%d ids after the batch; want the one-by-one lists",
			len(got.all.ids), len(want.all.ids), len(got.finished.ids), len(want.finished.ids))
	}
	for _, s := range store.JobStates {
		if !slices.Equal(got.by[s].ids, want.by[s].ids) {
			t.Fatalf("%s: %d ids after the batch, %d one by one", s, len(got.by[s].ids), len(want.by[s].ids))
		}
	}
	if len(got.by[store.JobQueued].ids) != 5 || len(got.all.ids) != 5000-1200 {
		t.Fatalf("queued %d, all %d: the waiting jobs must stay and only the batch go", len(got.by[store.JobQueued].ids), len(got.all.ids))
	}
}

// BenchmarkPrunedBatch: what applying one pruning batch (pruneBatch of the oldest finished jobs, at
// DefaultKeepFinished) costs the read model, under its lock, in the committer's published step: one
// by one (each remove shifting its lists' tails) and at once (dropGone). ratio = one by one ÷ at once.
func BenchmarkPrunedBatch(b *testing.B) {
	var one, batch float64
	for b.Loop() {
		rm, gone := prunedModel(DefaultKeepFinished+pruneBatch, pruneBatch)
		start := nowNano()
		for _, m := range gone {
			rm.apply(m)
		}
		one += float64(nowNano() - start)
		rm, gone = prunedModel(DefaultKeepFinished+pruneBatch, pruneBatch)
		start = nowNano()
		rm.dropGone(gone)
		batch += float64(nowNano() - start)
	}
	b.ReportMetric(one/float64(b.N)/1e6, "one-by-one-ms")
	b.ReportMetric(batch/float64(b.N)/1e6, "batch-ms")
	b.ReportMetric(one/batch, "ratio")
}

func nowNano() int64 { return time.Now().UnixNano() }
