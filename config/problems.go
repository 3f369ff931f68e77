package config

import (
	"fmt"
	"sort"
)

// Class says what a problem means for the object.
type Class int

const (
	// Invalid: the object itself is wrong and is left out of the snapshot
	// until it is fixed.
	Invalid Class = iota + 1
	// Transient: the object refers to something that does not exist (yet):
	// a Secret, a key, a BGPPeer. What is kept is documented per check.
	Transient
)

// String returns "Invalid" or "Transient".
func (c Class) String() string {
	switch c {
	case Invalid:
		return "Invalid"
	case Transient:
		return "Transient"
	}
	return fmt.Sprintf("Class(%d)", int(c))
}

// Problem is one thing wrong with one object.
type Problem struct {
	// Kind and Name identify the object at fault ("IPPool", "public").
	Kind string
	Name string
	// Field is the path of the field at fault ("spec.cidrs[1]"), or empty.
	Field string
	// Reason is a reason constant of api/v1alpha1 for the Ready condition.
	Reason string
	// Message is a sentence a user can act on, naming the other objects involved.
	Message string
	// Class says whether the object was left out.
	Class Class
}

// String formats the problem for logs and test failures.
func (p Problem) String() string {
	f := ""
	if p.Field != "" {
		f = " " + p.Field
	}
	return fmt.Sprintf("%s %s%s: %s (%s, %s)", p.Kind, p.Name, f, p.Message, p.Reason, p.Class)
}

// Problems are the problems of one Build, sorted by kind, name and field.
type Problems []Problem

// For returns the problems of one object, in order.
func (ps Problems) For(kind, name string) []Problem {
	var out []Problem
	for _, p := range ps {
		if p.Kind == kind && p.Name == name {
			out = append(out, p)
		}
	}
	return out
}

func (ps Problems) sort() {
	sort.SliceStable(ps, func(i, j int) bool {
		a, b := ps[i], ps[j]
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return a.Field < b.Field
	})
}

// Kinds of the objects problems are reported on.
const (
	KindIPPool           = "IPPool"
	KindBGPPeer          = "BGPPeer"
	KindBGPAdvertisement = "BGPAdvertisement"
	KindL2Advertisement  = "L2Advertisement"
)
