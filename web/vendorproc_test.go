package web

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/psbridge/psbridge/internal/fakes1"
)

// fakeVendorEnv, set to a number of agents, makes the test binary serve the fake SentinelOne
// API (TestMain) until its standard input closes.
const fakeVendorEnv = "PSBRIDGE_TEST_FAKES1_AGENTS"

// serveFakeVendor serves fakes1 with agents agents on a free port of 127.0.0.1, prints its
// URL on a line of its own, and returns when standard input reaches its end (the parent
// closed it or exited). It returns the process exit code.
func serveFakeVendor(agents string) int {
	n, err := strconv.Atoi(agents)
	if err != nil || n < 0 {
		fmt.Fprintf(os.Stderr, "%s=%q: not a number of agents\n", fakeVendorEnv, agents)
		return 2
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "fake vendor:", err)
		return 1
	}
	srv := &http.Server{Handler: fakes1.New(fakes1.Config{TotalAgents: n})}
	go func() { _ = srv.Serve(ln) }()
	fmt.Printf("http://%s\n", ln.Addr())
	_, _ = io.Copy(io.Discard, os.Stdin)
	_ = srv.Close()
	return 0
}

// startVendorProcess runs the fake SentinelOne API with agents agents in a child process (this
// test binary again, see TestMain) and returns its base URL; the child ends with the test. The
// allocations and the Go CPU time of the vendor then stay out of this process's figures.
func startVendorProcess(tb testing.TB, agents int) string {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), fakeVendorEnv+"="+strconv.Itoa(agents))
	_, stdout := startPiped(tb, cmd, "the fake vendor process")
	line, err := stdout.ReadString('\n')
	if err != nil {
		tb.Fatalf("read the fake vendor's URL: %v", err)
	}
	url := strings.TrimSpace(line)
	if !strings.HasPrefix(url, "http://") {
		tb.Fatalf("fake vendor printed %q, not its URL", url)
	}
	return url
}

// startPiped starts cmd (what names it in errors) with its standard error on the test's and
// returns its standard input and a reader of its standard output. When the test ends, the
// child's standard input is closed (the children started this way then exit) and the child
// waited for.
func startPiped(tb testing.TB, cmd *exec.Cmd, what string) (io.WriteCloser, *bufio.Reader) {
	tb.Helper()
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start %s: %v", what, err)
	}
	tb.Cleanup(func() {
		_ = stdin.Close()
		_ = cmd.Wait()
	})
	return stdin, bufio.NewReader(stdout)
}
