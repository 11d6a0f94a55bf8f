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

// pool is an IPv4 range prefix.1 … prefix.size; used marks taken offsets.
type pool struct {
	id     int
	name   string
	prefix string // first three octets, e.g. "203.0.113"
	used   []bool
	free   int
}

func newPool(id int, name, prefix string, size int) *pool {
	return &pool{id: id, name: name, prefix: prefix, used: make([]bool, size), free: size}
}

func (p *pool) cidr() string { return p.prefix + ".0/24" }

// take returns the lowest free address, or "" when the pool is full (callers check p.free first).
func (p *pool) take() string {
	for i, u := range p.used {
		if !u {
			p.used[i] = true
			p.free--
			return fmt.Sprintf("%s.%d", p.prefix, i+1)
		}
	}
	return ""
}

func (p *pool) release(ip string) {
	var n int
	if _, err := fmt.Sscanf(ip[len(p.prefix)+1:], "%d", &n); err == nil && n >= 1 && n <= len(p.used) && p.used[n-1] {
		p.used[n-1] = false
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

// seed fills the fixed objects the package comment documents.
func (s *Sim) seed() {
	s.accounts = []*account{{id: 1, email: s.cfg.AdminEmail, password: s.cfg.AdminPassword, roles: []string{"@admin"}}}
	s.clusters = []*cluster{
		{
			id: 1, name: "kvm-main", virt: "kvm", nodeID: 1, nodeName: "kvm-node-1",
			cpu: capacity{total: 512}, ram: capacity{total: 1 << 20}, storage: capacity{total: 16 << 20},
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
	s.pools = []*pool{
		newPool(1, "public-v4", "203.0.113", 254),
		newPool(2, "private-v4", "10.10.0", 254),
		newPool(3, "lxd-v4", "198.51.100", 254),
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
