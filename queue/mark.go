package queue

import "fmt"

// On a shared database an engine marks each VM it creates with the epoch of its lease (the VM's
// comment, a create field VMmanager clients send: GO1). The mark is never relied on: the database
// and the name decide which VM is a service's. It tells a reader (reconcile, an admin in VMmanager's
// panel) which engine made a duplicate: the one under an older epoch froze past its lease.

const markFormat = "vmmpm service %d, engine epoch %d"

// EpochMark is the comment of a VM made for service under lease epoch.
func EpochMark(service uint64, epoch int64) string { return fmt.Sprintf(markFormat, service, epoch) }

// ParseEpochMark reads EpochMark's comment back (ok false for any other comment).
func ParseEpochMark(comment string) (service uint64, epoch int64, ok bool) {
	n, err := fmt.Sscanf(comment, markFormat, &service, &epoch)
	if err != nil || n != 2 || EpochMark(service, epoch) != comment {
		return 0, 0, false
	}
	return service, epoch, true
}

// epoch is the lease epoch module's jobs run under now (0: not on a shared database).
func (e *Engine) epoch(module uint64) int64 {
	if e == nil || e.opt.Epoch == nil {
		return 0
	}
	return e.opt.Epoch(module)
}
