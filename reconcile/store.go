package reconcile

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"vmmpm/store"
	"vmmpm/store/kv"
)

// The package's buckets. Marks are keyed module id + VM id; scans by module id.
var (
	bucketMarks = []byte("reconcile_marks")
	bucketScans = []byte("reconcile_scans")
)

// Mark is a VM an admin marked as system: never a finding again.
type Mark struct {
	ModuleID uint64    `json:"module_id"`
	VMID     uint64    `json:"vm_id"`
	Name     string    `json:"name,omitempty"`
	By       string    `json:"by,omitempty"`
	At       time.Time `json:"at"`
}

func markKey(module, vm uint64) []byte {
	k := make([]byte, 16)
	binary.BigEndian.PutUint64(k, module)
	binary.BigEndian.PutUint64(k[8:], vm)
	return k
}

// marksOf are module's marks by VM id.
func marksOf(tx *store.Tx, module uint64) (map[uint64]Mark, error) {
	out := map[uint64]Mark{}
	b := tx.KV().Bucket(bucketMarks)
	if b == nil {
		return out, nil
	}
	c := b.Cursor()
	prefix := store.Key(module)
	for k, v := c.Seek(prefix); len(k) == 16 && string(k[:8]) == string(prefix); k, v = c.Next() {
		var m Mark
		if err := json.Unmarshal(v, &m); err != nil {
			return nil, fmt.Errorf("a system mark of module %d is unreadable (%v); unmark and mark the VM again", module, err)
		}
		out[m.VMID] = m
	}
	return out, nil
}

// SetMark marks VM vm of module as system (system true) or removes the mark, in one transaction.
func SetMark(db *store.DB, module, vm uint64, name, by string, system bool, now time.Time) error {
	return db.Update(func(tx *store.Tx) error {
		if _, err := store.Get[store.Module](tx, module); err != nil {
			return &store.ValidationError{Field: store.FieldRecord, Rule: fmt.Sprintf("module %d does not exist; see vmmpm module list", module)}
		}
		b, err := tx.KV().CreateBucketIfNotExists(bucketMarks)
		if err != nil {
			return err
		}
		if !system {
			if b.Get(markKey(module, vm)) == nil {
				return &store.ValidationError{Field: store.FieldRecord, Rule: fmt.Sprintf("VM %d of module %d is not marked as system", vm, module)}
			}
			return b.Delete(markKey(module, vm))
		}
		v, err := json.Marshal(Mark{ModuleID: module, VMID: vm, Name: name, By: by, At: now})
		if err != nil {
			return err
		}
		return b.Put(markKey(module, vm), v)
	})
}

// scanRecord is a module's last scan as stored: the summary, the keys of its findings (so the next
// scan knows which are new) and the open task per class.
type scanRecord struct {
	Summary Summary           `json:"summary"`
	Keys    []string          `json:"keys,omitempty"`
	Tasks   map[string]uint64 `json:"tasks,omitempty"`
}

func readScan(b kv.Bucket, module uint64) (*scanRecord, error) {
	if b == nil {
		return nil, nil
	}
	v := b.Get(store.Key(module))
	if v == nil {
		return nil, nil
	}
	var r scanRecord
	if err := json.Unmarshal(v, &r); err != nil {
		return nil, fmt.Errorf("the last reconcile scan of module %d is unreadable (%v); run vmmpm reconcile --module %d to write it again", module, err, module)
	}
	return &r, nil
}

// LastScans are the last scan of each module that has one, by module id.
func LastScans(db *store.DB) ([]Summary, error) {
	var out []Summary
	err := db.View(func(tx *store.Tx) error {
		b := tx.KV().Bucket(bucketScans)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			var r scanRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("the last reconcile scan of module %d is unreadable (%v); run vmmpm reconcile --module %d to write it again",
					store.KeyID(k), err, store.KeyID(k))
			}
			out = append(out, r.Summary)
			return nil
		})
	})
	return out, err
}

// Recorded is what saving a scan learned: the findings the previous scan did not have, by class, and
// the tasks opened for them.
type Recorded struct {
	New   map[string]int
	Tasks []uint64
}

// record keeps module m's scan (rep, with its findings fs) as the last one, and returns what is new
// since the one before. With tasks set (the scheduled scan) a class with new findings gets a task for
// the module's department unless the one opened before is still open: one per module and class.
func record(db *store.DB, m *store.Module, rep *ModuleReport, fs []Finding, scheduled, tasks bool) (*Recorded, error) {
	keys := make([]string, 0, len(fs))
	for i := range fs {
		keys = append(keys, fs[i].Key)
	}
	slices.Sort(keys)
	out := &Recorded{New: map[string]int{}}
	err := db.Update(func(tx *store.Tx) error {
		b, err := tx.KV().CreateBucketIfNotExists(bucketScans)
		if err != nil {
			return err
		}
		prev, err := readScan(b, m.ID)
		if err != nil {
			prev = nil // an unreadable record is replaced
		}
		var old []string
		taskOf := map[string]uint64{}
		if prev != nil {
			old = prev.Keys
			for c, id := range prev.Tasks {
				taskOf[c] = id
			}
		}
		for i := range fs {
			if _, seen := slices.BinarySearch(old, fs[i].Key); !seen {
				out.New[fs[i].Class]++
			}
		}
		if rep.Failed() {
			// What could not be read is not known to be gone: keep the keys seen before, so it is not
			// new again when the module reads whole.
			keys = slices.Compact(slices.Sorted(slices.Values(append(keys, old...))))
		}
		if tasks {
			for _, c := range Classes {
				if out.New[c] == 0 {
					continue
				}
				if id := taskOf[c]; id != 0 {
					if t, err := store.Get[store.Task](tx, id); err == nil && t.ClosedAt.IsZero() {
						continue
					}
				}
				t := &store.Task{DepartmentID: m.DepartmentID, ModuleID: m.ID, CreatedAt: rep.At,
					Title:  fmt.Sprintf("reconcile: %d new %s on module %s", out.New[c], c, m.Name),
					Reason: fmt.Sprintf("the scan of %s found %d new %s findings (%d in all); see vmmpm reconcile --module %d", rep.At.Format(time.RFC3339), out.New[c], c, rep.Counts[c], m.ID)}
				if err := tx.Put(t); err != nil {
					return err
				}
				taskOf[c] = t.ID
				out.Tasks = append(out.Tasks, t.ID)
			}
		}
		r := scanRecord{Summary: summaryOf(rep, scheduled), Keys: keys, Tasks: taskOf}
		v, err := json.Marshal(r)
		if err != nil {
			return err
		}
		return b.Put(store.Key(m.ID), v)
	})
	return out, err
}

func summaryOf(rep *ModuleReport, scheduled bool) Summary {
	return Summary{ModuleID: rep.ModuleID, At: rep.At, Counts: rep.Counts, Failed: rep.Failed(), Error: rep.Error,
		Unreadable: rep.Unreadable, VMs: rep.Compared.VMs, Services: rep.Compared.Services, Scheduled: scheduled}
}
