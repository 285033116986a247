//go:build !linux

package cputime

import "time"

// Self is 0 where the benchmark does not read CPU times.
func Self() time.Duration { return 0 }

// Tree is 0 where the benchmark does not read CPU times.
func Tree([]int) time.Duration { return 0 }

// Thread is not found where the benchmark does not read CPU times.
func Thread(int, string) (time.Duration, bool) { return 0, false }
