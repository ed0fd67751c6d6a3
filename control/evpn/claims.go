package evpn

import "iter"

// claims are the received routes that claim each key of the desired
// state. Nearly every key has one claimant (a MAC behind one VTEP): it is
// held alone, a pointer in a map; the others of the few keys claimed more
// than once (a move in flight, MAC mobility, a misconfiguration) wait in a
// second map. A slice per key cost its header and an allocation of its
// own for every one of 100,000 keys.
type claims[K comparable] struct {
	first map[K]*entry
	more  map[K][]*entry
}

func newClaims[K comparable]() claims[K] {
	return claims[K]{first: map[K]*entry{}, more: map[K][]*entry{}}
}

// len is the number of keys claimed.
func (c *claims[K]) len() int { return len(c.first) }

func (c *claims[K]) add(k K, e *entry) {
	if _, ok := c.first[k]; !ok {
		c.first[k] = e
		return
	}
	c.more[k] = append(c.more[k], e)
}

// drop forgets e's claim on k; another claimant, if any, takes its place.
func (c *claims[K]) drop(k K, e *entry) {
	more := c.more[k]
	if c.first[k] == e {
		if len(more) == 0 {
			delete(c.first, k)
			return
		}
		c.first[k] = more[len(more)-1]
		more[len(more)-1] = nil
		more = more[:len(more)-1]
	} else {
		for i, m := range more {
			if m == e {
				more[i] = more[len(more)-1]
				more[len(more)-1] = nil
				more = more[:len(more)-1]
				break
			}
		}
	}
	if len(more) == 0 {
		delete(c.more, k)
	} else {
		c.more[k] = more
	}
}

// all yields the claimants of k.
func (c *claims[K]) all(k K) iter.Seq[*entry] {
	return func(yield func(*entry) bool) {
		e, ok := c.first[k]
		if !ok || !yield(e) {
			return
		}
		for _, e := range c.more[k] {
			if !yield(e) {
				return
			}
		}
	}
}
