//go:build !linux

package sandbox

// Probe reports that this system gets no confinement from psbridge.
func Probe() Report {
	return Report{Notes: []string{"confinement (Landlock, the cleaning launcher) is implemented for Linux only: scripts can read every file the workers' account can"}}
}

// Tree is a no-op outside Linux.
type Tree struct{}

// NewTree returns a Tree whose Sweep does nothing.
func NewTree(root, keep int) *Tree { return &Tree{} }

// Sweep does nothing outside Linux.
func (t *Tree) Sweep() (int, error) { return 0, nil }

// Close does nothing outside Linux.
func (t *Tree) Close() {}

// HideEnviron does nothing outside Linux.
func HideEnviron(prefix string) {}
