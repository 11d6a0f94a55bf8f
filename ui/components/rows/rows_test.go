package rows_test

import (
	"strconv"
	"strings"
	"testing"

	"vmmpm/ui/common"
	"vmmpm/ui/components/rows"
	"vmmpm/ui/components/table"
	"vmmpm/ui/internal/uitest"
)

func newList() *rows.Model[int] {
	ctx := common.New(uitest.Plain(), &common.Data{})
	ctx.Width, ctx.Height = 80, 20
	l := rows.New(ctx, func(i int) uint64 { return uint64(i) }, func(i, _ int) string { return strconv.Itoa(i) },
		strconv.Itoa, table.Column{Title: "N", Min: 4})
	l.SetSize(40, 12)
	l.Noun, l.Multi = "task", true
	return l
}

func flash(t *testing.T, l *rows.Model[int], items []int) string {
	t.Helper()
	cmd := l.Set(items)
	if cmd == nil {
		return ""
	}
	return cmd().(common.FlashMsg).Text
}

// The selection is a record: rows added above it or re-sorted keep the cursor on it; when it goes the
// list says so, naming what the cursor is on now.
func TestSelectionFollowsTheRecord(t *testing.T) {
	l := newList()
	l.Set([]int{5, 4, 3})
	l.Update(uitest.Key("j"))
	if id, _ := l.SelectedID(); id != 4 {
		t.Fatalf("selected %d", id)
	}
	if s := flash(t, l, []int{9, 8, 5, 4, 3}); s != "" {
		t.Fatalf("rows added above said %q", s)
	}
	if id, _ := l.SelectedID(); id != 4 {
		t.Fatalf("after rows were added above, selected %d, want 4", id)
	}
	if flash(t, l, []int{3, 4, 5, 8, 9}); func() uint64 { id, _ := l.SelectedID(); return id }() != 4 {
		t.Fatal("re-sorting moved the selection off 4")
	}
	if s := flash(t, l, []int{3, 5, 8, 9}); s != "task 4 left this list; the cursor is on task 5" {
		t.Fatalf("record gone: %q", s)
	}
	l.Acted() // an action of the screen removes 5: no news
	if s := flash(t, l, []int{3, 8, 9}); s != "" {
		t.Fatalf("a record the screen acted on said %q", s)
	}
}

// space marks and moves down, ctrl+a marks every shown row (or clears them), Targets is the marks or
// else the selection, and marks of records that went are dropped.
func TestMarks(t *testing.T) {
	l := newList()
	l.Set([]int{1, 2, 3, 4})
	if got := l.Targets(); len(got) != 1 || got[0] != 1 {
		t.Fatalf("no marks: targets %v", got)
	}
	l.Update(uitest.Key(" "))
	l.Update(uitest.Key("j"))
	l.Update(uitest.Key(" "))
	if got := l.Targets(); len(got) != 2 || got[0] != 1 || got[1] != 3 {
		t.Fatalf("marked 1 and 3: targets %v", got)
	}
	if v := l.View(); !strings.Contains(v, " •1") || !strings.Contains(v, " •3") || strings.Contains(v, "•2") {
		t.Fatalf("marks not drawn:\n%s", v)
	}
	l.Set([]int{2, 3, 4})
	if got := l.Marked(); len(got) != 1 || got[0] != 3 {
		t.Fatalf("after 1 went: marked %v", got)
	}
	l.Update(uitest.Key("ctrl+a"))
	if got := l.Marked(); len(got) != 3 {
		t.Fatalf("ctrl+a: marked %v", got)
	}
	l.Update(uitest.Key("ctrl+a"))
	if got := l.Marked(); len(got) != 0 {
		t.Fatalf("ctrl+a again: marked %v", got)
	}
}
