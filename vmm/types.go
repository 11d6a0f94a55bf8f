package vmm

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// Cluster is a VMmanager cluster as the wizard needs it.
type Cluster struct {
	ID             uint64           `json:"id"`
	Name           string           `json:"name"`
	Virtualization string           `json:"virtualization"` // "kvm" or "lxd"
	Interfaces     []int            `json:"interfaces"`     // interface indexes that have at least one IP pool, ascending
	Pools          map[int][]uint64 `json:"pools"`
}

// HasAdditionalInterface reports a pool on an interface other than the main one (index >= 1).
func (c Cluster) HasAdditionalInterface() bool {
	for _, i := range c.Interfaces {
		if i >= 1 {
			return true
		}
	}
	return false
}

// IPPool is an IP address pool and the cluster interfaces it serves.
type IPPool struct {
	ID       uint64
	Name     string
	Clusters []PoolCluster
}

// PoolCluster is one cluster interface a pool is attached to.
type PoolCluster struct {
	ID        uint64
	Interface int
}

// OS is an installable OS image.
type OS struct {
	ID       uint64   `json:"id"`
	Name     string   `json:"name"`
	LXD      bool     `json:"lxd"`      // an LXD container image rather than a KVM one
	Clusters []uint64 `json:"clusters"` // clusters it is available on (empty: not stated)
}

// Recipe is a post-install script.
type Recipe struct {
	ID   uint64 `json:"id"`
	Name string `json:"name"`
}

// Account is a VMmanager account (customer or administrator).
type Account struct {
	ID    uint64
	Email string
	State string
	Roles []string
}

// IsAdmin reports the "@admin" role.
func (a Account) IsAdmin() bool { return slices.Contains(a.Roles, "@admin") }

// Host is a VM as read from the list endpoint, which carries its IPs and disk.
type Host struct {
	ID       uint64
	Name     string
	State    string
	CPU      int
	RAMMiB   int
	DiskID   uint64
	DiskMiB  int
	IPv4     []string
	MainIPv4 []string // the IPv4 addresses on interface 0, which ipv4_number counts
	IPv6     []string
	OS       uint64
	Cluster  uint64
	Account  uint64
	Domain   string
	// Comment is the VM's free-text comment (vmmpm's engine-epoch mark on a shared database, see
	// queue.EpochMark); "" when VMmanager sends none.
	Comment string
}

// HostSpec is what CreateHost asks for.
type HostSpec struct {
	Name                string
	Cluster             uint64
	OS                  uint64
	Account             uint64
	Password            string
	CPU                 int
	RAMMiB              int
	DiskMiB             int
	IPv4Count           int    // addresses on the main interface; 0 asks for none
	RecipeID            uint64 // 0 = none
	AdditionalInterface bool   // a second NIC on the cluster's interface 1
	Domain              string
	Comment             string // sent as comment (GO1 sends it on create); "" sends none
}

// TaskRef is a VMmanager task: the consul id an operation answered, and the task name when a public
// source shows one for that operation (empty otherwise; it only picks among tasks sharing a consul id).
type TaskRef struct {
	ConsulID string
	Name     string
}

// Created is CreateHost's answer.
type Created struct {
	HostID     uint64
	Task       TaskRef
	RecipeTask *TaskRef // nil when no recipe was asked for
}

// --- wire shapes ---

type ref struct {
	ID flexID `json:"id"`
}

// flexRef accepts a linked object {"id": N, ...} or a bare id.
type flexRef uint64

func (f *flexRef) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '{' {
		var r ref
		if err := json.Unmarshal(b, &r); err != nil {
			return err
		}
		*f = flexRef(r.ID)
		return nil
	}
	var id flexID
	if err := id.UnmarshalJSON(b); err != nil {
		return err
	}
	*f = flexRef(id)
	return nil
}

type wireCluster struct {
	ID                 flexID `json:"id"`
	Name               string `json:"name"`
	VirtualizationType string `json:"virtualization_type"`
	Interfaces         []struct {
		Interface flexInt  `json:"interface"`
		IPPool    []flexID `json:"ippool"`
	} `json:"interfaces"`
	IPPools []struct {
		ID        flexID   `json:"id"`
		Interface *flexInt `json:"interface"`
	} `json:"ippools"`
}

func (w wireCluster) cluster() Cluster {
	c := Cluster{ID: uint64(w.ID), Name: w.Name, Virtualization: w.VirtualizationType, Pools: map[int][]uint64{}}
	for _, in := range w.Interfaces {
		i := int(in.Interface)
		for _, p := range in.IPPool {
			c.Pools[i] = appendUnique(c.Pools[i], uint64(p))
		}
	}
	if len(w.Interfaces) == 0 { // older answers only list pools, each with its interface
		for _, p := range w.IPPools {
			if p.Interface != nil {
				i := int(*p.Interface)
				c.Pools[i] = appendUnique(c.Pools[i], uint64(p.ID))
			}
		}
	}
	for i, ps := range c.Pools {
		if len(ps) > 0 {
			c.Interfaces = append(c.Interfaces, i)
		}
	}
	slices.Sort(c.Interfaces)
	return c
}

func appendUnique(s []uint64, v uint64) []uint64 {
	if slices.Contains(s, v) {
		return s
	}
	return append(s, v)
}

type wirePool struct {
	ID       flexID `json:"id"`
	Name     string `json:"name"`
	Clusters []struct {
		ID        flexID  `json:"id"`
		Interface flexInt `json:"interface"`
	} `json:"clusters"`
}

func (w wirePool) pool() IPPool {
	p := IPPool{ID: uint64(w.ID), Name: w.Name}
	for _, c := range w.Clusters {
		p.Clusters = append(p.Clusters, PoolCluster{ID: uint64(c.ID), Interface: int(c.Interface)})
	}
	return p
}

type wireOS struct {
	ID         flexID `json:"id"`
	Name       string `json:"name"`
	IsLXDImage bool   `json:"is_lxd_image"`
	Clusters   []ref  `json:"clusters"`
}

func (w wireOS) os() OS {
	o := OS{ID: uint64(w.ID), Name: w.Name, LXD: w.IsLXDImage}
	for _, c := range w.Clusters {
		o.Clusters = append(o.Clusters, uint64(c.ID))
	}
	return o
}

type wireRecipe struct {
	ID   flexID `json:"id"`
	Name string `json:"name"`
}

type wireAccount struct {
	ID    flexID   `json:"id"`
	Email string   `json:"email"`
	State string   `json:"state"`
	Roles []string `json:"roles"`
}

func (w wireAccount) account() Account {
	return Account{ID: uint64(w.ID), Email: w.Email, State: w.State, Roles: w.Roles}
}

// wireIP is an ip4[]/ip6[] item. Its interface is a number in the emulator and a string in GO1 (and GO2
// names host interfaces with strings); it is decoded tolerantly so a real answer of either kind reads.
type wireIP struct {
	IP        string    `json:"ip"`
	IPAddr    string    `json:"ip_addr"`
	Interface wireIface `json:"interface"`
}

func (w wireIP) addr() string {
	if w.IP != "" {
		return w.IP
	}
	return w.IPAddr
}

// wireIface is ip4[].interface: an index (0, "0") or a name ("vmbr0"); absent, null or "" is unset.
type wireIface struct {
	set     bool
	isIndex bool
	index   int
	name    string
}

func (f *wireIface) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	*f = wireIface{}
	switch {
	case len(b) == 0 || string(b) == "null":
		return nil
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		s = strings.TrimSpace(s)
		if s == "" {
			return nil
		}
		if n, err := strconv.Atoi(s); err == nil {
			*f = wireIface{set: true, isIndex: true, index: n}
			return nil
		}
		*f = wireIface{set: true, name: s}
		return nil
	case b[0] == '-' || (b[0] >= '0' && b[0] <= '9'):
		n, err := strconv.Atoi(string(b))
		if err != nil {
			return &json.UnmarshalTypeError{Value: "number " + string(b), Type: reflect.TypeFor[int]()}
		}
		*f = wireIface{set: true, isIndex: true, index: n}
		return nil
	}
	return &json.UnmarshalTypeError{Value: jsonKind(b), Type: reflect.TypeFor[numberOrString]()}
}

// mainAddrs picks the addresses on the VM's main interface, which ipv4_number counts, by what the
// sources show: an interface index (a number or a string of digits) is the cluster interface, and 0 is
// the main one (GO1 attaches main pools with interface 0). An address without an interface is on the
// main one (WHMCS reads ip4[{ip}] alone). Interface names (no source says which name is the main one):
// one name means one NIC, the main one; with several, the main one is the name of the first address
// listed, which is where VMmanager puts the address it gives at create. That last rule is an
// assumption, and `module check --deep --write` proves it on the admin's own VMmanager.
func mainAddrs(ips []wireIP) []string {
	firstName := ""
	for _, ip := range ips {
		if ip.addr() != "" && ip.Interface.set && !ip.Interface.isIndex {
			firstName = ip.Interface.name
			break
		}
	}
	var out []string
	for _, ip := range ips {
		a, f := ip.addr(), ip.Interface
		switch {
		case a == "":
		case !f.set, f.isIndex && f.index == 0, !f.isIndex && f.name == firstName:
			out = append(out, a)
		}
	}
	return out
}

type wireHost struct {
	ID        flexID   `json:"id"`
	Name      string   `json:"name"`
	Domain    string   `json:"domain"`
	Comment   string   `json:"comment"`
	State     string   `json:"state"`
	CPUNumber flexInt  `json:"cpu_number"`
	RAMMiB    flexInt  `json:"ram_mib"`
	IP4       []wireIP `json:"ip4"`
	IP6       []wireIP `json:"ip6"`
	Disk      *struct {
		ID      flexID  `json:"id"`
		DiskMiB flexInt `json:"disk_mib"`
	} `json:"disk"`
	OS      flexRef `json:"os"`
	Cluster flexRef `json:"cluster"`
	Account flexRef `json:"account"`
}

func (w wireHost) host() Host {
	h := Host{ID: uint64(w.ID), Name: w.Name, Domain: w.Domain, Comment: w.Comment, State: w.State, CPU: int(w.CPUNumber),
		RAMMiB: int(w.RAMMiB), OS: uint64(w.OS), Cluster: uint64(w.Cluster), Account: uint64(w.Account)}
	if w.Disk != nil {
		h.DiskID, h.DiskMiB = uint64(w.Disk.ID), int(w.Disk.DiskMiB)
	}
	for _, ip := range w.IP4 {
		if a := ip.addr(); a != "" {
			h.IPv4 = append(h.IPv4, a)
		}
	}
	h.MainIPv4 = mainAddrs(w.IP4)
	for _, ip := range w.IP6 {
		if a := ip.addr(); a != "" {
			h.IPv6 = append(h.IPv6, a)
		}
	}
	return h
}

// taskAnswer is what mutating host calls return.
type taskAnswer struct {
	ID             flexID     `json:"id"`
	Task           flexString `json:"task"`
	RecipeTask     flexString `json:"recipe_task"`
	RecipeTaskList []flexTask `json:"recipe_task_list"`
	StartTask      flexString `json:"start_task"`
}

type wireTask struct {
	ID       flexID     `json:"id"`
	ConsulID flexString `json:"consul_id"`
	Name     string     `json:"name"`
	Status   string     `json:"status"`
	Output   string     `json:"output"` // the failure reason, when VMmanager gives one
}

// flexTask is a recipe_task_list item: a bare consul id, or an object {"task": id, "name": …}.
type flexTask struct {
	Task flexString `json:"task"`
	Name string     `json:"name"`
}

func (f *flexTask) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '{' {
		type plain flexTask
		return json.Unmarshal(b, (*plain)(f))
	}
	*f = flexTask{}
	return f.Task.UnmarshalJSON(b)
}
