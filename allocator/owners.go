package allocator

import "hash/maphash"

// ownerIndex maps each owner to the first of its grants; the others are
// linked through the holder records.
//
// It is keyed by a 64-bit seeded hash of the owner, in a hashTable that
// grows one bucket at a time; the head grant, which holds the owner's name,
// confirms the owner, so an owner costs a 16-byte entry. The rare owner whose hash collides with
// an indexed owner's goes to a small map keyed by the string, so lookups stay
// exact. The seed is random per Allocator so that no one can choose owner
// names that collide; no result depends on it.
type ownerIndex struct {
	seed     maphash.Seed
	byHash   hashTable
	collided map[string]*grant
	hashOf   func(string) uint64 // replaces the seeded hash in tests, to force collisions
}

// ownerSlot says where an owner is indexed.
type ownerSlot struct {
	hash     uint64
	head     *grant
	collided bool // in collided rather than byHash
	taken    bool // byHash has the hash, for another owner
}

func newOwnerIndex() ownerIndex {
	return ownerIndex{seed: maphash.MakeSeed(), collided: map[string]*grant{}}
}

func (x *ownerIndex) find(owner string) ownerSlot {
	if len(x.collided) > 0 {
		if g, ok := x.collided[owner]; ok {
			return ownerSlot{head: g, collided: true}
		}
	}
	s := ownerSlot{}
	if x.hashOf != nil {
		s.hash = x.hashOf(owner)
	} else {
		s.hash = maphash.String(x.seed, owner)
	}
	if g := x.byHash.get(s.hash); g != nil {
		// An owner that holds the head grant of its hash is the owner that
		// slot belongs to: it is indexed (it holds a grant), and not in
		// collided.
		if g.holderOf(owner) != nil {
			s.head = g
		} else {
			s.taken = true
		}
	}
	return s
}

// head returns owner's first grant, or nil.
func (x *ownerIndex) head(owner string) *grant { return x.find(owner).head }

// setHead makes g owner's first grant; nil forgets the owner. s is what
// find(owner) returned, before any change to owner's grants.
func (x *ownerIndex) setHead(owner string, s ownerSlot, g *grant) {
	switch {
	case s.collided || s.taken:
		if g == nil {
			delete(x.collided, owner)
		} else {
			x.collided[owner] = g
		}
	case g == nil:
		x.byHash.del(s.hash)
	default:
		x.byHash.set(s.hash, g)
	}
}
