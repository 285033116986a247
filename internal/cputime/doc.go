// Package cputime reads the CPU time a process tree, or one named thread in it, has used, for
// benchmarks and tests: on a shared machine wall times swing with other load, CPU time much
// less, so A/B runs of the bridge and web benchmarks report both.
package cputime
