package table_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/charmbracelet/lipgloss"

	"vmmpm/ui/common"
	"vmmpm/ui/components/table"
	"vmmpm/ui/internal/uitest"
)

// counting is a source of a million rows that records which rows were asked for.
type counting struct{ asked map[int]bool }

func (c *counting) Cell(row, col int) string {
	c.asked[row] = true
	return "row " + strconv.Itoa(row) + " col " + strconv.Itoa(col)
}
func (c *counting) Style(int, int) *lipgloss.Style { return nil }

func newTable() table.Model {
	ctx := common.New(uitest.Plain(), nil)
	t := table.New(ctx, table.Column{Title: "A", Width: 14}, table.Column{Title: "B", Min: 10})
	t.SetSize(80, 12) // 10 data rows, header and footer
	t.SetTotal(1_000_000)
	return t
}

func TestViewAsksOnlyForVisibleRows(t *testing.T) {
	tb := newTable()
	src := &counting{asked: map[int]bool{}}
	for _, k := range []string{"G", "k", "k", "ctrl+u"} {
		tb.Update(uitest.Key(k))
	}
	view := uitest.Strip(tb.View(src))
	if len(src.asked) != tb.VisibleRows() {
		t.Fatalf("asked for %d rows, %d visible", len(src.asked), tb.VisibleRows())
	}
	for row := range src.asked {
		if row < tb.Offset() || row >= tb.Offset()+tb.VisibleRows() {
			t.Fatalf("asked for row %d outside the window at %d", row, tb.Offset())
		}
	}
	if c := tb.Cursor(); c != 999_997-5 || !strings.Contains(view, "› row 999992 co… row 999992 col 1") ||
		!strings.Contains(view, "999993/1000000") {
		t.Fatalf("cursor %d, view:\n%s", c, view)
	}
}

func TestMovementKeys(t *testing.T) {
	cases := []struct {
		keys []string
		want int
	}{
		{[]string{"j", "j", "down"}, 3},
		{[]string{"j", "k", "up"}, 0},
		{[]string{"ctrl+d"}, 5},
		{[]string{"ctrl+d", "ctrl+d", "ctrl+u"}, 5},
		{[]string{"G"}, 999_999},
		{[]string{"G", "g"}, 0},
		{[]string{"end", "j"}, 999_999},
	}
	for _, c := range cases {
		tb := newTable()
		for _, k := range c.keys {
			if handled, _ := tb.Update(uitest.Key(k)); !handled {
				t.Fatalf("%v: key %q not handled", c.keys, k)
			}
		}
		if tb.Cursor() != c.want {
			t.Errorf("%v: cursor %d, want %d", c.keys, tb.Cursor(), c.want)
		}
	}
}

func TestFilterField(t *testing.T) {
	tb := newTable()
	tb.Update(uitest.Key("/"))
	if !tb.Filtering() {
		t.Fatal("/ did not open the filter")
	}
	_, cmd := tb.Update(uitest.Key("q"))
	if tb.FilterValue() != "q" || cmd == nil {
		t.Fatalf("typing q: value %q, cmd %v", tb.FilterValue(), cmd)
	}
	if handled, _ := tb.Update(uitest.Key("x")); !handled {
		t.Fatal("a letter inside the filter went elsewhere")
	}
	tb.Update(uitest.Key("enter"))
	if tb.Filtering() || tb.FilterValue() != "qx" {
		t.Fatalf("enter: filtering %v, value %q", tb.Filtering(), tb.FilterValue())
	}
	tb.Update(uitest.Key("esc"))
	if tb.FilterValue() != "" {
		t.Fatal("esc did not clear the filter")
	}
}

// cells is a one-row source with fixed cells.
type cells []string

func (c cells) Cell(_, col int) string       { return c[col] }
func (cells) Style(int, int) *lipgloss.Style { return nil }

// TestColumnsGiveWay: on a narrow terminal the column that gives way shrinks before the others, and a
// Tail column keeps the end of its text.
func TestColumnsGiveWay(t *testing.T) {
	ctx := common.New(uitest.Plain(), nil)
	tb := table.New(ctx, table.Column{Title: "NAME", Width: 12}, table.Column{Title: "DEPT", Width: 12, Give: 1},
		table.Column{Title: "URL", Width: 20, Tail: true})
	tb.SetSize(2+12+1+8+1+20, 5) // four cells short
	tb.SetTotal(1)
	v := uitest.Strip(tb.View(cells{"fra-kvm-main", "Provisioning", "vmm.example.net:1500"}))
	if !strings.Contains(v, "› fra-kvm-main Provisi… vmm.example.net:1500") {
		t.Fatalf("DEPT should give way alone:\n%s", v)
	}
	tb.SetSize(2+12+1+3+1+15, 5) // too narrow even with DEPT at its floor: DEPT leaves, URL narrows
	v = uitest.Strip(tb.View(cells{"fra-kvm-main", "Provisioning", "vmm.example.net:1500"}))
	if !strings.Contains(v, ":1500") || strings.Contains(v, "vmm.example.net:1500") || strings.Contains(v, "DEPT") {
		t.Fatalf("DEPT should leave and URL keep its port, losing its start:\n%s", v)
	}
}
