package vmm

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"
)

// lookups caches, for one client and within its session period (SessionTTL; nothing is cached with
// 0), what every open reads and what rarely changes: accounts by email and the cluster list. An
// account is cached once found or created, never as missing; the cluster list's capacity figures
// are not read from it (Capacity reads them fresh).
type lookups struct {
	mu         sync.Mutex
	accounts   map[string]cachedAccount
	clusters   []wireCluster
	clustersAt time.Time
}

type cachedAccount struct {
	a  Account
	at time.Time
}

// Account is FindAccount through the cache: an account found (or created by CreateAccount) within the
// session period is answered without a request.
func (c *Client) Account(ctx context.Context, email string) (*Account, error) {
	key := strings.ToLower(email)
	c.cache.mu.Lock()
	if e, ok := c.cache.accounts[key]; ok && c.fresh(e.at) {
		c.cache.mu.Unlock()
		a := e.a
		return &a, nil
	}
	c.cache.mu.Unlock()
	a, err := c.FindAccount(ctx, email)
	if a != nil {
		c.rememberAccount(*a)
	}
	return a, err
}

// ForgetAccount drops a cached account (VMmanager refused it: deleted in the panel, say), and reports
// whether there was one.
func (c *Client) ForgetAccount(email string) bool {
	key := strings.ToLower(email)
	c.cache.mu.Lock()
	defer c.cache.mu.Unlock()
	_, ok := c.cache.accounts[key]
	delete(c.cache.accounts, key)
	return ok
}

func (c *Client) rememberAccount(a Account) {
	if c.ttl <= 0 {
		return
	}
	c.cache.mu.Lock()
	defer c.cache.mu.Unlock()
	if c.cache.accounts == nil {
		c.cache.accounts = map[string]cachedAccount{}
	}
	c.cache.accounts[strings.ToLower(a.Email)] = cachedAccount{a: a, at: time.Now()}
}

func (c *Client) fresh(at time.Time) bool { return c.ttl > 0 && time.Since(at) < c.ttl }

// clusterList is the cluster list, read at most once per session period.
func (c *Client) clusterList(ctx context.Context, o *op) ([]wireCluster, error) {
	c.cache.mu.Lock()
	if c.cache.clusters != nil && c.fresh(c.cache.clustersAt) {
		ws := c.cache.clusters
		c.cache.mu.Unlock()
		return ws, nil
	}
	c.cache.mu.Unlock()
	ws, err := list[wireCluster](ctx, c, o, "/vm/v3/cluster")
	if err != nil {
		return nil, err
	}
	c.cacheClusters(ws)
	return ws, nil
}

func (c *Client) cacheClusters(ws []wireCluster) {
	if c.ttl > 0 {
		c.cache.mu.Lock()
		c.cache.clusters, c.cache.clustersAt = ws, time.Now()
		c.cache.mu.Unlock()
	}
}

func interfaceOrder(m map[int][]uint64) []int {
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
