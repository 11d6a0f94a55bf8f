package server

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"vmmpm/backend"
	"vmmpm/store"
	"vmmpm/vmm/sim"
	"vmmpm/wizard"
)

const specPassword = "demo-password" // the emulator's admin password

// specServer serves a Local (data center "DC One", department "Support", in-memory secrets) on a
// socket; it returns a client, the local side, the emulator's URL and the server's log.
func specServer(t *testing.T) (*Client, *backend.Local, string, *bytes.Buffer) {
	t.Helper()
	db, err := store.Open(filepath.Join(t.TempDir(), "vmmpm.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	for _, r := range []store.Record{&store.DataCenter{Name: "DC One"}, &store.Department{Name: "Support"}} {
		if err := db.Save(r); err != nil {
			t.Fatal(err)
		}
	}
	vm := httptest.NewServer(sim.New(sim.Config{}))
	t.Cleanup(vm.Close)
	l := backend.NewLocal(db, store.NewMemorySecrets(), nil, "test")
	var log bytes.Buffer
	c := serveLocal(t, l, nil, "test", slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug})))
	return c.Client, l, vm.URL, &log
}

// TestClientAddModuleAndTariffSpec: add_module and save_tariff_spec over the socket do what Local
// does, the spec's references by name and by id arrive as given, refusals keep their types, and the
// password reaches the server's secrets but not its log, the database or an error.
func TestClientAddModuleAndTariffSpec(t *testing.T) {
	c, l, url, log := specServer(t)
	ctx := context.Background()
	spec, err := wizard.ParseSpec(strings.NewReader(`{"product_type": "vps", "module": "vmmanager6", "url": "` + url + `",
		"username": "admin@example.com", "datacenter": "dc one", "department": 1, "name": "KVM", "cluster": "kvm-main",
		"additional_interface": true, "params": {"queue": "on", "queue_count": 2}}`))
	if err != nil {
		t.Fatal(err)
	}
	added, err := c.AddModule(ctx, spec, specPassword)
	if err != nil || added.Module.ID != 1 || added.Module.Cluster.Name != "kvm-main" || !added.Module.Params.Queue ||
		added.Module.Params.QueueCount != 2 || added.Module.DepartmentID != 1 {
		t.Fatalf("add through the socket: %+v, %v", added, err)
	}
	if pw, err := l.Secrets.Get(1); err != nil || pw != specPassword {
		t.Fatalf("the server's secrets hold %q, %v", pw, err)
	}
	spec.Name = "KVM 2"
	_, err = c.AddModule(ctx, spec, "not-the-password")
	var ce *wizard.CheckError
	if !errors.As(err, &ce) || ce.Cause != wizard.CauseBadCredentials {
		t.Fatalf("a wrong password through the socket: %v, want a *wizard.CheckError", err)
	}
	spec.Cluster = wizard.SpecRef{Ref: wizard.Ref{ID: 2}} // lxd-main: no second interface
	var ve *store.ValidationError
	if _, err := c.AddModule(ctx, spec, specPassword); !errors.As(err, &ve) || ve.Field != "additional_interface" {
		t.Fatalf("a cluster by id: %v, want the additional_interface refusal", err)
	}

	tariff, err := wizard.ParseTariffSpec(strings.NewReader(`{"name": "small", "datacenter": "DC One", "modules": [1],
		"cpu": 1, "ram_mib": 1024, "disk_mib": 10240, "os_id": 1}`))
	if err != nil {
		t.Fatal(err)
	}
	saved, err := c.SaveTariffSpec(ctx, 0, tariff)
	if err != nil || saved.Tariff.ID != 1 || saved.Tariff.DataCenterID != 1 {
		t.Fatalf("tariff add through the socket: %+v, %v", saved, err)
	}
	zero := uint64(0)
	if saved, err = c.SaveTariffSpec(ctx, 1, &wizard.TariffSpec{OSID: &zero}); !errors.As(err, &ve) || ve.Field != "os_id" || saved != nil {
		t.Fatalf("os_id 0 through the socket: %+v, %v; want the os_id refusal", saved, err)
	}
	if _, err := c.SaveTariffSpec(ctx, 4, &wizard.TariffSpec{}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("editing tariff 4: %v", err)
	}
	if _, err := c.SaveTariffSpec(ctx, 0, nil); !errors.As(err, &ve) || ve.Field != "spec" {
		t.Fatalf("no spec: %v", err)
	}

	raw, err := os.ReadFile(l.DB.Path())
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(specPassword)) || strings.Contains(log.String(), specPassword) ||
		strings.Contains(log.String(), "not-the-password") {
		t.Fatal("a password shows in the database or the server's log")
	}
}

// TestSpecCallsDecodeStrictly: a field the call does not know is a 400, not ignored.
func TestSpecCallsDecodeStrictly(t *testing.T) {
	s := &Server{}
	routes := s.routes()
	for name, body := range map[string]string{
		"add_module":       `{"spec": {"name": "x"}, "password": "p", "pasword": "p"}`,
		"save_tariff_spec": `{"id": 0, "spec": {"cpu": 1, "cpus": 2}}`,
	} {
		status, env := routes[name].serve(context.Background(), []byte(body))
		if status != 400 || env.Error == nil || !strings.Contains(env.Error.Message, "unknown field") {
			t.Errorf("%s with an unknown field: %d %+v", name, status, env.Error)
		}
	}
}
