package vmm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// Probe is one line of the deep check: what vmmpm relies on, and what this VMmanager answered.
type Probe struct {
	Name     string `json:"probe"`
	Expected string `json:"expected"`
	Seen     string `json:"seen"`
	OK       bool   `json:"ok"`
}

// Answer is one answer the deep check read, with tokens, passwords, emails and addresses masked, so an
// admin can attach it to a bug report and a developer can replay it (Replay).
type Answer struct {
	Probe  string          `json:"probe"`
	Method string          `json:"method"`
	Path   string          `json:"path"`
	Status int             `json:"status"`
	Body   json.RawMessage `json:"body"`
	// Request tells apart answers to the same path (masked request body, or the probe's made-up token).
	Request string `json:"request,omitempty"`
}

// Report is DeepCheck's result: OK is true when every probe matched.
type Report struct {
	URL     string   `json:"url"`
	OK      bool     `json:"ok"`
	Probes  []Probe  `json:"probes"`
	Answers []Answer `json:"-"`
}

// Differs lists the names of the probes that did not match.
func (r Report) Differs() []string {
	var out []string
	for _, p := range r.Probes {
		if !p.OK {
			out = append(out, p.Name)
		}
	}
	return out
}

// taskNames are the task names public sources show for the operations vmmpm runs.
var taskNames = []string{TaskHostCreate, TaskHostStart, TaskHostStop, TaskHostDelete, TaskHostReinstall,
	TaskHostParams, TaskDiskResize, TaskIPChange}

// DeepCheck reads, without changing anything, every endpoint, filter and field the engine relies on and
// compares each answer with what vmmpm expects. Differences are probes, never errors; the error is for a
// check that could not run: the login failed, or VMmanager could not be reached or kept answering 503
// (the same errors as CheckAdmin). The report then holds the probes done so far.
func DeepCheck(ctx context.Context, c *Client) (Report, error) {
	d := &deep{c: c, rep: Report{URL: c.base}}
	if err := d.login(ctx); err != nil {
		return d.rep, err
	}
	steps := []func(context.Context) error{d.badLogin, d.badToken, d.account, d.clusters, d.osList, d.recipes,
		d.pools, d.hosts, d.reconcileLists, d.tasks, d.errorBody}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return d.rep, err
		}
	}
	d.rep.OK = len(d.rep.Differs()) == 0
	return d.rep, nil
}

type deep struct {
	c     *Client
	token string
	rep   Report
	cls   []map[string]any
}

type obj = map[string]any

func (d *deep) add(name, expected, seen string, ok bool) {
	d.rep.Probes = append(d.rep.Probes, Probe{Name: name, Expected: expected, Seen: seen, OK: ok})
}

// get reads path with the deep check's token and keeps the masked answer. Transport failures and a 503
// that outlasts the retries are errors; any HTTP status is returned for the probe to judge.
func (d *deep) get(ctx context.Context, probe, path string) (int, []byte, error) {
	status, data, err := d.c.exchange(ctx, http.MethodGet, path, d.token, nil)
	if err != nil {
		return 0, nil, err
	}
	if status == http.StatusServiceUnavailable {
		return 0, nil, &APIError{Status: status, Msg: "VMmanager kept answering 503"}
	}
	d.keep(probe, http.MethodGet, path, status, data, "")
	return status, data, nil
}

func (d *deep) keep(probe, method, path string, status int, data []byte, request string) {
	d.rep.Answers = append(d.rep.Answers, Answer{Probe: probe, Method: method, Path: maskText(path), Status: status,
		Body: Mask(data), Request: request})
}

// bodyKey is the masked JSON of a request body, as Replay computes it.
func bodyKey(body any) string {
	b, _ := json.Marshal(body)
	return requestKey("", b)
}

// list reads a list endpoint; ok is false (and the probe already added) when the answer is not a list.
func (d *deep) list(ctx context.Context, probe, expected, path string) ([]obj, bool, error) {
	status, data, err := d.get(ctx, probe, path)
	if errors.Is(err, ErrBadAnswer) { // e.g. larger than the client reads: a difference, not the end
		d.add(probe, expected, err.Error(), false)
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	if status != http.StatusOK {
		d.add(probe, expected, fmt.Sprintf("HTTP %d: %s", status, clip(string(bytes.TrimSpace(data)), 120)), false)
		return nil, false, nil
	}
	var env struct {
		List *[]obj `json:"list"`
	}
	if json.Unmarshal(data, &env) != nil || env.List == nil {
		d.add(probe, expected, "not a {last_notify, list} answer: "+clip(string(bytes.TrimSpace(data)), 120), false)
		return nil, false, nil
	}
	return *env.List, true, nil
}

func (d *deep) login(ctx context.Context) error {
	const probe, expected = "login", "HTTP 201 with id and token"
	body := map[string]string{"email": d.c.email, "password": d.c.password}
	status, data, err := d.c.exchange(ctx, http.MethodPost, loginPath, "", body)
	if err != nil {
		return err
	}
	d.keep(probe, http.MethodPost, loginPath, status, data, bodyKey(body))
	var t tokenAnswer
	if err := decodeAnswer(status, data, &t, true); err != nil {
		return hidePassword(err, d.c.password)
	}
	if t.Token == "" {
		return errorf(ErrBadAnswer, "%s answered the login without a token", d.c.host)
	}
	d.token = t.Token
	var m obj
	_ = json.Unmarshal(data, &m)
	missing := missingFields(m, "id", "token")
	d.add(probe, expected, fmt.Sprintf("HTTP %d%s", status, missingText(missing)), status == http.StatusCreated && len(missing) == 0)
	return nil
}

// deepProbeEmail is an account no VMmanager has, so the refused-login probe cannot lock anyone out.
const deepProbeEmail = "vmmpm-deep-check@example.invalid"

// deepProbeToken is a token no VMmanager issued.
const deepProbeToken = "vmmpm-deep-check-not-a-token"

// badLogin: the client reads any 4xx to the token request (but 404, 405, 429) as bad credentials.
func (d *deep) badLogin(ctx context.Context) error {
	const probe, expected = "refused login", `an unknown account: 4xx with {"error":{…}}`
	body := map[string]string{"email": deepProbeEmail, "password": "not-a-password"}
	status, data, err := d.c.exchange(ctx, http.MethodPost, loginPath, "", body)
	if err != nil {
		return err
	}
	d.keep(probe, http.MethodPost, loginPath, status, data, bodyKey(body))
	e := decodeError(status, data, true)
	d.add(probe, expected, fmt.Sprintf("HTTP %d: %s", status, clip(string(bytes.TrimSpace(data)), 120)),
		e.badCredentials() && errorObject(data))
	return nil
}

// badToken: the client logs in again when a call answers 401, which is how an expired token shows.
func (d *deep) badToken(ctx context.Context) error {
	const probe, expected = "refused token", "a call with an unknown token: HTTP 401"
	status, data, err := d.c.exchange(ctx, http.MethodGet, "/vm/v3/cluster", deepProbeToken, nil)
	if err != nil {
		return err
	}
	d.keep(probe, http.MethodGet, "/vm/v3/cluster", status, data, "token:"+deepProbeToken)
	d.add(probe, expected, fmt.Sprintf("HTTP %d: %s", status, clip(string(bytes.TrimSpace(data)), 120)), status == http.StatusUnauthorized)
	return nil
}

func errorObject(data []byte) bool {
	var ea struct {
		Error *struct {
			Code *json.Number `json:"code"`
			Msg  *string      `json:"msg"`
		} `json:"error"`
	}
	return json.Unmarshal(data, &ea) == nil && ea.Error != nil && ea.Error.Code != nil && ea.Error.Msg != nil
}

func (d *deep) account(ctx context.Context) error {
	const probe = "account by email"
	expected := "where= by email finds the login account; roles hold @admin"
	items, ok, err := d.list(ctx, probe, expected, "/vm/v3/account"+where(eq("email", d.c.email)))
	if err != nil || !ok {
		return err
	}
	for _, it := range items {
		if e, _ := it["email"].(string); strings.EqualFold(e, d.c.email) {
			missing := missingFields(it, "id", "email", "roles")
			roles := stringsOf(it["roles"])
			d.add(probe, expected, fmt.Sprintf("%d item(s); roles %v%s", len(items), roles, missingText(missing)),
				len(missing) == 0 && slices.Contains(roles, "@admin"))
			return nil
		}
	}
	d.add(probe, expected, fmt.Sprintf("%d item(s), none with the login email", len(items)), false)
	return nil
}

func (d *deep) clusters(ctx context.Context) error {
	const probe = "clusters"
	expected := "id, name, virtualization_type kvm|lxd, pools per interface (interfaces[] or ippools[])"
	items, ok, err := d.list(ctx, probe, expected, "/vm/v3/cluster")
	if err != nil || !ok {
		return err
	}
	d.cls = items
	var problems, seen []string
	for _, it := range items {
		name := fmt.Sprint(it["name"])
		if m := missingFields(it, "id", "name", "virtualization_type"); len(m) > 0 {
			problems = append(problems, name+missingText(m))
			continue
		}
		if v := it["virtualization_type"]; v != "kvm" && v != "lxd" {
			problems = append(problems, fmt.Sprintf("%s: virtualization_type %v", name, v))
		}
		pools := clusterPools(it)
		if pools == nil {
			problems = append(problems, name+": neither interfaces nor ippools with an interface index")
			continue
		}
		seen = append(seen, fmt.Sprintf("%s (%v, pools on interfaces %v)", name, it["virtualization_type"], sortedKeys(pools)))
	}
	if len(items) == 0 {
		problems = append(problems, "no clusters")
	}
	d.add(probe, expected, joinSeen(seen, problems), len(problems) == 0)
	return nil
}

// clusterPools reads a raw cluster item as the client does: interface index → pool ids; nil when the
// answer has neither form.
func clusterPools(it obj) map[int][]string {
	raw, _ := json.Marshal(it)
	var w wireCluster
	if json.Unmarshal(raw, &w) != nil {
		return nil
	}
	_, hasIfaces := it["interfaces"].([]any)
	_, hasPools := it["ippools"].([]any)
	if !hasIfaces && !hasPools {
		return nil
	}
	out := map[int][]string{}
	for i, ps := range w.cluster().Pools {
		for _, p := range ps {
			out[i] = append(out[i], strconv.FormatUint(p, 10))
		}
	}
	return out
}

func (d *deep) osList(ctx context.Context) error {
	return d.catalog(ctx, "OS list", "/vm/v3/os", "id", "name", "is_lxd_image")
}

func (d *deep) recipes(ctx context.Context) error {
	return d.catalog(ctx, "recipes", "/vm/v3/recipe", "id", "name")
}

// catalog checks a plain list whose items need fields.
func (d *deep) catalog(ctx context.Context, probe, path string, fields ...string) error {
	expected := "items with " + strings.Join(fields, ", ")
	items, ok, err := d.list(ctx, probe, expected, path)
	if err != nil || !ok {
		return err
	}
	var problems []string
	for _, it := range items {
		if m := missingFields(it, fields...); len(m) > 0 {
			problems = append(problems, fmt.Sprintf("item %v%s", it["id"], missingText(m)))
		}
	}
	d.add(probe, expected, joinSeen([]string{fmt.Sprintf("%d item(s)", len(items))}, problems), len(problems) == 0)
	return nil
}

func (d *deep) pools(ctx context.Context) error {
	const probe = "IP pools per cluster interface"
	expected := "each pool a cluster has on an interface lists that cluster and interface"
	items, ok, err := d.list(ctx, probe, expected, "/vm/v3/ippool")
	if err != nil || !ok {
		return err
	}
	attached := map[string]bool{} // "pool/cluster/interface"
	var problems []string
	for _, it := range items {
		cls, _ := it["clusters"].([]any)
		if m := missingFields(it, "id", "name", "clusters"); len(m) > 0 {
			problems = append(problems, fmt.Sprintf("pool %v%s", it["id"], missingText(m)))
		}
		for _, c := range cls {
			co, _ := c.(obj)
			if m := missingFields(co, "id", "interface"); len(m) > 0 {
				problems = append(problems, fmt.Sprintf("pool %v clusters item%s", it["id"], missingText(m)))
				continue
			}
			attached[fmt.Sprintf("%v/%v/%v", it["id"], co["id"], co["interface"])] = true
		}
	}
	checked := 0
	for _, cl := range d.cls {
		for iface, pools := range clusterPools(cl) {
			for _, p := range pools {
				checked++
				if !attached[fmt.Sprintf("%s/%v/%d", p, cl["id"], iface)] {
					problems = append(problems, fmt.Sprintf("cluster %v lists pool %s on interface %d but the pool list does not", cl["name"], p, iface))
				}
			}
		}
	}
	d.add(probe, expected, joinSeen([]string{fmt.Sprintf("%d pool(s), %d cluster attachment(s) checked", len(items), checked)}, problems), len(problems) == 0)
	return nil
}

func (d *deep) hosts(ctx context.Context) error {
	const probe = "host list with ip4/ip6"
	expected := "id, name, state, cpu_number, ram_mib, ip4[{ip, interface}], ip6[], disk{id, disk_mib}, account"
	items, ok, err := d.list(ctx, probe, expected, "/vm/v3/host")
	if err != nil || !ok {
		return err
	}
	var problems []string
	for _, it := range items {
		if m := missingHost(it); len(m) > 0 {
			problems = append(problems, fmt.Sprintf("VM %v%s", it["id"], missingText(m)))
		}
	}
	d.add(probe, expected, joinSeen([]string{fmt.Sprintf("%d VM(s)", len(items))}, problems), len(problems) == 0)
	const byProbe, byExpected = "host by id and by name", "where= by id and by name find a listed VM"
	if len(items) == 0 {
		d.add(byProbe, byExpected, "no VMs to look up; nothing to compare", true)
		return nil
	}
	first := items[0]
	var seen []string
	good := true
	for _, f := range []string{"id", "name"} {
		path := "/vm/v3/host" + where(eq(f, scalar(first[f])))
		found, ok, err := d.list(ctx, byProbe, byExpected, path)
		if err != nil || !ok {
			return err
		}
		hit := slices.ContainsFunc(found, func(o obj) bool { return scalar(o["id"]) == scalar(first["id"]) })
		good = good && hit
		seen = append(seen, fmt.Sprintf("by %s: %d item(s), VM %s %s", f, len(found), scalar(first["id"]), foundText(hit)))
	}
	d.add(byProbe, byExpected, strings.Join(seen, "; "), good)
	return nil
}

func missingHost(it obj) []string {
	m := missingFields(it, "id", "name", "state", "cpu_number", "ram_mib", "ip4", "ip6", "disk", "account")
	ip4, _ := it["ip4"].([]any)
	for _, ip := range ip4 {
		o, _ := ip.(obj)
		if o["ip"] == nil && o["ip_addr"] == nil {
			m = append(m, "ip4[].ip")
			break
		}
		if _, ok := o["interface"]; !ok { // setparam counts the main interface's addresses by it
			m = append(m, "ip4[].interface")
			break
		}
	}
	if disk, ok := it["disk"].(obj); ok {
		m = append(m, prefixed("disk.", missingFields(disk, "id", "disk_mib"))...)
	}
	return m
}

// tasks reads host_create tasks by name, since a VMmanager's whole task list grows without bound; only
// when there are none does it read the whole list, to tell a fresh instance from one naming tasks otherwise.
func (d *deep) tasks(ctx context.Context) error {
	const probe = "task list"
	expected := "each task has id, consul_id, name and status"
	items, ok, err := d.list(ctx, probe, expected, "/vm/v3/task"+where(eq("name", TaskHostCreate)))
	if err == nil && ok && len(items) == 0 {
		items, ok, err = d.list(ctx, probe, expected, "/vm/v3/task")
	}
	if err != nil || !ok {
		return err
	}
	var problems []string
	names := map[string]int{}
	for _, it := range items {
		if m := missingFields(it, "id", "consul_id", "name", "status"); len(m) > 0 {
			problems = append(problems, fmt.Sprintf("task %v%s", it["id"], missingText(m)))
		}
		names[fmt.Sprint(it["name"])]++
	}
	d.add(probe, expected, joinSeen([]string{fmt.Sprintf("%d task(s)", len(items))}, problems), len(problems) == 0)

	const namesProbe = "task names"
	namesExpected := "host_create and the other task names sources show"
	const byProbe = "task by consul id"
	byExpected := "where= by consul_id, and by consul_id AND name, find a listed task"
	if len(items) == 0 {
		d.add(namesProbe, namesExpected, "no tasks listed yet; nothing to compare", true)
		d.add(byProbe, byExpected, "no tasks listed yet; nothing to compare", true)
		return nil
	}
	var known, other []string
	for n := range names {
		if slices.Contains(taskNames, n) {
			known = append(known, n)
		} else {
			other = append(other, n)
		}
	}
	slices.Sort(known)
	slices.Sort(other)
	d.add(namesProbe, namesExpected, fmt.Sprintf("known %v, other %v", known, other), names[TaskHostCreate] > 0)

	first := items[0]
	for _, it := range items {
		if slices.Contains(taskNames, fmt.Sprint(it["name"])) {
			first = it
			break
		}
	}
	id, name := scalar(first["consul_id"]), fmt.Sprint(first["name"])
	var seen []string
	good := true
	for _, path := range []string{"/vm/v3/task" + where(eq("consul_id", id)), "/vm/v3/task" + where(eq("consul_id", id), eq("name", name))} {
		found, ok, err := d.list(ctx, byProbe, byExpected, path)
		if err != nil || !ok {
			return err
		}
		hit := slices.ContainsFunc(found, func(o obj) bool { return scalar(o["id"]) == scalar(first["id"]) })
		good = good && hit
		seen = append(seen, fmt.Sprintf("%d item(s), task %s %s", len(found), id, foundText(hit)))
	}
	d.add(byProbe, byExpected, strings.Join(seen, "; "), good)
	return nil
}

func (d *deep) errorBody(ctx context.Context) error {
	const probe = "error body"
	expected := `a missing VM: 4xx with {"error":{"code","msg"}}`
	status, data, err := d.get(ctx, probe, "/vm/v3/host/999999999")
	if err != nil {
		return err
	}
	d.add(probe, expected, fmt.Sprintf("HTTP %d: %s", status, clip(string(bytes.TrimSpace(data)), 120)),
		errorObject(data) && status >= 400 && status < 500)
	return nil
}

// --- helpers ---

func missingFields(o obj, fields ...string) []string {
	var m []string
	for _, f := range fields {
		if _, ok := o[f]; !ok {
			m = append(m, f)
		}
	}
	return m
}

func missingText(m []string) string {
	if len(m) == 0 {
		return ""
	}
	return "; missing " + strings.Join(m, ", ")
}

func prefixed(p string, m []string) []string {
	for i := range m {
		m[i] = p + m[i]
	}
	return m
}

func joinSeen(seen, problems []string) string {
	if len(problems) > 0 {
		return strings.Join(problems, "; ")
	}
	return strings.Join(seen, "; ")
}

func foundText(hit bool) string {
	if hit {
		return "found"
	}
	return "missing"
}

// scalar prints a number or string id the way where= quotes it.
func scalar(v any) string {
	switch t := v.(type) {
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64)
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

func stringsOf(v any) []string {
	var out []string
	l, _ := v.([]any)
	for _, x := range l {
		out = append(out, fmt.Sprint(x))
	}
	return out
}

func sortedKeys(m map[int][]string) []int {
	out := make([]int, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
