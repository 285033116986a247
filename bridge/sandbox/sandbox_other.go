//go:build !linux

package sandbox

import "os/exec"

// Wrap leaves cmd as it is: confinement is implemented for Linux only.
func Wrap(cmd *exec.Cmd, p Policy) error { return nil }

// Probe reports that this system gets no confinement from psbridge.
func Probe() Report {
	return Report{Notes: []string{"confinement is implemented for Linux only: workers run with this user's rights"}}
}

// Tree is a no-op outside Linux.
type Tree struct{}

// NewTree returns a Tree whose Sweep does nothing.
func NewTree(root, keep int) *Tree { return &Tree{} }

// Sweep does nothing outside Linux.
func (t *Tree) Sweep() (int, error) { return 0, nil }

// HideEnviron does nothing outside Linux.
func HideEnviron(prefix string) {}
