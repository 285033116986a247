package metrics

import (
	"strings"
	"testing"
	"time"
)

func TestWriteExpositionFormat(t *testing.T) {
	r := NewRegistry()
	calls := r.NewCounter("psbridge_calls_total", "Integration method calls.", "method", "outcome")
	workers := r.NewGauge("psbridge_workers", "Workers by state.", "state")
	dur := r.NewHistogram("psbridge_call_duration_seconds", "Call durations.", []float64{0.01, 0.1, 1}, "method")
	calls.Inc("GetClients", "ok")
	calls.Add(2, "GetClients", "ok")
	calls.Inc("Init", `bad"quote`)
	calls.Add(-5, "Init", "ok") // ignored: counters never go down
	r.OnCollect(func() { workers.Set(2, "idle") })
	dur.ObserveDuration(5*time.Millisecond, "GetClients")
	dur.Observe(0.5, "GetClients")
	dur.Observe(7, "GetClients")

	var b strings.Builder
	if err := r.Write(&b); err != nil {
		t.Fatal(err)
	}
	got := b.String()
	for _, want := range []string{
		"# TYPE psbridge_calls_total counter\n",
		`psbridge_calls_total{method="GetClients",outcome="ok"} 3` + "\n",
		`psbridge_calls_total{method="Init",outcome="bad\"quote"} 1` + "\n",
		`psbridge_workers{state="idle"} 2` + "\n",
		`psbridge_call_duration_seconds_bucket{method="GetClients",le="0.01"} 1` + "\n",
		`psbridge_call_duration_seconds_bucket{method="GetClients",le="1"} 2` + "\n",
		`psbridge_call_duration_seconds_bucket{method="GetClients",le="+Inf"} 3` + "\n",
		`psbridge_call_duration_seconds_sum{method="GetClients"} 7.505` + "\n",
		`psbridge_call_duration_seconds_count{method="GetClients"} 3` + "\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, `outcome="ok"} -`) {
		t.Error("a negative Add changed a counter")
	}
	// Families come out in name order.
	if strings.Index(got, "psbridge_call_duration") > strings.Index(got, "psbridge_workers") {
		t.Error("families not sorted")
	}
}

func TestLabelCountMismatchPanics(t *testing.T) {
	r := NewRegistry()
	c := r.NewCounter("x_total", "x", "a")
	defer func() {
		if recover() == nil {
			t.Fatal("no panic for a missing label value")
		}
	}()
	c.Inc()
}
