package allocator

import "slices"

// entry is an item of a btree: a unique 128-bit key and a value. The key is
// stored inline and compared directly, so a search neither follows pointers
// nor calls methods.
type entry[V any] struct {
	key u128
	val V
}

// Node sizes of the B-tree. 31 items per node keep the tree three levels
// deep for a hundred thousand items. A node is refilled only when it falls
// to a quarter: a merge then yields a half-full node, so a delete followed by
// an insert around one node (churn) does not merge and split it every time.
const (
	maxItems = 31
	minItems = maxItems / 4
)

// btree is an ordered set of items with unique keys: a B-tree whose internal
// nodes hold items too (not copies of keys), so an item may be changed in
// place through the pointer the lookups return, as long as its key keeps its
// place in the order.
//
// Search, insert and delete are O(log n): all leaves are at one depth and
// every node but the root holds at least one item. Nodes are normally at
// least a quarter full; appending past the end splits unevenly so that a
// sequential fill leaves nodes nearly full. Memory is proportional to the
// number of items.
type btree[V any] struct {
	root *bnode[V]
	size int
}

type bnode[V any] struct {
	items    []entry[V]  // a window on buf
	children []*bnode[V] // empty for a leaf, else len(items)+1
	// buf keeps the items in the node's own allocation, so that reaching
	// them costs no second cache miss.
	buf [maxItems]entry[V]
}

func newNode[V any](leaf bool) *bnode[V] {
	n := &bnode[V]{}
	n.items = n.buf[:0]
	if !leaf {
		n.children = make([]*bnode[V], 0, maxItems+1)
	}
	return n
}

func (n *bnode[V]) leaf() bool { return len(n.children) == 0 }

// search returns the index of the first item whose key is >= k, and whether
// that item's key is k.
func (n *bnode[V]) search(k u128) (int, bool) {
	items := n.items
	lo, size := 0, len(items)
	for size > 0 {
		half := size >> 1
		// Written so the compiler can use conditional moves: the outcome of
		// each probe is unpredictable, a mispredicted branch is not cheap.
		if items[lo+half].key.less(k) {
			lo += half + 1
			size -= half + 1
		} else {
			size = half
		}
	}
	return lo, lo < len(items) && items[lo].key == k
}

// len returns the number of items.
func (t *btree[V]) len() int { return t.size }

// lookup returns the entry of key k, or nil. The pointer is valid until
// the next insert or delete.
func (t *btree[V]) lookup(k u128) *entry[V] {
	for n := t.root; n != nil; {
		i, found := n.search(k)
		if found {
			return &n.items[i]
		}
		if n.leaf() {
			break
		}
		n = n.children[i]
	}
	return nil
}

// get returns the value of key k.
func (t *btree[V]) get(k u128) (V, bool) {
	if e := t.lookup(k); e != nil {
		return e.val, true
	}
	var zero V
	return zero, false
}

// floor returns the item with the greatest key <= k, or nil. The pointer is
// valid until the next insert or delete.
func (t *btree[V]) floor(k u128) *entry[V] {
	var best *entry[V]
	for n := t.root; n != nil; {
		i, found := n.search(k)
		if found {
			return &n.items[i]
		}
		if i > 0 {
			best = &n.items[i-1]
		}
		if n.leaf() {
			break
		}
		n = n.children[i]
	}
	return best
}

// ceil returns the item with the least key >= k, or nil. The pointer is
// valid until the next insert or delete.
func (t *btree[V]) ceil(k u128) *entry[V] {
	var best *entry[V]
	for n := t.root; n != nil; {
		i, found := n.search(k)
		if found {
			return &n.items[i]
		}
		if i < len(n.items) {
			best = &n.items[i]
		}
		if n.leaf() {
			break
		}
		n = n.children[i]
	}
	return best
}

// min returns the item with the least key, or nil.
func (t *btree[V]) min() *entry[V] {
	n := t.root
	if n == nil || len(n.items) == 0 {
		return nil
	}
	for !n.leaf() {
		n = n.children[0]
	}
	return &n.items[0]
}

// ascend calls fn for every item with key >= from, in order, until fn
// returns false.
func (t *btree[V]) ascend(from u128, fn func(entry[V]) bool) {
	if t.root != nil {
		t.root.ascend(from, fn)
	}
}

func (n *bnode[V]) ascend(from u128, fn func(entry[V]) bool) bool {
	i, _ := n.search(from)
	for ; i < len(n.items); i++ {
		if !n.leaf() && !n.children[i].ascend(from, fn) {
			return false
		}
		if !fn(n.items[i]) {
			return false
		}
	}
	if !n.leaf() {
		return n.children[i].ascend(from, fn)
	}
	return true
}

// insert adds key k with value v and reports true, or reports false and
// changes nothing if k is present.
func (t *btree[V]) insert(k u128, v V) bool {
	item := entry[V]{k, v}
	if t.root == nil {
		t.root = newNode[V](true)
	}
	if len(t.root.items) == maxItems {
		old := t.root
		t.root = newNode[V](false)
		t.root.children = append(t.root.children, old)
		t.root.splitChild(0, maxItems/2)
	}
	if !t.root.insert(item) {
		return false
	}
	t.size++
	return true
}

// insert adds item below n, which is not full. Full children are split on
// the way down so that a split never has to travel back up.
func (n *bnode[V]) insert(item entry[V]) bool {
	k := item.key
	for {
		i, found := n.search(k)
		if found {
			return false
		}
		if n.leaf() {
			n.items = slices.Insert(n.items, i, item)
			return true
		}
		if c := n.children[i]; len(c.items) == maxItems {
			at := maxItems / 2
			if i == len(n.items) && c.items[maxItems-1].key.less(k) {
				// Appending past the end, as a sequential fill does: keep the
				// left node nearly full instead of leaving a trail of
				// half-empty nodes.
				at = maxItems - 2
			}
			n.splitChild(i, at)
			switch c := n.items[i].key.cmp(k); {
			case c == 0:
				return false
			case c < 0:
				i++
			}
		}
		n = n.children[i]
	}
}

// splitChild splits the full child i around its item mid, which moves up
// into n.
func (n *bnode[V]) splitChild(i, mid int) {
	c := n.children[i]
	right := newNode[V](c.leaf())
	right.items = append(right.items, c.items[mid+1:]...)
	up := c.items[mid]
	clear(c.items[mid:]) // drop references so the garbage collector can free them
	c.items = c.items[:mid]
	if !c.leaf() {
		right.children = append(right.children, c.children[mid+1:]...)
		clear(c.children[mid+1:])
		c.children = c.children[:mid+1]
	}
	n.items = slices.Insert(n.items, i, up)
	n.children = slices.Insert(n.children, i+1, right)
}

type removal int8

const (
	removeKey removal = iota
	removeMin
	removeMax
)

// delete removes the item with key k and reports whether it was present.
func (t *btree[V]) delete(k u128) bool {
	_, ok := t.remove(k, removeKey)
	return ok
}

func (t *btree[V]) remove(k u128, what removal) (entry[V], bool) {
	if t.root == nil {
		var zero entry[V]
		return zero, false
	}
	out, ok := t.root.remove(k, what)
	if len(t.root.items) == 0 && !t.root.leaf() {
		t.root = t.root.children[0]
	}
	if ok {
		t.size--
	}
	return out, ok
}

// remove deletes an item below n. Before descending into a child it makes
// sure the child has more than minItems items, so the removal never leaves
// a node under-full and never has to travel back up.
func (n *bnode[V]) remove(k u128, what removal) (entry[V], bool) {
	var zero entry[V]
	for {
		var i int
		found := false
		switch what {
		case removeMin:
			i = 0
		case removeMax:
			i = len(n.items)
		default:
			i, found = n.search(k)
		}
		if n.leaf() {
			switch {
			case len(n.items) == 0:
				return zero, false
			case what == removeMax:
				i = len(n.items) - 1
			case what == removeKey && !found:
				return zero, false
			}
			out := n.items[i]
			n.items = slices.Delete(n.items, i, i+1)
			return out, true
		}
		if len(n.children[i].items) <= minItems {
			n.refill(i)
			continue // items moved between n and its children: look again
		}
		if found {
			// Replace the item with its predecessor, which is in a leaf.
			out := n.items[i]
			n.items[i], _ = n.children[i].remove(k, removeMax)
			return out, true
		}
		n = n.children[i]
	}
}

// refill gives child i more than minItems items by borrowing one from a
// sibling through n, or by merging it with a sibling.
func (n *bnode[V]) refill(i int) {
	child := n.children[i]
	switch {
	case i > 0 && len(n.children[i-1].items) > minItems:
		left := n.children[i-1]
		last := len(left.items) - 1
		child.items = slices.Insert(child.items, 0, n.items[i-1])
		n.items[i-1] = left.items[last]
		left.items = slices.Delete(left.items, last, last+1)
		if !left.leaf() {
			lc := len(left.children) - 1
			child.children = slices.Insert(child.children, 0, left.children[lc])
			left.children = slices.Delete(left.children, lc, lc+1)
		}
	case i < len(n.items) && len(n.children[i+1].items) > minItems:
		right := n.children[i+1]
		child.items = append(child.items, n.items[i])
		n.items[i] = right.items[0]
		right.items = slices.Delete(right.items, 0, 1)
		if !right.leaf() {
			child.children = append(child.children, right.children[0])
			right.children = slices.Delete(right.children, 0, 1)
		}
	default:
		if i == len(n.items) {
			i-- // the last child merges with its left sibling
		}
		left, right := n.children[i], n.children[i+1]
		left.items = append(left.items, n.items[i])
		left.items = append(left.items, right.items...)
		left.children = append(left.children, right.children...)
		n.items = slices.Delete(n.items, i, i+1)
		n.children = slices.Delete(n.children, i+1, i+2)
	}
}
