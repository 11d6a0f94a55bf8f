// Package reason draws the whole of a selected row's reason (why a job failed, why a task was opened,
// why a delivery did not go) under a table, wrapped to the width: a table cell cuts it where it
// matters most, at its end.
package reason

import (
	"strings"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
)

// Lines is label and text wrapped to width, the text's later lines indented under its first; at most
// most lines (the last then ends with …). No text, no lines, so the table keeps its room.
func Lines(label, text string, width, most int, labelStyle, textStyle lipgloss.Style) []string {
	text = strings.Join(strings.Fields(text), " ")
	if text == "" || most < 1 {
		return nil
	}
	label = ansi.Truncate(label, width/3, "")
	indent := ansi.StringWidth(label) + 3 // "  label " and the text beside it
	room := max(width-indent-1, 10)
	lines := strings.Split(ansi.Wrap(text, room, " "), "\n")
	if len(lines) > most {
		lines = lines[:most]
		lines[most-1] = ansi.Truncate(lines[most-1], room-1, "") + "…"
	}
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = strings.Repeat(" ", indent) + textStyle.Render(strings.TrimRight(l, " "))
	}
	out[0] = "  " + labelStyle.Render(label) + " " + strings.TrimLeft(out[0], " ")
	return out
}

// Most is how many lines a reason may take in a body of height lines: a third of it, at least 3.
func Most(height int) int { return max(height/3, 3) }

// List is what Below needs of a list: *rows.Model is one.
type List interface {
	SetSize(width, height int)
	View() string
}

// Below draws l in width×height with lines (a reason) under it, the list giving them its room.
func Below(l List, width, height int, lines []string) string {
	l.SetSize(width, height-len(lines))
	v := l.View()
	for _, line := range lines {
		v += "\n" + line
	}
	return v
}
