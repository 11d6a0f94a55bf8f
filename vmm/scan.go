package vmm

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
)

// The reads a reconcile scan makes. Paging and sorting of lists are in no public source
// (vmmanager6-api.md §8.5), so nothing here sends limit or orderby: each read is a where= filter of the
// forms §4 shows (EQ, AND, OR, parentheses, dotted paths such as account.id), and the caller checks
// what came back against the cluster's host_count instead of trusting that a list is whole.

// MaxIDsPerRead bounds the ids one HostsByID request names (OR of EQ terms): about 1 KiB of query.
const MaxIDsPerRead = 50

// HostFilter narrows a host list read; zero fields match everything.
type HostFilter struct {
	Cluster uint64
	Account uint64
	Name    string
	IDs     []uint64 // any of these ids (OR); at most MaxIDsPerRead
	Names   []string // any of these names (OR); at most MaxIDsPerRead
}

func (f HostFilter) query() string {
	var parts []string
	add := func(field, v string) {
		parts = append(parts, "("+field+"+EQ+'"+escapeValue(strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v))+"')")
	}
	if f.Cluster != 0 {
		add("cluster.id", strconv.FormatUint(f.Cluster, 10))
	}
	if f.Account != 0 {
		add("account.id", strconv.FormatUint(f.Account, 10))
	}
	if f.Name != "" {
		add("name", f.Name)
	}
	anyOf := func(field string, vs []string) {
		ors := make([]string, len(vs))
		for i, v := range vs {
			ors[i] = "(" + field + "+EQ+'" + escapeValue(strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v)) + "')"
		}
		switch len(ors) {
		case 0:
		case 1:
			parts = append(parts, ors[0])
		default:
			parts = append(parts, "("+strings.Join(ors, "+OR+")+")")
		}
	}
	ids := make([]string, len(f.IDs))
	for i, id := range f.IDs {
		ids[i] = strconv.FormatUint(id, 10)
	}
	anyOf("id", ids)
	anyOf("name", f.Names)
	switch len(parts) {
	case 0:
		return ""
	case 1:
		return "?where=" + parts[0]
	}
	return "?where=(" + strings.Join(parts, "+AND+") + ")"
}

// EachHost reads the VMs f matches in one request and calls fn for each, decoding the answer one item
// at a time, so a long list costs its body and one VM at a time, not a slice of the wire form. It
// returns how many items the answer held.
func (c *Client) EachHost(ctx context.Context, f HostFilter, fn func(Host) error) (int, error) {
	if len(f.IDs) > MaxIDsPerRead || len(f.Names) > MaxIDsPerRead {
		return 0, errorf(ErrInvalid, "at most %d VM ids or names fit in one read, %d and %d were given", MaxIDsPerRead, len(f.IDs), len(f.Names))
	}
	data, err := c.call(ctx, c.op(), http.MethodGet, "/vm/v3/host"+f.query(), nil)
	if err != nil {
		return 0, err
	}
	n := 0
	err = eachItem(data, func(dec *json.Decoder) error {
		var w wireHost
		if err := dec.Decode(&w); err != nil {
			return &kindError{kind: ErrBadAnswer, msg: "VMmanager sent a VM in the list of an unexpected shape", cause: err}
		}
		n++
		return fn(w.host())
	})
	return n, err
}

// eachItem walks a list envelope's "list" array, handing the decoder to fn at each item; fn's errors
// come back as they are.
func eachItem(data []byte, fn func(*json.Decoder) error) error {
	bad := func(cause error) error {
		return &kindError{kind: ErrBadAnswer, msg: "VMmanager sent a list answer of an unexpected shape", cause: cause}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return bad(err)
	}
	seen := false
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return bad(err)
		}
		if t != "list" {
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return bad(err)
			}
			continue
		}
		seen = true
		if t, err := dec.Token(); err != nil || t != json.Delim('[') {
			return bad(err)
		}
		for dec.More() {
			if err := fn(dec); err != nil {
				return err
			}
		}
		if _, err := dec.Token(); err != nil {
			return bad(err)
		}
	}
	if !seen {
		return errorf(ErrBadAnswer, "VMmanager sent a list answer without a list")
	}
	return nil
}

// ClusterHostCounts is host_count of each cluster the cluster list gives it for (GO2 lists the field);
// a cluster whose item lacks it is absent from the map.
func (c *Client) ClusterHostCounts(ctx context.Context) (map[uint64]int, error) {
	type item struct {
		ID        flexID   `json:"id"`
		HostCount *flexInt `json:"host_count"`
	}
	ws, err := list[item](ctx, c, c.op(), "/vm/v3/cluster")
	if err != nil {
		return nil, err
	}
	out := map[uint64]int{}
	for _, w := range ws {
		if w.HostCount != nil {
			out[uint64(w.ID)] = int(*w.HostCount)
		}
	}
	return out, nil
}

// AccountInfo is an account as a scan needs it: its email and how many VMs VMmanager says it owns
// (-1 when the item does not say).
type AccountInfo struct {
	ID        uint64
	Email     string
	HostCount int
}

// Accounts lists every account VMmanager shows this administrator.
func (c *Client) Accounts(ctx context.Context) ([]AccountInfo, error) {
	type item struct {
		ID        flexID   `json:"id"`
		Email     string   `json:"email"`
		HostCount *flexInt `json:"host_count"`
	}
	ws, err := list[item](ctx, c, c.op(), "/vm/v3/account")
	return convert(ws, err, func(w item) AccountInfo {
		a := AccountInfo{ID: uint64(w.ID), Email: w.Email, HostCount: -1}
		if w.HostCount != nil {
			a.HostCount = int(*w.HostCount)
		}
		return a
	})
}

// AccountsByID reads the accounts of ids (at most MaxIDsPerRead) in one request.
func (c *Client) AccountsByID(ctx context.Context, ids []uint64) ([]AccountInfo, error) {
	if len(ids) == 0 || len(ids) > MaxIDsPerRead {
		return nil, errorf(ErrInvalid, "between 1 and %d account ids fit in one read, %d were given", MaxIDsPerRead, len(ids))
	}
	ors := make([]string, len(ids))
	for i, id := range ids {
		ors[i] = "(id+EQ+'" + strconv.FormatUint(id, 10) + "')"
	}
	q := ors[0]
	if len(ors) > 1 {
		q = "(" + strings.Join(ors, "+OR+") + ")"
	}
	type item struct {
		ID    flexID `json:"id"`
		Email string `json:"email"`
	}
	ws, err := list[item](ctx, c, c.op(), "/vm/v3/account?where="+q)
	return convert(ws, err, func(w item) AccountInfo { return AccountInfo{ID: uint64(w.ID), Email: w.Email, HostCount: -1} })
}

// AccountEmail is account id's email, or ErrNotFound.
func (c *Client) AccountEmail(ctx context.Context, id uint64) (string, error) {
	ws, err := list[wireAccount](ctx, c, c.op(), "/vm/v3/account"+where(eq("id", strconv.FormatUint(id, 10))))
	if err != nil {
		return "", err
	}
	for _, w := range ws {
		if uint64(w.ID) == id {
			return w.Email, nil
		}
	}
	return "", errorf(ErrNotFound, "VMmanager has no account with id %d", id)
}

// HostsNamed are every VM called name, lowest id first.
func (c *Client) HostsNamed(ctx context.Context, name string) ([]Host, error) {
	var out []Host
	_, err := c.EachHost(ctx, HostFilter{Name: name}, func(h Host) error {
		if h.Name == name {
			i := 0
			for i < len(out) && out[i].ID < h.ID {
				i++
			}
			out = append(out[:i], append([]Host{h}, out[i:]...)...)
		}
		return nil
	})
	return out, err
}
