package form

import (
	"strings"

	"github.com/charmbracelet/lipgloss"
)

// View draws the form: one line per shown field, hints beside them, the error last. Labels are padded
// to the widest of all fields, so values do not move when fields appear.
func (m *Model) View() string {
	labelW := 0
	for _, f := range m.fields {
		labelW = max(labelW, lipgloss.Width(f.Label))
	}
	var b strings.Builder
	b.WriteString(m.styles.title.Render(m.Title) + "\n\n")
	for i, f := range m.fields {
		if !m.shown(i) {
			continue
		}
		marker := "  "
		label := m.styles.label.Render(pad(f.Label, labelW))
		if i == m.focus {
			marker = m.ctx.Theme.Cursor + " "
			label = m.styles.focused.Render(pad(f.Label, labelW))
		}
		line := marker + label + "  " + m.value(f, i == m.focus)
		b.WriteString(line + m.hint(f.Hint, lipgloss.Width(line), 2+labelW+2))
		b.WriteByte('\n')
	}
	if m.Err != "" {
		// Wrapped so the end of the message, which says what to do, stays on an 80-column screen.
		b.WriteString("\n" + m.styles.err.Width(max(m.ctx.Width-6, 20)).Render(m.Err) + "\n")
	}
	return b.String()
}

// hint goes beside a line of width used, or, when it would not fit the screen (the frame's padding
// aside), on lines of its own under the values, which start at column indent.
func (m *Model) hint(h string, used, indent int) string {
	if h == "" {
		return ""
	}
	room := m.ctx.Width - 6
	if m.ctx.Width == 0 || used+2+lipgloss.Width(h) <= room || room-indent < 20 {
		return "  " + m.styles.hint.Render(h)
	}
	lines := strings.Split(m.styles.hint.Width(room-indent).Render(h), "\n")
	pad := strings.Repeat(" ", indent)
	for i, l := range lines {
		lines[i] = pad + strings.TrimRight(l, " ")
	}
	return "\n" + strings.Join(lines, "\n")
}

func (m *Model) value(f *Field, focused bool) string {
	switch f.Kind {
	case Switch:
		if f.On {
			return "[x] on"
		}
		return "[ ] off"
	case Choice:
		if len(f.Options) == 0 {
			return m.styles.hint.Render("(none available)")
		}
		o := f.Options[f.Sel]
		s := o.Label
		if focused {
			s = "‹ " + s + " ›"
		}
		if o.Disabled != "" {
			s += "  " + m.styles.err.Render(o.Disabled)
		}
		return s
	case Multi:
		return m.multi(f, focused)
	}
	if focused {
		return "[" + f.input.View() + "]"
	}
	if f.Kind == Secret {
		return "[" + strings.Repeat("•", len([]rune(f.input.Value()))) + "]"
	}
	return "[" + f.input.Value() + "]"
}

// multi draws every option with its box, the one ←/→ is on in ‹ › while focused.
func (m *Model) multi(f *Field, focused bool) string {
	if len(f.Options) == 0 {
		return m.styles.hint.Render("(none available)")
	}
	parts := make([]string, len(f.Options))
	for i, o := range f.Options {
		box := "[ ] "
		if f.Picked[i] {
			box = "[x] "
		}
		parts[i] = box + o.Label
		if focused && i == f.Sel {
			parts[i] = "‹" + parts[i] + "›"
		}
	}
	return strings.Join(parts, "  ")
}

func pad(s string, w int) string {
	if n := lipgloss.Width(s); n < w {
		return s + strings.Repeat(" ", w-n)
	}
	return s
}
