package pgkv

import "sync"

// The writer's cache. Every committed Update that wrote raises kv_meta's generation in its last
// batch. A writer that finds, once it holds the writer lock, the generation it last committed
// itself knows nobody wrote since, so what it read and wrote before is still the truth: its bucket
// lookups and Gets are answered from memory, and a transaction costs its begin, the generation's
// read, one batch and the commit, however many keys it reads. Any other writer (another host, a
// command) moves the generation on, and the cache starts again empty. A View reads the generation
// of its snapshot as it begins and uses the cache only while the cache holds at that same
// generation, so it sees exactly its snapshot either way.
type cache struct {
	mu      sync.Mutex
	gen     int64 // generation the contents hold at; -1: none
	buckets map[string]cachedBucket
	pairs   map[string]map[string][]byte // bucket → key → value; nil value: known absent
	bytes   int
}

type cachedBucket struct {
	exists bool
	seq    uint64
}

// cacheBytes bounds the cache: past it, it starts again empty (the next writes fill it).
const cacheBytes = 64 << 20

func (c *cache) reset(gen int64) {
	c.gen, c.buckets, c.pairs, c.bytes = gen, map[string]cachedBucket{}, map[string]map[string][]byte{}, 0
}

// at makes the cache hold at generation gen: kept when it already did, emptied otherwise.
func (c *cache) at(gen int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen || c.buckets == nil {
		c.reset(gen)
	}
}

// Each of these does nothing (or finds nothing) unless the cache holds at generation gen, the one
// the caller's transaction sees.

func (c *cache) bucket(gen int64, name string) (cachedBucket, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return cachedBucket{}, false
	}
	b, ok := c.buckets[name]
	return b, ok
}

func (c *cache) setBucket(gen int64, name string, b cachedBucket) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen == gen && c.buckets != nil {
		c.buckets[name] = b
	}
}

func (c *cache) get(gen int64, bucket, key string) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return nil, false
	}
	v, ok := c.pairs[bucket][key]
	return v, ok
}

func (c *cache) put(gen int64, bucket, key string, v []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen == gen && c.pairs != nil {
		c.putLocked(bucket, key, v)
	}
}

func (c *cache) putLocked(bucket, key string, v []byte) {
	m := c.pairs[bucket]
	if m == nil {
		m = map[string][]byte{}
		c.pairs[bucket] = m
	}
	c.bytes += len(key) + len(v) - len(m[key])
	m[key] = v
	if c.bytes > cacheBytes {
		c.reset(c.gen)
	}
}

// committed applies what a committed transaction wrote and moves the cache to its generation.
// A generation that is not the next one means another writer came between: start again.
func (c *cache) committed(from, to int64, w *written) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != from || to != from+1 {
		c.reset(-1)
		return
	}
	c.gen = to
	for name, b := range w.buckets {
		if b.dropped {
			delete(c.pairs, name)
		}
		c.buckets[name] = cachedBucket{exists: b.exists, seq: b.seq}
		for k, v := range b.pairs {
			c.putLocked(name, k, v)
		}
	}
}

// written is what one transaction wrote, kept across its flushes for the cache.
type written struct {
	buckets map[string]*writtenBucket
}

type writtenBucket struct {
	exists, dropped bool
	seq             uint64
	pairs           map[string][]byte // nil value: deleted
}

func (w *written) of(b *bucket) *writtenBucket {
	if w.buckets == nil {
		w.buckets = map[string]*writtenBucket{}
	}
	x := w.buckets[string(b.name)]
	if x == nil {
		x = &writtenBucket{pairs: map[string][]byte{}}
		w.buckets[string(b.name)] = x
	}
	return x // exists and seq are taken at commit, from the bucket's final state
}

const bumpGen = `UPDATE kv_meta SET gen = gen + 1 WHERE id = 1 RETURNING gen`
