package stats

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	"vmmpm/queue"
	"vmmpm/store"
)

// bucket holds the collector's history: 'm'+module+minute → Minute, 'e'+module → the module's last
// errors and answer time, "lanes" → each lane's recent outcomes.
var bucket = []byte("stats_v1")

type savedModule struct {
	Errors []ErrorNote   `json:"errors"`
	Answer time.Duration `json:"answer_ns"`
}

type savedLane struct {
	Key    string    `json:"key"`
	Module uint64    `json:"module"`
	Recent string    `json:"recent"`
	Last   time.Time `json:"last"`
}

func minuteKeyBytes(module uint64, minute int64) []byte {
	k := make([]byte, 17)
	k[0] = 'm'
	binary.BigEndian.PutUint64(k[1:], module)
	binary.BigEndian.PutUint64(k[9:], uint64(minute))
	return k
}

func moduleKeyBytes(module uint64) []byte {
	k := make([]byte, 9)
	k[0] = 'e'
	binary.BigEndian.PutUint64(k[1:], module)
	return k
}

var lanesKey = []byte("lanes")

// Load reads the history kept in db, dropping what is older than the window at now. A database
// without one (new, or written before this package) loads nothing.
func (c *Collector) Load(db *store.DB, now time.Time) error {
	cut := now.Add(-Window).Unix() / 60
	c.mu.Lock()
	defer c.mu.Unlock()
	return db.View(func(stx *store.Tx) error { // contained: a damaged page is a sentence, not a crash
		b := stx.KV().Bucket(bucket)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			switch {
			case len(k) == 17 && k[0] == 'm':
				module, minute := binary.BigEndian.Uint64(k[1:]), int64(binary.BigEndian.Uint64(k[9:]))
				if minute < cut {
					return nil
				}
				mn := &Minute{}
				if err := json.Unmarshal(v, mn); err != nil {
					return fmt.Errorf("the saved figures of module %d are unreadable: %w", module, err)
				}
				c.mod(module).minutes[minute] = mn
			case len(k) == 9 && k[0] == 'e':
				var sm savedModule
				if err := json.Unmarshal(v, &sm); err != nil {
					return fmt.Errorf("the saved errors of module %d are unreadable: %w", binary.BigEndian.Uint64(k[1:]), err)
				}
				m := c.mod(binary.BigEndian.Uint64(k[1:]))
				m.errors, m.answer = sm.Errors, sm.Answer
			case string(k) == string(lanesKey):
				var ls []savedLane
				if err := json.Unmarshal(v, &ls); err != nil {
					return fmt.Errorf("the saved lanes are unreadable: %w", err)
				}
				for _, s := range ls {
					l := c.lane(s.Key, s.Module)
					l.recent, l.last = []byte(s.Recent), s.Last
				}
			}
			return nil
		})
	})
}

// Flush writes the minutes changed since the last flush, the modules' notes and the lanes, and
// deletes minutes older than the window, in one transaction. It writes nothing when nothing changed.
func (c *Collector) Flush(db *store.DB, now time.Time) error {
	c.mu.Lock()
	if len(c.dirty) == 0 && !c.dirtyLn {
		c.mu.Unlock()
		return nil
	}
	puts := map[string][]byte{}
	mods := map[uint64]bool{}
	for k := range c.dirty {
		mods[k.module] = true
		if mn := c.mods[k.module].minutes[k.minute]; mn != nil {
			v, err := json.Marshal(mn)
			if err != nil {
				c.mu.Unlock()
				return err
			}
			puts[string(minuteKeyBytes(k.module, k.minute))] = v
		}
	}
	for id := range mods {
		m := c.mods[id]
		v, _ := json.Marshal(savedModule{Errors: m.errors, Answer: m.answer})
		puts[string(moduleKeyBytes(id))] = v
	}
	ls := make([]savedLane, 0, len(c.lanes))
	for _, l := range c.lanes {
		ls = append(ls, savedLane{Key: l.key, Module: l.module, Recent: string(l.recent), Last: l.last})
	}
	v, _ := json.Marshal(ls)
	puts[string(lanesKey)] = v
	dirty, dirtyLn := c.dirty, c.dirtyLn
	c.dirty, c.dirtyLn = map[minuteKey]bool{}, false
	c.mu.Unlock()

	cut := now.Add(-Window).Unix() / 60
	err := db.Update(func(stx *store.Tx) error { // through store: never beside its check of the file
		b, err := stx.KV().CreateBucketIfNotExists(bucket)
		if err != nil {
			return err
		}
		for k, v := range puts {
			if err := b.Put([]byte(k), v); err != nil {
				return err
			}
		}
		var old [][]byte
		cur := b.Cursor()
		for k, _ := cur.Seek([]byte{'m'}); k != nil && k[0] == 'm'; k, _ = cur.Next() {
			if len(k) == 17 && int64(binary.BigEndian.Uint64(k[9:])) < cut {
				old = append(old, append([]byte(nil), k...))
			}
		}
		for _, k := range old {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil { // keep them dirty: the next flush tries again
		c.mu.Lock()
		for k := range dirty {
			c.dirty[k] = true
		}
		c.dirtyLn = c.dirtyLn || dirtyLn
		c.mu.Unlock()
	}
	return err
}

// Run observes events until the channel closes or ctx ends, and flushes to db (when not nil) at most
// once every `every`, and once more at the end. Flush errors go to onErr (a full disk: the next
// flush tries again).
func (c *Collector) Run(ctx context.Context, events <-chan queue.Event, db *store.DB, every time.Duration,
	now func() time.Time, onErr func(error)) {
	var tick <-chan time.Time
	if db != nil {
		t := time.NewTicker(every)
		defer t.Stop()
		tick = t.C
	}
	flush := func() {
		if db == nil {
			return
		}
		if err := c.Flush(db, now()); err != nil && onErr != nil {
			onErr(err)
		}
	}
	defer flush()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				return
			}
			c.Observe(ev)
		case <-tick:
			flush()
		}
	}
}
