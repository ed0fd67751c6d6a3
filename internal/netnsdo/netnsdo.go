// Package netnsdo runs a function inside a network namespace: on a locked
// OS thread switched into it and back. Sockets made there stay in that
// namespace, and /proc/sys/net shows its sysctls. The lab and the
// privileged tests share it.
package netnsdo

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/vishvananda/netns"
)

// Do runs f on a locked OS thread switched into ns, and switches back.
func Do(ns netns.NsHandle, f func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return fmt.Errorf("get current netns: %w", err)
	}
	defer orig.Close()
	if err := netns.Set(ns); err != nil {
		return fmt.Errorf("enter netns: %w", err)
	}
	ferr := f()
	if err := netns.Set(orig); err != nil {
		// A thread left in the wrong namespace must never go back to
		// the runtime.
		panic(fmt.Sprintf("restore netns: %v", errors.Join(ferr, err)))
	}
	return ferr
}

// DoNamed is Do in the namespace named name (ip netns).
func DoNamed(name string, f func() error) error {
	target, err := netns.GetFromName(name)
	if err != nil {
		return fmt.Errorf("open netns %s: %w", name, err)
	}
	defer target.Close()
	if err := Do(target, f); err != nil {
		return fmt.Errorf("in netns %s: %w", name, err)
	}
	return nil
}
