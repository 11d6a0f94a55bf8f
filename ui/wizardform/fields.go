package wizardform

import (
	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/huh"
)

// lockedConfirm is a huh Confirm that can be switched off by a rule: while allowed() is false, the
// keys that would turn it on are ignored and its value is held at false. Its description says why.
type lockedConfirm struct {
	*huh.Confirm
	value   *bool
	allowed func() bool
	keys    huh.ConfirmKeyMap
}

func newLockedConfirm(c *huh.Confirm, value *bool, allowed func() bool, km *huh.KeyMap) *lockedConfirm {
	return &lockedConfirm{Confirm: c.Value(value), value: value, allowed: allowed, keys: km.Confirm}
}

func (c *lockedConfirm) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	if k, ok := msg.(tea.KeyMsg); ok && !c.allowed() && key.Matches(k, c.keys.Toggle, c.keys.Accept) {
		*c.value = false
		return c, nil
	}
	_, cmd := c.Confirm.Update(msg)
	if !c.allowed() {
		*c.value = false
	}
	return c, cmd
}
