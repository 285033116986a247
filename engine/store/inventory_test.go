package store

import (
	"testing"
	"time"
)

// TestDetectedSoftware stores detections for several computers (ids whose keys share bytes)
// and reads them back one by one and per computer; a later detection replaces the earlier
// one, and the cache survives reopening the file.
func TestDetectedSoftware(t *testing.T) {
	s, path := newTestStore(t, Options{})
	at := time.Date(2026, 12, 1, 18, 0, 0, 0, time.UTC)
	for _, d := range []DetectedSoftware{
		{ComputerID: 1, SoftwareID: 2, SoftwareScope: "local", Installed: true, Version: "1.0", DetectedAt: at, SessionID: 1},
		{ComputerID: 1, SoftwareID: 1, SoftwareScope: "global", DetectedAt: at, SessionID: 2},
		{ComputerID: 256, SoftwareID: 1, SoftwareScope: "global", Installed: true, Version: "3.1", DetectedAt: at, SessionID: 3},
		{ComputerID: 1, SoftwareID: 2, SoftwareScope: "local", Installed: true, Version: "1.1", DetectedAt: at.Add(time.Hour), SessionID: 4},
	} {
		if err := s.PutDetectedSoftware(d); err != nil {
			t.Fatal(err)
		}
	}
	must(t, s.Close())
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })

	for _, tc := range []struct {
		name               string
		computer, software int64
		ok                 bool
		version            string
		session            int64
	}{
		{"replaced by the later detection", 1, 2, true, "1.1", 4},
		{"not installed", 1, 1, true, "", 2},
		{"other computer", 256, 1, true, "3.1", 3},
		{"never detected", 256, 2, false, "", 0},
		{"unknown computer", 9, 1, false, "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, ok, err := s.DetectedSoftwareFor(tc.computer, tc.software)
			if err != nil || ok != tc.ok || d.Version != tc.version || d.SessionID != tc.session || d.Installed != (tc.version != "") {
				t.Fatalf("got %+v, %v, %v", d, ok, err)
			}
		})
	}
	for _, tc := range []struct {
		computer int64
		software []int64
	}{{1, []int64{1, 2}}, {256, []int64{1}}, {2, nil}} {
		ds, err := s.DetectedSoftwareOf(tc.computer)
		if err != nil || len(ds) != len(tc.software) {
			t.Fatalf("computer %d: %+v, %v; want software %v", tc.computer, ds, err, tc.software)
		}
		for i, id := range tc.software {
			if ds[i].SoftwareID != id || ds[i].ComputerID != tc.computer {
				t.Fatalf("computer %d: %+v; want software %v", tc.computer, ds, tc.software)
			}
		}
	}
}
