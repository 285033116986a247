// Package metrics is a small registry of counters, gauges and histograms that writes the
// Prometheus text exposition format (version 0.0.4) for /metrics. psbridge needs a dozen
// series, not a client library: this keeps the dependency list to what the project chose
// while staying scrapeable by any Prometheus-compatible collector.
package metrics

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Registry holds metric families and writes them in name order.
type Registry struct {
	mu       sync.Mutex
	families map[string]*family
	collects []func()
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{families: map[string]*family{}}
}

type kind string

const (
	kindCounter   kind = "counter"
	kindGauge     kind = "gauge"
	kindHistogram kind = "histogram"
)

type family struct {
	name, help string
	kind       kind
	labels     []string
	buckets    []float64
	mu         sync.Mutex
	series     map[string]*series
}

type series struct {
	labelValues []string
	value       float64
	counts      []uint64 // histogram buckets (cumulative at write time)
	sum         float64
	count       uint64
}

func (r *Registry) add(name, help string, k kind, labels []string, buckets []float64) *family {
	r.mu.Lock()
	defer r.mu.Unlock()
	if f, ok := r.families[name]; ok {
		if f.kind != k || strings.Join(f.labels, ",") != strings.Join(labels, ",") {
			panic(fmt.Sprintf("metrics: %s registered twice with different shapes", name))
		}
		return f
	}
	f := &family{name: name, help: help, kind: k, labels: labels, buckets: buckets, series: map[string]*series{}}
	r.families[name] = f
	return f
}

// OnCollect registers fn to run before every Write, to refresh gauges that mirror state
// owned elsewhere (worker counts, queue depth).
func (r *Registry) OnCollect(fn func()) {
	r.mu.Lock()
	r.collects = append(r.collects, fn)
	r.mu.Unlock()
}

func (f *family) get(values []string) *series {
	if len(values) != len(f.labels) {
		panic(fmt.Sprintf("metrics: %s wants %d label values, got %d", f.name, len(f.labels), len(values)))
	}
	key := strings.Join(values, "\xff")
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.series[key]
	if !ok {
		s = &series{labelValues: append([]string(nil), values...)}
		if f.kind == kindHistogram {
			s.counts = make([]uint64, len(f.buckets))
		}
		f.series[key] = s
	}
	return s
}

// Counter is a monotonically increasing value per label set.
type Counter struct{ f *family }

// NewCounter registers a counter family.
func (r *Registry) NewCounter(name, help string, labels ...string) Counter {
	return Counter{r.add(name, help, kindCounter, labels, nil)}
}

// Add increases the counter of the given label values by v (v must not be negative).
func (c Counter) Add(v float64, labelValues ...string) {
	if v < 0 {
		return
	}
	s := c.f.get(labelValues)
	c.f.mu.Lock()
	s.value += v
	c.f.mu.Unlock()
}

// Inc adds one.
func (c Counter) Inc(labelValues ...string) { c.Add(1, labelValues...) }

// SetTotal sets the counter to a monotonic total kept elsewhere (a pool's restart count, read
// in an OnCollect hook). A total lower than the current value is ignored.
func (c Counter) SetTotal(v float64, labelValues ...string) {
	s := c.f.get(labelValues)
	c.f.mu.Lock()
	if v > s.value {
		s.value = v
	}
	c.f.mu.Unlock()
}

// Gauge is a value that goes up and down per label set.
type Gauge struct{ f *family }

// NewGauge registers a gauge family.
func (r *Registry) NewGauge(name, help string, labels ...string) Gauge {
	return Gauge{r.add(name, help, kindGauge, labels, nil)}
}

// Set sets the gauge of the given label values.
func (g Gauge) Set(v float64, labelValues ...string) {
	s := g.f.get(labelValues)
	g.f.mu.Lock()
	s.value = v
	g.f.mu.Unlock()
}

// Add changes the gauge by v.
func (g Gauge) Add(v float64, labelValues ...string) {
	s := g.f.get(labelValues)
	g.f.mu.Lock()
	s.value += v
	g.f.mu.Unlock()
}

// Reset drops every series, for gauges rebuilt from scratch on collect.
func (g Gauge) Reset() {
	g.f.mu.Lock()
	g.f.series = map[string]*series{}
	g.f.mu.Unlock()
}

// Histogram counts observations into buckets per label set.
type Histogram struct{ f *family }

// DefaultDurationBuckets suit script call durations in seconds (1 ms to 5 min).
var DefaultDurationBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300}

// NewHistogram registers a histogram family with the given upper bounds (ascending).
func (r *Registry) NewHistogram(name, help string, buckets []float64, labels ...string) Histogram {
	b := append([]float64(nil), buckets...)
	sort.Float64s(b)
	return Histogram{r.add(name, help, kindHistogram, labels, b)}
}

// Observe records one value.
func (h Histogram) Observe(v float64, labelValues ...string) {
	s := h.f.get(labelValues)
	h.f.mu.Lock()
	for i, ub := range h.f.buckets {
		if v <= ub {
			s.counts[i]++
			break
		}
	}
	s.sum += v
	s.count++
	h.f.mu.Unlock()
}

// ObserveDuration records a duration in seconds.
func (h Histogram) ObserveDuration(d time.Duration, labelValues ...string) {
	h.Observe(d.Seconds(), labelValues...)
}

// ContentType is the media type of Write's output.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// Write writes every family in the text exposition format.
func (r *Registry) Write(w io.Writer) error {
	r.mu.Lock()
	collects := append([]func(){}, r.collects...)
	names := make([]string, 0, len(r.families))
	for n := range r.families {
		names = append(names, n)
	}
	fams := r.families
	r.mu.Unlock()
	for _, fn := range collects {
		fn()
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		f := fams[n]
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", f.name, escapeHelp(f.help), f.name, f.kind)
		f.mu.Lock()
		keys := make([]string, 0, len(f.series))
		for k := range f.series {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			s := f.series[k]
			if f.kind != kindHistogram {
				fmt.Fprintf(&b, "%s%s %s\n", f.name, labelText(f.labels, s.labelValues, "", ""), num(s.value))
				continue
			}
			var cum uint64
			for i, ub := range f.buckets {
				cum += s.counts[i]
				fmt.Fprintf(&b, "%s_bucket%s %d\n", f.name, labelText(f.labels, s.labelValues, "le", num(ub)), cum)
			}
			fmt.Fprintf(&b, "%s_bucket%s %d\n", f.name, labelText(f.labels, s.labelValues, "le", "+Inf"), s.count)
			fmt.Fprintf(&b, "%s_sum%s %s\n", f.name, labelText(f.labels, s.labelValues, "", ""), num(s.sum))
			fmt.Fprintf(&b, "%s_count%s %d\n", f.name, labelText(f.labels, s.labelValues, "", ""), s.count)
		}
		f.mu.Unlock()
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func labelText(names, values []string, extraName, extraValue string) string {
	if len(names) == 0 && extraName == "" {
		return ""
	}
	parts := make([]string, 0, len(names)+1)
	for i, n := range names {
		parts = append(parts, n+`="`+escapeLabel(values[i])+`"`)
	}
	if extraName != "" {
		parts = append(parts, extraName+`="`+extraValue+`"`)
	}
	return "{" + strings.Join(parts, ",") + "}"
}

func escapeLabel(s string) string {
	return strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`).Replace(s)
}

func escapeHelp(s string) string {
	return strings.NewReplacer(`\`, `\\`, "\n", `\n`).Replace(s)
}

func num(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}
