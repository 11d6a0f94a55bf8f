package server

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCallThatPanics: a call whose backend panics (the fake's status is not implemented: a nil
// interface) is answered 500 with the crash report's one sentence, its stack goes to a 0600 file,
// and the server goes on answering.
func TestCallThatPanics(t *testing.T) {
	state := t.TempDir()
	t.Setenv("XDG_STATE_HOME", state)
	hs := httpServe(t, newServer(t, newFake()), os.Getuid())
	a := request(t, http.DefaultClient, http.MethodPost, hs.URL+"/v1/status", `{}`, testVersion)
	if a.status != http.StatusInternalServerError || !a.says("internal error") || !a.says("crash-") ||
		strings.Contains(a.raw, "goroutine") || strings.Contains(a.raw, "runtime error") {
		t.Fatalf("a panicking call: %d %s", a.status, a.raw)
	}
	files, _ := filepath.Glob(filepath.Join(state, "vmmpm", "crash-*.txt"))
	if len(files) != 1 {
		t.Fatalf("crash reports: %v", files)
	}
	if body, _ := os.ReadFile(files[0]); !strings.Contains(string(body), "goroutine") {
		t.Errorf("the report has no stack:\n%s", body)
	}
	if a := request(t, http.DefaultClient, http.MethodPost, hs.URL+"/v1/jobs_view", `{}`, testVersion); a.status != http.StatusOK {
		t.Errorf("the next call: %d %s", a.status, a.raw)
	}
}
