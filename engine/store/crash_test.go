package store

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Environment variables that turn the test binary into the crash-test child.
const (
	crashChildEnv = "PSBRIDGE_STORE_CRASH_CHILD" // database path
	crashTypeEnv  = "PSBRIDGE_STORE_CRASH_TYPE"  // integration type id to use
)

// runCrashChild creates instances (with a secret each) in a tight loop and prints each id on
// stdout once both writes have committed. It runs until killed.
func runCrashChild(path string) int {
	s, err := Open(path, Options{Timeout: 10 * time.Second})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	typeID := os.Getenv(crashTypeEnv)
	for n := 0; ; n++ {
		inst := Instance{Name: fmt.Sprintf("crash-%d", n), TypeID: typeID, FormData: map[string]any{"n": float64(n)}}
		if err := s.CreateInstance(&inst); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		if err := s.MergeInstanceSecrets(inst.ID, map[string]string{"P": fmt.Sprint("pw-", inst.ID)}, nil); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		fmt.Fprintln(os.Stdout, inst.ID)
	}
}

func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	path := filepath.Join(t.TempDir(), "crash.db")
	s, err := Open(path, Options{})
	must(t, err)
	typeID := mustType(t, s, "crash")
	must(t, s.Close())

	// acked holds every id any round acknowledged. An id created but not acknowledged (the
	// kill landed between its two transactions) may lack its secret, in this round and every
	// later one: only acknowledged writes are promised.
	acked := map[int64]bool{}
	for round := 1; round <= 3; round++ {
		t.Run(fmt.Sprint("round", round), func(t *testing.T) {
			last := runAndKill(t, path, typeID, 20+round*25, acked)
			checkCrashFile(t, path, last, acked)
		})
	}
}

// runAndKill starts the child, SIGKILLs it after it acknowledged `after` writes, and returns
// the last id it acknowledged, adding every acknowledged id to acked.
func runAndKill(t *testing.T, path, typeID string, after int, acked map[int64]bool) int64 {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+path, crashTypeEnv+"="+typeID)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	must(t, err)
	must(t, cmd.Start())
	sc := bufio.NewScanner(out)
	var last int64
	acks := 0
	killed := false
	for sc.Scan() {
		id, err := strconv.ParseInt(sc.Text(), 10, 64)
		if err != nil {
			t.Fatalf("child said %q", sc.Text())
		}
		last = id
		acked[id] = true
		if acks++; acks == after && !killed {
			must(t, cmd.Process.Kill()) // SIGKILL: no deferred cleanup, no Close
			killed = true
		}
	}
	_ = cmd.Wait()
	if !killed {
		t.Fatalf("child exited after %d acknowledgements without being killed", acks)
	}
	if last == 0 {
		t.Fatal("child acknowledged nothing")
	}
	t.Logf("killed after %d acknowledgements; last acknowledged id %d", acks, last)
	return last
}

// checkCrashFile opens the database after a crash and checks it is consistent and holds
// every acknowledged write.
func checkCrashFile(t *testing.T, path string, last int64, acked map[int64]bool) {
	t.Helper()
	s, err := Open(path, Options{})
	must(t, err)
	defer s.Close()
	must(t, s.db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			t.Errorf("bbolt check: %v", err)
		}
		return nil
	}))
	insts, err := s.Instances()
	must(t, err)
	if int64(len(insts)) < last {
		// Ids are allocated in order, so the last acknowledged id bounds the count from below.
		t.Fatalf("%d instances, but id %d was acknowledged", len(insts), last)
	}
	for i, inst := range insts {
		if inst.ID != int64(i+1) {
			t.Fatalf("instance ids not contiguous: position %d holds id %d", i, inst.ID)
		}
		sec, err := s.InstanceSecrets(inst.ID)
		if err != nil {
			t.Fatalf("instance %d secrets: %v", inst.ID, err)
		}
		if p, ok := sec["P"]; ok && p != fmt.Sprint("pw-", inst.ID) || !ok && acked[inst.ID] {
			t.Fatalf("instance %d secrets = %v", inst.ID, sec)
		}
	}
	got, err := s.Instance(last)
	if err != nil || got.TypeID == "" {
		t.Fatalf("last acknowledged instance %d = %+v, %v", last, got, err)
	}
}
