package sim

import (
	"fmt"
	"net/http"
	"strings"
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
}

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
	return map[string]any{
		"id": h.id, "name": h.name, "domain": h.domain, "comment": h.comment, "state": h.state,
		"cpu_number": h.cpu, "ram_mib": h.ram, "net_bandwidth_mbitps": h.net, "disabled": false,
	}
}

// hostItem is a list entry, which carries IPs, disk, OS, cluster and owner. Addresses appear once
// host_create has completed.
func (s *Sim) hostItem(h *host) map[string]any {
	it := hostOwn(h)
	ip4 := []any{}
	if h.state != "creating" {
		for _, ip := range h.ips {
			ip4 = append(ip4, map[string]any{"id": ip.id, "ip": ip.ip, "ippool": ip.pool, "interface": ip.iface})
		}
	}
	cl := s.clusterByID(h.clusterID)
	it["ip4"] = ip4
	it["ip6"] = []any{}
	it["disk"] = map[string]any{"id": h.diskID(), "disk_mib": h.diskMiB}
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
	if id, ok := indexHint(w, "id"); ok {
		cands = nil
		if h := c.s.hostByID(id); h != nil {
			cands = []*host{h}
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

type recipeReq struct {
	Recipe flexInt `json:"recipe"`
}

type recipeFields struct {
	RecipeList []recipeReq `json:"recipe_list"`
	Recipe     flexInt     `json:"recipe"`
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
		prev = s.addTask("recipe_run", h, prev.end, after.fail, fmt.Sprintf("recipe %d was not run: %s", id, after.name+" failed"), nil)
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
	s.releaseIPs(h)
	cl := s.clusterByID(h.clusterID)
	cl.cpu.used -= h.cpu
	cl.ram.used -= h.ram
	cl.storage.used -= h.diskMiB
	cl.hostCount--
	t := s.addTask("host_delete", h, c.now, false, "", nil)
	return map[string]any{"id": h.id, "task": t.consulID}, nil
}

func (s *Sim) releaseIPs(h *host) {
	for _, ip := range h.ips {
		s.poolByID(ip.pool).release(ip.ip)
	}
	h.ips = nil
}

// stateTask starts a task that sets the VM's state when it completes.
func (c *call) stateTask(name, state string) (any, error) {
	h, err := c.liveHost()
	if err != nil {
		return nil, err
	}
	t := c.s.addTask(name, h, c.now, false, "", setState(h, state))
	return map[string]any{"id": h.id, "task": t.consulID}, nil
}

func setState(h *host, state string) func(bool) {
	return func(ok bool) {
		if ok && !h.deleted {
			h.state = state
		}
	}
}

func (c *call) startHost() (any, error) { return c.stateTask("host_start", "active") }
func (c *call) stopHost() (any, error)  { return c.stateTask("host_stop", "stopped") }

// restartHost answers task (host_restart) and start_task (host_start, which runs after it).
func (c *call) restartHost() (any, error) {
	h, err := c.liveHost()
	if err != nil {
		return nil, err
	}
	stop := c.s.addTask("host_restart", h, c.now, false, "", nil)
	start := c.s.addTask("host_start", h, stop.end, false, "", setState(h, "active"))
	return map[string]any{"id": h.id, "task": stop.consulID, "start_task": start.consulID}, nil
}

func (c *call) reinstallHost() (any, error) {
	h, err := c.liveHost()
	if err != nil {
		return nil, err
	}
	var req struct {
		OS    flexInt `json:"os"`
		Image flexInt `json:"image"`
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
	t := s.addTask("host_reinstall", h, c.now, false, "", setState(h, "active"))
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
	t := c.s.addTask("host_password", h, c.now, false, "", nil)
	return map[string]any{"id": h.id, "task": t.consulID}, nil
}

// hostResource changes CPU and RAM (grow only) at once; the task reports when it is applied.
func (c *call) hostResource() (any, error) {
	h, err := c.liveHost()
	if err != nil {
		return nil, err
	}
	var req struct {
		CPU *flexInt `json:"cpu_number"`
		RAM *flexInt `json:"ram_mib"`
		Net *flexInt `json:"net_bandwidth_mbitps"`
	}
	if err := c.decodeBody(&req); err != nil {
		return nil, err
	}
	if req.CPU == nil && req.RAM == nil && req.Net == nil {
		return nil, badParam("cpu_number", "nothing to change: send cpu_number, ram_mib or net_bandwidth_mbitps")
	}
	cpu, ram := h.cpu, h.ram
	if req.CPU != nil {
		cpu = int(*req.CPU)
	}
	if req.RAM != nil {
		ram = int(*req.RAM)
	}
	switch {
	case cpu < h.cpu:
		return nil, errf(http.StatusBadRequest, codeShrink, "cpu_number can only grow: VM %d has %d, asked %d", h.id, h.cpu, cpu)
	case ram < h.ram:
		return nil, errf(http.StatusBadRequest, codeShrink, "ram_mib can only grow: VM %d has %d, asked %d", h.id, h.ram, ram)
	}
	cl := c.s.clusterByID(h.clusterID)
	if err := checkCapacity(cl, cpu-h.cpu, ram-h.ram, 0); err != nil {
		return nil, err
	}
	cl.cpu.used += cpu - h.cpu
	cl.ram.used += ram - h.ram
	h.cpu, h.ram = cpu, ram
	if req.Net != nil {
		h.net = int(*req.Net)
	}
	t := c.s.addTask("host_change_params", h, c.now, false, "", nil)
	return map[string]any{"id": h.id, "task": t.consulID}, nil
}

func (c *call) resizeDisk() (any, error) {
	h := c.s.hostByID(c.ids[0] - diskOffset)
	if h == nil {
		return nil, notFound("disk", c.ids[0])
	}
	var req struct {
		Size *flexInt `json:"size_mib"`
	}
	if err := c.decodeBody(&req); err != nil {
		return nil, err
	}
	if req.Size == nil || *req.Size <= 0 {
		return nil, badParam("size_mib", "size_mib is required and must be positive")
	}
	size := int(*req.Size)
	if size < h.diskMiB {
		return nil, errf(http.StatusBadRequest, codeShrink, "disk %d can only grow: it has %d MiB, asked %d", h.diskID(), h.diskMiB, size)
	}
	cl := c.s.clusterByID(h.clusterID)
	if err := checkCapacity(cl, 0, 0, size-h.diskMiB); err != nil {
		return nil, err
	}
	cl.storage.used += size - h.diskMiB
	h.diskMiB = size
	t := c.s.addTask("disk_resize", h, c.now, false, "", nil)
	return map[string]any{"id": h.diskID(), "task": t.consulID}, nil
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
