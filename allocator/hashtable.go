package allocator

// hashTable maps 64-bit hashes to grants. It is a linear-hashing table
// (Litwin, 1980): it grows by splitting one bucket at a time, so every
// insert does a bounded amount of work. A Go map instead rehashes all of
// its tables at about the same size, since hashes are uniform: assignments
// around 57,000 owners were several times slower than elsewhere while it
// grew. Buckets are one cache line and chain to overflow buckets; segments
// of buckets are never copied.
//
// Keys must be uniformly distributed (seeded hashes); get, set and del are
// O(1) expected. The table never shrinks: its size follows the peak number
// of keys, like a Go map's.
type hashTable struct {
	segs    [][]hashBucket
	level   uint // this round starts with 1<<level buckets
	split   int  // the next bucket to split in this round
	count   int
	scratch []hashEntry // reused by grow
}

type hashEntry struct {
	key uint64
	val *grant
}

// hashBucket holds up to hashInline entries, the first n of e, and chains
// to an overflow bucket when full. It is 64 bytes, one cache line: segments
// are large, page-aligned allocations, so a lookup reads one line.
type hashBucket struct {
	n    int
	e    [hashInline]hashEntry
	next *hashBucket
}

const (
	hashSegBits = 8 // 256 buckets per segment
	hashSegSize = 1 << hashSegBits
	hashLoad    = 2 // average entries per bucket before a split
	hashInline  = 3 // entries per bucket
)

// bucket returns the bucket key belongs in.
func (t *hashTable) bucket(key uint64) *hashBucket {
	if t.segs == nil {
		t.segs = [][]hashBucket{make([]hashBucket, hashSegSize)}
	}
	return t.at(t.index(key))
}

func (t *hashTable) index(key uint64) int {
	i := key & (1<<t.level - 1)
	if int(i) < t.split {
		i = key & (1<<(t.level+1) - 1)
	}
	return int(i)
}

func (t *hashTable) at(i int) *hashBucket { return &t.segs[i>>hashSegBits][i&(hashSegSize-1)] }

func (t *hashTable) len() int { return t.count }

// find returns the entry of key in the chain from b, or nil.
func (b *hashBucket) find(key uint64) *hashEntry {
	for ; b != nil; b = b.next {
		for i := range b.n {
			if b.e[i].key == key {
				return &b.e[i]
			}
		}
	}
	return nil
}

// add appends e to the chain from b.
func (b *hashBucket) add(e hashEntry) {
	for b.n == hashInline {
		if b.next == nil {
			b.next = &hashBucket{}
		}
		b = b.next
	}
	b.e[b.n] = e
	b.n++
}

// get returns the value of key, or nil.
func (t *hashTable) get(key uint64) *grant {
	if e := t.bucket(key).find(key); e != nil {
		return e.val
	}
	return nil
}

// set maps key to a non-nil val.
func (t *hashTable) set(key uint64, val *grant) {
	b := t.bucket(key)
	if e := b.find(key); e != nil {
		e.val = val
		return
	}
	b.add(hashEntry{key, val})
	t.count++
	if t.count > hashLoad*(1<<t.level+t.split) {
		t.grow()
	}
}

// del removes key, moving the chain's last entry into its place.
func (t *hashTable) del(key uint64) {
	head := t.bucket(key)
	e := head.find(key)
	if e == nil {
		return
	}
	// Entries are packed at the front of the chain; an emptied overflow
	// bucket stays for the next insert, so churn allocates nothing.
	tail := head
	for tail.next != nil && tail.next.n > 0 {
		tail = tail.next
	}
	last := &tail.e[tail.n-1]
	*e = *last
	*last = hashEntry{}
	tail.n--
	t.count--
}

// grow adds one bucket by splitting bucket t.split between itself and the
// new bucket t.split + 1<<t.level, by the next bit of the key.
func (t *hashTable) grow() {
	n := 1<<t.level + t.split // the new bucket's index
	if n>>hashSegBits == len(t.segs) {
		t.segs = append(t.segs, make([]hashBucket, hashSegSize))
	}
	old, moved := t.at(t.split), t.at(n)
	t.scratch = t.scratch[:0]
	for b := old; b != nil; b = b.next {
		t.scratch = append(t.scratch, b.e[:b.n]...)
	}
	*old = hashBucket{}
	for _, e := range t.scratch {
		if e.key&(1<<t.level) != 0 {
			moved.add(e)
		} else {
			old.add(e)
		}
	}
	clear(t.scratch)
	t.split++
	if t.split == 1<<t.level {
		t.level++
		t.split = 0
	}
}
