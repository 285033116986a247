//go:build unix

package console

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/psbridge/psbridge/internal/mask/masktest"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/psbridge/psbridge/internal/testpwsh"
)

// deadline bounds every wait for pwsh; generous because the machine is shared.
const deadline = 60 * time.Second

// testUser authenticates "Authorization: Bearer <user>" (any non-empty user).
func testUser(r *http.Request) (string, bool) {
	scheme, user, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	return user, scheme == "Bearer" && user != ""
}

type server struct {
	m   *Manager
	url string
}

func newServer(t *testing.T, cfg Config) *server {
	t.Helper()
	cfg.Pwsh = testpwsh.Pwsh(t)
	if cfg.TempDir == "" {
		cfg.TempDir = t.TempDir()
	}
	m, err := NewManager(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /api/v1/console/ws", m.Handler(testUser))
	srv := httptest.NewServer(mux) // listens on 127.0.0.1
	t.Cleanup(func() {
		srv.Close()
		m.Close()
	})
	return &server{m: m, url: "ws" + strings.TrimPrefix(srv.URL, "http") + "/api/v1/console/ws"}
}

// client is a websocket client that records every frame and answers the terminal's cursor
// position queries (as a terminal emulator would).
type client struct {
	t    *testing.T
	conn *websocket.Conn
	wmu  sync.Mutex // one writer at a time

	mu     sync.Mutex
	frames [][]byte // every frame's payload, binary and text
	out    []byte   // binary frames concatenated
	msgs   []Message
	closed bool
	change chan struct{}
}

func (s *server) dial(t *testing.T, user, query string, header http.Header) (*client, *http.Response, error) {
	t.Helper()
	if header == nil {
		header = http.Header{}
	}
	if user != "" {
		header.Set("Authorization", "Bearer "+user)
	}
	u := s.url
	if query != "" {
		u += "?" + query
	}
	conn, resp, err := websocket.DefaultDialer.Dial(u, header)
	if err != nil {
		return nil, resp, err
	}
	c := &client{t: t, conn: conn, change: make(chan struct{}, 1)}
	go c.read()
	t.Cleanup(func() { conn.Close() })
	return c, resp, nil
}

func (s *server) mustDial(t *testing.T, user, query string) *client {
	t.Helper()
	c, resp, err := s.dial(t, user, query, nil)
	if err != nil {
		body := ""
		if resp != nil {
			b, _ := io.ReadAll(resp.Body)
			body = string(b)
		}
		t.Fatalf("dial: %v %s", err, body)
	}
	return c
}

func (c *client) read() {
	for {
		typ, data, err := c.conn.ReadMessage()
		c.mu.Lock()
		if err != nil {
			c.closed = true
			c.mu.Unlock()
			c.notify()
			return
		}
		c.frames = append(c.frames, data)
		switch typ {
		case websocket.BinaryMessage:
			n := strings.Count(string(c.out), "\x1b[6n")
			c.out = append(c.out, data...)
			if q := strings.Count(string(c.out), "\x1b[6n") - n; q > 0 {
				go func() {
					for i := 0; i < q; i++ {
						c.write(websocket.BinaryMessage, []byte("\x1b[1;1R"))
					}
				}()
			}
		case websocket.TextMessage:
			var m Message
			if err := json.Unmarshal(data, &m); err == nil {
				c.msgs = append(c.msgs, m)
			}
		}
		c.mu.Unlock()
		c.notify()
	}
}

func (c *client) write(typ int, b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.conn.WriteMessage(typ, b)
}

func (c *client) notify() {
	select {
	case c.change <- struct{}{}:
	default:
	}
}

// visible is the text the terminal shows so far (escape sequences removed).
func (c *client) visible() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, _ := masktest.TerminalView(c.out)
	return v
}

// waitFor waits until cond holds, failing the test after the deadline.
func (c *client) waitFor(what string, cond func() bool) {
	c.t.Helper()
	timer := time.NewTimer(deadline)
	defer timer.Stop()
	for !cond() {
		select {
		case <-c.change:
		case <-timer.C:
			c.t.Fatalf("timed out waiting for %s; screen so far:\n%s\nmessages: %+v", what, tail(c.visible(), 2000), c.messages())
		}
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func (c *client) waitText(re string) []string {
	c.t.Helper()
	rx := regexp.MustCompile(re)
	var m []string
	c.waitFor(fmt.Sprintf("%q on the screen", re), func() bool {
		m = rx.FindStringSubmatch(c.visible())
		return m != nil
	})
	return m
}

func (c *client) messages() []Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Message(nil), c.msgs...)
}

func (c *client) waitMessage(typ string) Message {
	c.t.Helper()
	var found Message
	c.waitFor("a "+typ+" message", func() bool {
		for _, m := range c.messages() {
			if m.Type == typ {
				found = m
				return true
			}
		}
		return false
	})
	return found
}

func (c *client) waitClosed() {
	c.t.Helper()
	c.waitFor("the connection to close", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.closed
	})
}

func (c *client) send(text string) {
	c.t.Helper()
	if err := c.write(websocket.BinaryMessage, []byte(text)); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

func (c *client) control(m Message) {
	c.t.Helper()
	b, _ := json.Marshal(m)
	if err := c.write(websocket.TextMessage, b); err != nil {
		c.t.Fatalf("send control: %v", err)
	}
}

// run types a command and waits for a marker it prints: marker is built so that the typed
// command line itself does not contain it.
func (c *client) run(command, wantRegexp string) []string {
	c.t.Helper()
	c.send(command + "\r")
	return c.waitText(wantRegexp)
}

func (c *client) waitPrompt() {
	c.t.Helper()
	c.waitText(`PS [^\n]*> ?`)
}

// groupMembers lists the processes whose process group is pgid.
func groupMembers(pgid int) []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ...: comm may hold spaces, so split after the last ')'.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) > 2 {
			if g, _ := strconv.Atoi(f[2]); g == pgid {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

func TestConsoleTypeResizeAndClose(t *testing.T) {
	t.Parallel()
	s := newServer(t, Config{})
	c := s.mustDial(t, "alice", "cols=90&rows=25")
	hello := c.waitMessage("hello")
	if hello.Session == "" {
		t.Fatal("hello without a session id")
	}
	c.waitPrompt()
	c.run(`Write-Output ('hel' + 'lo-' + 'world')`, `hello-world`)
	c.run(`"W=" + ($Host.UI.RawUI.WindowSize.Width + 1000)`, `W=1090`)

	c.control(Message{Type: "resize", Cols: 101, Rows: 33})
	// pwsh learns the new size from SIGWINCH, asynchronously to the next command: ask until
	// an answer shows the new size (each answer is waited for before asking again).
	answers := regexp.MustCompile(`V=1\d{3}x1\d{3}`)
	for attempt := 0; attempt < 30 && !strings.Contains(c.visible(), "V=1101x1033"); attempt++ {
		before := len(answers.FindAllString(c.visible(), -1))
		c.send(`"V=" + ($Host.UI.RawUI.WindowSize.Width + 1000) + "x" + ($Host.UI.RawUI.WindowSize.Height + 1000)` + "\r")
		c.waitFor("an answer", func() bool { return len(answers.FindAllString(c.visible(), -1)) > before })
	}
	if !strings.Contains(c.visible(), "V=1101x1033") {
		t.Fatalf("the new size never reached pwsh; screen:\n%s", tail(c.visible(), 2000))
	}

	c.control(Message{Type: "ping"})
	c.waitMessage("pong")

	sess, err := s.m.Lookup("alice", hello.Session)
	if err != nil {
		t.Fatal(err)
	}
	// PSReadLine keeps no history file.
	c.run(`"H=" + (Get-PSReadLineOption).HistorySaveStyle + "."`, `H=SaveNothing\.`)
	// A child in the background must not outlive the session.
	c.run(`$null = Start-Process -FilePath sleep -ArgumentList 300 -PassThru; "started-" + 'child'`, `started-child`)
	pgid := sess.PID()
	if n := len(groupMembers(pgid)); n < 2 {
		t.Fatalf("expected pwsh and sleep in process group %d, found %d processes", pgid, n)
	}
	dir := sess.Dir()
	if err := sess.Close(); err != nil {
		t.Fatal(err)
	}
	if left := groupMembers(pgid); len(left) > 0 {
		for _, p := range left {
			b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
			t.Logf("%s", b)
		}
		t.Fatalf("processes left in the session's group after close: %v", left)
	}
	if err := syscall.Kill(pgid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("pwsh %d still exists (or is a zombie): %v", pgid, err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("session directory %s not removed: %v", dir, err)
	}
	if msg := c.waitMessage("exit"); msg.Code == nil {
		t.Fatalf("exit without a code: %+v", msg)
	}
	c.waitClosed()
	if total, _ := s.m.Count("alice"); total != 0 {
		t.Fatalf("%d sessions still listed", total)
	}
}

func TestConsoleExitCode(t *testing.T) {
	t.Parallel()
	s := newServer(t, Config{})
	c := s.mustDial(t, "alice", "")
	c.waitPrompt()
	c.send("exit 7\r")
	msg := c.waitMessage("exit")
	if msg.Code == nil || *msg.Code != 7 {
		t.Fatalf("exit message %+v, want code 7", msg)
	}
	c.waitClosed()
}

func TestConsoleReconnectAndOwnership(t *testing.T) {
	t.Parallel()
	s := newServer(t, Config{ReconnectWindow: 30 * time.Second})
	c := s.mustDial(t, "alice", "")
	id := c.waitMessage("hello").Session
	c.waitPrompt()
	pid := c.run(`"pid=" + $PID + "."`, `pid=(\d+)\.`)[1]
	c.conn.Close() // the connection drops; the session waits

	// Another user may not attach.
	_, resp, err := s.dial(t, "mallory", "session="+id, nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-user attach: err %v, response %v; want 403", err, resp)
	}

	c2 := s.mustDial(t, "alice", "session="+id)
	if got := c2.waitMessage("hello").Session; got != id {
		t.Fatalf("re-attached to %q, want %q", got, id)
	}
	c2.waitText(`pid=` + pid + `\.`) // the scrollback is replayed
	c2.send("\r")
	c2.run(`"again=" + $PID + "."`, `again=`+pid+`\.`)

	// An unknown session id is an error message, not a new session.
	c3 := s.mustDial(t, "alice", "session=0000")
	if m := c3.waitMessage("error"); !strings.Contains(m.Message, "not found") {
		t.Fatalf("unknown session: %+v", m)
	}
	c3.waitClosed()
}

func TestConsoleReconnectWindowExpires(t *testing.T) {
	t.Parallel()
	s := newServer(t, Config{ReconnectWindow: 2 * time.Second})
	c := s.mustDial(t, "alice", "")
	id := c.waitMessage("hello").Session
	sess, err := s.m.Lookup("alice", id)
	if err != nil {
		t.Fatal(err)
	}
	c.conn.Close()
	select {
	case <-sess.Done():
	case <-time.After(deadline):
		t.Fatal("the session outlived its reconnect window")
	}
	if !strings.Contains(sess.CloseReason(), "re-attach") {
		t.Fatalf("close reason %q", sess.CloseReason())
	}
	if left := groupMembers(sess.PID()); len(left) > 0 {
		t.Fatalf("processes left: %v", left)
	}
}

func TestConsoleIdleTimeout(t *testing.T) {
	t.Parallel()
	s := newServer(t, Config{IdleTimeout: 3 * time.Second})
	c := s.mustDial(t, "alice", "")
	c.waitMessage("hello")
	if m := c.waitMessage("exit"); m.Code == nil {
		t.Fatalf("exit %+v", m)
	}
	var reason string
	for _, m := range c.messages() {
		if m.Type == "error" {
			reason = m.Message
		}
	}
	if !strings.Contains(reason, "without input") {
		t.Fatalf("no idle reason before exit: %+v", c.messages())
	}
	c.waitClosed()
}

func TestConsoleSessionCaps(t *testing.T) {
	t.Parallel()
	s := newServer(t, Config{MaxSessionsPerUser: 1, MaxSessions: 2})
	a := s.mustDial(t, "alice", "")
	a.waitMessage("hello")
	tests := []struct {
		user, want string
	}{
		{"alice", `user "alice" already has 1 console sessions open`},
		{"bob", ""},
		{"carol", `the server already has 2 console sessions open`},
	}
	for _, tt := range tests {
		c := s.mustDial(t, tt.user, "")
		if tt.want == "" {
			c.waitMessage("hello")
			continue
		}
		m := c.waitMessage("error")
		if !strings.Contains(m.Message, tt.want) {
			t.Errorf("%s: error %q, want it to contain %q", tt.user, m.Message, tt.want)
		}
		c.waitClosed()
	}
}

func TestConsoleRefusals(t *testing.T) {
	t.Parallel()
	s := newServer(t, Config{AllowedOrigins: []string{"https://console.example"}})
	tests := []struct {
		name   string
		user   string
		origin string
		want   int
	}{
		{"no credentials", "", "", http.StatusUnauthorized},
		{"foreign origin", "alice", "https://evil.example", http.StatusForbidden},
		{"look-alike origin", "alice", "http://127.0.0.1.evil.example", http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.origin != "" {
				h.Set("Origin", tt.origin)
			}
			_, resp, err := s.dial(t, tt.user, "", h)
			if err == nil || resp == nil || resp.StatusCode != tt.want {
				t.Fatalf("err %v response %v; want %d", err, resp, tt.want)
			}
		})
	}
	if total, _ := s.m.Count(""); total != 0 {
		t.Fatalf("a refused request started %d sessions", total)
	}
	allowed := []string{"https://console.example", "http://" + strings.TrimPrefix(strings.Split(s.url, "/api")[0], "ws://")}
	for _, o := range allowed {
		r := httptest.NewRequest("GET", s.url, nil)
		r.Host = strings.TrimPrefix(strings.Split(s.url, "/api")[0], "ws://")
		r.Header.Set("Origin", o)
		if !s.m.originAllowed(r) {
			t.Errorf("origin %s refused", o)
		}
	}
}

// fakeIntegration keeps a secret derived from its API key in $IntegrationContext: psbridge
// does not know that value until Init has run.
const fakeIntegration = `$Integration = New-DynamicIntegration -Init {
    param([Parameter(Mandatory)][Password(StripValue = $true)][string]$ApiKey, [string]$Region = 'eu')
    $IntegrationContext.SessionToken = $ApiKey.ToUpper() + '-session'
    $IntegrationContext.Region = $Region
    [OpResult]::Ok()
} -HealthCheck {
    New-HealthyResult
}
$Integration | Add-DynamicIntegrationCapability -Interface ISupportsListingClients -GetClients {
    Write-Host ("token during call: " + $IntegrationContext.SessionToken)
    New-IntegrationClient -ClientId 42 -ClientName ('Con' + 'toso-' + $IntegrationContext.Region)
}
$Integration
`

func TestConsoleInstance(t *testing.T) {
	t.Parallel()
	const apiKey = "k3y-for-the-fake-api"
	sessionToken := strings.ToUpper(apiKey) + "-session"
	var asked []string
	var mu sync.Mutex
	src := InstanceSourceFunc(func(ctx context.Context, user, id string) (ConsoleInstance, error) {
		mu.Lock()
		asked = append(asked, user+"/"+id)
		mu.Unlock()
		if id != "inst-1" {
			return ConsoleInstance{}, fmt.Errorf("no instance %s", id)
		}
		return ConsoleInstance{
			ScriptName: "Fake.ps1",
			ScriptText: fakeIntegration,
			FormData:   map[string]any{"ApiKey": apiKey, "Region": "us"},
			Secrets:    []string{apiKey},
		}, nil
	})
	s := newServer(t, Config{Instances: src, ModuleManifest: testpwsh.Module(t).Manifest()})

	bad := s.mustDial(t, "alice", "instance=nope")
	if m := bad.waitMessage("error"); !strings.Contains(m.Message, "no instance nope") {
		t.Fatalf("unknown instance: %+v", m)
	}

	c := s.mustDial(t, "alice", "instance=inst-1&cols=200&rows=50")
	id := c.waitMessage("hello").Session
	c.waitText(`Init done\.`)
	c.waitPrompt()
	sess, err := s.m.Lookup("alice", id)
	if err != nil {
		t.Fatal(err)
	}
	// The data file is gone as soon as pwsh read it.
	if files, _ := filepath.Glob(filepath.Join(sess.Dir(), "instance-*.json")); len(files) > 0 {
		t.Fatalf("instance data file left behind: %v", files)
	}

	c.run(`Invoke-IntegrationMethod GetClients | ForEach-Object { "client=" + $_.ClientName + "." }`, `client=Contoso-us\.`)
	c.waitText(`token during call: \*{8}`)
	c.run(`GetClients | ForEach-Object { "again=" + $_.ClientId + "." }`, `again=42\.`)
	c.run(`"ctx=[" + ($null -eq $IntegrationContext) + "][$IntegrationContext]"`, `ctx=\[True\]\[\]`)
	c.run(`"vars=" + @(Get-Variable | Where-Object { "$($_.Value)" -clike '*FOR-THE-FAKE-API*' }).Count + "."`, `vars=0\.`)
	c.run(`"helpers=" + @(Get-Command -Name Get-PsbStringLeaf, Send-PsbSecret -ErrorAction Ignore).Count + "."`, `helpers=0\.`)
	// Even reached on purpose, the value is masked.
	c.run(`& (Get-Command Invoke-IntegrationMethod).Module { "reached=" + $Context.SessionToken + "." }`, `reached=\*{8}\.`)

	// A line breakpoint in the script stops inside GetClients.
	c.run(`$bp = Set-PSBreakpoint -Script (Join-Path $PWD 'Fake.ps1') -Line 11; "bp-" + 'set'`, `bp-set`)
	c.send("GetClients\r")
	c.waitText(`Hit Line breakpoint on '[^']*Fake\.ps1:11'`)
	c.waitText(`\[DBG\]`)
	c.send("c\r")
	c.waitText(`(?s)Hit Line breakpoint.*Contoso-us`)
	c.waitPrompt()

	if err := sess.Close(); err != nil {
		t.Fatal(err)
	}
	c.waitClosed()
	if _, err := os.Stat(sess.Dir()); !os.IsNotExist(err) {
		t.Fatalf("session directory not removed: %v", err)
	}

	// No frame, and not the stream as a whole, carries a secret in any form.
	c.mu.Lock()
	defer c.mu.Unlock()
	forms := append(Variants(apiKey), Variants(sessionToken)...)
	forms = append(forms, base64.StdEncoding.EncodeToString([]byte(sessionToken)))
	var all []byte
	for i, f := range c.frames {
		all = append(all, f...)
		for _, v := range forms {
			if strings.Contains(string(f), v) {
				t.Fatalf("frame %d carries the secret form %q", i, v)
			}
		}
	}
	vis, _ := masktest.TerminalView(c.out)
	for _, v := range forms {
		if strings.Contains(string(all), v) || strings.Contains(vis, v) {
			t.Fatalf("the stream carries the secret form %q", v)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(asked) != 2 || asked[1] != "alice/inst-1" {
		t.Fatalf("instance source asked %v", asked)
	}
}

// TestConsoleScriptInPlace loads the user's own script file (psbridge console --local): a
// breakpoint set on that file stops inside a method, and reload picks up an edit of the file,
// including a capability the edit added, while a script that no longer loads keeps the
// previous version.
func TestConsoleScriptInPlace(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "My Integration.ps1")
	write := func(text string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(fakeIntegration)
	// A module used in place under another name; its file name needs quoting in a manifest.
	modPath := filepath.Join(dir, "vendor's helper.psm1")
	if err := os.WriteFile(modPath, []byte("function Get-VendorThing {\n    $n = 'thing'\n    \"vendor-$n\"\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	src := InstanceSourceFunc(func(ctx context.Context, user, id string) (ConsoleInstance, error) {
		return ConsoleInstance{
			ScriptName:  "ignored.ps1",
			ModulePaths: map[string]string{"VendorHelper": modPath},
			ScriptPath:  path,
			FormData:    map[string]any{"ApiKey": "key-in-place", "Region": "us"},
			Secrets:     []string{"key-in-place"},
		}, nil
	})
	s := newServer(t, Config{Instances: src, ModuleManifest: testpwsh.Module(t).Manifest()})
	c := s.mustDial(t, "alice", "instance=local&cols=200&rows=50")
	id := c.waitMessage("hello").Session
	c.waitText(`After an edit: reload`)
	c.waitText(`Init done\.`)
	c.waitPrompt()
	sess, err := s.m.Lookup("alice", id)
	if err != nil {
		t.Fatal(err)
	}
	if copies, _ := filepath.Glob(filepath.Join(sess.Dir(), "*.ps1")); len(copies) > 1 {
		t.Fatalf("the session runs a copy of the script: %v", copies)
	}

	// Line 11 of the user's file is inside GetClients.
	c.run(`$bp = Set-PSBreakpoint -Script '`+path+`' -Line 11; "bp-" + 'set'`, `bp-set`)
	c.send("GetClients\r")
	c.waitText(`Hit Line breakpoint on '[^']*My Integration\.ps1:11'`)
	c.waitText(`\[DBG\]`)
	c.send("c\r")
	c.waitText(`(?s)Hit Line breakpoint.*Contoso-us`)
	c.waitPrompt()
	c.run(`Remove-PSBreakpoint $bp; "bp-" + 'removed'`, `bp-removed`)

	// The module is the user's file, not a copy: Import-Module VendorHelper loads it and a
	// breakpoint on its line 3 hits.
	c.run(`Import-Module VendorHelper; (Get-Command Get-VendorThing).Module.Name + '-' + 'loaded'`, `VendorHelper-loaded`)
	c.run(`$bp = Set-PSBreakpoint -Script '`+strings.ReplaceAll(modPath, "'", "''")+`' -Line 3; "bp-" + 'set'`, `bp-set`)
	c.send("Get-VendorThing\r")
	c.waitText(`Hit Line breakpoint on '.*helper\.psm1:3'`)
	c.waitText(`\[DBG\]`)
	c.send("c\r")
	c.waitText(`vendor-thing`)
	c.waitPrompt()
	c.run(`Remove-PSBreakpoint $bp; "bp-" + 'removed'`, `bp-removed`)
	if copies, _ := filepath.Glob(filepath.Join(sess.Dir(), "modules", "*", "*.psm1")); len(copies) > 0 {
		t.Fatalf("the session runs a copy of the module: %v", copies)
	}

	// The edit renames the client and adds a capability; reload reruns Init (the region comes
	// from the form again) and makes the new method a command.
	edited := strings.Replace(fakeIntegration, "('Con' + 'toso-'", "('Fab' + 'rikam-'", 1) +
		"$Integration | Add-DynamicIntegrationCapability -Interface ISupportsListingAgents -GetAgents { 'agent-' + 'list' }\n$Integration\n"
	write(edited)
	c.run(`reload`, `(?s)reloaded\. Methods: Init, HealthCheck, GetClients, GetAgents.*Init done\.`)
	c.run(`GetClients | ForEach-Object { "client=" + $_.ClientName + "." }`, `client=Fabrikam-us\.`)
	c.run(`GetAgents`, `agent-list`)

	// A broken edit: reload says so and the previous version keeps working.
	write("$Integration = New-DynamicIntegration -Init { [OpResult]::Ok() \n")
	c.run(`reload`, `(?s)Reloading My Integration\.ps1 failed; the previous version stays loaded`)
	c.run(`GetClients | ForEach-Object { "still=" + $_.ClientName + "." }`, `still=Fabrikam-us\.`)
}
