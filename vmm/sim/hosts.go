package sim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// diskOffset keeps disk ids apart from host ids (each VM has one disk, id = host id + 100).
const diskOffset = 100

type host struct {
	id                     int
	name, domain, comment  string
	state                  string // creating, active, stopped, failed
	clusterID, osID, owner int
	cpu, ram, diskMiB, net int
	ips                    []hostIP
	deleted                bool
	pending                *deferred                  // changes sent with defer {action: host_stop}, applied at the next stop
	held                   []*task                    // their tasks, under Config.DeferPending: they end at that stop
	props                  map[string]json.RawMessage // accepted, unmodelled properties (props.go), listed back
	diskProps              map[string]json.RawMessage // the same for its disk
}

// deferred holds resource and disk sizes waiting for the VM to stop (0 = unchanged).
type deferred struct{ cpu, ram, disk int }

type hostIP struct {
	id    int
	ip    string
	pool  int
	iface int
}

func (h *host) diskID() int { return h.id + diskOffset }

func (s *Sim) hostByID(id int) *host {
	if id < 1 || id > len(s.hosts) || s.hosts[id-1].deleted {
		return nil
	}
	return s.hosts[id-1]
}

// liveHost is the VM named in the path, or 404 (also after it was deleted).
func (c *call) liveHost() (*host, error) {
	h := c.s.hostByID(c.ids[0])
	if h == nil {
		return nil, notFound("host", c.ids[0])
	}
	return h, nil
}

// hostOwn is GET /host/{id}: the object's own fields, no linked objects (vmmanager6-api.md §4).
func hostOwn(h *host) map[string]any {
	it := map[string]any{
		"id": h.id, "name": h.name, "domain": h.domain, "comment": h.comment, "state": h.state,
		"cpu_number": h.cpu, "ram_mib": h.ram, "net_bandwidth_mbitps": h.net, "disabled": false,
	}
	listProps(it, h.props)
	return it
}

// hostItem is a list entry, which carries IPs, disk, OS, cluster and owner. Addresses appear once
// host_create has completed.
func (s *Sim) hostItem(h *host) map[string]any {
	it := hostOwn(h)
	ip4 := []any{}
	if h.state != "creating" {
		for _, ip := range h.ips {
			ip4 = append(ip4, map[string]any{"id": ip.id, "ip": ip.ip, "ippool": ip.pool, "interface": s.ifaceValue(ip.iface)})
		}
	}
	cl := s.clusterByID(h.clusterID)
	it["ip4"] = ip4
	it["ip6"] = []any{}
	disk := map[string]any{"id": h.diskID(), "disk_mib": h.diskMiB}
	listProps(disk, h.diskProps)
	it["disk"] = disk
	it["os"] = map[string]any{"id": h.osID, "name": s.osByID(h.osID).name}
	it["cluster"] = map[string]any{"id": cl.id, "name": cl.name}
	it["node"] = map[string]any{"id": cl.nodeID, "name": cl.nodeName}
	it["account"] = map[string]any{"id": h.owner, "email": s.accountByID(h.owner).email}
	return it
}

func (c *call) listHosts() (any, error) {
	w, err := c.whereFilter()
	if err != nil {
		return nil, err
	}
	cands := c.s.hosts
	// Shortcuts only: where= still decides, but 10,000 VMs are not each rendered to find a few.
	if ids, ok := idsHint(w, "id"); ok {
		cands = nil
		for _, id := range ids {
			if h := c.s.hostByID(id); h != nil && !slices.Contains(cands, h) {
				cands = append(cands, h)
			}
		}
		slices.SortFunc(cands, func(a, b *host) int { return a.id - b.id })
	} else if names, ok := namesHint(w, "name"); ok {
		cands = nil
		for _, h := range c.s.hosts {
			if slices.ContainsFunc(names, func(n string) bool { return strings.EqualFold(h.name, n) }) {
				cands = append(cands, h)
			}
		}
	}
	items := make([]map[string]any, 0, len(cands))
	for _, h := range cands {
		if !h.deleted {
			items = append(items, c.s.hostItem(h))
		}
	}
	return envelope(items, w), nil
}

func (c *call) getHost() (any, error) {
	h, err := c.liveHost()
	if err != nil {
		return nil, err
	}
	return hostOwn(h), nil
}

type recipeParam struct {
	Name  string          `json:"name"`
	Value json.RawMessage `json:"value"`
}

type recipeReq struct {
	Recipe       flexInt       `json:"recipe"`
	RecipeParams []recipeParam `json:"recipe_params"`
}

type recipeFields struct {
	RecipeList          []recipeReq     `json:"recipe_list"`
	Recipe              flexInt         `json:"recipe"`
	RecipeParams        []recipeParam   `json:"recipe_params"`
	IgnoreRecipeFilters json.RawMessage `json:"ignore_recipe_filters"`
}

// ids validates the recipe_list or legacy recipe field.
func (r recipeFields) ids(s *Sim) ([]int, error) {
	var ids []int
	for _, it := range r.RecipeList {
		ids = append(ids, int(it.Recipe))
	}
	if r.Recipe != 0 {
		ids = append(ids, int(r.Recipe))
	}
	for _, id := range ids {
		if s.recipeByID(id) == nil {
			return nil, unknownRef("recipe", "recipe %d does not exist", id)
		}
	}
	return ids, nil
}

// runRecipes chains one recipe_run task per recipe after t; they fail when t fails.
func (s *Sim) runRecipes(h *host, after *task, ids []int) (first any, list []any) {
	list = []any{}
	prev := after
	for _, id := range ids {
		prev = s.addTask(s.taskName("recipe_run"), h, prev.end, after.fail, fmt.Sprintf("recipe %d was not run: %s", id, after.name+" failed"), nil)
		list = append(list, prev.consulID)
	}
	if len(list) > 0 {
		first = list[0]
	}
	return first, list
}

func (c *call) deleteHost() (any, error) {
	h, err := c.liveHost()
	if err != nil {
		return nil, err
	}
	s := c.s
	h.deleted = true
	s.failHeld(h, c.now)
	s.releaseIPs(h)
	cl := s.clusterByID(h.clusterID)
	cl.cpu.used -= h.cpu
	cl.ram.used -= h.ram
	cl.storage.used -= h.diskMiB
	cl.hostCount--
	t := s.addTask(s.taskName("host_delete"), h, c.now, false, "", nil)
	return map[string]any{"id": h.id, "task": t.consulID}, nil
}

func (s *Sim) releaseIPs(h *host) {
	for _, ip := range h.ips {
		s.poolByID(ip.pool).release(ip.ip)
	}
	h.ips = nil
}

// powerReq is the body of start, stop and restart: {} or {force} (a TSX client and PY send it).
type powerReq struct {
	Force json.RawMessage `json:"force"`
}

// stateTask starts a task that sets the VM's state when it completes; a stop also applies deferred changes.
func (c *call) stateTask(name, state string) (any, error) {
	h, err := c.liveHost()
	if err != nil {
		return nil, err
	}
	if err := c.decodeBody(&powerReq{}); err != nil {
		return nil, err
	}
	set := setState(h, state)
	effect := set
	var t *task
	if state == "stopped" {
		effect = func(ok bool) {
			set(ok)
			if ok {
				c.s.applyDeferred(h, t.end)
			}
		}
	}
	t = c.s.addTask(name, h, c.now, false, "", effect)
	return map[string]any{"id": h.id, "task": t.consulID}, nil
}

func setState(h *host, state string) func(bool) {
	return func(ok bool) {
		if ok && !h.deleted {
			h.state = state
		}
	}
}

func (c *call) startHost() (any, error) { return c.stateTask(c.s.taskName("host_start"), "active") }
func (c *call) stopHost() (any, error)  { return c.stateTask(c.s.taskName("host_stop"), "stopped") }

// restartHost answers task (host_restart) and start_task (host_start, which runs after it). Deferred
// changes apply when the stop half ends.
func (c *call) restartHost() (any, error) {
	h, err := c.liveHost()
	if err != nil {
		return nil, err
	}
	if err := c.decodeBody(&powerReq{}); err != nil {
		return nil, err
	}
	s := c.s
	var stop *task
	stop = s.addTask(s.taskName("host_restart"), h, c.now, false, "", func(ok bool) {
		if ok {
			s.applyDeferred(h, stop.end)
		}
	})
	start := s.addTask(s.taskName("host_start"), h, stop.end, false, "", setState(h, "active"))
	return map[string]any{"id": h.id, "task": stop.consulID, "start_task": start.consulID}, nil
}

func (c *call) reinstallHost() (any, error) {
	h, err := c.liveHost()
	if err != nil {
		return nil, err
	}
	var req struct {
		OS            flexInt         `json:"os"`
		Image         flexInt         `json:"image"`
		Password      json.RawMessage `json:"password"` // optional (WHMCS)
		SendEmailMode json.RawMessage `json:"send_email_mode"`
		Disk          json.RawMessage `json:"disk"`
		recipeFields
	}
	if err := c.decodeBody(&req); err != nil {
		return nil, err
	}
	s := c.s
	if err := s.checkOS(int(req.OS), int(req.Image), h.clusterID); err != nil {
		return nil, err
	}
	recipes, err := req.ids(s)
	if err != nil {
		return nil, err
	}
	h.osID = int(req.OS)
	t := s.addTask(s.taskName("host_reinstall"), h, c.now, false, "", setState(h, "active"))
	first, list := s.runRecipes(h, t, recipes)
	return map[string]any{"id": h.id, "task": t.consulID, "recipe_task": first, "recipe_task_list": list}, nil
}

func (s *Sim) checkOS(osID, image, clusterID int) error {
	switch o := s.osByID(osID); {
	case image != 0:
		return unknownRef("image", "image %d does not exist", image)
	case osID == 0:
		return badParam("os", "os is required")
	case o == nil:
		return unknownRef("os", "OS %d does not exist", osID)
	case !o.on(clusterID):
		return unknownRef("os", "OS %d (%s) is not available on cluster %d", o.id, o.name, clusterID)
	}
	return nil
}

func (c *call) hostPassword() (any, error) {
	h, err := c.liveHost()
	if err != nil {
		return nil, err
	}
	var req struct {
		Password string `json:"password"`
	}
	if err := c.decodeBody(&req); err != nil {
		return nil, err
	}
	if req.Password == "" {
		return nil, badParam("password", "password is required")
	}
	// The name is the emulator's own: no source names this task (vmmanager6-api.md §8.7).
	t := c.s.addTask(c.s.taskName("host_password"), h, c.now, false, "", nil)
	return map[string]any{"id": h.id, "task": t.consulID}, nil
}

// deferReq is WHMCS's {"defer": {"action": "host_stop"}}: apply the change at the VM's next stop.
type deferReq struct {
	Defer *struct {
		Action string `json:"action"`
	} `json:"defer"`
}

// onStop reports whether the change waits for the next stop: asked for, and the VM is running.
func (d deferReq) onStop(h *host) (bool, error) {
	if d.Defer == nil {
		return false, nil
	}
	if d.Defer.Action != "host_stop" {
		return false, badParam("defer", "defer.action %q is not known; the only action sources show is host_stop", d.Defer.Action)
	}
	return h.state == "active", nil
}

// hostResource sets CPU and RAM, up or down. With defer on an active VM the change waits for the next
// stop or restart; otherwise it applies at the request. The task reports it.
func (c *call) hostResource() (any, error) {
	h, err := c.liveHost()
	if err != nil {
		return nil, err
	}
	var req struct {
		CPU           *flexInt `json:"cpu_number"`
		RAM           *flexInt `json:"ram_mib"`
		Net           *flexInt `json:"net_bandwidth_mbitps"`
		CPUMode       keep     `json:"cpu_mode"`
		Nesting       keep     `json:"nesting"`
		FirewallRules keep     `json:"firewall_rules"` // WHMCS: it lives in HostResourceParams
		NetIn         keep     `json:"net_in_mbitps"`  // GO2 HostResourceUpdateRequest, as the rest
		NetOut        keep     `json:"net_out_mbitps"`
		AntiSpoofing  keep     `json:"anti_spoofing"`
		limits
		deferReq
	}
	if err := c.decodeBody(&req); err != nil {
		return nil, err
	}
	props := kept(&req)
	if req.CPU == nil && req.RAM == nil && req.Net == nil && len(props) == 0 {
		return nil, badParam("cpu_number", "nothing to change: send cpu_number, ram_mib, net_bandwidth_mbitps or another property of the VM's resources")
	}
	cpu, ram := h.cpu, h.ram
	if req.CPU != nil {
		cpu = int(*req.CPU)
	}
	if req.RAM != nil {
		ram = int(*req.RAM)
	}
	switch {
	case cpu <= 0:
		return nil, badParam("cpu_number", "cpu_number must be a positive number")
	case ram <= 0:
		return nil, badParam("ram_mib", "ram_mib must be a positive number")
	}
	later, err := req.onStop(h)
	if err != nil {
		return nil, err
	}
	cl := c.s.clusterByID(h.clusterID)
	if err := checkCapacity(cl, max(0, cpu-h.cpu), max(0, ram-h.ram), 0); err != nil {
		return nil, err
	}
	if req.Net != nil {
		h.net = int(*req.Net)
	}
	storeProps(&h.props, props)
	if later {
		p := h.deferred()
		p.cpu, p.ram = cpu, ram
	} else {
		c.s.setResources(h, cpu, ram)
	}
	t := c.s.changeTask(c.s.taskName("host_change_params"), h, c.now, later)
	return map[string]any{"id": h.id, "task": t.consulID}, nil
}

func (h *host) deferred() *deferred {
	if h.pending == nil {
		h.pending = &deferred{}
	}
	return h.pending
}

func (s *Sim) setResources(h *host, cpu, ram int) {
	cl := s.clusterByID(h.clusterID)
	cl.cpu.used += cpu - h.cpu
	cl.ram.used += ram - h.ram
	h.cpu, h.ram = cpu, ram
}

func (s *Sim) setDisk(h *host, size int) {
	s.clusterByID(h.clusterID).storage.used += size - h.diskMiB
	h.diskMiB = size
}

// applyDeferred applies what waited for the VM to stop, which it did at `at`.
func (s *Sim) applyDeferred(h *host, at time.Time) {
	s.releaseHeld(h, at)
	p := h.pending
	if p == nil || h.deleted {
		return
	}
	h.pending = nil
	if p.cpu > 0 {
		s.setResources(h, p.cpu, p.ram)
	}
	if p.disk > 0 {
		s.setDisk(h, p.disk)
	}
}

// resizeDisk grows a disk (never shrinks it, as WHMCS only ever grows one); defer as for hostResource.
func (c *call) resizeDisk() (any, error) {
	h := c.s.hostByID(c.ids[0] - diskOffset)
	if h == nil {
		return nil, notFound("disk", c.ids[0])
	}
	var req struct {
		Size       *flexInt `json:"size_mib"`
		Name       keep     `json:"name"` // GO2 UpdateDiskRequest, as the rest
		Account    keep     `json:"account"`
		ExpandPart keep     `json:"expand_part"`
		Pool       keep     `json:"pool"`
		deferReq
	}
	if err := c.decodeBody(&req); err != nil {
		return nil, err
	}
	props := kept(&req)
	if req.Size == nil && len(props) > 0 { // a change of the disk's other properties only
		storeProps(&h.diskProps, props)
		t := c.s.addTask(c.s.taskName("disk_resize"), h, c.now, false, "", nil)
		return map[string]any{"id": h.diskID(), "task": t.consulID}, nil
	}
	if req.Size == nil || *req.Size <= 0 {
		return nil, badParam("size_mib", "size_mib is required and must be positive")
	}
	size, now := int(*req.Size), h.diskMiB
	if h.pending != nil && h.pending.disk > 0 {
		now = h.pending.disk
	}
	if size < now {
		return nil, errf(http.StatusBadRequest, codeShrink, "disk %d can only grow: it has %d MiB, asked %d", h.diskID(), now, size)
	}
	later, err := req.onStop(h)
	if err != nil {
		return nil, err
	}
	if err := checkCapacity(c.s.clusterByID(h.clusterID), 0, 0, size-now); err != nil {
		return nil, err
	}
	storeProps(&h.diskProps, props)
	if later {
		h.deferred().disk = size
	} else {
		c.s.setDisk(h, size)
	}
	t := c.s.changeTask(c.s.taskName("disk_resize"), h, c.now, later)
	return map[string]any{"id": h.diskID(), "task": t.consulID}, nil
}

// hostIP changes the number of IPv4 addresses on the main interface by ipv4_number (WHMCS sends the
// difference). Addresses are taken or released at the request, the newest released first.
func (c *call) hostIP() (any, error) {
	h, err := c.liveHost()
	if err != nil {
		return nil, err
	}
	var req struct {
		Number      *flexInt  `json:"ipv4_number"`
		Pool        []flexInt `json:"ipv4_pool"`
		IPv6Enabled keep      `json:"ipv6_enabled"`
		IPv6Prefix  keep      `json:"ipv6_prefix"`
		IPv6Pool    keep      `json:"ipv6_pool"` // GO2 AddIPToHostRequest, as the rest
		IPAddr      keep      `json:"ip_addr"`
		Interfaces  keep      `json:"interfaces"`
		VXLAN       keep      `json:"vxlan"`
	}
	if err := c.decodeBody(&req); err != nil {
		return nil, err
	}
	props := kept(&req)
	if (req.Number == nil || *req.Number == 0) && len(props) > 0 { // IPv6 or VXLAN only: kept, no IPv4 change
		storeProps(&h.props, props)
		t := c.s.addTask(c.s.taskName("ip_change"), h, c.now, false, "", nil)
		return map[string]any{"task": t.consulID}, nil
	}
	if req.Number == nil || *req.Number == 0 {
		return nil, badParam("ipv4_number", "ipv4_number (the change in the number of addresses) is required and not 0")
	}
	s := c.s
	cl := s.clusterByID(h.clusterID)
	n := nic{iface: 0, pools: cl.poolsOn(0), count: int(*req.Number)}
	if len(req.Pool) > 0 {
		n.pools = nil
		for _, p := range req.Pool {
			if err := s.checkPoolOn(cl, int(p), 0, "ipv4_pool"); err != nil {
				return nil, err
			}
			n.pools = append(n.pools, int(p))
		}
	}
	if n.count > 0 {
		if err := s.checkAddresses([]nic{n}); err != nil {
			return nil, err
		}
		s.allocate(h, []nic{n})
	} else {
		s.releaseMain(h, -n.count)
	}
	storeProps(&h.props, props)
	t := s.addTask(s.taskName("ip_change"), h, c.now, false, "", nil)
	return map[string]any{"task": t.consulID}, nil
}

// releaseMain frees the newest n addresses on interface 0.
func (s *Sim) releaseMain(h *host, n int) {
	for i := len(h.ips) - 1; i >= 0 && n > 0; i-- {
		if ip := h.ips[i]; ip.iface == 0 {
			s.poolByID(ip.pool).release(ip.ip)
			h.ips = append(h.ips[:i], h.ips[i+1:]...)
			n--
		}
	}
}

func checkCapacity(cl *cluster, cpu, ram, storage int) error {
	var short []string
	if cl.cpu.used+cpu > cl.cpu.total {
		short = append(short, fmt.Sprintf("cpu_number (%d free, %d asked)", cl.cpu.total-cl.cpu.used, cpu))
	}
	if cl.ram.used+ram > cl.ram.total {
		short = append(short, fmt.Sprintf("ram_mib (%d free, %d asked)", cl.ram.total-cl.ram.used, ram))
	}
	if cl.storage.used+storage > cl.storage.total {
		short = append(short, fmt.Sprintf("storage_mib (%d free, %d asked)", cl.storage.total-cl.storage.used, storage))
	}
	if short == nil {
		return nil
	}
	return errf(http.StatusBadRequest, codeNoCapacity, "not enough resources on cluster %d (%s): %s", cl.id, cl.name, strings.Join(short, ", "))
}
