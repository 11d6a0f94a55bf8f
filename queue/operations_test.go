package queue

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"

	"vmmpm/store"
	"vmmpm/vmm/sim"
)

// TestOperationsCoverOpTypes: the table has every operation of store.OpTypes, in order, and every
// argument says what it is, how it is given and what the engine does with it.
func TestOperationsCoverOpTypes(t *testing.T) {
	ops := Operations()
	var names []string
	for _, o := range ops {
		names = append(names, o.Name)
		if o.Help == "" {
			t.Errorf("%s has no help", o.Name)
		}
		flags := map[string]bool{}
		for _, a := range o.Args {
			if a.Name == "" || a.Label == "" || a.Help == "" {
				t.Errorf("%s: argument %+v lacks a name, label or help", o.Name, a)
			}
			if _, ok := o.Arg(a.Name); !ok {
				t.Errorf("%s: Arg(%q) does not find it", o.Name, a.Name)
			}
			switch a.Type {
			case WholeNumber:
				if a.Flag == "" || flags[a.Flag] || a.Min < 1 || a.Max < a.Min {
					t.Errorf("%s: %s: flag %q (or taken twice), limits %d–%d", o.Name, a.Name, a.Flag, a.Min, a.Max)
				}
				flags[a.Flag] = true
			case SecretText:
				if a.Flag != "" {
					t.Errorf("%s: secret %s has flag %q; secrets never come from the command line", o.Name, a.Name, a.Flag)
				}
			default:
				t.Errorf("%s: %s has no type", o.Name, a.Name)
			}
		}
		if o.AtLeastOne && len(o.Args) == 0 {
			t.Errorf("%s asks for at least one argument but takes none", o.Name)
		}
	}
	if !slices.Equal(names, store.OpTypes) {
		t.Fatalf("table %v, store.OpTypes %v", names, store.OpTypes)
	}
	if _, ok := OperationOf("resize"); ok {
		t.Error("OperationOf found an operation that does not exist")
	}
	// The arguments ops.go reads, and only those.
	want := map[string][]string{
		store.OpReinstall:   {ArgOSID, ArgRecipeID},
		store.OpSetPassword: {ArgPassword},
		store.OpSetParam:    {ArgCPU, ArgRAMMiB, ArgDiskMiB, ArgIPv4Count},
	}
	for _, o := range ops {
		if got := o.ArgNames(); !slices.Equal(got, want[o.Name]) && len(got)+len(want[o.Name]) > 0 {
			t.Errorf("%s takes %v, want %v", o.Name, got, want[o.Name])
		}
	}
	ops[0].Name, ops[len(ops)-1].Args[0].Name = "changed", "changed"
	if o, _ := OperationOf(store.OpSetParam); Operations()[0].Name != store.OpOpen || o.Args[0].Name != ArgCPU {
		t.Fatal("changing what Operations returned changed the table")
	}
}

// validArgs is the smallest accepted argument set of op: its required arguments.
func validArgs(o Operation) map[string]string {
	args := map[string]string{}
	for _, a := range o.Args {
		if a.Required {
			args[a.Name] = "s3cret"
		}
	}
	return args
}

// TestCheckArgsEveryArgument: each whole-number argument is accepted at its limits and refused, naming
// itself, below, above and when it is not a number.
func TestCheckArgsEveryArgument(t *testing.T) {
	checked := 0
	for _, o := range Operations() {
		for _, a := range o.Args {
			if a.Type != WholeNumber {
				continue
			}
			checked++
			for _, v := range []uint64{a.Min, a.Max} {
				args := validArgs(o)
				args[a.Name] = strconv.FormatUint(v, 10)
				if err := CheckArgs(o.Name, args); err != nil {
					t.Errorf("%s %s=%d: %v", o.Name, a.Name, v, err)
				}
			}
			for _, v := range []string{strconv.FormatUint(a.Min-1, 10), strconv.FormatUint(a.Max+1, 10), "x", "-1", "1.5", ""} {
				args := validArgs(o)
				args[a.Name] = v
				var ve *store.ValidationError
				err := CheckArgs(o.Name, args)
				if !errors.As(err, &ve) || ve.Field != a.Name || !strings.Contains(ve.Rule, "must be a whole number between 1 and 4294967295") {
					t.Errorf("%s %s=%q: %v, want a refusal of %s", o.Name, a.Name, v, err, a.Name)
				}
			}
		}
	}
	if checked != 6 {
		t.Fatalf("checked %d whole-number arguments, want 6", checked)
	}
}

func TestCheckArgsRules(t *testing.T) {
	cases := []struct {
		op    string
		args  map[string]string
		field string
		rule  string // "" = accepted
	}{
		{store.OpReboot, nil, "", ""},
		{store.OpSetParam, map[string]string{ArgIPv4Count: "2"}, "", ""},
		{store.OpReinstall, nil, "", ""},
		{store.OpReinstall, map[string]string{ArgOSID: "3", ArgRecipeID: "9"}, "", ""},
		{store.OpSetPassword, map[string]string{ArgPassword: "n3w secret"}, "", ""},
		{"resize", nil, "type", `unknown operation "resize"; use one of open, suspend, resume, close, reboot, reinstall, setpassword, setparam`},
		{store.OpSetParam, nil, "setparam", "give at least one of cpu, ram_mib, disk_mib, ipv4_count"},
		{store.OpSetParam, map[string]string{}, "setparam", "give at least one of cpu, ram_mib, disk_mib, ipv4_count"},
		{store.OpSetPassword, nil, ArgPassword, "is required by setpassword"},
		{store.OpSetPassword, map[string]string{ArgPassword: ""}, ArgPassword, "must not be empty"},
		{store.OpReboot, map[string]string{ArgPassword: "n3w secret"}, ArgPassword, "is not an argument of reboot; only setpassword takes it"},
		{store.OpSetParam, map[string]string{ArgCPU: "2", ArgPassword: "n3w secret"}, ArgPassword, "only setpassword takes it"},
		{store.OpReinstall, map[string]string{ArgCPU: "2"}, ArgCPU, "is not an argument of reinstall; only setparam takes it"},
		{store.OpReboot, map[string]string{"speed": "2"}, "speed", "is not an argument: reboot takes none"},
		{store.OpSetParam, map[string]string{"swap_mib": "2"}, "swap_mib", "is not an argument of setparam, which takes cpu, ram_mib, disk_mib, ipv4_count"},
		// Given by open itself, never by a caller.
		{store.OpOpen, map[string]string{ArgRecipeTask: "a/b"}, ArgRecipeTask, "is not an argument: open takes none"},
		// One refusal whatever the map order: the first unknown name in sorted order.
		{store.OpReboot, map[string]string{"b": "1", "a": "1", "c": "1"}, "a", "reboot takes none"},
	}
	for _, c := range cases {
		err := CheckArgs(c.op, c.args)
		if c.rule == "" {
			if err != nil {
				t.Errorf("%s %v: %v", c.op, c.args, err)
			}
			continue
		}
		var ve *store.ValidationError
		if !errors.As(err, &ve) || ve.Field != c.field || !strings.Contains(ve.Rule, c.rule) {
			t.Errorf("%s %v: %v, want %s: …%s…", c.op, c.args, err, c.field, c.rule)
			continue
		}
		if msg := err.Error(); strings.Contains(msg, "n3w secret") || strings.Count(msg, ". ") > 0 || strings.Contains(msg, "\n") {
			t.Errorf("%s %v: %q is not one sentence without the secret", c.op, c.args, msg)
		}
	}
}

// TestEnqueueChecksArgsFirst: a refused argument enqueues nothing and keeps no secret.
func TestEnqueueChecksArgsFirst(t *testing.T) {
	f := newFixture(t, sim.Config{Seed: 3}, store.DefaultParams())
	secrets := f.secrets
	e := f.engine(fastOptions())
	svcs, err := e.CreateServices(f.tariff.ID, 1, "lee@example.org")
	if err != nil {
		t.Fatal(err)
	}
	before := e.Counts()[f.module.ID].Queued
	var ve *store.ValidationError
	if _, err := e.Enqueue(svcs[0].ID, store.OpSetParam, map[string]string{ArgIPv4Count: "0"}); !errors.As(err, &ve) || ve.Field != ArgIPv4Count {
		t.Fatalf("ipv4_count 0: %v", err)
	}
	if _, err := e.Enqueue(svcs[0].ID, store.OpReboot, map[string]string{ArgPassword: "n3w secret"}); !errors.As(err, &ve) || ve.Field != ArgPassword {
		t.Fatalf("reboot with a password: %v", err)
	}
	if after := e.Counts()[f.module.ID].Queued; after != before {
		t.Fatalf("refused operations were queued: %d → %d", before, after)
	}
	if _, err := secrets.Get(store.JobSecretID(2)); !errors.Is(err, store.ErrSecretNotFound) {
		t.Fatalf("a refused operation left a secret: %v", err)
	}
	j, err := e.Enqueue(svcs[0].ID, store.OpSetParam, map[string]string{ArgIPv4Count: "3", ArgCPU: "2"})
	if err != nil || j.Args[ArgIPv4Count] != "3" || j.Args[ArgCPU] != "2" || len(j.Args) != 2 {
		t.Fatalf("setparam ipv4_count=3 cpu=2: %+v %v", j, err)
	}
}
