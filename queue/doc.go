// Package queue is the engine: queue keys, lanes, retries, crash recovery and the VPS operations run
// against VMmanager 6 (product spec §4–§6).
//
// # Queue rules
//
// A module with queues off starts every operation at once. With queues on, each operation's
// queue_key template expands to a key name (__TYPE__ → the operation, __PMID__ → the module id,
// __IID__ → the service id) and the operation joins one of queue_count lanes "{key_name}-{n}":
//
//   - the lane where the same service already has unfinished work under that key name, so its
//     operations keep their order; otherwise
//   - the lane with the fewest unfinished operations, ties to the lowest n.
//
// A lane runs its operations strictly one after another in enqueue order; different lanes run in
// parallel, so queue_count caps how many operations with one key name run at once. Lanes are global:
// two modules whose templates expand to the same key name share its lanes. Whatever the queues say,
// one service never has two operations running, and its operations run in enqueue order: a job starts
// only when it heads both its lane and its service. A job waiting to retry keeps its place at the head
// of its lane (the order stays strict; the lane waits out the backoff).
//
// Example: module 7 with queue_key "vmm6-__PMID__" and queue_count 2. Services 1, 2, 3 are opened:
// open#1 → vmm6-7-1, open#2 → vmm6-7-2, open#3 → vmm6-7-1 (both lanes hold one, tie → lowest).
// A reboot of service 2 then joins vmm6-7-2 behind open#2 (same service, same key name). At most two
// of them run at a time. With "vmm6-__IID__" every service has its own key name, so services run in
// parallel while each service's operations run one by one.
//
// # Jobs
//
// queued → running → done | retrying (→ queued at next_run_at) | failed | cancelled. Transient errors
// (network, timeouts, 5xx, 503, an expired token) retry after attempt⁴ × BackoffBase ±10% (capped at
// 600 units, 10 minutes by default), up to MaxAttempts (8). Permanent errors fail at once. A job that
// fails for good opens a Task for its module's department; a failed open marks the service failed.
//
// # Durability
//
// Every state change is written to bbolt before the next VMmanager call. One group committer puts
// everything pending into the next transaction as soon as the previous one is durable (written by the
// worker that needs it when nobody else is writing), so concurrent workers share fsyncs without bbolt
// Batch's 10 ms timer; a job's "done" and the next job's "running" always share one. The VMmanager task id is stored as soon as VMmanager
// answers, before polling. A job found running when the engine starts was interrupted: it resumes
// waiting on its recorded task, and open first looks for a VM named svc-{IID} (adopting it) before
// creating one, so no service ever gets a second VM. Every operation checks VMmanager's state before
// acting, which makes repeated attempts safe.
//
// What is durable is always a prefix of what was submitted: when the disk refuses a transaction the
// engine pauses (Status, EngineStatus events), starts nothing, retries with a growing pause and goes
// on by itself once the write succeeds, so the lane and service rules hold through any write failure.
//
// The read model (Counts, Page) follows committed transactions only; an index bucket keeps state
// and module per job id, and a second one a scheduling entry per unfinished job, so opening a file
// with 100,000 jobs decodes none of them. Finished jobs beyond the newest 100,000 are pruned.
package queue
