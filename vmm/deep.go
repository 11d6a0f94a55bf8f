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

// Probe results: what a probe proved.
const (
	ResultOK           = "ok"           // VMmanager answered as vmmpm relies on
	ResultMismatch     = "mismatch"     // it answered otherwise: Seen names the field and what came
	ResultInconclusive = "inconclusive" // nothing to compare yet: Create says what to make in VMmanager
)

// Probe is one line of the deep check: what vmmpm relies on, what this VMmanager answered and what
// that proved.
type Probe struct {
	Name     string `json:"probe"`
	Expected string `json:"expected"`
	Seen     string `json:"seen"`
	Result   string `json:"result"`
	// Create says, for an inconclusive probe, what to create in VMmanager (or that --write does it) so
	// the probe has something to compare.
	Create string `json:"create,omitempty"`
	OK     bool   `json:"ok"` // Result is ok
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

// Counts is how many probes ended each way.
type Counts struct {
	OK           int `json:"ok"`
	Mismatch     int `json:"mismatch"`
	Inconclusive int `json:"inconclusive"`
}

// Report is DeepCheck's result. OK is true when no probe found a mismatch; inconclusive probes do not
// make it false, but Summary names them.
type Report struct {
	URL     string   `json:"url"`
	OK      bool     `json:"ok"`
	Write   bool     `json:"write,omitempty"` // the --write probes ran (or were due)
	Counts  Counts   `json:"counts"`
	Probes  []Probe  `json:"probes"`
	Answers []Answer `json:"answers,omitempty"`
}

// Differs lists the names of the probes that found a mismatch.
func (r Report) Differs() []string { return r.named(ResultMismatch) }

// Inconclusive lists the names of the probes that had nothing to compare.
func (r Report) Inconclusive() []string { return r.named(ResultInconclusive) }

func (r Report) named(result string) []string {
	var out []string
	for _, p := range r.Probes {
		if p.Result == result {
			out = append(out, p.Name)
		}
	}
	return out
}

// Summary is one sentence: how many probes, how many ok, mismatched and inconclusive, naming the last two.
func (r Report) Summary() string {
	c := r.Counts
	s := fmt.Sprintf("%d probes: %d ok, %d mismatch, %d inconclusive", len(r.Probes), c.OK, c.Mismatch, c.Inconclusive)
	if d := r.Differs(); len(d) > 0 {
		s += "; mismatch in " + strings.Join(d, ", ")
	}
	if in := r.Inconclusive(); len(in) > 0 {
		s += "; inconclusive: " + strings.Join(in, ", ")
		if !r.Write {
			s += " (create what their rows say, or run module check --deep --write against a staging VMmanager)"
		}
	}
	return s + "."
}

// finish fills OK and Counts from the probes.
func (r *Report) finish() {
	r.Counts = Counts{}
	for i := range r.Probes {
		p := &r.Probes[i]
		p.OK = p.Result == ResultOK
		switch p.Result {
		case ResultOK:
			r.Counts.OK++
		case ResultMismatch:
			r.Counts.Mismatch++
		default:
			r.Counts.Inconclusive++
		}
	}
	r.OK = r.Counts.Mismatch == 0
}

// taskNames are the task names public sources show for the operations vmmpm runs.
var taskNames = []string{TaskHostCreate, TaskHostStart, TaskHostStop, TaskHostDelete, TaskHostReinstall,
	TaskHostParams, TaskDiskResize, TaskIPChange}

// DeepCheck reads, without changing anything, every endpoint, filter and field the engine relies on and
// compares each answer with what vmmpm expects, in type and shape as the client decodes it. Each probe is
// ok, a mismatch, or inconclusive (a fresh VMmanager has no VM or task to compare). Differences are
// probes, never errors; the error is for a check that could not run: the login failed, or VMmanager
// could not be reached or kept answering 503 (the same errors as CheckAdmin). The report then holds the
// probes done so far.
func DeepCheck(ctx context.Context, c *Client) (Report, error) {
	d := newDeep(c)
	err := d.read(ctx)
	d.rep.finish()
	return d.rep, err
}

func newDeep(c *Client) *deep {
	return &deep{c: c, rep: Report{URL: c.base}, secrets: []string{c.password}}
}

// read runs the read-only probes.
func (d *deep) read(ctx context.Context) error {
	if err := d.login(ctx); err != nil {
		return err
	}
	steps := []func(context.Context) error{d.badLogin, d.badToken, d.account, d.clusters, d.osList, d.recipes,
		d.pools, d.hosts, d.reconcileLists, d.tasks, d.errorBody}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return err
		}
	}
	return nil
}

type deep struct {
	c       *Client
	token   string
	rep     Report
	cls     []obj
	oses    []obj
	secrets []string // never written to a recording, even where VMmanager would echo one
}

type obj = map[string]any

func (d *deep) ok(name, expected, seen string) {
	d.rep.Probes = append(d.rep.Probes, Probe{Name: name, Expected: expected, Seen: seen, Result: ResultOK})
}

func (d *deep) mismatch(name, expected, seen string) {
	d.rep.Probes = append(d.rep.Probes, Probe{Name: name, Expected: expected, Seen: seen, Result: ResultMismatch})
}

func (d *deep) inconclusive(name, expected, seen, create string) {
	d.rep.Probes = append(d.rep.Probes, Probe{Name: name, Expected: expected, Seen: seen, Result: ResultInconclusive, Create: create})
}

// judge adds the probe as ok when there are no problems, else as a mismatch listing them.
func (d *deep) judge(name, expected, seen string, problems []string) {
	if len(problems) > 0 {
		d.mismatch(name, expected, strings.Join(problems, "; "))
		return
	}
	d.ok(name, expected, seen)
}

// get reads path with the deep check's token and keeps the masked answer. Transport failures and a 503
// that outlasts the retries are errors; any HTTP status is returned for the probe to judge.
func (d *deep) get(ctx context.Context, probe, path string) (int, []byte, error) {
	ctx = context.WithValue(ctx, tapKey{}, nil) // kept below, not also by a --write tap
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
		Body: Mask(d.scrub(data)), Request: request})
}

// scrub replaces the passwords this check knows in a body, before masking.
func (d *deep) scrub(data []byte) []byte {
	for _, s := range d.secrets {
		if len(s) >= 4 {
			data = bytes.ReplaceAll(data, []byte(s), []byte(maskedSecret))
		}
	}
	return data
}

// bodyKey is the masked JSON of a request body, as Replay computes it.
func bodyKey(body any) string {
	b, _ := json.Marshal(body)
	return requestKey("", b)
}

// list reads a list endpoint; ok is false (and the probe already added) when the answer is not a list.
func (d *deep) list(ctx context.Context, probe, expected, path string) ([]obj, bool, error) {
	items, problem, err := d.fetch(ctx, probe, path)
	if err != nil {
		return nil, false, err
	}
	if problem != "" {
		d.mismatch(probe, expected, problem)
		return nil, false, nil
	}
	return items, true, nil
}

// fetch reads a list endpoint; problem says how an answer that is not a list of objects differs.
func (d *deep) fetch(ctx context.Context, probe, path string) ([]obj, string, error) {
	status, data, err := d.get(ctx, probe, path)
	if errors.Is(err, ErrBadAnswer) { // e.g. larger than the client reads: a difference, not the end
		return nil, err.Error(), nil
	}
	if err != nil {
		return nil, "", err
	}
	if status != http.StatusOK {
		return nil, fmt.Sprintf("GET %s answered HTTP %d: %s", pathOnly(path), status, bodyText(data)), nil
	}
	var env struct {
		List *json.RawMessage `json:"list"`
	}
	if json.Unmarshal(data, &env) != nil || env.List == nil {
		return nil, fmt.Sprintf("GET %s answered no list: %s", pathOnly(path), bodyText(data)), nil
	}
	var items []any
	if err := json.Unmarshal(*env.List, &items); err != nil {
		return nil, fmt.Sprintf("GET %s answered list as %s, not a list", pathOnly(path), jsonKind(*env.List)), nil
	}
	out := make([]obj, 0, len(items))
	for i, it := range items {
		o, isObj := it.(obj)
		if !isObj {
			raw, _ := json.Marshal(it)
			return nil, fmt.Sprintf("GET %s answered list item %d as %s, not an object", pathOnly(path), i, jsonKind(raw)), nil
		}
		out = append(out, o)
	}
	return out, "", nil
}

func bodyText(data []byte) string { return clip(maskText(string(bytes.TrimSpace(data))), 120) }

func (d *deep) login(ctx context.Context) error {
	const probe, expected = "login", "HTTP 201 with id (a number or digits) and token (a string)"
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
	problems := checkFields("the login answer", m, need("id", isID), need("token", isString))
	if status != http.StatusCreated {
		problems = append(problems, fmt.Sprintf("the login answered HTTP %d where sources show 201", status))
	}
	d.judge(probe, expected, fmt.Sprintf("HTTP %d with id and token", status), problems)
	return nil
}

// deepProbeEmail is an account no VMmanager has, so the refused-login probe cannot lock anyone out.
const deepProbeEmail = "vmmpm-deep-check@example.invalid"

// deepProbeToken is a token no VMmanager issued.
const deepProbeToken = "vmmpm-deep-check-not-a-token"

// badLogin: the client reads any 4xx to the token request (but 404, 405, 429) as bad credentials.
func (d *deep) badLogin(ctx context.Context) error {
	const probe, expected = "refused login", `an unknown account: 4xx with {"error":{"code","msg"}}`
	body := map[string]string{"email": deepProbeEmail, "password": "not-a-password"}
	status, data, err := d.c.exchange(ctx, http.MethodPost, loginPath, "", body)
	if err != nil {
		return err
	}
	d.keep(probe, http.MethodPost, loginPath, status, data, bodyKey(body))
	seen := fmt.Sprintf("HTTP %d: %s", status, bodyText(data))
	var problems []string
	if !decodeError(status, data, true).badCredentials() {
		problems = append(problems, fmt.Sprintf("an unknown account's login answered HTTP %d, which vmmpm does not read as refused credentials", status))
	}
	problems = append(problems, errorShape("the refused login", data)...)
	d.judge(probe, expected, seen, problems)
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
	var problems []string
	if status != http.StatusUnauthorized {
		problems = append(problems, fmt.Sprintf("a call with an unknown token answered HTTP %d, not 401, so vmmpm would not log in again when a token expires", status))
	}
	d.judge(probe, expected, fmt.Sprintf("HTTP %d: %s", status, bodyText(data)), problems)
	return nil
}

// errorShape checks an error body: {"error":{"code": number, "msg": string}}.
func errorShape(what string, data []byte) []string {
	var m obj
	if json.Unmarshal(data, &m) != nil {
		return []string{fmt.Sprintf("%s is not JSON: %s", what, bodyText(data))}
	}
	e, isObj := m["error"].(obj)
	if !isObj {
		return []string{fmt.Sprintf("%s has no error object (%s)", what, kindOf(m, "error"))}
	}
	return checkFields(what+"'s error", e, need("code", isNumber), need("msg", isString))
}

func (d *deep) account(ctx context.Context) error {
	const probe = "account by email"
	expected := "where= by email finds the login account: id, email, roles[] holding @admin"
	items, ok, err := d.list(ctx, probe, expected, "/vm/v3/account"+where(eq("email", d.c.email)))
	if err != nil || !ok {
		return err
	}
	for _, it := range items {
		if e, _ := it["email"].(string); !strings.EqualFold(e, d.c.email) {
			continue
		}
		problems := checkFields("the login account", it, need("id", isID), need("email", isString))
		problems = orDecodes[wireAccount](problems, "the login account", it)
		roles, listed := it["roles"].([]any)
		_, has := it["roles"]
		switch {
		case !has:
			problems = append(problems, "the login account is listed without roles, so vmmpm cannot tell it holds @admin")
		case !isStringList.ok(it["roles"]):
			problems = append(problems, fmt.Sprintf("the login account has roles as %s, where vmmpm reads %s", kindOf(it, "roles"), isStringList.want))
		case !listed:
		case len(roles) == 0:
			problems = append(problems, "the login account is listed with an empty roles list, so vmmpm cannot tell it holds @admin")
		case !slices.Contains(stringsOf(roles), "@admin"):
			problems = append(problems, fmt.Sprintf("the login account's roles are %s, without @admin", strings.Join(stringsOf(roles), ", ")))
		}
		d.judge(probe, expected, fmt.Sprintf("%d item(s); roles %s", len(items), strings.Join(stringsOf(roles), ", ")), problems)
		return nil
	}
	d.mismatch(probe, expected, fmt.Sprintf("where=(email EQ …) answered %d item(s), none with the login email", len(items)))
	return nil
}

func (d *deep) clusters(ctx context.Context) error {
	const probe = "clusters"
	expected := "id, name, virtualization_type kvm|lxd, pools per interface (interfaces[{interface, ippool[]}] or ippools[{id, interface}])"
	items, ok, err := d.list(ctx, probe, expected, "/vm/v3/cluster")
	if err != nil || !ok {
		return err
	}
	d.cls = items
	var problems, seen []string
	for _, it := range items {
		what := "cluster " + scalar(it["id"])
		p := checkFields(what, it, need("id", isID), need("name", isString), need("virtualization_type", isString))
		p = orDecodes[wireCluster](p, what, it)
		if v, isStr := it["virtualization_type"].(string); isStr && v != "kvm" && v != "lxd" {
			p = append(p, fmt.Sprintf("%s has virtualization_type %q, where vmmpm knows kvm and lxd", what, v))
		}
		pools := clusterPools(it)
		if pools == nil {
			p = append(p, what+" lists neither interfaces[] nor ippools[] with an interface index, so vmmpm cannot tell which pool is on the main interface")
		}
		if len(p) > 0 {
			problems = append(problems, p...)
			continue
		}
		seen = append(seen, fmt.Sprintf("%v (%v, pools on interfaces %v)", it["name"], it["virtualization_type"], sortedKeys(pools)))
	}
	if len(items) == 0 {
		problems = append(problems, "VMmanager lists no clusters")
	}
	d.judge(probe, expected, strings.Join(seen, "; "), problems)
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
	items, err := d.catalog(ctx, "OS list", "/vm/v3/os", decodes[wireOS],
		need("id", isID), need("name", isString), need("is_lxd_image", isBool))
	d.oses = items
	return err
}

func (d *deep) recipes(ctx context.Context) error {
	_, err := d.catalog(ctx, "recipes", "/vm/v3/recipe", decodes[wireRecipe], need("id", isID), need("name", isString))
	return err
}

// catalog checks a plain list whose items need fields of a type.
func (d *deep) catalog(ctx context.Context, probe, path string, dec func(string, obj) []string, fields ...fieldCheck) ([]obj, error) {
	var names []string
	for _, f := range fields {
		names = append(names, f.name+" ("+f.want+")")
	}
	expected := "items with " + strings.Join(names, ", ")
	items, ok, err := d.list(ctx, probe, expected, path)
	if err != nil || !ok {
		return nil, err
	}
	var problems []string
	for _, it := range items {
		what := "item " + scalar(it["id"])
		p := checkFields(what, it, fields...)
		if len(p) == 0 {
			p = dec(what, it)
		}
		problems = append(problems, p...)
	}
	if len(items) == 0 {
		d.inconclusive(probe, expected, "VMmanager lists none", "add one in VMmanager so the probe can read its fields")
		return items, nil
	}
	d.judge(probe, expected, fmt.Sprintf("%d item(s)", len(items)), problems)
	return items, nil
}

func (d *deep) pools(ctx context.Context) error {
	const probe = "IP pools per cluster interface"
	expected := "each pool a cluster has on an interface lists that cluster and interface (clusters[{id, interface}])"
	items, ok, err := d.list(ctx, probe, expected, "/vm/v3/ippool")
	if err != nil || !ok {
		return err
	}
	attached := map[string]bool{} // "pool/cluster/interface"
	var problems []string
	for _, it := range items {
		what := "pool " + scalar(it["id"])
		problems = append(problems, orDecodes[wirePool](checkFields(what, it, need("id", isID), need("name", isString), need("clusters", isList)), what, it)...)
		cls, _ := it["clusters"].([]any)
		for _, c := range cls {
			co, _ := c.(obj)
			if p := checkFields(what+"'s clusters item", co, need("id", isID), need("interface", isIndex)); len(p) > 0 {
				problems = append(problems, p...)
				continue
			}
			attached[fmt.Sprintf("%s/%s/%s", scalar(it["id"]), scalar(co["id"]), scalar(co["interface"]))] = true
		}
	}
	checked := 0
	for _, cl := range d.cls {
		for iface, pools := range clusterPools(cl) {
			for _, p := range pools {
				checked++
				if !attached[fmt.Sprintf("%s/%s/%d", p, scalar(cl["id"]), iface)] {
					problems = append(problems, fmt.Sprintf("cluster %v lists pool %s on interface %d but the pool list does not", cl["name"], p, iface))
				}
			}
		}
	}
	seen := fmt.Sprintf("%d pool(s), %d cluster attachment(s) checked", len(items), checked)
	if checked == 0 && len(problems) == 0 {
		d.inconclusive(probe, expected, seen, "attach an IP pool to the module's cluster in VMmanager")
		return nil
	}
	d.judge(probe, expected, seen, problems)
	return nil
}

// hostFields are what the engine reads of a host list item.
var hostFields = []fieldCheck{need("id", isID), need("name", isString), need("state", isString), need("cpu_number", isInt),
	need("ram_mib", isInt), need("ip4", isList), need("ip6", isList), need("disk", isObject), need("account", isRef)}

const createVM = "create a VM with an IPv4 address in VMmanager, or run module check --deep --write against a staging VMmanager"

func (d *deep) hosts(ctx context.Context) error {
	const probe = "host list with ip4/ip6"
	expected := "id, name, state, cpu_number, ram_mib, ip4[{ip, interface (a number or a string)}], ip6[], disk{id, disk_mib}, account"
	items, ok, err := d.list(ctx, probe, expected, "/vm/v3/host")
	if err != nil || !ok {
		return err
	}
	problems, withIP, ifaces := hostProblems(items)
	seen := fmt.Sprintf("%d VM(s), %d with IPv4; ip4[].interface seen as %s", len(items), withIP, orNone(ifaces))
	switch {
	case len(problems) > 0:
		d.mismatch(probe, expected, strings.Join(problems, "; "))
	case len(items) == 0:
		d.inconclusive(probe, expected, "VMmanager lists no VMs, so no field of a VM could be compared", createVM)
	case withIP == 0:
		d.inconclusive(probe, expected, seen+"; ip4[].ip and ip4[].interface could not be compared", createVM)
	default:
		d.ok(probe, expected, seen)
	}
	const byProbe, byExpected = "host by id and by name", "where= by id and by name find a listed VM"
	if len(items) == 0 {
		d.inconclusive(byProbe, byExpected, "VMmanager lists no VMs to look up", createVM)
		return nil
	}
	first := items[0]
	var seenBy, missing []string
	for _, f := range []string{"id", "name"} {
		path := "/vm/v3/host" + where(eq(f, scalar(first[f])))
		found, ok, err := d.list(ctx, byProbe, byExpected, path)
		if err != nil || !ok {
			return err
		}
		hit := slices.ContainsFunc(found, func(o obj) bool { return scalar(o["id"]) == scalar(first["id"]) })
		if !hit {
			missing = append(missing, fmt.Sprintf("where=(%s EQ …) answered %d item(s) without VM %s", f, len(found), scalar(first["id"])))
		}
		seenBy = append(seenBy, fmt.Sprintf("by %s: %d item(s), VM %s %s", f, len(found), scalar(first["id"]), foundText(hit)))
	}
	d.judge(byProbe, byExpected, strings.Join(seenBy, "; "), missing)
	return nil
}

// hostProblems checks host list items as the engine reads them; it also counts the VMs with an IPv4
// address and names the kinds of ip4[].interface seen (number, digits, name, absent).
func hostProblems(items []obj) (problems []string, withIP int, ifaces []string) {
	kinds := map[string]bool{}
	for _, it := range items {
		what := "VM " + scalar(it["id"])
		p := checkFields(what, it, hostFields...)
		if disk, isObj := it["disk"].(obj); isObj {
			p = append(p, checkFields(what+"'s disk", disk, need("id", isID), need("disk_mib", isInt))...)
		}
		ip4, _ := it["ip4"].([]any)
		if len(ip4) > 0 {
			withIP++
		}
		for i, ip := range ip4 {
			o, isObj := ip.(obj)
			if !isObj {
				raw, _ := json.Marshal(ip)
				p = append(p, fmt.Sprintf("%s has ip4[%d] as %s, not an object", what, i, jsonKind(raw)))
				continue
			}
			if _, has := o["ip"]; !has {
				if _, has := o["ip_addr"]; !has {
					p = append(p, fmt.Sprintf("%s has ip4[%d] without ip (or ip_addr)", what, i))
				}
			}
			k := ifaceKind(o)
			if k == "another type" {
				p = append(p, fmt.Sprintf("%s has ip4[%d].interface as %s, where vmmpm reads a number or a string", what, i, kindOf(o, "interface")))
			}
			kinds[k] = true
		}
		if len(p) == 0 { // the client's decoder stops at its first error: asked only when the checks above pass
			p = decodes[wireHost](what, it)
		}
		problems = append(problems, p...)
	}
	for k := range kinds {
		ifaces = append(ifaces, k)
	}
	slices.Sort(ifaces)
	return problems, withIP, ifaces
}

// ifaceKind names how an ip4 item gives its interface.
func ifaceKind(o obj) string {
	v, has := o["interface"]
	switch t := v.(type) {
	case nil:
		if has {
			return "null"
		}
		return "absent"
	case float64:
		return "a number"
	case string:
		if _, err := strconv.Atoi(strings.TrimSpace(t)); err == nil {
			return "a string of digits"
		}
		return "a name"
	}
	return "another type"
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "nothing (no address)"
	}
	return strings.Join(s, ", ")
}

// tasks reads host_create tasks by name, since a VMmanager's whole task list grows without bound; only
// when there are none does it read the whole list, to tell a fresh instance from one naming tasks otherwise.
func (d *deep) tasks(ctx context.Context) error {
	const probe = "task list"
	expected := "each task has id, consul_id (a number or a string), name and status (strings)"
	items, ok, err := d.list(ctx, probe, expected, "/vm/v3/task"+where(eq("name", TaskHostCreate)))
	if err == nil && ok && len(items) == 0 {
		items, ok, err = d.list(ctx, probe, expected, "/vm/v3/task")
	}
	if err != nil || !ok {
		return err
	}
	const createTask = "create a VM in VMmanager (its host_create task is then listed), or run module check --deep --write against a staging VMmanager"
	var problems []string
	names := map[string]int{}
	for _, it := range items {
		problems = append(problems, taskProblems("task "+scalar(it["id"]), it)...)
		names[fmt.Sprint(it["name"])]++
	}
	if len(items) == 0 {
		d.inconclusive(probe, expected, "VMmanager lists no tasks", createTask)
	} else {
		d.judge(probe, expected, fmt.Sprintf("%d task(s)", len(items)), problems)
	}

	const namesProbe = "task names"
	namesExpected := "host_create and the other task names sources show"
	const byProbe = "task by consul id"
	byExpected := "where= by consul_id, and by consul_id AND name, find a listed task"
	if len(items) == 0 {
		d.inconclusive(namesProbe, namesExpected, "VMmanager lists no tasks", createTask)
		d.inconclusive(byProbe, byExpected, "VMmanager lists no tasks", createTask)
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
	seen := fmt.Sprintf("known %v, other %v", known, other)
	if names[TaskHostCreate] == 0 {
		d.mismatch(namesProbe, namesExpected, seen+"; no task is named host_create, the name sources show for creating a VM")
	} else {
		d.ok(namesProbe, namesExpected, seen)
	}

	first := items[0]
	for _, it := range items {
		if slices.Contains(taskNames, fmt.Sprint(it["name"])) {
			first = it
			break
		}
	}
	id, name := scalar(first["consul_id"]), fmt.Sprint(first["name"])
	if id == "" {
		d.mismatch(byProbe, byExpected, fmt.Sprintf("task %s has no consul_id to look it up by", scalar(first["id"])))
		return nil
	}
	var seenBy, missing []string
	for _, path := range []string{"/vm/v3/task" + where(eq("consul_id", id)), "/vm/v3/task" + where(eq("consul_id", id), eq("name", name))} {
		found, ok, err := d.list(ctx, byProbe, byExpected, path)
		if err != nil || !ok {
			return err
		}
		hit := slices.ContainsFunc(found, func(o obj) bool { return scalar(o["id"]) == scalar(first["id"]) })
		if !hit {
			missing = append(missing, fmt.Sprintf("the filter %s answered %d item(s) without task %s", strings.TrimPrefix(pathQuery(path), "where="), len(found), scalar(first["id"])))
		}
		seenBy = append(seenBy, fmt.Sprintf("%d item(s), task %s %s", len(found), id, foundText(hit)))
	}
	d.judge(byProbe, byExpected, strings.Join(seenBy, "; "), missing)
	return nil
}

func taskProblems(what string, it obj) []string {
	p := checkFields(what, it, need("id", isID), need("consul_id", isScalar), need("name", isString), need("status", isString))
	return orDecodes[wireTask](p, what, it)
}

func pathQuery(p string) string {
	if i := strings.IndexByte(p, '?'); i >= 0 {
		return p[i+1:]
	}
	return ""
}

func (d *deep) errorBody(ctx context.Context) error {
	const probe = "error body"
	expected := `a missing VM: 4xx with {"error":{"code","msg"}}`
	status, data, err := d.get(ctx, probe, "/vm/v3/host/999999999")
	if err != nil {
		return err
	}
	problems := errorShape("the answer for a missing VM", data)
	if status < 400 || status > 499 {
		problems = append(problems, fmt.Sprintf("a missing VM answered HTTP %d, not a 4xx", status))
	}
	d.judge(probe, expected, fmt.Sprintf("HTTP %d: %s", status, bodyText(data)), problems)
	return nil
}

// --- field checks ---

// fieldCheck is one field an answer must hold, of a kind (want names it for sentences).
type fieldCheck struct {
	name string
	want string
	ok   func(any) bool
}

type kindCheck struct {
	want string
	ok   func(any) bool
}

var (
	isID = kindCheck{"an id (a number or digits)", func(v any) bool {
		switch t := v.(type) {
		case float64:
			return t >= 0 && t == float64(uint64(t))
		case string:
			_, err := strconv.ParseUint(t, 10, 64)
			return err == nil
		}
		return false
	}}
	isInt = kindCheck{"a number", func(v any) bool {
		switch t := v.(type) {
		case float64:
			return t == float64(int64(t))
		case string:
			_, err := strconv.Atoi(t)
			return err == nil
		}
		return false
	}}
	isIndex      = kindCheck{"an interface index", isInt.ok}
	isNumber     = kindCheck{"a number", func(v any) bool { _, ok := v.(float64); return ok }}
	isString     = kindCheck{"a string", func(v any) bool { _, ok := v.(string); return ok }}
	isBool       = kindCheck{"true or false", func(v any) bool { _, ok := v.(bool); return ok }}
	isList       = kindCheck{"a list", func(v any) bool { _, ok := v.([]any); return ok }}
	isObject     = kindCheck{"an object", func(v any) bool { _, ok := v.(obj); return ok }}
	isScalar     = kindCheck{"a number or a string", func(v any) bool { return isNumber.ok(v) || isString.ok(v) }}
	isRef        = kindCheck{"an object with an id, or an id", func(v any) bool { o, ok := v.(obj); return isID.ok(v) || (ok && isID.ok(o["id"])) }}
	isStringList = kindCheck{"a list of strings", func(v any) bool {
		l, ok := v.([]any)
		for _, x := range l {
			ok = ok && isString.ok(x)
		}
		return ok
	}}
)

func need(name string, k kindCheck) fieldCheck { return fieldCheck{name: name, want: k.want, ok: k.ok} }

// checkFields says, one phrase each, which fields of o are missing or of another kind than vmmpm reads.
func checkFields(what string, o obj, fields ...fieldCheck) []string {
	var out []string
	for _, f := range fields {
		v, has := o[f.name]
		switch {
		case !has:
			out = append(out, fmt.Sprintf("%s has no %s", what, f.name))
		case !f.ok(v):
			out = append(out, fmt.Sprintf("%s has %s as %s, where vmmpm reads %s", what, f.name, kindOf(o, f.name), f.want))
		}
	}
	return out
}

// kindOf names o[name] for a sentence.
func kindOf(o obj, name string) string {
	v, has := o[name]
	if !has {
		return "nothing"
	}
	raw, _ := json.Marshal(v)
	return jsonKind(raw)
}

// orDecodes is problems, or when there are none what the client's decoder for T says: it stops at its
// first error, so it is asked only about items the field checks passed.
func orDecodes[T any](problems []string, what string, it obj) []string {
	if len(problems) > 0 {
		return problems
	}
	return decodes[T](what, it)
}

// decodes runs the client's own decoder for T over an item and says which field it could not read.
func decodes[T any](what string, it obj) []string {
	raw, _ := json.Marshal(it)
	var w T
	err := json.Unmarshal(raw, &w)
	if err == nil {
		return nil
	}
	if field, got, want, ok := shapeParts(err); ok {
		return []string{fmt.Sprintf("%s has %s as %s, where vmmpm reads %s", what, field, got, want)}
	}
	return []string{fmt.Sprintf("%s could not be read: %v", what, err)}
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
