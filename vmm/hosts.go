package vmm

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
)

// Task names the public sources show for these operations (vmmanager6-api.md §5.3). Tasks are found by
// consul id; a name only picks among several tasks under one consul id. A password change and a recipe
// have no name in any source, so their TaskRef.Name is empty.
const (
	TaskHostCreate    = "host_create"
	TaskHostStart     = "host_start"
	TaskHostStop      = "host_stop"
	TaskHostDelete    = "host_delete"
	TaskHostReinstall = "host_reinstall"
	TaskHostParams    = "host_change_params"
	TaskDiskResize    = "disk_resize"
	TaskIPChange      = "ip_change"
)

// deferStop is WHMCS's "apply at the next stop" marker for changes to an active VM.
var deferStop = map[string]string{"action": "host_stop"}

// CreateHost creates a VM. With AdditionalInterface the VM gets a second NIC from the pool on the
// cluster's interface 1, which costs one extra call to read the cluster.
func (c *Client) CreateHost(ctx context.Context, s HostSpec) (Created, error) {
	if err := s.check(); err != nil {
		return Created{}, err
	}
	o := c.op()
	body := map[string]any{
		"name": s.Name, "cluster": s.Cluster, "os": s.OS, "password": s.Password,
		"cpu_number": s.CPU, "ram_mib": s.RAMMiB, "hdd_mib": s.DiskMiB, "ipv4_number": s.IPv4Count,
	}
	if s.Account != 0 {
		body["account"] = s.Account
	}
	if s.Domain != "" {
		body["domain"] = s.Domain
	}
	if s.Comment != "" {
		body["comment"] = s.Comment
	}
	if s.RecipeID != 0 {
		body["recipe_list"] = recipeList(s.RecipeID)
	}
	if s.AdditionalInterface {
		ifaces, err := c.interfaces(ctx, o, s)
		if err != nil {
			return Created{}, err
		}
		body["custom_interfaces"] = ifaces
	}
	var ans taskAnswer
	if err := c.object(ctx, o, http.MethodPost, "/vm/v3/host", body, &ans); err != nil {
		return Created{}, hidePassword(err, s.Password)
	}
	if ans.ID == 0 || ans.Task == "" {
		return Created{}, errorf(ErrBadAnswer, "VMmanager accepted the VM %s but sent no id or task", s.Name)
	}
	cr := Created{HostID: uint64(ans.ID), Task: TaskRef{ConsulID: string(ans.Task), Name: TaskHostCreate}}
	if rt := recipeTask(ans); rt != nil && s.RecipeID != 0 {
		cr.RecipeTask = rt
	}
	return cr, nil
}

func (s HostSpec) check() error {
	switch {
	case s.Name == "":
		return errorf(ErrInvalid, "a VM needs a name")
	case s.Cluster == 0 || s.OS == 0:
		return errorf(ErrInvalid, "the VM %s needs a cluster and an OS", s.Name)
	case s.CPU <= 0 || s.RAMMiB <= 0 || s.DiskMiB <= 0:
		return errorf(ErrInvalid, "the VM %s needs positive CPU, RAM and disk sizes", s.Name)
	case s.Password == "":
		return errorf(ErrInvalid, "the VM %s needs a root password", s.Name)
	case s.IPv4Count < 0:
		return errorf(ErrInvalid, "the VM %s cannot have a negative number of IPv4 addresses", s.Name)
	}
	return nil
}

// interfaces builds custom_interfaces: the main NIC from interface 0's pool, the second from interface 1's.
func (c *Client) interfaces(ctx context.Context, o *op, s HostSpec) ([]map[string]any, error) {
	cl, err := c.cluster(ctx, o, s.Cluster)
	if err != nil {
		return nil, err
	}
	if len(cl.Pools[0]) == 0 || len(cl.Pools[1]) == 0 {
		return nil, errorf(ErrInvalid, "cluster %s has no IP pool on an additional interface, so the VM %s cannot get a second one", cl.Name, s.Name)
	}
	return []map[string]any{
		{"is_main_network": true, "ippool": cl.Pools[0][0], "ip_count": s.IPv4Count},
		{"is_main_network": false, "ippool": cl.Pools[1][0], "ip_count": 1},
	}, nil
}

// cluster finds one cluster in the list (GET /vm/v3/cluster/{id} is not needed elsewhere), which is
// read at most once per session period.
func (c *Client) cluster(ctx context.Context, o *op, id uint64) (Cluster, error) {
	ws, err := c.clusterList(ctx, o)
	if err != nil {
		return Cluster{}, err
	}
	for _, w := range ws {
		if cl := w.cluster(); cl.ID == id {
			return cl, nil
		}
	}
	return Cluster{}, errorf(ErrInvalid, "VMmanager has no cluster %d", id)
}

func recipeList(id uint64) []map[string]any {
	return []map[string]any{{"recipe": id, "recipe_params": []any{}}}
}

// recipeTask is the recipe's task; no source names it, so it keeps the name only when VMmanager gives one.
func recipeTask(a taskAnswer) *TaskRef {
	if a.RecipeTask != "" {
		return &TaskRef{ConsulID: string(a.RecipeTask)}
	}
	for _, t := range a.RecipeTaskList {
		if t.Task != "" {
			return &TaskRef{ConsulID: string(t.Task), Name: t.Name}
		}
	}
	return nil
}

// Host reads one VM from the list endpoint, which (unlike GET /host/{id}) includes IPs and the disk.
func (c *Client) Host(ctx context.Context, id uint64) (*Host, error) {
	ws, err := list[wireHost](ctx, c, c.op(), "/vm/v3/host"+where(eq("id", strconv.FormatUint(id, 10))))
	if err != nil {
		return nil, err
	}
	for _, w := range ws {
		if uint64(w.ID) == id {
			h := w.host()
			return &h, nil
		}
	}
	return nil, errorf(ErrNotFound, "VMmanager has no VM with id %d", id)
}

// FindHostByName finds a VM by exact name: (nil, nil) when there is none, the lowest id when several.
func (c *Client) FindHostByName(ctx context.Context, name string) (*Host, error) {
	ws, err := list[wireHost](ctx, c, c.op(), "/vm/v3/host"+where(eq("name", name)))
	if err != nil {
		return nil, err
	}
	var found *Host
	for _, w := range ws {
		if w.Name == name && (found == nil || uint64(w.ID) < found.ID) {
			h := w.host()
			found = &h
		}
	}
	return found, nil
}

// StartHost starts a VM (task host_start).
func (c *Client) StartHost(ctx context.Context, id uint64) (TaskRef, error) {
	return c.hostTask(ctx, http.MethodPost, hostPath(id, "/start"), map[string]any{}, TaskHostStart)
}

// StopHost stops a VM (task host_stop).
func (c *Client) StopHost(ctx context.Context, id uint64) (TaskRef, error) {
	return c.hostTask(ctx, http.MethodPost, hostPath(id, "/stop"), map[string]any{}, TaskHostStop)
}

// DeleteHost deletes a VM (task host_delete).
func (c *Client) DeleteHost(ctx context.Context, id uint64) (TaskRef, error) {
	return c.hostTask(ctx, http.MethodDelete, hostPath(id, ""), nil, TaskHostDelete)
}

// RestartHost restarts a VM and returns its start task (host_start), which is what finishes last.
func (c *Client) RestartHost(ctx context.Context, id uint64) (TaskRef, error) {
	var ans taskAnswer
	if err := c.object(ctx, c.op(), http.MethodPost, hostPath(id, "/restart"), map[string]any{}, &ans); err != nil {
		return TaskRef{}, err
	}
	if ans.StartTask == "" {
		return TaskRef{}, errorf(ErrBadAnswer, "VMmanager restarted VM %d but sent no start task", id)
	}
	return TaskRef{ConsulID: string(ans.StartTask), Name: TaskHostStart}, nil
}

// ReinstallHost reinstalls a VM with an OS and optionally a recipe (0 = none) (task host_reinstall).
func (c *Client) ReinstallHost(ctx context.Context, id, os, recipe uint64, password string) (TaskRef, error) {
	if os == 0 || password == "" {
		return TaskRef{}, errorf(ErrInvalid, "reinstalling VM %d needs an OS and a root password", id)
	}
	body := map[string]any{"os": os, "password": password}
	if recipe != 0 {
		body["recipe_list"] = recipeList(recipe)
	}
	ref, err := c.hostTask(ctx, http.MethodPost, hostPath(id, "/reinstall"), body, TaskHostReinstall)
	return ref, hidePassword(err, password)
}

// SetPassword changes a VM's root password. VMmanager may or may not answer with a task: nil when not.
// No source names that task, so it is followed by consul id alone.
func (c *Client) SetPassword(ctx context.Context, id uint64, password string) (*TaskRef, error) {
	if password == "" {
		return nil, errorf(ErrInvalid, "the new password for VM %d is empty", id)
	}
	var ans taskAnswer
	body := map[string]any{"password": password}
	if err := c.object(ctx, c.op(), http.MethodPost, hostPath(id, "/password"), body, &ans); err != nil {
		return nil, hidePassword(err, password)
	}
	if ans.Task == "" {
		return nil, nil
	}
	return &TaskRef{ConsulID: string(ans.Task)}, nil
}

// SetResources sets CPU count and RAM, up or down (task host_change_params). onStop asks VMmanager to
// apply the change at the VM's next stop, as ISPsystem's module does for an active VM; the caller then
// restarts it.
func (c *Client) SetResources(ctx context.Context, id uint64, cpu, ramMiB int, onStop bool) (TaskRef, error) {
	if cpu <= 0 || ramMiB <= 0 {
		return TaskRef{}, errorf(ErrInvalid, "VM %d needs positive CPU and RAM sizes", id)
	}
	body := map[string]any{"cpu_number": cpu, "ram_mib": ramMiB}
	if onStop {
		body["defer"] = deferStop
	}
	return c.hostTask(ctx, http.MethodPost, hostPath(id, "/resource"), body, TaskHostParams)
}

// ResizeDisk grows a disk (task disk_resize); VMmanager does not shrink disks. onStop as for SetResources.
func (c *Client) ResizeDisk(ctx context.Context, diskID uint64, sizeMiB int, onStop bool) (TaskRef, error) {
	if diskID == 0 || sizeMiB <= 0 {
		return TaskRef{}, errorf(ErrInvalid, "a disk resize needs a disk id and a positive size")
	}
	body := map[string]any{"size_mib": sizeMiB}
	if onStop {
		body["defer"] = deferStop
	}
	path := "/vm/v3/disk/" + strconv.FormatUint(diskID, 10)
	return c.hostTask(ctx, http.MethodPost, path, body, TaskDiskResize)
}

// AddIPv4 gives a VM delta more IPv4 addresses from pool (task ip_change), as ISPsystem's module does on a
// package change. Removing addresses has no public source, so only additions are sent.
func (c *Client) AddIPv4(ctx context.Context, id uint64, delta int, pool uint64) (TaskRef, error) {
	if delta <= 0 || pool == 0 {
		return TaskRef{}, errorf(ErrInvalid, "adding IPv4 addresses to VM %d needs a positive count and a pool", id)
	}
	body := map[string]any{"ipv4_number": delta, "ipv4_pool": []uint64{pool}}
	return c.hostTask(ctx, http.MethodPost, hostPath(id, "/ip"), body, TaskIPChange)
}

// MainPool is the first IP pool on the cluster's main interface (0), where a VM's addresses come from.
func (c *Client) MainPool(ctx context.Context, cluster uint64) (uint64, error) {
	cl, err := c.cluster(ctx, c.op(), cluster)
	if err != nil {
		return 0, err
	}
	if len(cl.Pools[0]) == 0 {
		return 0, errorf(ErrInvalid, "cluster %s has no IP pool on its main interface", cl.Name)
	}
	return cl.Pools[0][0], nil
}

func (c *Client) hostTask(ctx context.Context, method, path string, body any, name string) (TaskRef, error) {
	var ans taskAnswer
	if err := c.object(ctx, c.op(), method, path, body, &ans); err != nil {
		return TaskRef{}, err
	}
	if ans.Task == "" {
		return TaskRef{}, errorf(ErrBadAnswer, "VMmanager accepted %s but sent no task to follow", pathOnly(path))
	}
	return TaskRef{ConsulID: string(ans.Task), Name: name}, nil
}

func hostPath(id uint64, suffix string) string {
	return fmt.Sprintf("/vm/v3/host/%d%s", id, suffix)
}
