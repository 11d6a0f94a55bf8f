package stats

import (
	"fmt"
	"strings"

	"vmmpm/queue"
)

// SetCapacity records a module's free room and its warning threshold (percent free; 0 never warns),
// and lists in Low each pool and cluster figure below it.
func (m *Module) SetCapacity(c *queue.Capacity, warn int) {
	m.Capacity, m.CapacityWarn, m.Low = c, warn, LowRoom(c, warn)
}

// LowRoom lists what has less than warn percent free: "pool 1 (public-v4): 3 of 100 IPv4 free",
// "RAM on cluster 1 (kvm-main): 512 of 10240 MiB free".
func LowRoom(c *queue.Capacity, warn int) []string {
	if c == nil || warn <= 0 {
		return nil
	}
	low := func(r *queue.Room) bool { return r != nil && r.Total > 0 && r.Free()*100 < warn*r.Total }
	var out []string
	for _, p := range c.Pools {
		if low(p.IPv4) {
			out = append(out, fmt.Sprintf("pool %d (%s): %d of %d IPv4 free", p.ID, p.Name, p.IPv4.Free(), p.IPv4.Total))
		}
	}
	cl := c.Cluster
	for _, r := range []struct {
		what, unit string
		room       *queue.Room
	}{{"CPU", "", cl.CPU}, {"RAM", " MiB", cl.RAMMiB}, {"disk", " MiB", cl.DiskMiB}} {
		if low(r.room) {
			out = append(out, fmt.Sprintf("%s on cluster %d (%s): %d of %d%s free", r.what, cl.ID, cl.Name, r.room.Free(), r.room.Total, r.unit))
		}
	}
	return out
}

// RoomText is the one-line free room of a module for the screens: "IPv4 97/100 · CPU 14/16 · RAM
// 9.5/10 GiB · disk 180/256 GiB", free before total; "" when unknown.
func RoomText(c *queue.Capacity) string {
	if c == nil {
		return ""
	}
	var parts []string
	free, total, known := 0, 0, false
	for _, p := range c.Pools {
		if p.Interface == 0 && p.IPv4 != nil {
			free, total, known = free+p.IPv4.Free(), total+p.IPv4.Total, true
		}
	}
	if known {
		parts = append(parts, fmt.Sprintf("IPv4 %d/%d", free, total))
	}
	if r := c.Cluster.CPU; r != nil {
		parts = append(parts, fmt.Sprintf("CPU %d/%d", r.Free(), r.Total))
	}
	if r := c.Cluster.RAMMiB; r != nil {
		parts = append(parts, "RAM "+mib(r))
	}
	if r := c.Cluster.DiskMiB; r != nil {
		parts = append(parts, "disk "+mib(r))
	}
	return strings.Join(parts, " · ")
}

// mib is free/total in GiB (or TiB when large), one decimal when under ten.
func mib(r *queue.Room) string {
	unit, div := "GiB", 1024.0
	if r.Total >= 10<<20 {
		unit, div = "TiB", 1<<20
	}
	f := func(n int) string {
		v := float64(n) / div
		if v < 10 && v != float64(int(v)) {
			return fmt.Sprintf("%.1f", v)
		}
		return fmt.Sprintf("%.0f", v)
	}
	return f(r.Free()) + "/" + f(r.Total) + " " + unit
}
