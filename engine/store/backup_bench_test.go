package store

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/time/rate"
)

// slowWriter accepts bytes at a fixed rate, like a backup client on a slow link.
type slowWriter struct {
	lim *rate.Limiter
}

func (w slowWriter) Write(p []byte) (int, error) {
	for done := 0; done < len(p); {
		n := min(len(p)-done, w.lim.Burst())
		if err := w.lim.WaitN(context.Background(), n); err != nil {
			return done, err
		}
		done += n
	}
	return len(p), nil
}

// BenchmarkWriterLatencyDuringBackup measures how long AppendCall takes (p50, p99) on a
// database of about 32 MiB, alone and while online backups stream to a client reading
// 16 MiB/s, one after another. Writers grow the file, so bbolt has to remap it now and then;
// a remap waits for every open read transaction.
func BenchmarkWriterLatencyDuringBackup(b *testing.B) {
	for _, mode := range []string{"idle", "backup"} {
		b.Run(mode, func(b *testing.B) {
			s, err := Open(filepath.Join(b.TempDir(), "bench.db"), Options{MaxCallLog: 1 << 30})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			filler := []byte(strings.Repeat("x", 4096))
			for batch := range 8 {
				err := s.db.Update(func(tx *bolt.Tx) error {
					bk, err := tx.CreateBucketIfNotExists([]byte("filler"))
					if err != nil {
						return err
					}
					for i := range 1024 {
						if err := bk.Put(fmt.Appendf(nil, "%08d", batch*1024+i), filler); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			inst := Instance{Name: "i", TypeID: mustType(b, s, "T")}
			if err := s.CreateInstance(&inst); err != nil {
				b.Fatal(err)
			}
			records, _ := json.Marshal([]string{strings.Repeat("r", 4096)})
			stop := make(chan struct{})
			var wg sync.WaitGroup
			backups := 0
			if mode == "backup" {
				wg.Go(func() {
					for {
						select {
						case <-stop:
							return
						default:
						}
						if _, err := s.Backup(slowWriter{rate.NewLimiter(16<<20, 64<<10)}); err != nil {
							b.Error(err)
							return
						}
						backups++
					}
				})
			}
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := range b.N {
				start := time.Now()
				if err := s.AppendCall(&CallLogEntry{InstanceID: inst.ID, Method: "M", At: start, OK: i%2 == 0, Records: records}); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
			}
			b.StopTimer()
			close(stop)
			wg.Wait()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
			b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
			_ = backups
		})
	}
}

// TestBackupIsConsistentUnderWrites: a backup taken while writers run opens, and holds every
// call appended before it started.
func TestBackupIsConsistentUnderWrites(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(filepath.Join(dir, "db"), Options{MaxCallLog: 1 << 30})
	must(t, err)
	defer s.Close()
	inst := Instance{Name: "i", TypeID: mustType(t, s, "T")}
	must(t, s.CreateInstance(&inst))
	for range 50 {
		must(t, s.AppendCall(&CallLogEntry{InstanceID: 1, Method: "before"}))
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := s.AppendCall(&CallLogEntry{InstanceID: 1, Method: "during"}); err != nil {
				t.Error(err)
				return
			}
		}
	})
	out := filepath.Join(dir, "copy.db")
	f, err := createFile(out)
	must(t, err)
	_, err = s.Backup(f)
	must(t, err)
	must(t, f.Close())
	close(stop)
	wg.Wait()
	c, err := Open(out, Options{KeyFile: filepath.Join(dir, "db.key")})
	must(t, err)
	defer c.Close()
	calls, err := c.Calls(1, 1<<20, 0)
	must(t, err)
	n := 0
	for _, e := range calls {
		if e.Method == "before" {
			n++
		}
	}
	if n != 50 {
		t.Fatalf("backup holds %d of the 50 calls made before it", n)
	}
}

var _ io.Writer = slowWriter{}

func createFile(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
}
