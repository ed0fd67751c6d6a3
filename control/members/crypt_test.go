package members

import (
	"bytes"
	"testing"
	"time"
)

func key(b byte, n int) []byte { return bytes.Repeat([]byte{b}, n) }

// Hosts with the same key join; a host with another key, or none, is not
// admitted, and says why.
func TestEncryption(t *testing.T) {
	k1 := key(1, 32)
	a := start(t, Config{Self: meta("a", 51), Keys: [][]byte{k1}})
	b := start(t, Config{Self: meta("b", 52), Keys: [][]byte{k1}, Seeds: []string{a.seed()}})
	waitStates(t, "a=alive b=alive", a, b)

	for _, tc := range []struct {
		name string
		keys [][]byte
		why  string // in the joiner's log
		seen string // in the seed's log
	}{
		{"wrong key", [][]byte{key(2, 32)}, "no installed keys could decrypt the message", "no installed keys could decrypt the message"},
		{"wrong key of another length", [][]byte{key(1, 16)}, "no installed keys could decrypt the message", "no installed keys could decrypt the message"},
		{"no key", nil, "remote state is encrypted and encryption is not configured", "encryption is configured but remote state is not encrypted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := start(t, Config{Self: meta("x", 53), Keys: tc.keys, Seeds: []string{a.seed()}})
			waitFor(t, 5*time.Second, "x to fail its join", func() bool { return x.log.has("serving alone") })
			if !x.log.has("serving alone", tc.why) {
				t.Errorf("x's log does not say %q", tc.why)
			}
			waitFor(t, 5*time.Second, "a to log "+tc.seen, func() bool { return a.log.has("ERROR", tc.seen) })
			if got := x.states(); got != "x=alive" {
				t.Errorf("x sees %s", got)
			}
			if got := a.states(); got != "a=alive b=alive" {
				t.Errorf("a sees %s", got)
			}
			x.stop(t)
		})
	}
}

// Rotation: every key decrypts, the first encrypts. Midway through a
// rotation, a host that already encrypts with the new key and one that
// still encrypts with the old one understand each other, both holding
// both.
func TestKeyRotation(t *testing.T) {
	old, next := key(1, 16), key(2, 24)
	a := start(t, Config{Self: meta("a", 61), Keys: [][]byte{old, next}})
	b := start(t, Config{Self: meta("b", 62), Keys: [][]byte{next, old}, Seeds: []string{a.seed()}})
	waitStates(t, "a=alive b=alive", a, b)
}
