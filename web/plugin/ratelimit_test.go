package plugin

import (
	"testing"
	"time"
)

// TestRateLimits checks the per-integration buckets: a burst is honoured and refused beyond,
// a deleted integration's bucket is dropped, and full buckets are dropped once the set has
// grown, so it stays as large as the integrations sending webhooks now.
func TestRateLimits(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	l := newRateLimits(1, 2) // 1 request a second, bursts of 2

	for i, want := range []bool{true, true, false} {
		if ok, wait := l.allow(7, t0); ok != want {
			t.Fatalf("request %d at once: allowed %v, want %v", i+1, ok, want)
		} else if !ok && (wait <= 0 || wait > time.Second) {
			t.Fatalf("refused request waits %v, want (0, 1s]", wait)
		}
	}
	if ok, _ := l.allow(7, t0.Add(time.Second)); !ok {
		t.Fatal("a second later the bucket has a token again")
	}
	l.forget(7)
	if n := l.len(); n != 0 {
		t.Fatalf("after forget: %d buckets", n)
	}

	// minLimitsPrune integrations send one request each; none is pruned while they are busy.
	for id := int64(1); id <= minLimitsPrune; id++ {
		l.allow(id, t0)
	}
	if n := l.len(); n != minLimitsPrune {
		t.Fatalf("%d buckets for %d integrations", n, minLimitsPrune)
	}
	// Integration 1 stays busy (its bucket empty); the rest go quiet and refill.
	l.allow(1, t0)
	later := t0.Add(10 * time.Second)
	l.allow(1, later)
	l.allow(1, later)
	if ok, _ := l.allow(minLimitsPrune+1, later); !ok {
		t.Fatal("a new integration's first request was refused")
	}
	if n := l.len(); n != 2 {
		t.Fatalf("after the quiet ones refilled: %d buckets, want 2 (the busy one and the new one)", n)
	}
	if ok, _ := l.allow(1, later); ok {
		t.Fatal("the busy integration's empty bucket was dropped: its limit was reset")
	}
}
