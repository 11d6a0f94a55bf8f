package ui

import tea "github.com/charmbracelet/bubbletea"

// TickForTest is the app's repaint tick, for tests that drive frames by hand.
func TickForTest() tea.Msg { return tickMsg{} }
