package form_test

import (
	"strings"
	"testing"

	"github.com/charmbracelet/bubbles/help"

	"vmmpm/ui/common"
	"vmmpm/ui/components/form"
	"vmmpm/ui/internal/uitest"
)

func newForm() *form.Model {
	ctx := common.New(uitest.Plain(), nil)
	return form.New(ctx, "Test").
		AddText("name", "Name", "old", "", false).
		AddSwitch("on", "Queue", false, "").
		AddChoice("dc", "Data center", []form.Option{{Label: "A", Value: "1"}, {Label: "B", Value: "2", Disabled: "has an external id"}, {Label: "C", Value: "3"}}, "1", "").
		AddSecret("pw", "Password", "")
}

func send(f *form.Model, keys ...string) form.Result {
	var r form.Result
	for _, k := range keys {
		r, _ = f.Update(uitest.Key(k))
	}
	return r
}

func TestFormFields(t *testing.T) {
	f := newForm()
	send(f, "backspace", "backspace", "backspace")
	for _, r := range "new name" {
		f.Update(uitest.Key(string(r)))
	}
	send(f, "tab", " ", "tab", "right")
	if f.Value("name") != "new name" || !f.Bool("on") || f.Value("dc") != "3" {
		t.Fatalf("values: %q %v %q (the disabled option must be skipped)", f.Value("name"), f.Bool("on"), f.Value("dc"))
	}
	send(f, "tab")
	for _, r := range "s3cret pw" {
		f.Update(uitest.Key(string(r)))
	}
	send(f, "shift+tab")
	view := uitest.Strip(f.View())
	if strings.Contains(view, "s3cret") || !strings.Contains(view, "•••••••••") {
		t.Fatalf("the secret is not masked:\n%s", view)
	}
	if f.Value("pw") != "s3cret pw" {
		t.Fatalf("secret value %q", f.Value("pw"))
	}
	if r := send(f, "ctrl+s"); r != form.Submitted {
		t.Fatalf("ctrl+s: %v", r)
	}
	if r := send(f, "esc"); r != form.Cancelled {
		t.Fatalf("esc: %v", r)
	}
	if r := send(f, "q"); r != form.Editing {
		t.Fatalf("q inside a form: %v", r)
	}
}

// A pick list: ←/→ moves among the options, space picks or drops the one it is on, and the value is
// the picked values in option order.
func TestFormMulti(t *testing.T) {
	ctx := common.New(uitest.Plain(), nil)
	f := form.New(ctx, "Test").AddMulti("mods", "Modules",
		[]form.Option{{Label: "1 kvm", Value: "1"}, {Label: "2 lxd", Value: "2"}, {Label: "3 spare", Value: "3"}}, []string{"3"}, "")
	if v := f.Value("mods"); v != "3" {
		t.Fatalf("preselected %q", v)
	}
	send(f, " ", "right", "right", " ")
	if v := f.Value("mods"); v != "1" {
		t.Fatalf("after picking 1 and dropping 3: %q", v)
	}
	send(f, "left", " ")
	if v := f.Value("mods"); v != "1,2" {
		t.Fatalf("after picking 2: %q", v)
	}
	if v := f.View(); !strings.Contains(v, "[x] 1 kvm  ‹[x] 2 lxd›  [ ] 3 spare") {
		t.Fatalf("view:\n%s", v)
	}
}

// TestEnterMovesOnCtrlSSaves: enter means what it means in the Add wizard, the next field, and saves only
// on the last one; ctrl+s saves from any field; the help bar names both.
func TestEnterMovesOnCtrlSSaves(t *testing.T) {
	three := func() *form.Model {
		ctx := common.New(uitest.Plain(), nil)
		return form.New(ctx, "Test").
			AddText("name", "Name", "", "", false).
			AddSwitch("on", "Queue", false, "").
			AddText("count", "Count", "1", "", true)
	}
	bar := func(f *form.Model) string { return uitest.Strip(help.New().ShortHelpView(f.Help().ShortHelp())) }

	f := three()
	if b := bar(f); !strings.Contains(b, "ctrl+s save") || !strings.Contains(b, "enter next field") {
		t.Fatalf("help bar on the first field: %q", b)
	}
	if r := send(f, "enter"); r != form.Editing || f.Focused() != "on" {
		t.Fatalf("enter on field 1 of 3: %v, focus on %q, want editing with focus on the second field", r, f.Focused())
	}
	if r := send(f, "enter"); r != form.Editing || f.Focused() != "count" {
		t.Fatalf("enter on field 2 of 3: %v, focus on %q", r, f.Focused())
	}
	if b := bar(f); !strings.Contains(b, "ctrl+s save") || !strings.Contains(b, "enter save") {
		t.Fatalf("help bar on the last field: %q", b)
	}
	if r := send(f, "enter"); r != form.Submitted {
		t.Fatalf("enter on the last field: %v, want submitted", r)
	}

	f = three()
	if r := send(f, "ctrl+s"); r != form.Submitted || f.Focused() != "name" {
		t.Fatalf("ctrl+s on the first field: %v, focus on %q, want submitted from the first field", r, f.Focused())
	}
	// tab still wraps round and esc still cancels.
	if r := send(f, "tab", "tab", "tab"); r != form.Editing || f.Focused() != "name" {
		t.Fatalf("tab ×3: %v, focus on %q", r, f.Focused())
	}
	if r := send(f, "esc"); r != form.Cancelled {
		t.Fatalf("esc: %v", r)
	}
}

// TestFormWhen: a field shown only for one choice is drawn, focused and saved on only while that choice
// is made; labels keep one width either way.
func TestFormWhen(t *testing.T) {
	ctx := common.New(uitest.Plain(), nil)
	is := func(v string) func(*form.Model) bool { return func(f *form.Model) bool { return f.Value("op") == v } }
	f := form.New(ctx, "Test").
		AddChoice("op", "Operation", []form.Option{{Label: "reboot", Value: "reboot"}, {Label: "setparam", Value: "setparam"}, {Label: "reinstall", Value: "reinstall"}}, "reboot", "").
		AddText("cpu", "CPU", "", "new count", true).When(is("setparam")).
		AddText("ram", "RAM", "", "", true).When(is("setparam")).
		AddText("os", "OS image id", "", "", true).When(is("reinstall"))
	bar := func() string { return uitest.Strip(help.New().ShortHelpView(f.Help().ShortHelp())) }

	// reboot: the choice is the only field, so enter saves and tab stays.
	if v := uitest.Strip(f.View()); strings.Contains(v, "CPU") || strings.Contains(v, "OS image id") || !strings.Contains(v, "Operation    ‹ reboot ›") {
		t.Fatalf("reboot view:\n%s", v)
	}
	if b := bar(); !strings.Contains(b, "enter save") {
		t.Fatalf("help bar with no other field shown: %q", b)
	}
	if r := send(f, "tab"); r != form.Editing || f.Focused() != "op" {
		t.Fatalf("tab with one field shown: %v, focus %q", r, f.Focused())
	}
	if r := send(f, "enter"); r != form.Submitted {
		t.Fatalf("enter with one field shown: %v", r)
	}

	send(f, "right")
	v := uitest.Strip(f.View())
	if !strings.Contains(v, "CPU          []  new count") || !strings.Contains(v, "RAM") || strings.Contains(v, "OS image id") {
		t.Fatalf("setparam view:\n%s", v)
	}
	if r := send(f, "enter", "enter"); r != form.Editing || f.Focused() != "ram" {
		t.Fatalf("enter ×2 on setparam: %v, focus %q, want ram (os is hidden)", r, f.Focused())
	}
	if b := bar(); !strings.Contains(b, "enter save") {
		t.Fatalf("help bar on the last shown field: %q", b)
	}
	if r := send(f, "tab"); f.Focused() != "op" || r != form.Editing {
		t.Fatalf("tab from the last shown field: focus %q, want op", f.Focused())
	}
	if send(f, "shift+tab"); f.Focused() != "ram" {
		t.Fatalf("shift+tab from op: focus %q, want ram", f.Focused())
	}
	if r := send(f, "enter"); r != form.Submitted {
		t.Fatalf("enter on the last shown field: %v", r)
	}

	send(f, "shift+tab", "shift+tab", "right")
	if f.Value("op") != "reinstall" || f.Focused() != "op" {
		t.Fatalf("op %q, focus %q", f.Value("op"), f.Focused())
	}
	if r := send(f, "enter"); r != form.Editing || f.Focused() != "os" {
		t.Fatalf("enter on reinstall: %v, focus %q, want os", r, f.Focused())
	}
}

// TestFormLongHintWraps: a hint too long for the line moves under the value and wraps there, so at 80
// columns (76 inside the frame's padding) nothing is cut.
func TestFormLongHintWraps(t *testing.T) {
	ctx := common.New(uitest.Plain(), nil)
	ctx.Width = 80
	long := "new disk size in MiB; disks only grow, so a smaller size is refused; a running VM is restarted to apply it"
	f := form.New(ctx, "Test").AddText("name", "Name", "", "short", false).AddText("disk", "Disk, MiB", "", long, true)
	v := uitest.Strip(f.View())
	if !strings.Contains(v, "Name       [ ]  short") {
		t.Fatalf("a short hint left its line:\n%s", v)
	}
	var words []string
	for _, l := range strings.Split(v, "\n") {
		if len([]rune(l)) > 74 {
			t.Errorf("line of %d columns: %q", len([]rune(l)), l)
		}
		if strings.HasPrefix(l, "             ") {
			words = append(words, strings.Fields(l)...)
		}
	}
	if strings.Join(words, " ") != long {
		t.Fatalf("the hint under the value reads %q:\n%s", strings.Join(words, " "), v)
	}
}
