package backend

import (
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"vmmpm/store"
	"vmmpm/vmm/sim"
	"vmmpm/wizard"
)

// specLocal is a Local on a new database with data center "DC One" and department "Support", in-memory
// secrets, and the emulator's URL.
func specLocal(t *testing.T) (*Local, string) {
	t.Helper()
	db, err := store.Open(filepath.Join(t.TempDir(), "vmmpm.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	l := NewLocal(db, store.NewMemorySecrets(), nil, "test")
	l.OwnsDB = true
	t.Cleanup(func() { _ = l.Close() })
	for _, r := range []store.Record{&store.DataCenter{Name: "DC One"}, &store.Department{Name: "Support"}} {
		if err := db.Save(r); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(sim.New(sim.Config{}))
	t.Cleanup(srv.Close)
	return l, srv.URL
}

// parse reads a spec with the wizard's parser.
func parse[T any](t *testing.T, fn func(io.Reader) (*T, error), json string) *T {
	t.Helper()
	v, err := fn(strings.NewReader(json))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestLocalAddModuleAndTariffSpec(t *testing.T) {
	l, url := specLocal(t)
	ctx := context.Background()
	spec := func(name string) *wizard.Spec {
		return parse(t, wizard.ParseSpec, `{"product_type": "vps", "module": "vmmanager6", "url": "`+url+`", "username": "admin@example.com",
			"datacenter": "DC One", "department": "Support", "name": "`+name+`", "cluster": "kvm-main"}`)
	}
	added, err := l.AddModule(ctx, spec("KVM"), "demo-password")
	if err != nil || added.Module.ID != 1 || added.Module.Cluster.Name != "kvm-main" || len(added.Warnings) != 0 {
		t.Fatalf("add: %+v, %v", added, err)
	}
	if pw, err := l.Secrets.Get(1); err != nil || pw != "demo-password" {
		t.Fatalf("secrets: %q, %v", pw, err)
	}
	added, err = l.AddModule(ctx, spec("KVM 2"), "demo-password")
	if err != nil || len(added.Warnings) != 1 {
		t.Fatalf("a second module on sort 0: %+v, %v; want one warning", added, err)
	}
	_, err = l.AddModule(ctx, spec("KVM 3"), "wrong")
	if ce := (*wizard.CheckError)(nil); !errors.As(err, &ce) || ce.Cause != wizard.CauseBadCredentials {
		t.Fatalf("a wrong password: %v, want a *wizard.CheckError", err)
	}

	tariff := func(json string) *wizard.TariffSpec {
		return parse(t, wizard.ParseTariffSpec, json)
	}
	saved, err := l.SaveTariffSpec(ctx, 0, tariff(`{"name": "small", "datacenter": 1, "modules": [1, 2], "cpu": 1,
		"ram_mib": 1024, "disk_mib": 10240, "os_id": 1}`))
	if err != nil || saved.Tariff.ID != 1 || saved.Tariff.DataCenterID != 1 {
		t.Fatalf("tariff add: %+v, %v", saved, err)
	}
	if saved, err = l.SaveTariffSpec(ctx, 1, tariff(`{"ram_mib": 2048}`)); err != nil || saved.Tariff.RAMMiB != 2048 || saved.Tariff.CPU != 1 {
		t.Fatalf("tariff edit: %+v, %v", saved, err)
	}
	if _, err := l.SaveTariffSpec(ctx, 7, tariff(`{}`)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("editing tariff 7: %v", err)
	}

	var ve *store.ValidationError
	if _, err := l.AddModule(ctx, nil, "demo-password"); !errors.As(err, &ve) || ve.Field != "spec" {
		t.Errorf("no module spec: %v", err)
	}
	if _, err := l.SaveTariffSpec(ctx, 0, nil); !errors.As(err, &ve) || ve.Field != "spec" {
		t.Errorf("no tariff spec: %v", err)
	}
}
