package sim

import (
	"fmt"
	"time"
)

type account struct {
	id       int
	email    string
	password string
	roles    []string
	hosts    []*host // owned VMs, deleted ones included (the list skips them)
}

func (a *account) isAdmin() bool {
	for _, r := range a.roles {
		if r == "@admin" {
			return true
		}
	}
	return false
}

type token struct {
	id      int
	value   string
	acct    *account
	expires time.Time
}

// ifacePools is one cluster network interface (0 = main) and the pools attached to it.
type ifacePools struct {
	iface int
	pools []int
}

type capacity struct{ total, used int }

type cluster struct {
	id                int
	name, virt        string
	nodeID            int
	nodeName          string
	cpu, ram, storage capacity
	ifaces            []ifacePools
	hostCount         int
	storageID         int
	storageName       string
}

// poolsOn returns the pools attached on one interface index.
func (c *cluster) poolsOn(iface int) []int {
	for _, ip := range c.ifaces {
		if ip.iface == iface {
			return ip.pools
		}
	}
	return nil
}

// ifaceOf returns the interface a pool is attached on, or -1.
func (c *cluster) ifaceOf(pool int) int {
	for _, ip := range c.ifaces {
		for _, p := range ip.pools {
			if p == pool {
				return ip.iface
			}
		}
	}
	return -1
}

// pool is an IPv4 range: size addresses from first, skipping each /24's .0 and .255; used marks taken ones.
type pool struct {
	id    int
	name  string
	first uint32 // the network address of the first /24, e.g. 203.0.113.0
	used  []bool
	free  int
}

func newPool(id int, name, first string, size int) *pool {
	return &pool{id: id, name: name, first: ipv4(first), used: make([]bool, size), free: size}
}

func ipv4(s string) uint32 {
	var a, b, c, d uint32
	_, _ = fmt.Sscanf(s, "%d.%d.%d.%d", &a, &b, &c, &d)
	return a<<24 | b<<16 | c<<8 | d
}

func dotted(n uint32) string { return fmt.Sprintf("%d.%d.%d.%d", n>>24, n>>16&255, n>>8&255, n&255) }

// addr is the i-th address: 254 hosts per /24.
func (p *pool) addr(i int) string { return dotted(p.first + uint32(i/254)*256 + uint32(i%254) + 1) }

// index is addr's inverse, or -1.
func (p *pool) index(ip string) int {
	off := int64(ipv4(ip)) - int64(p.first)
	host := off % 256
	if off < 0 || host == 0 || host == 255 {
		return -1
	}
	i := int(off/256)*254 + int(host) - 1
	if i >= len(p.used) || p.addr(i) != ip {
		return -1
	}
	return i
}

func (p *pool) rangeText() string { return p.addr(0) + "-" + p.addr(len(p.used)-1) }

// take returns the lowest free address, or "" when the pool is full (callers check p.free first).
func (p *pool) take() string {
	for i, u := range p.used {
		if !u {
			p.used[i] = true
			p.free--
			return p.addr(i)
		}
	}
	return ""
}

// takeAt marks one free address taken (callers checked it is in the pool and free).
func (p *pool) takeAt(ip string) {
	if i := p.index(ip); i >= 0 && !p.used[i] {
		p.used[i] = true
		p.free--
	}
}

func (p *pool) release(ip string) {
	if i := p.index(ip); i >= 0 && p.used[i] {
		p.used[i] = false
		p.free++
	}
}

type osImage struct {
	id       int
	name     string
	group    string
	lxd      bool
	clusters []int
}

func (o *osImage) on(cluster int) bool {
	for _, c := range o.clusters {
		if c == cluster {
			return true
		}
	}
	return false
}

type recipe struct {
	id   int
	name string
}

// Cluster 1's capacity: room for 10,000 VMs of 1 CPU, 2 GiB RAM and 20 GiB disk.
const (
	kvmCPU     = 16384
	kvmRAM     = 32 << 20  // MiB
	kvmStorage = 256 << 20 // MiB
)

// seed fills the fixed objects the package comment documents.
func (s *Sim) seed() {
	s.accounts = []*account{{id: 1, email: s.cfg.AdminEmail, password: s.cfg.AdminPassword, roles: []string{"@admin"}}}
	s.clusters = []*cluster{
		{
			id: 1, name: "kvm-main", virt: "kvm", nodeID: 1, nodeName: "kvm-node-1",
			cpu: capacity{total: kvmCPU}, ram: capacity{total: kvmRAM}, storage: capacity{total: kvmStorage},
			ifaces:    []ifacePools{{0, []int{1}}, {1, []int{2}}},
			storageID: 1, storageName: "kvm-local",
		},
		{
			id: 2, name: "lxd-main", virt: "lxd", nodeID: 2, nodeName: "lxd-node-1",
			cpu: capacity{total: 128}, ram: capacity{total: 256 << 10}, storage: capacity{total: 2 << 20},
			ifaces:    []ifacePools{{0, []int{3}}},
			storageID: 2, storageName: "lxd-zfs",
		},
	}
	n := s.cfg.IPv4PoolSize
	s.pools = []*pool{
		newPool(1, "public-v4", "203.0.113.0", n),
		newPool(2, "private-v4", "10.10.0.0", n),
		newPool(3, "lxd-v4", "198.51.100.0", n),
	}
	s.oses = []*osImage{
		{id: 1, name: "Ubuntu 22.04", group: "ubuntu", clusters: []int{1, 2}},
		{id: 2, name: "Debian 12", group: "debian", clusters: []int{1, 2}},
		{id: 3, name: "Ubuntu 22.04 LXD", group: "ubuntu", lxd: true, clusters: []int{2}},
		{id: 4, name: "AlmaLinux 9", group: "almalinux", clusters: []int{1}},
	}
	s.recipes = []*recipe{{1, "LAMP"}, {2, "Docker"}}
}

func (s *Sim) accountByID(id int) *account {
	for _, a := range s.accounts {
		if a.id == id {
			return a
		}
	}
	return nil
}

func (s *Sim) clusterByID(id int) *cluster {
	if id < 1 || id > len(s.clusters) {
		return nil
	}
	return s.clusters[id-1]
}

func (s *Sim) poolByID(id int) *pool {
	if id < 1 || id > len(s.pools) {
		return nil
	}
	return s.pools[id-1]
}

func (s *Sim) osByID(id int) *osImage {
	if id < 1 || id > len(s.oses) {
		return nil
	}
	return s.oses[id-1]
}

func (s *Sim) recipeByID(id int) *recipe {
	if id < 1 || id > len(s.recipes) {
		return nil
	}
	return s.recipes[id-1]
}

// seedHistory adds what a VMmanager in use has and a fresh emulator lacks: finished tasks, one under each
// name the client's operations are filed under, for VM 1 ("history-1"), created and deleted an hour ago.
// It gives the deep check's task probes something to read.
func (s *Sim) seedHistory() {
	h := &host{id: len(s.hosts) + 1, name: "history-1", state: "active", clusterID: 1, osID: 1, owner: 1,
		cpu: 1, ram: 1024, diskMiB: 10240, deleted: true}
	s.hosts = append(s.hosts, h)
	s.accounts[0].hosts = append(s.accounts[0].hosts, h)
	start := s.now().Add(-time.Hour)
	for _, name := range []string{"host_create", "host_stop", "host_start", "host_change_params", "disk_resize",
		"ip_change", "host_reinstall", "host_delete"} {
		t := s.addTask(s.taskName(name), h, start, false, "", nil)
		t.end = start // finished at once, whatever TaskTime says
		start = start.Add(time.Minute)
	}
}
