//go:build !linux

package web

import "time"

// selfCPUTime is 0 where the benchmark does not read CPU times.
func selfCPUTime() time.Duration { return 0 }

// treeCPU is 0 where the benchmark does not read CPU times.
func treeCPU([]int) time.Duration { return 0 }
