package sim

// GrowPool adds n addresses to the end of pool id's range, as an operator adding a range in the panel
// would; false when there is no such pool.
func (s *Sim) GrowPool(id, n int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.poolByID(id)
	if p == nil || n < 0 {
		return false
	}
	p.used = append(p.used, make([]bool, n)...)
	p.free += n
	return true
}

// SetClusterTotals changes cluster id's CPU, RAM (MiB) and storage (MiB) totals (0 keeps one), as
// adding or removing a node would; false when there is no such cluster.
func (s *Sim) SetClusterTotals(id, cpu, ramMiB, storageMiB int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	cl := s.clusterByID(id)
	if cl == nil {
		return false
	}
	for _, c := range []struct {
		to *capacity
		n  int
	}{{&cl.cpu, cpu}, {&cl.ram, ramMiB}, {&cl.storage, storageMiB}} {
		if c.n > 0 {
			c.to.total = c.n
		}
	}
	return true
}
