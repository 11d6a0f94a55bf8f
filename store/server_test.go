package store_test

import (
	"errors"
	"strings"
	"testing"

	"vmmpm/internal/pgtest"
	"vmmpm/store"
)

// TestOpenServer: a postgres:// address opens the database kept on that server: created on first
// open, its records there on the next, named without its password, and refused by MustExist while
// it holds nothing.
func TestOpenServer(t *testing.T) {
	addr := pgtest.URL(t)
	if _, err := store.Open(addr, store.Options{MustExist: true}); !errors.Is(err, store.ErrNoDatabase) ||
		!strings.Contains(err.Error(), "holds no vmmpm database yet") {
		t.Fatalf("MustExist on an empty schema: %v", err)
	}
	db, err := store.Open(addr, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	dc := &store.DataCenter{Name: "Frankfurt"}
	if err := db.Save(dc); err != nil {
		t.Fatal(err)
	}
	if db.BoltFile() != nil || db.Path() != store.Redact(addr) {
		t.Errorf("Path %q BoltFile %v", db.Path(), db.BoltFile())
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = store.Open(addr, store.Options{MustExist: true, ReadOnlyIfUnwritable: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	got, err := store.Load[store.DataCenter](db, dc.ID)
	if err != nil || got.Name != "Frankfurt" {
		t.Fatalf("after reopening: %+v, %v", got, err)
	}
}

// TestRedact: the password goes, from the user part and from the query, and nothing else changes.
func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://vmmpm:s3cret@db.example:5432/vmmpm?sslmode=require":     "postgres://vmmpm@db.example:5432/vmmpm?sslmode=require",
		"postgresql://db.example/vmmpm?password=s3cret&sslmode=verify-full": "postgresql://db.example/vmmpm?sslmode=verify-full",
		"postgres://vmmpm@db.example/vmmpm":                                 "postgres://vmmpm@db.example/vmmpm",
		"/var/lib/vmmpm/vmmpm.db":                                           "/var/lib/vmmpm/vmmpm.db",
	} {
		if got := store.Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
	if store.IsServer("/var/lib/vmmpm.db") || !store.IsServer("postgresql://h/d") {
		t.Error("IsServer tells files from servers wrongly")
	}
}
