package reconcile

import (
	"fmt"
	"strings"

	"vmmpm/queue"
	"vmmpm/store"
)

// Flag is a service flagged for a reconcile look (queue.Looks: a running job was cancelled, or a job
// record was put in quarantine) and what this scan made of it.
type Flag struct {
	queue.Look
	// Looked: this scan compared the service's VM (for a quarantined record it is enough that its
	// module was read whole), so recording the scan takes the flag down.
	Looked bool `json:"looked"`
	// Note is what the look found, or why there was none.
	Note string `json:"note"`
}

// flags are the looks of the scanned modules with what the scan made of each; a look whose module is
// gone (or was never known) belongs to the scan of every module.
func (snap *snapshot) flags(q Query, reports []ModuleReport, fs []Finding) []Flag {
	out := []Flag{}
	for _, l := range snap.looks {
		svc := snap.service(l.ServiceID)
		module := l.ModuleID
		if svc != nil {
			module = svc.ModuleID
		}
		if q.Module != 0 && module != q.Module {
			continue
		}
		f := Flag{Look: l}
		f.Looked, f.Note = snap.look(l, svc, module, reports, fs)
		out = append(out, f)
	}
	return out
}

// look says whether the scan did look l's way, and what it saw.
func (snap *snapshot) look(l queue.Look, svc *store.Service, module uint64, reports []ModuleReport, fs []Finding) (bool, string) {
	var mr *ModuleReport
	for i := range reports {
		if reports[i].ModuleID == module {
			mr = &reports[i]
		}
	}
	switch {
	case mr == nil && snap.module(module) == nil:
		return true, "nothing is left to compare: its module is gone (vmmpm check still lists the record)"
	case mr == nil:
		return false, fmt.Sprintf("module %d was not scanned", module)
	case mr.Failed():
		return false, fmt.Sprintf("not compared: module %d could not be read whole; scan again once it can", module)
	case svc == nil && l.ServiceID != 0:
		return true, fmt.Sprintf("nothing is left to compare: service %d no longer exists", l.ServiceID)
	case svc == nil:
		return true, fmt.Sprintf("module %d was read whole; no service is known for the record, so see vmmpm check", module)
	case !snap.settled(svc):
		why := fmt.Sprintf("service %d is %s (a VM is compared once its service is active, suspended or deleted)", svc.ID, svc.Status)
		if snap.busy[svc.ID] {
			why = fmt.Sprintf("an operation of service %d is queued or running", svc.ID)
		}
		if l.Kind == queue.LookCancelled {
			return false, "not compared yet: " + why + "; it stays flagged until a scan compares it"
		}
		return true, fmt.Sprintf("module %d was read whole; its VM was not compared: %s", module, why)
	}
	return true, compared(svc.ID, fs)
}

// compared is what the comparison of service id found, in a clause.
func compared(id uint64, fs []Finding) string {
	var classes []string
	for i := range fs {
		if fs[i].ServiceID == id {
			classes = append(classes, fs[i].Class)
		}
	}
	if len(classes) == 0 {
		return "compared: VMmanager agrees with the records"
	}
	return fmt.Sprintf("compared: %d finding(s) of service %d below (%s)", len(classes), id, strings.Join(classes, ", "))
}

// service is the snapshot's service id, or nil.
func (snap *snapshot) service(id uint64) *store.Service {
	if id == 0 {
		return nil
	}
	for _, s := range snap.services {
		if s.ID == id {
			return s
		}
	}
	return nil
}

// settled: the service is open (active or suspended) or deleted, and nothing of it is queued or
// running: what a scan compares.
func (snap *snapshot) settled(s *store.Service) bool {
	switch s.Status {
	case store.ServiceActive, store.ServiceSuspended, store.ServiceDeleted:
		return !snap.busy[s.ID]
	}
	return false
}

// clearLooked takes down the flags rep's scan looked at.
func (s *Scanner) clearLooked(rep *Report) error {
	var done []queue.Look
	for _, f := range rep.Flagged {
		if f.Looked {
			done = append(done, f.Look)
		}
	}
	return queue.ClearLooks(s.DB, done, s.now())
}
