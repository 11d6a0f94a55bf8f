package sim

import (
	"strconv"
	"strings"
)

type authLevel int

const (
	authNone  authLevel = iota // token issue
	authAny                    // any account: whoami, own account
	authAdmin                  // everything else needs @admin
)

type endpoint struct {
	method  string
	pattern string // ids as {id}
	auth    authLevel
	h       func(*call) (any, error)
	segs    []string
}

var endpoints = compileRoutes([]endpoint{
	{method: "POST", pattern: "/auth/v4/public/token", auth: authNone, h: (*call).login},
	{method: "GET", pattern: "/auth/v4/whoami", auth: authAny, h: (*call).whoami},
	{method: "GET", pattern: "/vm/v3/account", auth: authAny, h: (*call).listAccounts},
	{method: "POST", pattern: "/vm/v3/account", auth: authAdmin, h: (*call).createAccount},
	{method: "GET", pattern: "/vm/v3/cluster", auth: authAdmin, h: (*call).listClusters},
	{method: "GET", pattern: "/vm/v3/cluster/{id}", auth: authAdmin, h: (*call).getCluster},
	{method: "GET", pattern: "/vm/v3/ippool", auth: authAdmin, h: (*call).listPools},
	{method: "GET", pattern: "/ip/v3/ippool", auth: authAdmin, h: (*call).listPools},
	{method: "GET", pattern: "/vm/v3/os", auth: authAdmin, h: (*call).listOS},
	{method: "GET", pattern: "/vm/v3/recipe", auth: authAdmin, h: (*call).listRecipes},
	{method: "GET", pattern: "/vm/v3/host", auth: authAdmin, h: (*call).listHosts},
	{method: "POST", pattern: "/vm/v3/host", auth: authAdmin, h: (*call).createHost},
	{method: "GET", pattern: "/vm/v3/host/{id}", auth: authAdmin, h: (*call).getHost},
	{method: "DELETE", pattern: "/vm/v3/host/{id}", auth: authAdmin, h: (*call).deleteHost},
	{method: "POST", pattern: "/vm/v3/host/{id}/start", auth: authAdmin, h: (*call).startHost},
	{method: "POST", pattern: "/vm/v3/host/{id}/stop", auth: authAdmin, h: (*call).stopHost},
	{method: "POST", pattern: "/vm/v3/host/{id}/restart", auth: authAdmin, h: (*call).restartHost},
	{method: "POST", pattern: "/vm/v3/host/{id}/reinstall", auth: authAdmin, h: (*call).reinstallHost},
	{method: "POST", pattern: "/vm/v3/host/{id}/password", auth: authAdmin, h: (*call).hostPassword},
	{method: "POST", pattern: "/vm/v3/host/{id}/resource", auth: authAdmin, h: (*call).hostResource},
	{method: "POST", pattern: "/vm/v3/host/{id}/ip", auth: authAdmin, h: (*call).hostIP},
	{method: "POST", pattern: "/vm/v3/disk/{id}", auth: authAdmin, h: (*call).resizeDisk},
	{method: "GET", pattern: "/vm/v3/task", auth: authAdmin, h: (*call).listTasks},
	{method: "GET", pattern: "/vm/v3/task/{id}", auth: authAdmin, h: (*call).getTask},
})

func compileRoutes(eps []endpoint) []endpoint {
	for i := range eps {
		eps[i].segs = strings.Split(eps[i].pattern, "/")
	}
	return eps
}

// matchRoute finds the endpoint for method and path. pathKnown is true when some endpoint has this path
// under another method (so the answer is 405, not 404).
func matchRoute(method, path string) (ep *endpoint, ids []int, pathKnown bool) {
	segs := strings.Split(path, "/")
	for i := range endpoints {
		e := &endpoints[i]
		got, ok := matchSegs(e.segs, segs)
		if !ok {
			continue
		}
		pathKnown = true
		if e.method == method {
			return e, got, true
		}
	}
	return nil, nil, pathKnown
}

func matchSegs(pattern, segs []string) ([]int, bool) {
	if len(pattern) != len(segs) {
		return nil, false
	}
	var ids []int
	for i, p := range pattern {
		if p != "{id}" {
			if p != segs[i] {
				return nil, false
			}
			continue
		}
		n, err := strconv.Atoi(segs[i])
		if err != nil || n < 1 || strconv.Itoa(n) != segs[i] {
			return nil, false
		}
		ids = append(ids, n)
	}
	return ids, true
}

// routeName is the stats key path: the pattern with {id}, or "(unknown)" so odd paths cannot grow the map.
func routeName(ep *endpoint, pathKnown bool, path string) string {
	switch {
	case ep != nil:
		return ep.pattern
	case pathKnown:
		for i := range endpoints {
			if _, ok := matchSegs(endpoints[i].segs, strings.Split(path, "/")); ok {
				return endpoints[i].pattern
			}
		}
	}
	return "(unknown)"
}
