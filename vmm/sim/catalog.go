package sim

import (
	"net/http"
)

// whereFilter parses the request's where= (nil when absent or empty).
func (c *call) whereFilter() (whereExpr, error) {
	q := c.r.URL.Query()
	if !q.Has("where") || q.Get("where") == "" {
		return nil, nil
	}
	e, err := parseWhere(q.Get("where"))
	if err != nil {
		return nil, errf(http.StatusBadRequest, codeBadWhere, "malformed filter: %v", err)
	}
	return e, nil
}

// filtered applies where= and wraps the result in VMmanager's list envelope.
func (c *call) filtered(items []map[string]any) (any, error) {
	w, err := c.whereFilter()
	if err != nil {
		return nil, err
	}
	return envelope(items, w), nil
}

func envelope(items []map[string]any, w whereExpr) map[string]any {
	list := make([]any, 0, len(items))
	for _, it := range items {
		if w == nil || w.match(it) {
			list = append(list, it)
		}
	}
	return map[string]any{"last_notify": 0, "list": list}
}

func (s *Sim) clusterItem(cl *cluster) map[string]any {
	var pools, ifaces []any
	for _, ip := range cl.ifaces {
		ids := make([]any, 0, len(ip.pools))
		for _, id := range ip.pools {
			ids = append(ids, id)
			pools = append(pools, map[string]any{"id": id, "name": s.poolByID(id).name, "interface": ip.iface})
		}
		ifaces = append(ifaces, map[string]any{"interface": ip.iface, "ippool": ids})
	}
	return map[string]any{
		"id": cl.id, "name": cl.name, "comment": "", "state": "active",
		"virtualization_type": cl.virt, "datacenter_type": "common",
		"node_count": 1, "host_count": cl.hostCount,
		"cpu_number":  capItem(cl.cpu),
		"ram_mib":     capItem(cl.ram),
		"storage_mib": capItem(cl.storage),
		"ippools":     orEmpty(pools),
		"interfaces":  orEmpty(ifaces),
		"storage":     map[string]any{"id": cl.storageID, "name": cl.storageName, "type": "file", "is_main": true},
	}
}

func capItem(c capacity) map[string]any { return map[string]any{"total": c.total, "used": c.used} }

func (c *call) listClusters() (any, error) {
	items := make([]map[string]any, 0, len(c.s.clusters))
	for _, cl := range c.s.clusters {
		items = append(items, c.s.clusterItem(cl))
	}
	return c.filtered(items)
}

func (c *call) getCluster() (any, error) {
	cl := c.s.clusterByID(c.ids[0])
	if cl == nil {
		return nil, notFound("cluster", c.ids[0])
	}
	return c.s.clusterItem(cl), nil
}

func (c *call) listPools() (any, error) {
	items := make([]map[string]any, 0, len(c.s.pools))
	for _, p := range c.s.pools {
		var clusters []any
		for _, cl := range c.s.clusters {
			if i := cl.ifaceOf(p.id); i >= 0 {
				clusters = append(clusters, map[string]any{"id": cl.id, "interface": i, "name": cl.name})
			}
		}
		total := len(p.used)
		items = append(items, map[string]any{
			"id": p.id, "name": p.name, "note": "", "ranges": []any{p.rangeText()},
			"clusters": orEmpty(clusters),
			"ipv4":     map[string]any{"total": total, "used": total - p.free},
		})
	}
	return c.filtered(items)
}

func (c *call) listOS() (any, error) {
	items := make([]map[string]any, 0, len(c.s.oses))
	for _, o := range c.s.oses {
		var clusters []any
		for _, id := range o.clusters {
			clusters = append(clusters, map[string]any{"id": id, "name": c.s.clusterByID(id).name})
		}
		items = append(items, map[string]any{
			"id": o.id, "name": o.name, "state": "active", "os_group": o.group, "repository": "ISPsystem",
			"tags": []any{}, "adminonly": false, "is_lxd_image": o.lxd, "clusters": clusters, "nodes": []any{},
		})
	}
	return c.filtered(items)
}

func (c *call) listRecipes() (any, error) {
	items := make([]map[string]any, 0, len(c.s.recipes))
	for _, r := range c.s.recipes {
		items = append(items, map[string]any{
			"id": r.id, "name": r.name, "repository": "ISPsystem", "tags": []any{},
			"access": "public", "params_count": 0, "has_email": false,
		})
	}
	return c.filtered(items)
}
