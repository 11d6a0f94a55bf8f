package vmm

import (
	"bytes"
	"context"
	"encoding/json"
)

// Room is a total and how much of it is used, as VMmanager reports it: cluster capacity as
// cpu_number, ram_mib and storage_mib {total, used} (GO2), pool addresses as ipv4 {total, used}
// (TSX; low reliability, so it may be missing).
type Room struct {
	Total int `json:"total"`
	Used  int `json:"used"`
}

// Free is what is left (never below 0).
func (r Room) Free() int { return max(r.Total-r.Used, 0) }

// ClusterRoom is what a cluster has free: CPU, RAM and storage, and the addresses of each pool on
// its interfaces. A figure VMmanager does not give is nil.
type ClusterRoom struct {
	ID         uint64
	Name       string
	CPU        *Room
	RAMMiB     *Room
	StorageMiB *Room
	// Oversold: the cluster allows overselling (GO2 lists an overselling field; its meaning is in no
	// source), so its CPU and RAM totals may not be limits at all.
	Oversold bool
	Pools    []PoolRoom
}

// PoolRoom is one IP pool on a cluster interface.
type PoolRoom struct {
	ID        uint64
	Name      string
	Interface int
	IPv4      *Room
}

type wireRoom struct {
	ID          flexID          `json:"id"`
	CPUNumber   *wireTotal      `json:"cpu_number"`
	RAMMiB      *wireTotal      `json:"ram_mib"`
	StorageMiB  *wireTotal      `json:"storage_mib"`
	Overselling json.RawMessage `json:"overselling"`
}

type wireTotal struct {
	Total *flexInt `json:"total"`
	Used  flexInt  `json:"used"`
}

func (w *wireTotal) room() *Room {
	if w == nil || w.Total == nil || *w.Total <= 0 {
		return nil
	}
	return &Room{Total: int(*w.Total), Used: int(w.Used)}
}

type wirePoolRoom struct {
	ID   flexID     `json:"id"`
	Name string     `json:"name"`
	IPv4 *wireTotal `json:"ipv4"`
}

// oversold reads overselling tolerantly: absent, null, false, 0 or "0" mean no.
func oversold(raw json.RawMessage) bool {
	v := string(bytes.Trim(bytes.TrimSpace(raw), `"`))
	switch v {
	case "", "null", "false", "0", "0.0", "1", "1.0":
		return false // 1: a ratio of one to one, no overselling
	}
	return true
}

// Room reads what a cluster has free, afresh: the cluster list (which also refreshes the cached one)
// and the pool list, two requests.
func (c *Client) Room(ctx context.Context, cluster uint64) (ClusterRoom, error) {
	o := c.op()
	data, err := c.call(ctx, o, "GET", "/vm/v3/cluster", nil)
	if err != nil {
		return ClusterRoom{}, err
	}
	clusters, err := decodeList[wireCluster](data)
	if err != nil {
		return ClusterRoom{}, err
	}
	rooms, err := decodeList[wireRoom](data)
	if err != nil {
		return ClusterRoom{}, err
	}
	c.cacheClusters(clusters)
	out := ClusterRoom{ID: cluster}
	found := false
	var pools map[int][]uint64
	for i, w := range clusters {
		if uint64(w.ID) != cluster {
			continue
		}
		cl := w.cluster()
		out.Name, pools, found = cl.Name, cl.Pools, true
		r := rooms[i]
		out.CPU, out.RAMMiB, out.StorageMiB = r.CPUNumber.room(), r.RAMMiB.room(), r.StorageMiB.room()
		out.Oversold = oversold(r.Overselling)
	}
	if !found {
		return ClusterRoom{}, errorf(ErrInvalid, "VMmanager has no cluster %d", cluster)
	}
	ps, err := list[wirePoolRoom](ctx, c, o, "/vm/v3/ippool")
	if err != nil {
		return ClusterRoom{}, err
	}
	byID := map[uint64]wirePoolRoom{}
	for _, p := range ps {
		byID[uint64(p.ID)] = p
	}
	for _, iface := range interfaceOrder(pools) {
		for _, id := range pools[iface] {
			p := byID[id]
			out.Pools = append(out.Pools, PoolRoom{ID: id, Name: p.Name, Interface: iface, IPv4: p.IPv4.room()})
		}
	}
	return out, nil
}
