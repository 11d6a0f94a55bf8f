package wizard

import (
	"strings"
	"testing"

	"vmmpm/store"
)

func TestSessionTTLRule(t *testing.T) {
	for _, c := range []struct {
		in          string
		want        int
		field, frag string
	}{
		{"0", 0, "", ""}, {"86400", 86400, "", ""}, {"", 3600, "", ""}, {"600", 600, "", ""},
		{"-1", 0, "session_ttl", "between 0 and 86400"}, {"86401", 0, "session_ttl", "between 0 and 86400"},
		{"1h", 0, "session_ttl", "whole number"},
	} {
		n, err := ParseSessionTTL(c.in)
		wantRule(t, err, c.field, c.frag)
		if err == nil && n != c.want {
			t.Fatalf("ParseSessionTTL(%q) = %d, want %d", c.in, n, c.want)
		}
	}
}

func TestQueueCountRule(t *testing.T) {
	for _, c := range []struct {
		in          string
		want        int
		field, frag string
	}{
		{"1", 1, "", ""}, {"64", 64, "", ""}, {"", 1, "", ""},
		{"0", 0, "queue_count", "between 1 and 64"}, {"65", 0, "queue_count", "between 1 and 64"},
		{"three", 0, "queue_count", "whole number"},
	} {
		n, err := ParseQueueCount(c.in)
		wantRule(t, err, c.field, c.frag)
		if err == nil && n != c.want {
			t.Fatalf("ParseQueueCount(%q) = %d, want %d", c.in, n, c.want)
		}
	}
}

func TestQueueKeyRule(t *testing.T) {
	for _, c := range []struct {
		key         string
		on          bool
		field, frag string
	}{
		{"vmm6-__PMID__", true, "", ""},
		{"vmm-__PMID__-__TYPE__", true, "", ""},
		{"svc.__IID__", true, "", ""},
		{"", false, "", ""},
		{"", true, "queue_key", "empty"},
		{"bad key!", true, "queue_key", "at position 4"},
		{"bad key!", false, "queue_key", "at position 4"},
		{"__NOPE__", true, "queue_key", "unknown macro __NOPE__"},
		{"vmm-__pmid__", true, "queue_key", "at position 5"},
		{"ключ", true, "queue_key", "at position 1"},
		{strings.Repeat("k", 128), true, "", ""},
		{strings.Repeat("k", 129), true, "queue_key", "limit is 128"},
	} {
		t.Run(c.key, func(t *testing.T) { wantRule(t, ValidateQueueKey(c.key, c.on), c.field, c.frag) })
	}
}

func TestValidateParams(t *testing.T) {
	wantRule(t, ValidateParams(store.DefaultParams()), "", "")
	p := store.DefaultParams()
	p.Queue, p.QueueKey = true, ""
	wantRule(t, ValidateParams(p), "queue_key", "empty")
	p = store.DefaultParams()
	p.SessionTTL = 90000
	wantRule(t, ValidateParams(p), "session_ttl", "86400")
}

func TestPreview(t *testing.T) {
	for _, c := range []struct {
		p    store.Params
		want string
	}{
		{store.Params{Queue: true, QueueKey: "vmm6-__PMID__", QueueCount: 3}, "vmm6-7-1 … vmm6-7-3"},
		{store.Params{Queue: true, QueueKey: "vmm6-__PMID__", QueueCount: 1}, "vmm6-7-1"},
		{store.Params{Queue: true, QueueKey: "k", QueueCount: 2}, "k-1, k-2"},
		{store.Params{Queue: true, QueueKey: "vmm-__PMID__-__TYPE__", QueueCount: 3}, "vmm-7-open-1 … vmm-7-open-3 (__TYPE__ shown as open)"},
		{store.Params{Queue: false, QueueKey: "vmm6-__PMID__", QueueCount: 3}, "queues off"},
		{store.Params{Queue: true, QueueKey: "bad key!", QueueCount: 3}, "no preview: queue_key: at position 4"},
		{store.Params{Queue: true, QueueKey: "k", QueueCount: 99}, "no preview: queue_count"},
	} {
		if got := Preview(c.p, 7); !strings.HasPrefix(got, c.want) {
			t.Fatalf("Preview(%+v) = %q, want prefix %q", c.p, got, c.want)
		}
	}
}
