package allocator

// freeIndex is the free space of one pool in one family: an ordered set of
// disjoint, non-adjacent free spans. Every operation is O(log f), f being the
// number of spans (fragments), whatever the size of the pool: a /64 with one
// hole costs what a /24 with one hole costs.
type freeIndex struct {
	btree[u128] // first address of a span -> its last address
}

// takeMin removes and returns the lowest free address.
func (f *freeIndex) takeMin() (u128, bool) {
	s := f.min()
	if s == nil {
		return u128{}, false
	}
	k := s.key
	if s.key == s.val {
		f.delete(k)
	} else {
		s.key = k.next() // still below the next span: the order holds
	}
	return k, true
}

// take removes k from the free space and reports whether it was free.
func (f *freeIndex) take(k u128) bool {
	s := f.floor(k)
	if s == nil || s.val.less(k) {
		return false
	}
	switch {
	case s.key == k && s.val == k:
		f.delete(k)
	case s.key == k:
		s.key = k.next()
	case s.val == k:
		s.val = k.prev()
	default:
		last := s.val
		s.val = k.prev()
		f.insert(k.next(), last)
	}
	return true
}

// put returns k to the free space, merging it with free neighbours, and
// reports false if k was free already. k must lie inside the pool.
func (f *freeIndex) put(k u128) bool {
	p := f.floor(k)
	if p != nil && !p.val.less(k) {
		return false
	}
	var n *entry[u128]
	if k != maxU128 {
		n = f.ceil(k) // k is not free, so no span starts at k
	}
	joinLeft := p != nil && p.val.next() == k
	joinRight := n != nil && n.key == k.next()
	switch {
	case joinLeft && joinRight:
		p.val = n.val // briefly overlapping; deleting by key is still exact
		f.delete(n.key)
	case joinLeft:
		p.val = k
	case joinRight:
		n.key = k
	default:
		f.insert(k, k)
	}
	return true
}

// freeCount returns the number of free addresses, saturating. It walks every
// span and is meant for tests.
func (f *freeIndex) freeCount() uint64 {
	var total uint64
	f.ascend(u128{}, func(e entry[u128]) bool {
		total = satAdd(total, span{e.key, e.val}.size())
		return true
	})
	return total
}
