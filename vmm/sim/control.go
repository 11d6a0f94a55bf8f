package sim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// The control calls under /sim/ change VMs behind vmmpm's back, the way an admin working in the
// VMmanager panel would, so tests and the README can stage drift. They take no token, add no latency,
// are not counted in Stats.Requests and are never refused by the sleep or failure injection: they are
// the test harness's hands, not VMmanager's API.
//
//	GET  /sim/stats                  what the emulator has seen (Stats)
//	POST /sim/seed-vms {"count": N}  N more VMs nobody ordered (SeedVMs)
//	POST /sim/vm/{id}/delete         the VM is gone at once (no task), its addresses freed
//	POST /sim/vm/{id}/stop           stopped at once
//	POST /sim/vm/{id}/start          active at once
//	POST /sim/vm/{id}/resize         {"cpu_number", "ram_mib", "disk_mib", "ipv4_number"}, each optional,
//	                                 applied at once; ipv4_number is the count of main-interface addresses
//	POST /sim/vm/{id}/owner          {"account": ID} moves the VM to another account
//	POST /sim/vm/{id}/duplicate      a second VM with the same name, owner, sizes and OS, active
//
// Each VM call answers the VM as the host list shows it; errors have VMmanager's error shape.

// Seed accounts of SeedVMs: the client accounts a VMmanager in use has, which no vmmpm database knows.
var seedClients = []string{"anna@example.net", "boris@example.net", "chen@example.net", "dana@example.net", "emil@example.net"}

// seedSizes cycle over the seeded VMs: CPU, RAM MiB, disk MiB.
var seedSizes = [][3]int{{1, 1024, 10240}, {2, 2048, 20480}, {4, 4096, 40960}}

// SeedVMName is the name SeedVMs gives its i-th VM (from 1): not svc-{IID}, as a VM made by another
// billing system or by hand is not.
func SeedVMName(i int) string { return fmt.Sprintf("legacy-%04d", i) }

// SeedVMs adds n VMs on cluster 1 under a few client accounts (created on first need), in the state a
// finished create leaves them: active (every tenth stopped), one main-interface address each, sizes
// cycling over 1 CPU/1 GiB/10 GiB, 2/2 GiB/20 GiB and 4/4 GiB/40 GiB. It returns the first and last id.
func (s *Sim) SeedVMs(n int) (first, last int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seedVMs(n)
}

func (s *Sim) seedVMs(n int) (first, last int, err error) {
	if n < 1 {
		return 0, 0, badParam("count", "count must be a positive number")
	}
	cl := s.clusterByID(1)
	if p := s.poolByID(1); p.free < n {
		return 0, 0, errf(http.StatusBadRequest, codeNoAddress, "pool 1 has %d free addresses, %d VMs were asked", p.free, n)
	}
	owners := make([]*account, len(seedClients))
	for i, email := range seedClients {
		if owners[i] = s.accountByEmail(email); owners[i] == nil {
			owners[i] = &account{id: len(s.accounts) + 1, email: email, password: "seed-" + strconv.Itoa(i), roles: []string{"@user"}}
			s.accounts = append(s.accounts, owners[i])
		}
	}
	base := s.seeded
	for i := range n {
		k := base + i + 1
		size := seedSizes[(k-1)%len(seedSizes)]
		state := "active"
		if k%10 == 0 {
			state = "stopped"
		}
		owner := owners[(k-1)%len(owners)]
		h := &host{id: len(s.hosts) + 1, name: SeedVMName(k), state: state, clusterID: cl.id, osID: 1 + (k-1)%2,
			owner: owner.id, cpu: size[0], ram: size[1], diskMiB: size[2]}
		s.addHost(h, owner, 1)
		if first == 0 {
			first = h.id
		}
		last = h.id
	}
	s.seeded += n
	return first, last, nil
}

// addHost files a finished VM: listed, counted on its cluster, with ips main-interface addresses.
func (s *Sim) addHost(h *host, owner *account, ips int) {
	cl := s.clusterByID(h.clusterID)
	s.hosts = append(s.hosts, h)
	owner.hosts = append(owner.hosts, h)
	s.allocate(h, []nic{{iface: 0, pools: cl.poolsOn(0), count: ips}})
	cl.cpu.used += h.cpu
	cl.ram.used += h.ram
	cl.storage.used += h.diskMiB
	cl.hostCount++
}

// removeHost takes a VM out of VMmanager at once, as a finished delete does.
func (s *Sim) removeHost(h *host) {
	h.deleted = true
	s.releaseIPs(h)
	cl := s.clusterByID(h.clusterID)
	cl.cpu.used -= h.cpu
	cl.ram.used -= h.ram
	cl.storage.used -= h.diskMiB
	cl.hostCount--
}

// Behind-the-back changes, also callable from Go tests. Each returns an error naming what is wrong.

// DeleteVM removes VM id at once.
func (s *Sim) DeleteVM(id int) error { _, err := s.control(id, "delete", nil); return err }

// StopVM stops VM id at once.
func (s *Sim) StopVM(id int) error { _, err := s.control(id, "stop", nil); return err }

// StartVM starts VM id at once.
func (s *Sim) StartVM(id int) error { _, err := s.control(id, "start", nil); return err }

// Resize sets what is not nil of VM id's sizes at once.
type Resize struct {
	CPU        *int `json:"cpu_number,omitempty"`
	RAMMiB     *int `json:"ram_mib,omitempty"`
	DiskMiB    *int `json:"disk_mib,omitempty"`
	IPv4Number *int `json:"ipv4_number,omitempty"`
}

// ResizeVM changes VM id's sizes at once.
func (s *Sim) ResizeVM(id int, r Resize) error {
	b, _ := json.Marshal(r)
	_, err := s.control(id, "resize", b)
	return err
}

// SetOwner moves VM id to account.
func (s *Sim) SetOwner(id, account int) error {
	_, err := s.control(id, "owner", []byte(`{"account":`+strconv.Itoa(account)+`}`))
	return err
}

// DuplicateVM makes a second VM like id (same name) and returns its id.
func (s *Sim) DuplicateVM(id int) (int, error) {
	it, err := s.control(id, "duplicate", nil)
	if err != nil {
		return 0, err
	}
	return it["id"].(int), nil
}

// VMState is VM id's state, or "" when it does not exist (deleted).
func (s *Sim) VMState(id int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settle(s.now())
	if h := s.hostByID(id); h != nil {
		return h.state
	}
	return ""
}

// VMComment is VM id's comment, or "" when it has none or does not exist.
func (s *Sim) VMComment(id int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if h := s.hostByID(id); h != nil {
		return h.comment
	}
	return ""
}

// SetVMComment sets VM id's comment (as an edit in VMmanager's panel would); false when it does not exist.
func (s *Sim) SetVMComment(id int, comment string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if h := s.hostByID(id); h != nil {
		h.comment = comment
		return true
	}
	return false
}

// VMCount is how many VMs exist (not deleted).
func (s *Sim) VMCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, h := range s.hosts {
		if !h.deleted {
			n++
		}
	}
	return n
}

// VMsNamed are the ids of the VMs (not deleted) called name, lowest first.
func (s *Sim) VMsNamed(name string) []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []int
	for _, h := range s.hosts {
		if !h.deleted && h.name == name {
			ids = append(ids, h.id)
		}
	}
	return ids
}

func (s *Sim) control(id int, action string, body []byte) (map[string]any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settle(s.now())
	h := s.hostByID(id)
	if h == nil {
		return nil, notFound("host", id)
	}
	c := &call{s: s, body: body}
	switch action {
	case "delete":
		if err := c.decodeBody(&struct{}{}); err != nil {
			return nil, err
		}
		s.removeHost(h)
		return map[string]any{"id": h.id, "deleted": true}, nil
	case "stop", "start":
		if err := c.decodeBody(&struct{}{}); err != nil {
			return nil, err
		}
		if h.state == "creating" {
			return nil, errf(http.StatusConflict, codeBadParam, "VM %d is still being created", id)
		}
		h.state = map[string]string{"stop": "stopped", "start": "active"}[action]
	case "resize":
		var r Resize
		if err := c.decodeBody(&r); err != nil {
			return nil, err
		}
		if err := s.resize(h, r); err != nil {
			return nil, err
		}
	case "owner":
		var r struct {
			Account flexInt `json:"account"`
		}
		if err := c.decodeBody(&r); err != nil {
			return nil, err
		}
		a := s.accountByID(int(r.Account))
		if a == nil {
			return nil, unknownRef("account", "account %d does not exist", r.Account)
		}
		if old := s.accountByID(h.owner); old != nil {
			old.hosts = slices.DeleteFunc(old.hosts, func(o *host) bool { return o == h })
		}
		h.owner = a.id
		a.hosts = append(a.hosts, h)
	case "duplicate":
		if err := c.decodeBody(&struct{}{}); err != nil {
			return nil, err
		}
		if s.poolByID(s.clusterByID(h.clusterID).poolsOn(0)[0]).free < 1 {
			return nil, errf(http.StatusBadRequest, codeNoAddress, "no free address left for a duplicate")
		}
		d := &host{id: len(s.hosts) + 1, name: h.name, domain: h.domain, comment: h.comment, state: "active",
			clusterID: h.clusterID, osID: h.osID, owner: h.owner, cpu: h.cpu, ram: h.ram, diskMiB: h.diskMiB, net: h.net}
		s.addHost(d, s.accountByID(h.owner), max(1, countMain(h)))
		s.hostsCreated[d.name]++
		h = d
	default:
		return nil, errf(http.StatusNotFound, codeNoRoute, "no control call %q; use delete, stop, start, resize, owner or duplicate", action)
	}
	return s.hostItem(h), nil
}

func countMain(h *host) int {
	n := 0
	for _, ip := range h.ips {
		if ip.iface == 0 {
			n++
		}
	}
	return n
}

func (s *Sim) resize(h *host, r Resize) error {
	cl := s.clusterByID(h.clusterID)
	for _, v := range []*int{r.CPU, r.RAMMiB, r.DiskMiB} {
		if v != nil && *v < 1 {
			return badParam("resize", "sizes must be positive numbers")
		}
	}
	if r.CPU != nil {
		cl.cpu.used += *r.CPU - h.cpu
		h.cpu = *r.CPU
	}
	if r.RAMMiB != nil {
		cl.ram.used += *r.RAMMiB - h.ram
		h.ram = *r.RAMMiB
	}
	if r.DiskMiB != nil {
		cl.storage.used += *r.DiskMiB - h.diskMiB
		h.diskMiB = *r.DiskMiB
	}
	if r.IPv4Number != nil {
		want := *r.IPv4Number
		if want < 0 {
			return badParam("ipv4_number", "ipv4_number cannot be negative")
		}
		if n := countMain(h); want > n {
			s.allocate(h, []nic{{iface: 0, pools: cl.poolsOn(0), count: want - n}})
		} else {
			s.dropMain(h, n-want)
		}
	}
	return nil
}

// dropMain releases the newest n main-interface addresses.
func (s *Sim) dropMain(h *host, n int) {
	for i := len(h.ips) - 1; i >= 0 && n > 0; i-- {
		if h.ips[i].iface == 0 {
			s.poolByID(h.ips[i].pool).release(h.ips[i].ip)
			h.ips = append(h.ips[:i], h.ips[i+1:]...)
			n--
		}
	}
}

// serveControl answers /sim/...: stats, seeding and the behind-the-back VM changes.
func (s *Sim) serveControl(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/sim/stats" {
		s.serveStats(w, r)
		return
	}
	if r.Method != http.MethodPost {
		e := errf(http.StatusMethodNotAllowed, codeBadMethod, "method %s is not allowed on %s; control calls take POST", r.Method, r.URL.Path)
		s.writeJSON(w, e.status, e.body())
		return
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, maxBodyBytes)); err != nil {
		e := errf(http.StatusBadRequest, codeBadJSON, "request body could not be read: %v", err)
		s.writeJSON(w, e.status, e.body())
		return
	}
	out, err := s.controlCall(r.URL.Path, buf.Bytes())
	if err != nil {
		ae, ok := err.(*apiError)
		if !ok {
			ae = errf(http.StatusInternalServerError, codeInjected, "%v", err)
		}
		s.writeJSON(w, ae.status, ae.body())
		return
	}
	s.writeJSON(w, http.StatusOK, out)
}

func (s *Sim) controlCall(path string, body []byte) (any, error) {
	if path == "/sim/seed-vms" {
		var req struct {
			Count flexInt `json:"count"`
		}
		if err := (&call{s: s, body: body}).decodeBody(&req); err != nil {
			return nil, err
		}
		first, last, err := s.SeedVMs(int(req.Count))
		if err != nil {
			return nil, err
		}
		return map[string]any{"first_id": first, "last_id": last}, nil
	}
	rest, ok := strings.CutPrefix(path, "/sim/vm/")
	idText, action, ok2 := strings.Cut(rest, "/")
	id, err := strconv.Atoi(idText)
	if !ok || !ok2 || err != nil || id < 1 || strings.Contains(action, "/") {
		return nil, errf(http.StatusNotFound, codeNoRoute,
			"no control call at %s; use /sim/stats, /sim/seed-vms or /sim/vm/{id}/delete|stop|start|resize|owner|duplicate", path)
	}
	return s.control(id, action, body)
}
