package queue

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"vmmpm/store"
)

// Argument names operations accept (the keys of store.Job.Args).
const (
	ArgPassword  = "password" // setpassword: kept in Secrets until the job is done, never in the file
	ArgOSID      = "os_id"
	ArgRecipeID  = "recipe_id"
	ArgCPU       = "cpu"
	ArgRAMMiB    = "ram_mib"
	ArgDiskMiB   = "disk_mib"
	ArgIPv4Count = "ipv4_count"
	// ArgRecipeTask is set by open, not given: the recipe task VMmanager started with the VM, to wait on
	// after a restart.
	ArgRecipeTask = "recipe_task"
	// ArgParamTasks is set by setparam, not given: the VMmanager tasks it started ("consul/name",
	// comma-separated), so a repeated attempt waits for what it posted instead of posting it again.
	ArgParamTasks = "param_tasks"
)

// ArgType is what an argument's value is.
type ArgType int

const (
	WholeNumber ArgType = iota + 1 // decimal, between Min and Max
	SecretText                     // never stored in the database, never read from a command line
)

// maxWhole is the largest whole-number argument: values are parsed as 32 bits, as they always were;
// VMmanager's own limits are not published, so VMmanager enforces them.
const maxWhole = math.MaxUint32

// Arg is one argument of an operation, as the CLI flags, the TUI form and CheckArgs see it.
type Arg struct {
	Name     string // the key in store.Job.Args
	Label    string // a short title for forms
	Type     ArgType
	Min, Max uint64 // WholeNumber only
	Required bool
	Flag     string // the CLI flag; empty for SecretText, which is read from stdin
	Help     string // what the engine does with it
}

// Operation is one operation on a service and the arguments the engine reads for it.
type Operation struct {
	Name string // a store.OpTypes entry
	Help string // what it does, one line
	Args []Arg
	// AtLeastOne: without one of its arguments the operation would change nothing.
	AtLeastOne bool
}

// Arg returns the operation's argument called name.
func (o Operation) Arg(name string) (Arg, bool) {
	for _, a := range o.Args {
		if a.Name == name {
			return a, true
		}
	}
	return Arg{}, false
}

// ArgNames are the names of the operation's arguments, in table order.
func (o Operation) ArgNames() []string {
	names := make([]string, len(o.Args))
	for i, a := range o.Args {
		names[i] = a.Name
	}
	return names
}

func whole(name, label, flag, help string) Arg {
	return Arg{Name: name, Label: label, Type: WholeNumber, Min: 1, Max: maxWhole, Flag: flag, Help: help}
}

// operations follows store.OpTypes. The help says what ops.go does, so keep them together.
var operations = []Operation{
	{Name: store.OpOpen, Help: "Open again a service whose open failed or was cancelled (service create opens new ones)"},
	{Name: store.OpSuspend, Help: "Stop the VMs (service becomes suspended)"},
	{Name: store.OpResume, Help: "Start the VMs again (service becomes active)"},
	{Name: store.OpClose, Help: "Delete the VMs (service becomes deleted; cannot be undone)"},
	{Name: store.OpReboot, Help: "Restart the VMs"},
	{Name: store.OpReinstall, Help: "Reinstall the VMs' OS (the tariff's or another) with a new random root password", Args: []Arg{
		whole(ArgOSID, "OS image id", "os-id", "VMmanager OS image id (default: the tariff's)"),
		whole(ArgRecipeID, "Recipe id", "recipe-id", "VMmanager recipe id (default: the tariff's); used only when the module uses recipes"),
	}},
	{Name: store.OpSetPassword, Help: "Set the VMs' root password", Args: []Arg{
		{Name: ArgPassword, Label: "New password", Type: SecretText, Required: true,
			Help: "new root password, held in the secret store until the job ends"},
	}},
	{Name: store.OpSetParam, AtLeastOne: true,
		Help: "Change CPU and RAM (up or down), grow the disk, add IPv4 addresses; a running VM is restarted unless only addresses are added",
		Args: []Arg{
			whole(ArgCPU, "CPU", "cpu", "vCPU count, up or down; restarts a running VM"),
			whole(ArgRAMMiB, "RAM, MiB", "ram-mib", "RAM in MiB, up or down; restarts a running VM"),
			whole(ArgDiskMiB, "Disk, MiB", "disk-mib", "disk size in MiB, only grows; restarts a running VM"),
			whole(ArgIPv4Count, "IPv4 count", "ipv4-count", "main-interface IPv4 addresses; only adds, no restart"),
		}},
}

// Operations lists every operation in store.OpTypes order. The slice is the caller's to change.
func Operations() []Operation {
	out := slices.Clone(operations)
	for i := range out {
		out[i].Args = slices.Clone(out[i].Args)
	}
	return out
}

// OperationOf returns the operation called name.
func OperationOf(name string) (Operation, bool) {
	for _, o := range operations {
		if o.Name == name {
			o.Args = slices.Clone(o.Args)
			return o, true
		}
	}
	return Operation{}, false
}

// takers are the operations that take the argument name.
func takers(name string) []string {
	var ops []string
	for _, o := range operations {
		if _, ok := o.Arg(name); ok {
			ops = append(ops, o.Name)
		}
	}
	return ops
}

// CheckArgs checks args (secrets included) against op's entry in the table; a refusal is a
// *store.ValidationError naming the argument. It does not look at the service: Enqueue does that.
func CheckArgs(op string, args map[string]string) error {
	bad := func(field, format string, a ...any) error {
		return &store.ValidationError{Field: field, Rule: fmt.Sprintf(format, a...)}
	}
	o, ok := OperationOf(op)
	if !ok {
		return bad("type", "unknown operation %q; use one of %s", op, strings.Join(store.OpTypes, ", "))
	}
	for _, k := range slices.Sorted(maps.Keys(args)) {
		if _, ok := o.Arg(k); ok {
			continue
		}
		switch by := takers(k); {
		case len(by) > 0:
			return bad(k, "is not an argument of %s; only %s takes it", op, strings.Join(by, " and "))
		case len(o.Args) == 0:
			return bad(k, "is not an argument: %s takes none", op)
		default:
			return bad(k, "is not an argument of %s, which takes %s", op, strings.Join(o.ArgNames(), ", "))
		}
	}
	given := 0
	for _, a := range o.Args {
		v, ok := args[a.Name]
		if !ok {
			if a.Required {
				return bad(a.Name, "is required by %s", op)
			}
			continue
		}
		given++
		switch a.Type {
		case WholeNumber:
			if n, err := strconv.ParseUint(v, 10, 64); err != nil || n < a.Min || n > a.Max {
				return bad(a.Name, "must be a whole number between %d and %d", a.Min, a.Max)
			}
		case SecretText:
			if v == "" {
				return bad(a.Name, "must not be empty")
			}
		}
	}
	if o.AtLeastOne && given == 0 {
		return bad(op, "give at least one of %s", strings.Join(o.ArgNames(), ", "))
	}
	return nil
}
