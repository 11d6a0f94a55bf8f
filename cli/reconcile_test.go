package cli

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"vmmpm/internal/damagetest"
	"vmmpm/reconcile"
	"vmmpm/store"
)

// writes counts the emulator's requests that could change a VM: every POST and DELETE but the login.
func (env *engineEnv) writes() int {
	n := 0
	for k, v := range env.sim.Stats().Requests {
		if (strings.HasPrefix(k, "POST ") || strings.HasPrefix(k, "DELETE ")) && k != "POST /auth/v4/public/token" {
			n += v
		}
	}
	return n
}

// TestReconcileCommands: the README's walk-through on a small scale. The scan lists the VMs nobody
// ordered; import without --yes says what it would do and writes nothing; with --yes it queues one job
// per VM, and after them the scan finds nothing; a VM deleted behind vmmpm's back with one plain POST to
// the emulator is found by the next scan, and marking its service deleted clears it. Attached to a
// server, the same commands answer the same.
func TestReconcileCommands(t *testing.T) {
	env := newEngineEnv(t, 0)
	if _, _, err := env.sim.SeedVMs(6); err != nil {
		t.Fatal(err)
	}
	env.cli("tariff", "add", "--spec", env.spec)
	rep := decodeJSON[reconcile.Report](t, env.cli("reconcile", "--json"))
	if len(rep.Findings) != 6 {
		t.Fatalf("%d findings, want the 6 seeded VMs", len(rep.Findings))
	}
	for _, f := range rep.Findings {
		if f.Class != reconcile.UnknownVM || f.ModuleID != 1 || f.VMID == 0 || f.ServiceID != 0 {
			t.Fatalf("finding %+v", f)
		}
	}
	table := env.cli("reconcile")
	if !strings.Contains(table, "unknown_vm 6") || !strings.Contains(table, "vmmpm reconcile import --module 1") {
		t.Fatalf("report:\n%s", table)
	}

	writes := env.writes()
	out, errOut, code := runCLI(t, "", "--db", env.db, "reconcile", "import", "--module", "1", "--tariff", "small", "--all")
	if code != exitUsage || strings.Count(out, "would import VM") != 6 {
		t.Fatalf("import without --yes: exit %d\n%s", code, out)
	}
	requireSentence(t, errOut, "--yes")
	// Seeded VMs come in three sizes; the tariff given is taken for all of them.
	out = env.cli("reconcile", "import", "--module", "1", "--tariff", "small", "--all", "--yes")
	if strings.Count(out, "imports VM") != 6 {
		t.Fatalf("import --yes:\n%s", out)
	}
	if env.writes() != writes {
		t.Fatalf("the import wrote to VMmanager before its jobs ran")
	}
	env.cli("engine", "--until-idle")
	if env.writes() != writes {
		t.Fatalf("importing wrote to VMmanager")
	}
	svcs := decodeJSON[[]store.Service](t, env.cli("service", "list", "--json"))
	if len(svcs) != 6 {
		t.Fatalf("%d services after the import", len(svcs))
	}
	for _, s := range svcs {
		if s.VM.HostID == 0 || !strings.HasSuffix(s.ClientEmail, "@example.net") || len(s.VM.IPv4) != 1 {
			t.Fatalf("imported service %+v", s)
		}
	}
	// The seeded VMs differ from the tariff in size: the scan says so until the services take the sizes.
	rep = decodeJSON[reconcile.Report](t, env.cli("reconcile", "--json"))
	for _, f := range rep.Findings {
		if f.Class != reconcile.Resources {
			t.Fatalf("after the import: %s", f.Summary)
		}
	}

	resp, err := http.Post(env.url+"/sim/vm/"+strconv.FormatUint(svcs[1].VM.HostID, 10)+"/delete", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	srv := env.startServe()
	defer srv.stop()
	sock := func(args ...string) string { return env.cli(append([]string{"--socket", env.socket()}, args...)...) }
	rep = decodeJSON[reconcile.Report](t, sock("reconcile", "--json", "--module", "1"))
	var missing []reconcile.Finding
	for _, f := range rep.Findings {
		if f.Class == reconcile.MissingVM {
			missing = append(missing, f)
		}
	}
	if len(missing) != 1 || missing[0].ServiceID != svcs[1].ID {
		t.Fatalf("attached scan after the delete: %+v", rep.Findings)
	}
	out = sock("reconcile", "fix", "--module", "1", "--service", strconv.FormatUint(svcs[1].ID, 10), "--action", "mark_deleted", "--yes")
	if !strings.Contains(out, "is marked deleted") || !strings.Contains(out, "the vmmpm server") {
		t.Fatalf("fix:\n%s", out)
	}
	waitJobs(t, env.client(), 7)
	if s := decodeJSON[[]store.Service](t, sock("service", "list", "--json")); s[1].Status != store.ServiceDeleted {
		t.Fatalf("service after mark_deleted: %s", s[1].Status)
	}
	_, errOut, code = runCLI(t, "", "--db", env.db, "--socket", env.socket(), "reconcile", "--module", "9")
	if code != exitUsage {
		t.Fatalf("unknown module: exit %d", code)
	}
	requireSentence(t, errOut, "module 9 does not exist")
}

// TestReconcileListsFlaggedServices: a queued open's record overwritten with garbage is put in
// quarantine by the engine; status says a service needs a reconcile look, the scan lists it first with
// why (and in --json's flagged), takes the flag down, and status then says nothing of it.
func TestReconcileListsFlaggedServices(t *testing.T) {
	env := damagedEnv(t, "record")
	env.cli("engine", "--until-idle")
	const line = "reconcile: 1 service(s) need a reconcile look: vmmpm reconcile"
	if out := env.cli("status"); !strings.Contains(out, line) {
		t.Fatalf("status after the quarantine:\n%s", out)
	}
	rep := decodeJSON[reconcile.Report](t, env.cli("reconcile", "--json"))
	if len(rep.Flagged) != 1 || rep.Flagged[0].ServiceID != 3 || rep.Flagged[0].JobID != 3 || !rep.Flagged[0].Looked {
		t.Fatalf("--json flagged: %+v; want service 3, by job 3, looked at", rep.Flagged)
	}
	if out := env.cli("status"); strings.Contains(out, "reconcile look") {
		t.Errorf("status after the scan still asks for a look:\n%s", out)
	}
	env.cli("service", "create", "--tariff", "1", "--client", "dora@example.org")
	damagetest.Record(t, env.db, "jobs", 13)
	env.cli("engine", "--until-idle")
	out := env.cli("reconcile")
	first := "flagged for a reconcile look (1):\n  service 13 of module 1 (flag cleared): job 13's record was unreadable and is in quarantine"
	if !strings.HasPrefix(out, first) {
		t.Errorf("the report does not begin with the flagged service:\n%s", out)
	}
}
