package store

import (
	"path/filepath"
	"testing"
	"time"
)

// TestWebhookCache: the cache answers what Webhooks would after every kind of change (one added, one
// changed in place, one removed, all gone) and decodes nothing again while nothing changed.
func TestWebhookCache(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "vmmpm.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var c WebhookCache
	urls := func() []string {
		t.Helper()
		var got, want []string
		err := db.View(func(tx *Tx) error {
			hooks, err := c.Webhooks(tx)
			for _, w := range hooks {
				got = append(got, w.URL+" "+w.Events[0])
			}
			plain, err2 := Webhooks(tx)
			for _, w := range plain {
				want = append(want, w.URL+" "+w.Events[0])
			}
			if err == nil {
				err = err2
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("cache holds %q, the bucket %q", got, want)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("cache holds %q, the bucket %q", got, want)
			}
		}
		return got
	}
	if got := urls(); len(got) != 0 {
		t.Fatalf("no webhooks yet, cache holds %q", got)
	}
	add := func(url string) *Webhook {
		w := &Webhook{URL: url, Events: []string{"*"}, CreatedAt: time.Now()}
		if err := db.Update(func(tx *Tx) error { return AddWebhook(tx, w) }); err != nil {
			t.Fatal(err)
		}
		return w
	}
	first := add("https://billing.example.com/a")
	urls()
	add("https://billing.example.com/b")
	if got := urls(); len(got) != 2 {
		t.Fatalf("after a second webhook, cache holds %q", got)
	}
	var before []*Webhook
	_ = db.View(func(tx *Tx) error { before, _ = c.Webhooks(tx); return nil })
	var again []*Webhook
	_ = db.View(func(tx *Tx) error { again, _ = c.Webhooks(tx); return nil })
	if &before[0] != &again[0] {
		t.Fatal("nothing changed, yet the cache decoded the webhooks again")
	}
	first.Events = []string{"job.failed"}
	if err := db.Update(func(tx *Tx) error { return putJSON(tx.tx.Bucket(bucketWebhooks), Key(first.ID), first) }); err != nil {
		t.Fatal(err)
	}
	if got := urls(); got[0] != "https://billing.example.com/a job.failed" {
		t.Fatalf("after a change in place, cache holds %q", got)
	}
	if err := db.Update(func(tx *Tx) error { _, err := RemoveWebhook(tx, first.ID); return err }); err != nil {
		t.Fatal(err)
	}
	if got := urls(); len(got) != 1 || got[0] != "https://billing.example.com/b *" {
		t.Fatalf("after a removal, cache holds %q", got)
	}
}
