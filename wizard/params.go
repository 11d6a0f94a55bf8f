package wizard

import (
	"errors"
	"fmt"
	"strings"

	"vmmpm/queue"
	"vmmpm/store"
)

// ValidateSessionTTL: seconds a VMmanager token is reused, 0–86400 (0 = log in for every operation).
func ValidateSessionTTL(n int) error {
	if n < 0 || n > store.MaxSessionTTL {
		return invalid("session_ttl", "must be between 0 and %d seconds, not %d", store.MaxSessionTTL, n)
	}
	return nil
}

// ParseSessionTTL reads the field as typed; empty means the default, 3600.
func ParseSessionTTL(s string) (int, error) {
	return parseValid("session_ttl", s, store.DefaultTTL, ValidateSessionTTL)
}

// ValidateSessionTTLText is ParseSessionTTL for a form field's Validate hook.
func ValidateSessionTTLText(s string) error { _, err := ParseSessionTTL(s); return err }

// ValidateQueueCount: lanes per key name, 1–64.
func ValidateQueueCount(n int) error {
	if n < 1 || n > store.MaxQueueCount {
		return invalid("queue_count", "must be between 1 and %d, not %d", store.MaxQueueCount, n)
	}
	return nil
}

// ParseQueueCount reads the field as typed; empty means 1.
func ParseQueueCount(s string) (int, error) {
	return parseValid("queue_count", s, 1, ValidateQueueCount)
}

// ValidateQueueCountText is ParseQueueCount for a form field's Validate hook.
func ValidateQueueCountText(s string) error { _, err := ParseQueueCount(s); return err }

// ValidateQueueKey checks the template with the queue package's parser (the one the engine expands), and
// reports the position and the reason of the first fault.
func ValidateQueueKey(s string, queueOn bool) error {
	if _, err := queue.ParseKeyTemplate(s, queueOn); err != nil {
		var te *queue.TemplateError
		if errors.As(err, &te) {
			return invalid("queue_key", "at position %d: %s", te.Pos, te.Reason)
		}
		return invalid("queue_key", "%v", err)
	}
	return nil
}

// ValidateParams checks all four parameters of spec §4 together (the key depends on queue on/off).
func ValidateParams(p store.Params) error {
	return first(ValidateSessionTTL(p.SessionTTL), ValidateQueueKey(p.QueueKey, p.Queue),
		ValidateQueueCount(p.QueueCount))
}

// Preview is the live expansion the wizard and the parameters screen show, e.g. for vmm6-__PMID__ with
// 3 queues on module 7: "vmm6-7-1 … vmm6-7-3". Operation-dependent macros show their placeholders.
func Preview(p store.Params, pmid uint64) string {
	if !p.Queue {
		return "queues off: every operation starts at once (one at a time per service)"
	}
	t, err := queue.ParseKeyTemplate(p.QueueKey, true)
	if err != nil {
		return "no preview: " + err.Error()
	}
	if err := ValidateQueueCount(p.QueueCount); err != nil {
		return "no preview: " + err.Error()
	}
	keys := queue.PreviewKeys(t, pmid, p.QueueCount)
	return previewList(keys) + macroNote(t)
}

func previewList(keys []string) string {
	switch len(keys) {
	case 0:
		return ""
	case 1, 2:
		return strings.Join(keys, ", ")
	}
	return keys[0] + " … " + keys[len(keys)-1]
}

func macroNote(t queue.KeyTemplate) string {
	var parts []string
	if t.UsesType() {
		parts = append(parts, "__TYPE__ shown as open")
	}
	if t.UsesIID() {
		parts = append(parts, "__IID__ is each service's id")
	}
	if len(parts) == 0 {
		return ""
	}
	return fmt.Sprintf(" (%s)", strings.Join(parts, "; "))
}
