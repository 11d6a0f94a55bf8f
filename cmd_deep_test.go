package main

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"vmmpm/store"
	"vmmpm/vmm/sim"
)

// TestModuleDeepCheck: `module check ID --deep` runs the deep check with the stored password, prints
// the probe table, keeps the outcome with the module, and exits 6 naming the probe a VMmanager answers
// differently (here an emulator that renames a field).
func TestModuleDeepCheck(t *testing.T) {
	e := newModuleEnv(t)
	e.ok(modulePassword+"\n", "module", "add", "--spec", e.spec(nil))
	out := e.ok("", "module", "check", "1", "--deep")
	if !strings.Contains(out, "PROBE") || strings.Contains(out, "differs") {
		t.Fatalf("deep check against the emulator:\n%s", out)
	}
	var m store.Module
	if err := json.Unmarshal([]byte(e.ok("", "module", "show", "1", "--json")), &m); err != nil {
		t.Fatal(err)
	}
	if m.LastDeep == nil || !m.LastDeep.OK || m.LastDeep.Probes == 0 {
		t.Fatalf("the deep check was not kept with the module: %+v", m.LastDeep)
	}

	quirky := httptest.NewServer(sim.New(sim.Config{Quirks: []sim.Quirk{{Kind: "field", From: "virtualization_type", To: "virt"}}}))
	t.Cleanup(quirky.Close)
	e.ok("", "module", "set", "1", "url="+quirky.URL)
	e.refuse(exitDiffers, "", []string{"module", "check", "1", "--deep"}, "answers differently", "clusters")
	if err := json.Unmarshal([]byte(e.ok("", "module", "show", "1", "--json")), &m); err != nil {
		t.Fatal(err)
	}
	if m.LastDeep == nil || m.LastDeep.OK || len(m.LastDeep.Differs) == 0 {
		t.Fatalf("a failed deep check was not kept: %+v", m.LastDeep)
	}
}
