package vmm

import (
	"context"
	"errors"
	"time"
)

// Task statuses VMmanager reports; anything else means still running.
const (
	TaskComplete = "complete"
	TaskFail     = "fail"
)

// notVisibleGrace is how many polls a task may be missing from the list before WaitTask gives up: a task
// is not always listed the moment the operation that made it returns.
const notVisibleGrace = 3

// Task reads a task's status by consul id. A task VMmanager does not list is ErrNotFound.
func (c *Client) Task(ctx context.Context, ref TaskRef) (string, error) {
	w, err := c.task(ctx, c.op(), ref)
	return w.Status, err
}

// task lists the tasks under ref's consul id (GO1 polls this way; WHMCS adds the name). Several tasks may
// share a consul id: the name, when known and listed, picks among them; otherwise all of them count, so a
// task VMmanager files under another name than the sources show is still followed. The result is "fail"
// when one failed, "complete" when all completed, else the first unfinished one.
func (c *Client) task(ctx context.Context, o *op, ref TaskRef) (wireTask, error) {
	if ref.ConsulID == "" {
		return wireTask{}, errorf(ErrInvalid, "a task needs a consul id")
	}
	ws, err := list[wireTask](ctx, c, o, "/vm/v3/task"+where(eq("consul_id", ref.ConsulID)))
	if err != nil {
		return wireTask{}, err
	}
	w, ok := pick(ws, ref)
	if !ok {
		return wireTask{}, errorf(ErrNotFound, "VMmanager lists no task %s", ref.ConsulID)
	}
	return w, nil
}

func combine(ws []wireTask) wireTask {
	var open *wireTask
	for i := range ws {
		switch ws[i].Status {
		case TaskFail:
			return ws[i]
		case TaskComplete:
		default:
			if open == nil {
				open = &ws[i]
			}
		}
	}
	if open != nil {
		return *open
	}
	return ws[0]
}

// WaitTask polls every `every` (default 2s) until the task is complete (nil) or failed (*TaskError, which
// matches ErrTaskFailed). It is one operation: with SessionTTL 0 it logs in once, not once per poll.
func (c *Client) WaitTask(ctx context.Context, ref TaskRef, every time.Duration) error {
	if every <= 0 {
		every = 2 * time.Second
	}
	o := c.op()
	missing := 0
	for {
		w, err := c.task(ctx, o, ref)
		switch {
		case errors.Is(err, ErrNotFound) && missing < notVisibleGrace:
			missing++
		case err != nil:
			return err
		case w.Status == TaskComplete:
			return nil
		case w.Status == TaskFail:
			return &TaskError{Task: ref, Reason: w.Output}
		}
		t := time.NewTimer(every)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}
