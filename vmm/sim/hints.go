package sim

// anyOfHint returns the values of a filter that is only "field EQ v" terms joined by OR (one task
// query for many tasks), so a list can look each one up instead of rendering every object.
func anyOfHint(e whereExpr, field string) ([]int, bool) {
	switch x := e.(type) {
	case whereCond:
		if n, ok := indexHint(x, field); ok {
			return []int{n}, true
		}
	case whereBool:
		if x.op != "OR" {
			return nil, false
		}
		l, ok := anyOfHint(x.l, field)
		if !ok {
			return nil, false
		}
		r, ok := anyOfHint(x.r, field)
		if !ok {
			return nil, false
		}
		return append(l, r...), true
	}
	return nil, false
}

// tasksAt is the tasks with these ids, each once, in id order of the request.
func (s *Sim) tasksAt(ids []int) []*task {
	seen := map[int]bool{}
	var out []*task
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, s.taskAt(id)...)
		}
	}
	return out
}
