package allocator

import (
	"errors"
	"fmt"
	"net/netip"
)

// Sentinel errors. Errors returned by the Allocator wrap one of them with a
// lowercase "doing what: cause" message naming the owner, address and pools;
// callers branch with errors.Is.
var (
	// ErrExhausted: every candidate pool with a range of the family is full.
	ErrExhausted = errors.New("no free address")
	// ErrInUse: the requested address is held by another owner and neither
	// side has a sharing key.
	ErrInUse = errors.New("address in use")
	// ErrNotInPool: the requested address is not a usable address of any of
	// the permitted pools (outside them, reserved, or in another pool).
	ErrNotInPool = errors.New("address not in pool")
	// ErrFamilyUnavailable: no candidate pool has a usable range of the
	// requested family.
	ErrFamilyUnavailable = errors.New("address family unavailable")
	// ErrSharingConflict: the address is held under a sharing key and the
	// request may not share it. The error is a *SharingConflictError.
	ErrSharingConflict = errors.New("sharing conflict")
	// ErrUnknownPool: a request named a pool that is not in the pool set.
	ErrUnknownPool = errors.New("unknown pool")
	// ErrAlreadyAssigned: the owner asked for a specific address while it
	// holds a different one of the same family. Addresses never move
	// implicitly: the caller releases the old one first.
	ErrAlreadyAssigned = errors.New("owner already holds an address of this family")
)

// SharingConflictError says why an owner may not share an address, naming
// the holder it conflicts with. errors.Is(err, ErrSharingConflict) holds.
type SharingConflictError struct {
	// Address is the address that could not be shared.
	Address netip.Addr
	// Owner is the holder the request conflicts with.
	Owner string
	// Reason names the conflict and the holder, e.g.
	// "port TCP/80 already used by ns/a"; see Share.ConflictWith.
	Reason string
}

// Error returns "cannot share 203.0.113.5: port TCP/80 already used by ns/a".
func (e *SharingConflictError) Error() string {
	return fmt.Sprintf("cannot share %s: %s", e.Address, e.Reason)
}

// Unwrap returns ErrSharingConflict.
func (e *SharingConflictError) Unwrap() error { return ErrSharingConflict }
