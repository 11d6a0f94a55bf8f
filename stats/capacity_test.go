package stats

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"vmmpm/queue"
)

func TestLowRoomAndRoomText(t *testing.T) {
	c := &queue.Capacity{At: time.Now(),
		Cluster: queue.ClusterRoom{ID: 1, Name: "kvm-main", CPU: &queue.Room{Total: 16, Used: 15},
			RAMMiB: &queue.Room{Total: 10240, Used: 512}},
		Pools: []queue.PoolRoom{{ID: 1, Name: "public-v4", IPv4: &queue.Room{Total: 100, Used: 97}},
			{ID: 2, Name: "private-v4", Interface: 1, IPv4: &queue.Room{Total: 100, Used: 1}}, {ID: 4, Name: "uncounted"}}}
	want := []string{"pool 1 (public-v4): 3 of 100 IPv4 free", "CPU on cluster 1 (kvm-main): 1 of 16 free"}
	if got := LowRoom(c, 10); !reflect.DeepEqual(got, want) {
		t.Errorf("LowRoom(10) = %q", got)
	}
	if got := LowRoom(c, 0); got != nil {
		t.Errorf("LowRoom(0) = %q, want nothing", got)
	}
	if got := LowRoom(nil, 10); got != nil {
		t.Errorf("LowRoom(nil) = %q", got)
	}
	if got := RoomText(c); got != "IPv4 3/100 · CPU 1/16 · RAM 9.5/10 GiB" {
		t.Errorf("RoomText = %q", got)
	}
	var s Snapshot
	s.Modules = []Module{{ID: 1, Name: "vmm"}}
	s.Modules[0].SetCapacity(c, 10)
	var b strings.Builder
	if err := WriteOpenMetrics(&b, &s); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		`vmmpm_pool_ipv4_free{module="1",name="vmm",pool="1",pool_name="public-v4",interface="0"} 3`,
		`vmmpm_pool_ipv4_total{module="1",name="vmm",pool="2",pool_name="private-v4",interface="1"} 100`,
		`vmmpm_cluster_free{module="1",name="vmm",cluster="1",resource="ram_mib"} 9728`,
		`vmmpm_capacity_low{module="1",name="vmm"} 1`,
	} {
		if !strings.Contains(b.String(), line+"\n") {
			t.Errorf("no %s in\n%s", line, b.String())
		}
	}
}
