package sim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// Quirk makes the emulator depart from the public record on purpose, so that `vmmpm validate --deep`
// can be shown to notice what a real VMmanager might do differently.
type Quirk struct {
	Kind     string // "field": rename a property in every answer; "task": file tasks under another name
	From, To string
}

// ParseQuirk reads "field:OLD=NEW" or "task:OLD=NEW".
func ParseQuirk(s string) (Quirk, error) {
	kind, rest, ok := strings.Cut(s, ":")
	from, to, ok2 := strings.Cut(rest, "=")
	if !ok || !ok2 || from == "" || to == "" || (kind != "field" && kind != "task") {
		return Quirk{}, fmt.Errorf("quirk %q is not field:OLD=NEW or task:OLD=NEW", s)
	}
	return Quirk{Kind: kind, From: from, To: to}, nil
}

func (q Quirk) String() string { return q.Kind + ":" + q.From + "=" + q.To }

// taskName is the name a task is filed under, after any task quirk.
func (s *Sim) taskName(name string) string {
	for _, q := range s.cfg.Quirks {
		if q.Kind == "task" && q.From == name {
			return q.To
		}
	}
	return name
}

// renameFields applies field quirks to an encoded answer (success or error body).
func (s *Sim) renameFields(body []byte) []byte {
	var renames map[string]string
	for _, q := range s.cfg.Quirks {
		if q.Kind == "field" {
			if renames == nil {
				renames = map[string]string{}
			}
			renames[q.From] = q.To
		}
	}
	if renames == nil {
		return body
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return body
	}
	out, err := json.Marshal(rename(v, renames))
	if err != nil {
		return body
	}
	return append(out, '\n')
}

func rename(v any, renames map[string]string) any {
	switch t := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(t))
		for k, x := range t {
			if n, ok := renames[k]; ok {
				k = n
			}
			m[k] = rename(x, renames)
		}
		return m
	case []any:
		for i := range t {
			t[i] = rename(t[i], renames)
		}
	}
	return v
}
