// Package webhooks is the Webhooks screen: the deliveries billing has not received yet (pending, or
// given up), with where each goes, how often it was tried, when it is tried next and why it failed.
package webhooks

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"vmmpm/backend"
	"vmmpm/store"
	"vmmpm/ui/common"
	"vmmpm/ui/components/listscreen"
	"vmmpm/ui/components/reason"
	"vmmpm/ui/components/rows"
	"vmmpm/ui/components/table"
	"vmmpm/ui/keys"
)

// Limit bounds one read: the pending deliveries first, oldest first, then the newest delivered ones.
const Limit = 5000

// Reread is how often the screen reads again while nothing else moved: a delivery's next try comes
// without an engine event.
const Reread = 5 * time.Second

type row struct {
	d   store.Delivery
	url string
}

// Model is the Webhooks screen.
type Model struct {
	*listscreen.Base
	ctx    *common.Context
	list   *rows.Model[row]
	all    bool
	readAt time.Time
	styles styles
}

type loadedMsg struct {
	rows  []row
	hooks int
	err   error
}

const (
	colID = iota
	colState
	colURL
	colEvent
	colService
	colTries
	colNext
	colError
)

// New builds the screen.
func New(ctx *common.Context) *Model {
	m := &Model{ctx: ctx, styles: newStyles(ctx.Theme)}
	m.list = rows.New(ctx, func(r row) uint64 { return r.d.ID }, m.cell, text,
		table.Column{Title: "ID", Width: 6, Right: true},
		table.Column{Title: "STATE", Width: 9},
		table.Column{Title: "WEBHOOK", Min: 18, Give: 1, Tail: true},
		table.Column{Title: "EVENT", Width: 17},
		table.Column{Title: "SERVICE", Width: 7, Right: true},
		table.Column{Title: "TRIES", Width: 5, Right: true},
		table.Column{Title: "NEXT TRY", Width: 8, Right: true},
		table.Column{Title: "LAST ERROR", Min: 16},
	)
	m.list.Noun = "delivery"
	m.list.Style = m.cellStyle
	m.list.Table.SetNoun("deliveries")
	m.Base = listscreen.New(ctx, listscreen.Spec{
		Load: m.load,
		Key:  m.key,
		Actions: func(k *keys.KeyMap) []key.Binding {
			return []key.Binding{showAll(k), k.CopyID}
		},
		Body: m.body,
	}, m.list)
	return m
}

func (m *Model) Title() string {
	if m.all {
		return "Webhook deliveries (all)"
	}
	return "Webhook deliveries (pending)"
}

// showAll is A, described for this screen.
func showAll(k *keys.KeyMap) key.Binding {
	b := k.ShowAll
	b.SetHelp(b.Help().Key, "pending/all")
	return b
}

func (m *Model) load() tea.Cmd {
	all, b := m.all, m.ctx.Data.Backend()
	m.readAt = m.ctx.Now()
	return func() tea.Msg { return read(b, all) }
}

// read is one call for the deliveries and one for the webhooks' URLs, off the UI goroutine.
func read(b backend.Backend, all bool) tea.Msg {
	ctx, cancel := context.WithTimeout(context.Background(), common.ReadTimeout)
	defer cancel()
	ds, err1 := b.Deliveries(ctx, backend.DeliveryQuery{Limit: Limit})
	hooks, err2 := b.Webhooks(ctx)
	if err := errors.Join(err1, err2); err != nil {
		return loadedMsg{err: err}
	}
	urls := make(map[uint64]string, len(hooks))
	for _, h := range hooks {
		urls[h.ID] = h.URL
	}
	out := make([]row, 0, len(ds))
	for _, d := range ds {
		if all || d.State != store.DeliveryDelivered {
			out = append(out, row{d: d, url: urls[d.Webhook]})
		}
	}
	return loadedMsg{rows: out, hooks: len(hooks)}
}

func (m *Model) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case loadedMsg:
		if msg.err != nil {
			return common.ReadFailed(msg.err)
		}
		m.list.Table.SetEmpty(m.empty(msg.hooks))
		return m.list.Set(msg.rows)
	case common.TickMsg:
		if m.ctx.Now().Sub(m.readAt) >= Reread {
			return m.load()
		}
	}
	return m.Base.Update(msg)
}

// empty says what an empty list means, and what to do when there is no webhook at all.
func (m *Model) empty(hooks int) string {
	switch {
	case hooks == 0:
		return "no webhooks: add one with vmmpm webhook add URL --events service.*,job.failed (see the README, Billing drives vmmpm)"
	case m.all:
		return "no deliveries yet: they appear here as services and jobs change"
	}
	return "nothing pending: every delivery went through (A shows the delivered ones too)"
}

func (m *Model) key(msg tea.KeyMsg) tea.Cmd {
	if key.Matches(msg, m.ctx.Keys.ShowAll) {
		m.all = !m.all
		return m.load()
	}
	return nil
}

// body is the list with the selected delivery's whole last error under it.
func (m *Model) body(w, h int) string {
	var lines []string
	if r, ok := m.list.Selected(); ok && r.d.LastError != "" {
		lines = reason.Lines("last error:", lastError(r.d), w, reason.Most(h), m.styles.label, m.styles.err)
	}
	return reason.Below(m.list, w, h, lines)
}

func lastError(d store.Delivery) string {
	if d.LastStatus != 0 && !strings.Contains(d.LastError, strconv.Itoa(d.LastStatus)) {
		return fmt.Sprintf("HTTP %d: %s", d.LastStatus, d.LastError)
	}
	return d.LastError
}

func text(r row) string {
	return strings.Join([]string{strconv.FormatUint(r.d.ID, 10), r.d.State, r.url, r.d.Event,
		"svc " + strconv.FormatUint(r.d.Service, 10), r.d.LastError}, " ")
}

func (m *Model) cell(r row, col int) string {
	d := r.d
	switch col {
	case colID:
		return strconv.FormatUint(d.ID, 10)
	case colState:
		return strings.ReplaceAll(d.State, "_", " ")
	case colURL:
		if r.url == "" {
			return "webhook " + strconv.FormatUint(d.Webhook, 10)
		}
		return r.url
	case colEvent:
		return d.Event
	case colService:
		if d.Service == 0 {
			return "-"
		}
		return strconv.FormatUint(d.Service, 10)
	case colTries:
		return strconv.Itoa(d.Attempts)
	case colNext:
		return m.next(d)
	case colError:
		if d.LastError == "" {
			return "-"
		}
		return lastError(d)
	}
	return ""
}

// next is when a pending delivery is tried again: "now" when due, "in 5m" ahead.
func (m *Model) next(d store.Delivery) string {
	if d.State != store.DeliveryPending {
		return "-"
	}
	if now := m.ctx.Now(); d.NextAt.After(now) {
		return "in " + common.Age(now, now.Add(-d.NextAt.Sub(now)))
	}
	return "now"
}

func (m *Model) cellStyle(r row, col int) *lipgloss.Style {
	if col != colState && col != colError {
		return nil
	}
	switch {
	case r.d.State == store.DeliveryGaveUp:
		return &m.styles.err
	case r.d.LastError != "":
		return &m.styles.warn
	}
	return nil
}
