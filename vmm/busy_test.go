package vmm_test

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"vmmpm/vmm"
	"vmmpm/vmm/sim"
)

// A change of a VM busy with another task is ErrBusy, transient, and not mistaken for a refusal of
// the request; once the task is over the same change goes through.
func TestBusyVM(t *testing.T) {
	_, srv := startSim(t, sim.Config{TaskTime: 100 * time.Millisecond, OneTaskPerVM: true})
	c := newClient(t, srv.URL, func(cfg *vmm.Config) { cfg.PollEvery = 20 * time.Millisecond })
	ctx := ctxT(t)
	cr, err := c.CreateHost(ctx, vmm.HostSpec{Name: "svc-1", Cluster: 1, OS: 1, Password: "p", CPU: 1, RAMMiB: 512, DiskMiB: 5120})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.StopHost(ctx, cr.HostID)
	var ae *vmm.APIError
	if !errors.Is(err, vmm.ErrBusy) || !vmm.Transient(err) || !errors.As(err, &ae) || ae.Status != http.StatusConflict {
		t.Fatalf("stop while host_create runs: %v", err)
	}
	if errors.Is(&vmm.APIError{Status: http.StatusBadRequest}, vmm.ErrBusy) {
		t.Fatal("a 400 counts as busy")
	}
	if err := c.Await(ctx, cr.Task); err != nil {
		t.Fatal(err)
	}
	if _, err := c.StopHost(ctx, cr.HostID); err != nil {
		t.Fatalf("stop once the VM is free: %v", err)
	}
}
