package services_test

import (
	"maps"
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"

	"vmmpm/queue"
	"vmmpm/store"
	"vmmpm/ui/common"
	"vmmpm/ui/internal/uitest"
	"vmmpm/ui/screens/services"
)

func TestMain(m *testing.M) { uitest.Main(m) }

// host runs the screen as the app would and keeps the last status-line message.
type host struct {
	s     *services.Model
	flash *common.FlashMsg
}

func (h *host) Init() tea.Cmd { return h.s.Activate() }
func (h *host) View() string  { return h.s.View() }
func (h *host) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	if f, ok := msg.(common.FlashMsg); ok {
		h.flash = &f
		return h, nil
	}
	return h, h.s.Update(msg)
}

// screen is Services over two active services (2 is selected: newest first), at width columns.
func screen(t *testing.T, width int) (*uitest.Fixture, *uitest.Driver, *host) {
	t.Helper()
	f := uitest.Open(t, uitest.Executor())
	f.Services(t, 2)
	f.RunIdle(t)
	ctx := f.Context()
	ctx.Width = width
	h := &host{s: services.New(ctx)}
	return f, uitest.Drive(t, h), h
}

// chooseSetParam opens o on the selected active service and picks setparam (suspend, resume, reboot,
// reinstall, setpassword, setparam, close).
func chooseSetParam(t *testing.T, d *uitest.Driver) {
	t.Helper()
	d.Keys("o", "down", "right", "right", "right", "right", "right")
	uitest.Must(t, d.View(), "Run an operation on service 2 (active)", "‹ setparam ›")
}

// TestSetParamFormOffersEveryArgument: the setparam form has a field for each argument the engine takes,
// ipv4_count too, each with the table's hint (up or down for CPU and RAM, not "grow only"), and no field of
// another operation.
func TestSetParamFormOffersEveryArgument(t *testing.T) {
	_, d, _ := screen(t, uitest.Width)
	chooseSetParam(t, d)
	v := d.View()
	op, _ := queue.OperationOf(store.OpSetParam)
	for _, a := range op.Args {
		uitest.Must(t, v, a.Label, a.Help)
	}
	uitest.Must(t, v, "IPv4 count", "only adds", "CPU", "up or down")
	uitest.MustNot(t, v, "grow only", "OS image id", "Recipe id", "New password")

	// reinstall, two to the left: its OS image and recipe, and no setparam field.
	d.Keys("left", "left")
	v = d.View()
	uitest.Must(t, v, "‹ reinstall ›", "OS image id", "Recipe id", "used only when the module uses recipes")
	uitest.MustNot(t, v, "IPv4 count", "RAM, MiB")
}

// TestSetParamFormSendsTheArgs: enter walks the setparam fields and saves on the last; the job carries
// what was typed, and nothing typed for another operation.
func TestSetParamFormSendsTheArgs(t *testing.T) {
	f, d, h := screen(t, uitest.Width)
	chooseSetParam(t, d)
	d.Keys("enter").Type("4")
	d.Keys("enter").Type("512")
	d.Keys("enter", "enter").Type("3")
	uitest.Must(t, d.View(), "› IPv4 count")
	d.Keys("enter")
	if h.flash == nil || h.flash.Err || h.flash.Text != "setparam of service 2 queued as job 3" {
		t.Fatalf("after saving: flash %+v\n%s", h.flash, d.View())
	}
	j, err := store.Load[store.Job](f.DB, 3)
	want := map[string]string{queue.ArgCPU: "4", queue.ArgRAMMiB: "512", queue.ArgIPv4Count: "3"}
	if err != nil || j.Type != store.OpSetParam || j.ServiceID != 2 || !maps.Equal(j.Args, want) {
		t.Fatalf("job 3: %+v %v, want args %v", j, err, want)
	}

	// CPU typed for setparam, then reinstall chosen: only the recipe is sent.
	chooseSetParam(t, d)
	d.Keys("enter").Type("8")
	d.Keys("shift+tab", "left", "left", "enter", "enter").Type("7")
	uitest.Must(t, d.View(), "Operation     reinstall", "› Recipe id")
	d.Keys("ctrl+s")
	uitest.Must(t, d.View(), "Reinstall service 2", "type 2 and press")
	d.Type("2").Keys("enter")
	j, err = store.Load[store.Job](f.DB, 4)
	if err != nil || j.Type != store.OpReinstall || !maps.Equal(j.Args, map[string]string{queue.ArgRecipeID: "7"}) {
		t.Fatalf("job 4: %+v %v", j, err)
	}
}

// TestOpFormRefusalStaysInTheForm: the engine's sentence for a bad value shows in the open form.
func TestOpFormRefusalStaysInTheForm(t *testing.T) {
	f, d, _ := screen(t, uitest.Width)
	chooseSetParam(t, d)
	d.Keys("ctrl+s")
	uitest.Must(t, d.View(), "give at least one of cpu, ram_mib, disk_mib, ipv4_count")
	d.Keys("enter", "enter", "enter", "enter").Type("0")
	d.Keys("ctrl+s")
	uitest.Must(t, d.View(), "Operation     setparam", "ipv4_count: must be a whole number between 1 and 4294967295")
	if _, total, err := f.Engine.Page(store.JobQueued, 0, 10); err != nil || total != 0 {
		t.Fatalf("queued after the refusals: %d, %v", total, err)
	}
}

// TestOpFormAt80Columns: at 80 columns every hint of setparam and reinstall is on screen whole (a
// long one wraps under the values) and no line runs off the screen.
func TestOpFormAt80Columns(t *testing.T) {
	_, d, _ := screen(t, 80)
	chooseSetParam(t, d)
	for _, name := range []string{store.OpSetParam, store.OpReinstall} {
		v := d.View()
		for _, l := range strings.Split(v, "\n") {
			if n := len([]rune(l)); n > 80 {
				t.Errorf("%s: line of %d columns: %q", name, n, l)
			}
		}
		flat := strings.Join(strings.Fields(v), " ")
		op, _ := queue.OperationOf(name)
		for _, a := range op.Args {
			uitest.Must(t, flat, a.Help)
		}
		d.Keys("left", "left")
	}
}
