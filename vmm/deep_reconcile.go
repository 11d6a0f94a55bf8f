package vmm

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// reconcileLists probes what `vmmpm reconcile` relies on when it reads a cluster: that the host list
// filtered by cluster.id holds as many VMs as the cluster's host_count (no page cut: paging is in no
// public source), only that cluster's, and that an OR of id EQ terms finds exactly those ids (the form
// the scan reads in pieces when a list is cut).
func (d *deep) reconcileLists(ctx context.Context) error {
	const probe = "host list whole per cluster"
	const expected = "where=(cluster.id EQ C) lists host_count VMs, all of cluster C; an OR of id EQ finds exactly those ids"
	cls := d.cls
	if d.rep.Write {
		// --write makes a VM between the first read and this probe's rerun: host_count must be as fresh as
		// the lists it is compared with. (A read-only check reuses the clusters probe's answer, so a
		// recording holds one answer per request.)
		var ok bool
		var err error
		if cls, ok, err = d.list(ctx, probe, expected, "/vm/v3/cluster"); err != nil || !ok {
			return err
		}
	}
	var seen, problems []string
	listed := 0
	for _, cl := range cls {
		id, name := scalar(cl["id"]), fmt.Sprint(cl["name"])
		items, ok, err := d.list(ctx, probe, expected, "/vm/v3/host"+where(eq("cluster.id", id)))
		if err != nil || !ok {
			return err
		}
		listed += len(items)
		var ids []string
		for _, it := range items {
			ids = append(ids, scalar(it["id"]))
			if c, _ := it["cluster"].(obj); c != nil && scalar(c["id"]) != id {
				problems = append(problems, fmt.Sprintf("%s: the filter let VM %s of cluster %s through", name, scalar(it["id"]), scalar(c["id"])))
				break
			}
		}
		count, has := cl["host_count"]
		switch {
		case !has:
			problems = append(problems, name+": no host_count, so a cut list cannot be told from a whole one")
		case scalar(count) != strconv.Itoa(len(items)):
			problems = append(problems, fmt.Sprintf("%s: %d VMs listed, host_count %s (the list may be paged; the scan then reads in id windows)", name, len(items), scalar(count)))
		default:
			seen = append(seen, fmt.Sprintf("%s: %d of host_count %s", name, len(items), scalar(count)))
		}
		if len(ids) == 0 {
			continue
		}
		pick := ids[:min(3, len(ids))]
		ors := make([]string, len(pick))
		for i, v := range pick {
			ors[i] = "(id+EQ+'" + v + "')"
		}
		q := "/vm/v3/host?where=" + ors[0]
		if len(ors) > 1 {
			q = "/vm/v3/host?where=(" + strings.Join(ors, "+OR+") + ")"
		}
		found, ok, err := d.list(ctx, probe, expected, q)
		if err != nil || !ok {
			return err
		}
		var got []string
		for _, it := range found {
			got = append(got, scalar(it["id"]))
		}
		slices.Sort(got)
		want := slices.Clone(pick)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			problems = append(problems, fmt.Sprintf("%s: an OR of ids %v found %v", name, want, got))
		}
	}
	switch {
	case len(problems) > 0:
		d.mismatch(probe, expected, strings.Join(problems, "; "))
	case listed == 0:
		d.inconclusive(probe, expected, strings.Join(seen, "; ")+"; no VMs, so the OR of ids could not be tried", createVM)
	default:
		d.ok(probe, expected, strings.Join(seen, "; "))
	}
	return nil
}
