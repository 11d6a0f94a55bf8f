package sim

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// Request structs declare every property a public source sends (vmmanager6-api.md §5–§6); the ones the
// emulator does not model are raw and ignored, and anything else is refused (decodeBody).
type customIface struct {
	IsMainNetwork bool            `json:"is_main_network"`
	IPPool        flexInt         `json:"ippool"`
	IPCount       *flexInt        `json:"ip_count"`
	IPName        string          `json:"ip_name"` // a fixed address (GO1, TF)
	BridgeID      json.RawMessage `json:"bridge_id"`
	Bridge        json.RawMessage `json:"bridge"`
	Model         json.RawMessage `json:"model"`
	MAC           json.RawMessage `json:"mac"`
}

// ignored holds create properties sources send that the emulator accepts without modelling: each is
// stored on the VM and listed back (keep), but send_email_mode, an option of the call itself.
type ignored struct {
	IPv6Enabled   keep            `json:"ipv6_enabled"`
	IPv6Prefix    keep            `json:"ipv6_prefix"`
	IPv6Pool      keep            `json:"ipv6_pool"`
	NetIn         keep            `json:"net_in_mbitps"`
	NetOut        keep            `json:"net_out_mbitps"`
	VXLAN         keep            `json:"vxlan"`
	Disks         keep            `json:"disks"`
	Storage       keep            `json:"storage"`
	CPUMode       keep            `json:"cpu_mode"`
	AntiSpoofing  keep            `json:"anti_spoofing"`
	Nesting       keep            `json:"nesting"`
	FirewallRules keep            `json:"firewall_rules"`
	SendEmailMode json.RawMessage `json:"send_email_mode"`
	ExpandPart    keep            `json:"expand_part"` // GO2 NewHostRequest
	IPAddr        keep            `json:"ip_addr"`     // GO2 NewHostRequest
	limits                        // GO2 NewHostRequest
}

// limits are the weight and limit properties GO2 declares on create and on /resource.
type limits struct {
	CPUCustomModel   keep `json:"cpu_custom_model"`
	CPUWeight        keep `json:"cpu_weight"`
	IOWeight         keep `json:"io_weight"`
	NetWeight        keep `json:"net_weight"`
	IOReadMbitps     keep `json:"io_read_mbitps"`
	IOWriteIOPS      keep `json:"io_write_iops"`
	TCPConnectionsIn keep `json:"tcp_connections_in"`
	ProcessNumber    keep `json:"process_number"`
}

type createReq struct {
	Name             *string       `json:"name"`
	Cluster          flexInt       `json:"cluster"`
	OS               flexInt       `json:"os"`
	Image            flexInt       `json:"image"`
	Preset           flexInt       `json:"preset"`
	Account          flexInt       `json:"account"`
	Node             flexInt       `json:"node"`
	Password         string        `json:"password"`
	CPU              flexInt       `json:"cpu_number"`
	RAM              flexInt       `json:"ram_mib"`
	HDD              flexInt       `json:"hdd_mib"`
	Net              flexInt       `json:"net_bandwidth_mbitps"`
	Domain           string        `json:"domain"`
	Comment          string        `json:"comment"`
	IPv4Number       *flexInt      `json:"ipv4_number"`
	IPv4Pool         []flexInt     `json:"ipv4_pool"`
	CustomInterfaces []customIface `json:"custom_interfaces"`
	Interfaces       []struct {
		Interface flexInt   `json:"interface"`
		IPPool    []flexInt `json:"ippool"`
	} `json:"interfaces"`
	recipeFields
	ignored
}

// nic is one planned network interface: which cluster interface, the pools to draw from, how many IPs.
type nic struct {
	iface int
	pools []int
	count int
	fixed string // ip_name: this address and no other
}

func (c *call) createHost() (any, error) {
	var req createReq
	if err := c.decodeBody(&req); err != nil {
		return nil, err
	}
	s := c.s
	cl, owner, recipes, err := s.checkCreate(c, &req)
	if err != nil {
		return nil, err
	}
	nics, err := s.planNICs(cl, &req)
	if err != nil {
		return nil, err
	}
	if err := checkCapacity(cl, int(req.CPU), int(req.RAM), int(req.HDD)); err != nil {
		return nil, err
	}
	if err := s.checkAddresses(nics); err != nil {
		return nil, err
	}
	h := &host{
		id: len(s.hosts) + 1, name: *req.Name, domain: req.Domain, comment: req.Comment, state: "creating",
		clusterID: cl.id, osID: int(req.OS), owner: owner.id,
		cpu: int(req.CPU), ram: int(req.RAM), diskMiB: int(req.HDD), net: int(req.Net),
	}
	storeProps(&h.props, kept(&req))
	s.hosts = append(s.hosts, h)
	owner.hosts = append(owner.hosts, h)
	s.allocate(h, nics)
	cl.cpu.used += h.cpu
	cl.ram.used += h.ram
	cl.storage.used += h.diskMiB
	cl.hostCount++
	s.hostsCreated[h.name]++
	fail := s.failHost[h.name]
	t := s.addTask(s.taskName("host_create"), h, c.now, fail, fmt.Sprintf("creating VM %q failed (injected by the emulator)", h.name), func(ok bool) {
		switch {
		case h.deleted:
		case ok:
			h.state = "active"
		default:
			h.state = "failed"
			s.releaseIPs(h)
		}
	})
	first, list := s.runRecipes(h, t, recipes)
	return map[string]any{"id": h.id, "task": t.consulID, "recipe_task": first, "recipe_task_list": list, "spice_task": nil}, nil
}

// checkCreate validates everything but networking and capacity, in the order fields are listed.
func (s *Sim) checkCreate(c *call, req *createReq) (*cluster, *account, []int, error) {
	switch {
	case req.Name == nil || *req.Name == "":
		return nil, nil, nil, badParam("name", "name is required")
	case len(*req.Name) > 64:
		return nil, nil, nil, badParam("name", "name is longer than 64 characters")
	case req.Password == "":
		return nil, nil, nil, badParam("password", "password is required")
	case req.Cluster == 0:
		return nil, nil, nil, badParam("cluster", "cluster is required")
	}
	cl := s.clusterByID(int(req.Cluster))
	if cl == nil {
		return nil, nil, nil, unknownRef("cluster", "cluster %d does not exist", req.Cluster)
	}
	if err := s.checkOS(int(req.OS), int(req.Image), cl.id); err != nil {
		return nil, nil, nil, err
	}
	switch {
	case req.Preset != 0:
		return nil, nil, nil, unknownRef("preset", "preset %d does not exist", req.Preset)
	case req.Node != 0 && int(req.Node) != cl.nodeID:
		return nil, nil, nil, unknownRef("node", "node %d does not exist in cluster %d", req.Node, cl.id)
	case req.CPU <= 0:
		return nil, nil, nil, badParam("cpu_number", "cpu_number must be a positive number")
	case req.RAM <= 0:
		return nil, nil, nil, badParam("ram_mib", "ram_mib must be a positive number")
	case req.HDD <= 0:
		return nil, nil, nil, badParam("hdd_mib", "hdd_mib must be a positive number")
	case req.Net < 0:
		return nil, nil, nil, badParam("net_bandwidth_mbitps", "net_bandwidth_mbitps cannot be negative")
	}
	owner := c.acct
	if req.Account != 0 {
		if owner = s.accountByID(int(req.Account)); owner == nil {
			return nil, nil, nil, unknownRef("account", "account %d does not exist", req.Account)
		}
	}
	recipes, err := req.ids(s)
	return cl, owner, recipes, err
}

// planNICs turns ipv4_number/ipv4_pool, custom_interfaces and interfaces into interfaces to create.
func (s *Sim) planNICs(cl *cluster, req *createReq) ([]nic, error) {
	main := nic{iface: 0, pools: cl.poolsOn(0), count: 1}
	if req.IPv4Number != nil {
		main.count = int(*req.IPv4Number)
	}
	if len(req.IPv4Pool) > 0 {
		main.pools = nil
		for _, p := range req.IPv4Pool {
			if err := s.checkPoolOn(cl, int(p), 0, "ipv4_pool"); err != nil {
				return nil, err
			}
			main.pools = append(main.pools, int(p))
		}
	}
	var extra []nic
	for _, ci := range req.CustomInterfaces {
		n, err := s.planCustom(cl, ci)
		if err != nil {
			return nil, err
		}
		if ci.IsMainNetwork {
			main = n
		} else {
			extra = append(extra, n)
		}
	}
	for _, it := range req.Interfaces {
		n := nic{iface: int(it.Interface), pools: cl.poolsOn(int(it.Interface)), count: 1}
		if len(n.pools) == 0 {
			return nil, noPoolOn(cl, n.iface)
		}
		if len(it.IPPool) > 0 {
			n.pools = nil
			for _, p := range it.IPPool {
				if err := s.checkPoolOn(cl, int(p), n.iface, "interfaces"); err != nil {
					return nil, err
				}
				n.pools = append(n.pools, int(p))
			}
		}
		if n.iface == 0 {
			n.count = main.count
			main = n
		} else {
			extra = append(extra, n)
		}
	}
	if main.count < 0 {
		return nil, badParam("ipv4_number", "ipv4_number cannot be negative")
	}
	return append([]nic{main}, extra...), nil
}

// planCustom plans one custom_interfaces entry. An additional one (is_main_network false) needs a pool on
// an interface index >= 1 of this cluster.
func (s *Sim) planCustom(cl *cluster, ci customIface) (nic, error) {
	n := nic{count: 1}
	if ci.IPCount != nil {
		n.count = int(*ci.IPCount)
	}
	if ci.IPName != "" {
		return s.planFixed(cl, ci)
	}
	if n.count < 0 {
		return n, badParam("ip_count", "ip_count cannot be negative")
	}
	if !ci.IsMainNetwork && ci.IPPool == 0 {
		for _, ip := range cl.ifaces {
			if ip.iface >= 1 && len(ip.pools) > 0 {
				n.iface, n.pools = ip.iface, ip.pools
				return n, nil
			}
		}
		return n, noPoolOn(cl, 1)
	}
	if ci.IPPool == 0 {
		n.pools = cl.poolsOn(0)
		return n, nil
	}
	if s.poolByID(int(ci.IPPool)) == nil {
		return n, unknownRef("custom_interfaces", "IP pool %d does not exist", ci.IPPool)
	}
	n.iface = cl.ifaceOf(int(ci.IPPool))
	switch {
	case n.iface < 0:
		return n, poolNotOn(cl, int(ci.IPPool), "any interface")
	case ci.IsMainNetwork && n.iface != 0:
		return n, poolNotOn(cl, int(ci.IPPool), "the main interface (0)")
	case !ci.IsMainNetwork && n.iface == 0:
		return n, poolNotOn(cl, int(ci.IPPool), "an additional interface")
	}
	n.pools = []int{int(ci.IPPool)}
	return n, nil
}

// planFixed plans a custom_interfaces entry with ip_name, a literal address (GO1, TF; GO1 drops ippool
// then): it must lie in a pool attached to this cluster on the interface the entry asks for.
func (s *Sim) planFixed(cl *cluster, ci customIface) (nic, error) {
	for _, ip := range cl.ifaces {
		for _, id := range ip.pools {
			if s.poolByID(id).index(ci.IPName) < 0 || (ci.IPPool != 0 && int(ci.IPPool) != id) {
				continue
			}
			if ci.IsMainNetwork != (ip.iface == 0) {
				return nic{}, badParam("ip_name", "ip_name %s is in pool %d on interface %d of cluster %d, not on the %s interface",
					ci.IPName, id, ip.iface, cl.id, map[bool]string{true: "main", false: "an additional"}[ci.IsMainNetwork])
			}
			return nic{iface: ip.iface, pools: []int{id}, count: 1, fixed: ci.IPName}, nil
		}
	}
	return nic{}, badParam("ip_name", "ip_name %s is in no IP pool of cluster %d (%s)", ci.IPName, cl.id, cl.name)
}

func (s *Sim) checkPoolOn(cl *cluster, id, iface int, param string) error {
	if s.poolByID(id) == nil {
		return unknownRef(param, "IP pool %d does not exist", id)
	}
	if cl.ifaceOf(id) != iface {
		return poolNotOn(cl, id, fmt.Sprintf("interface %d", iface))
	}
	return nil
}

func noPoolOn(cl *cluster, iface int) error {
	what := fmt.Sprintf("interface %d", iface)
	if iface >= 1 {
		what = "an additional interface"
	}
	return errf(http.StatusBadRequest, codeNoAddress, "cluster %d (%s) has no IP pool on %s", cl.id, cl.name, what)
}

func poolNotOn(cl *cluster, pool int, where string) error {
	return errf(http.StatusBadRequest, codeNoAddress, "IP pool %d is not attached to %s of cluster %d (%s)", pool, where, cl.id, cl.name)
}

// checkAddresses makes sure every interface can get its addresses before anything is taken.
func (s *Sim) checkAddresses(nics []nic) error {
	free := map[int]int{}
	fixed := map[string]bool{}
	for _, n := range nics {
		if n.fixed != "" {
			p := s.poolByID(n.pools[0])
			if fixed[n.fixed] || p.used[p.index(n.fixed)] {
				return errf(http.StatusBadRequest, codeNoAddress, "address %s (ip_name) is taken", n.fixed)
			}
			fixed[n.fixed] = true
			free[p.id] = s.freeIn(p, free) - 1
			continue
		}
		need := n.count
		for _, id := range n.pools {
			if _, ok := free[id]; !ok {
				free[id] = s.poolByID(id).free
			}
			take := min(need, free[id])
			free[id] -= take
			need -= take
		}
		if need > 0 {
			return errf(http.StatusBadRequest, codeNoAddress, "no free IPv4 address left in pool(s) %v for interface %d", n.pools, n.iface)
		}
	}
	return nil
}

// freeIn is what is left in p during checkAddresses.
func (s *Sim) freeIn(p *pool, free map[int]int) int {
	if n, ok := free[p.id]; ok {
		return n
	}
	return p.free
}

// allocate takes the addresses checkAddresses found: fixed ones first, so no interface drawing from the
// same pool takes them, then listed in interface order.
func (s *Sim) allocate(h *host, nics []nic) {
	for _, n := range nics {
		if n.fixed != "" {
			s.poolByID(n.pools[0]).takeAt(n.fixed)
		}
	}
	for _, n := range nics {
		if n.fixed != "" {
			s.seq.ip++
			h.ips = append(h.ips, hostIP{id: s.seq.ip, ip: n.fixed, pool: n.pools[0], iface: n.iface})
			continue
		}
		need := n.count
		for _, id := range n.pools {
			p := s.poolByID(id)
			for ; need > 0 && p.free > 0; need-- {
				s.seq.ip++
				h.ips = append(h.ips, hostIP{id: s.seq.ip, ip: p.take(), pool: id, iface: n.iface})
			}
		}
	}
}
