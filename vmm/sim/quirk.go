package sim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Quirk makes the emulator depart from the public record on purpose, so that `vmmpm validate --deep`
// can be shown to notice what a real VMmanager might do differently.
type Quirk struct {
	// "field": rename a property in every answer; "task": file tasks under another name; "interface":
	// answer ip4[].interface as a string (To "string": the index in digits, "name": the interface's name).
	Kind     string
	From, To string
}

// ParseQuirk reads "field:OLD=NEW", "task:OLD=NEW", "interface:string" or "interface:name".
func ParseQuirk(s string) (Quirk, error) {
	kind, rest, ok := strings.Cut(s, ":")
	if kind == "interface" && (rest == "string" || rest == "name") {
		return Quirk{Kind: kind, To: rest}, nil
	}
	from, to, ok2 := strings.Cut(rest, "=")
	if !ok || !ok2 || from == "" || to == "" || (kind != "field" && kind != "task") {
		return Quirk{}, fmt.Errorf("quirk %q is not field:OLD=NEW, task:OLD=NEW, interface:string or interface:name", s)
	}
	return Quirk{Kind: kind, From: from, To: to}, nil
}

func (q Quirk) String() string {
	if q.Kind == "interface" {
		return q.Kind + ":" + q.To
	}
	return q.Kind + ":" + q.From + "=" + q.To
}

// ifaceValue is ip4[].interface for a cluster interface index: the number, or under an interface quirk
// its digits ("0") or its name ("vmbr0"; the emulator's own naming, after TF's default bridge).
func (s *Sim) ifaceValue(iface int) any {
	for _, q := range s.cfg.Quirks {
		switch {
		case q.Kind != "interface":
		case q.To == "name":
			return fmt.Sprintf("vmbr%d", iface)
		default:
			return strconv.Itoa(iface)
		}
	}
	return iface
}

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
