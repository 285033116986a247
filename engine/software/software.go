// Package software holds software (detection, install, upgrade and uninstall scripts) and runs
// maintenance sessions the way ImmyBot's run-immy-service does: resolution (which state the
// software should be in), detection (the detection script on the computer returns the
// installed version or nothing), action (install, upgrade, uninstall or nothing) and
// verification (detection again). Scripts run through the engine's computer machinery: on the
// computer's agent, or as a metascript bound to the computer — then, for software linked to an
// integration type, Get-IntegrationAgentInstallToken resolves through the computer's tenant
// mapping to that type's integration.
//
// Deployments give software a desired state per tenant or per computer; on a computer the
// deployment targeting the computer wins over the one targeting its tenant (Winning). A
// full-maintenance session applies every winning deployment of its computer. A session whose
// computer is offline can wait for the hub's connect event (offlineBehavior ApplyOnConnect).
package software

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/psbridge/psbridge/bridge"
	"github.com/psbridge/psbridge/engine"
	"github.com/psbridge/psbridge/engine/store"
)

// Desired software states (ImmyBot's DesiredSoftwareState).
const (
	NoAction            = 0
	NotPresent          = 1
	ThisVersion         = 2
	OlderOrEqualVersion = 3
	LatestVersion       = 4
	NewerOrEqualVersion = 5
	AnyVersion          = 6
)

// Service runs maintenance sessions. Its zero value is not usable; use New.
type Service struct {
	eng *engine.Engine
	st  *store.Store

	slots chan struct{} // the concurrent-session limit (skipBackgroundJob bypasses it)

	startMu sync.Mutex // serialises Start's check for sessions in progress with their creation

	mu   sync.Mutex
	live map[int64]*live
	wg   sync.WaitGroup
	ctx  context.Context
	stop context.CancelFunc
}

// live is a queued, waiting or running session's log and its listeners.
type live struct {
	computerID int64
	item       string // what it maintains (sessionItem): a second session of it is not started
	log        []store.SessionLogEntry
	subs       map[chan store.SessionLogEntry]struct{}
	done       chan struct{}
}

// New returns the service; MaxConcurrent bounds sessions run as background jobs (default 4).
func New(eng *engine.Engine, maxConcurrent int) *Service {
	if maxConcurrent <= 0 {
		maxConcurrent = 4
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { // sessions stop with the engine
		select {
		case <-eng.Done():
		case <-ctx.Done():
		}
		cancel()
	}()
	return &Service{eng: eng, st: eng.Store(), slots: make(chan struct{}, maxConcurrent), live: map[int64]*live{}, ctx: ctx, stop: cancel}
}

// Resume picks up the sessions an earlier run of the server left unfinished: one waiting for
// its computer (offlineBehavior ApplyOnConnect) waits again; one that was pending or running
// fails, its work cut off by the stop. Call it once, after New, before serving.
func (s *Service) Resume() error {
	all, err := s.st.Sessions()
	if err != nil {
		return err
	}
	for _, brief := range all {
		if !brief.EndedAt.IsZero() {
			continue
		}
		m, err := s.st.Session(brief.ID)
		if err != nil {
			return err
		}
		now := time.Now().UTC()
		if m.State == "waiting" {
			p, err := s.planFor(m)
			if err == nil {
				l := &live{computerID: m.ComputerID, item: sessionItem(m),
					log:  append(m.Log, store.SessionLogEntry{Time: now, Stage: m.Stage, Level: "info", Message: "the server restarted; the session still waits for its computer"}),
					subs: map[chan store.SessionLogEntry]struct{}{}, done: make(chan struct{})}
				s.mu.Lock()
				s.live[m.ID] = l
				s.mu.Unlock()
				s.wg.Add(1)
				go s.run(m, p, l)
				continue
			}
			m.Error = "the server restarted and cannot resume the session: " + err.Error()
		} else {
			m.Error = "the server stopped during the session"
		}
		m.Log = append(m.Log, store.SessionLogEntry{Time: now, Stage: m.Stage, Level: "error", Message: m.Error},
			store.SessionLogEntry{Time: now, Stage: m.Stage, Level: "info", Message: "session failed"})
		m.State, m.Stage, m.EndedAt = "failed", "done", now
		if err := s.st.PutSession(&m); err != nil {
			return err
		}
	}
	return nil
}

// planFor rebuilds the plan of a stored session from its request.
func (s *Service) planFor(m store.MaintenanceSession) (plan, error) {
	var in RunInput
	if err := json.Unmarshal(m.Request, &in); err != nil {
		return plan{}, fmt.Errorf("its request does not decode: %w", err)
	}
	p := plan{in: in, desired: m.DesiredState}
	if m.SoftwareID != 0 {
		sw, err := s.st.SoftwareByID(m.SoftwareID)
		if err != nil {
			return plan{}, err
		}
		p.sw = sw
	}
	if m.DeploymentID != 0 {
		d, err := s.st.DeploymentByID(m.DeploymentID)
		if err != nil {
			return plan{}, err
		}
		p.pinned = &d
	}
	return p, nil
}

// Close cancels running and queued sessions and waits for them to be recorded as cancelled.
func (s *Service) Close() { _ = s.Shutdown(context.Background()) }

// Shutdown cancels running and queued sessions (their scripts are cancelled; each is recorded
// with state cancelled, naming the stage it was in) and waits for them until ctx ends. New
// sessions started afterwards are cancelled at once.
func (s *Service) Shutdown(ctx context.Context) error {
	s.stop()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("maintenance sessions still ending: %w", ctx.Err())
	}
}

// Running returns how many sessions are running or queued.
func (s *Service) Running() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.live)
}

// Input is the body of POST /software.
type Input struct {
	Name              string `json:"name"`
	Scope             string `json:"scope"`
	Version           string `json:"version"`
	DetectionScript   string `json:"detectionScript"`
	InstallScript     string `json:"installScript"`
	UninstallScript   string `json:"uninstallScript"`
	UpgradeScript     string `json:"upgradeScript"`
	ScriptContext     string `json:"scriptContext"`
	IntegrationTypeID string `json:"integrationTypeId"`
	// DynamicVersionsScript (optional) runs on the server and returns the software's versions
	// (New-DynamicVersion objects); it must parse.
	DynamicVersionsScript string `json:"dynamicVersionsScript"`
}

// Create stores new software after checking its fields (the dynamic versions script is
// parsed in the pool, so Create waits for a worker).
func (s *Service) Create(ctx context.Context, in Input) (store.Software, error) {
	in, err := s.check(ctx, in)
	if err != nil {
		return store.Software{}, err
	}
	sw := store.Software{}
	in.apply(&sw)
	if err := s.st.CreateSoftware(&sw); err != nil {
		return store.Software{}, err
	}
	return sw, nil
}

// Update replaces the fields of software id (of scope, "" for any) with in, checked as
// Create checks them. A changed dynamic versions script drops the cached versions.
func (s *Service) Update(ctx context.Context, scope string, id int64, in Input) (store.Software, error) {
	if _, err := s.Get(scope, id); err != nil {
		return store.Software{}, err
	}
	in, err := s.check(ctx, in)
	if err != nil {
		return store.Software{}, err
	}
	return s.st.UpdateSoftware(id, func(sw *store.Software) error {
		if sw.DynamicVersionsScript != in.DynamicVersionsScript {
			sw.DynamicVersions, sw.DynamicVersionsFetchedAt = nil, time.Time{}
		}
		in.apply(sw)
		return nil
	})
}

// apply copies the checked input onto a record.
func (in Input) apply(sw *store.Software) {
	sw.Name, sw.Scope, sw.Version, sw.DetectionScript = strings.TrimSpace(in.Name), in.Scope, in.Version, in.DetectionScript
	sw.InstallScript, sw.UninstallScript, sw.UpgradeScript = in.InstallScript, in.UninstallScript, in.UpgradeScript
	sw.ScriptContext, sw.IntegrationTypeID, sw.DynamicVersionsScript = in.ScriptContext, in.IntegrationTypeID, in.DynamicVersionsScript
}

// check validates in and fills its defaults.
func (s *Service) check(ctx context.Context, in Input) (Input, error) {
	var fe engine.FieldErrors
	if strings.TrimSpace(in.Name) == "" {
		fe = append(fe, engine.FieldError{Field: "name", Message: "is required"})
	}
	switch in.Scope {
	case "global", "local":
	case "":
		in.Scope = "local"
	default:
		fe = append(fe, engine.FieldError{Field: "scope", Message: `must be "global" or "local"`})
	}
	switch in.ScriptContext {
	case "", "computer", "metascript":
	default:
		fe = append(fe, engine.FieldError{Field: "scriptContext", Message: `must be "computer" or "metascript"`})
	}
	if strings.TrimSpace(in.DetectionScript) == "" {
		fe = append(fe, engine.FieldError{Field: "detectionScript", Message: "is required (it returns the installed version, or nothing)"})
	}
	if in.IntegrationTypeID != "" {
		if _, err := s.eng.Type(in.IntegrationTypeID); err != nil {
			fe = append(fe, engine.FieldError{Field: "integrationTypeId", Message: "names no integration type"})
		}
		if in.ScriptContext == "" {
			in.ScriptContext = "metascript" // the token cmdlets need the metascript context
		}
	}
	if strings.TrimSpace(in.DynamicVersionsScript) == "" {
		in.DynamicVersionsScript = ""
	} else if len(fe) == 0 {
		if err := s.checkParses(ctx, "dynamicVersionsScript", in.DynamicVersionsScript); err != nil {
			return in, err
		}
	}
	if len(fe) > 0 {
		return in, fe
	}
	if in.ScriptContext == "" {
		in.ScriptContext = "computer"
	}
	return in, nil
}

// List returns the software of a scope ("" for every scope).
func (s *Service) List(scope string) ([]store.Software, error) {
	all, err := s.st.SoftwareList()
	if err != nil {
		return nil, err
	}
	out := []store.Software{}
	for _, sw := range all {
		if scope == "" || sw.Scope == scope {
			out = append(out, sw)
		}
	}
	return out, nil
}

// ---- run-immy-service -------------------------------------------------------------------------

// MaintenanceParams chooses the one item a session maintains.
type MaintenanceParams struct {
	MaintenanceIdentifier string `json:"maintenanceIdentifier"`
	MaintenanceType       int    `json:"maintenanceType"`
	Repair                bool   `json:"repair"`
	DesiredSoftwareState  *int   `json:"desiredSoftwareState"`
	MaintenanceTaskMode   int    `json:"maintenanceTaskMode"`
}

// Target is one computer or tenant of a request.
type Target struct {
	ComputerID int64 `json:"computerId"`
	TenantID   int64 `json:"tenantId"`
}

// RunInput is the body of POST /run-immy-service, every field ImmyBot's documented example
// sends.
type RunInput struct {
	FullMaintenance                              bool               `json:"fullMaintenance"`
	ResolutionOnly                               bool               `json:"resolutionOnly"`
	DetectionOnly                                bool               `json:"detectionOnly"`
	InventoryOnly                                bool               `json:"inventoryOnly"`
	RunInventoryInDetection                      bool               `json:"runInventoryInDetection"`
	CacheOnly                                    bool               `json:"cacheOnly"`
	UseWinningDeployment                         bool               `json:"useWinningDeployment"`
	DeploymentID                                 *int64             `json:"deploymentId"`
	DeploymentType                               *int               `json:"deploymentType"`
	MaintenanceParams                            *MaintenanceParams `json:"maintenanceParams"`
	SkipBackgroundJob                            bool               `json:"skipBackgroundJob"`
	RebootPreference                             RebootPreference   `json:"rebootPreference"`
	ScheduleExecutionAfterActiveHours            bool               `json:"scheduleExecutionAfterActiveHours"`
	UseComputersTimezoneForExecution             bool               `json:"useComputersTimezoneForExecution"`
	OfflineBehavior                              int                `json:"offlineBehavior"`
	SuppressRebootsDuringBusinessHours           bool               `json:"suppressRebootsDuringBusinessHours"`
	SendDetectionEmail                           bool               `json:"sendDetectionEmail"`
	SendDetectionEmailWhenAllActionsAreCompliant bool               `json:"sendDetectionEmailWhenAllActionsAreCompliant"`
	SendFollowUpEmail                            bool               `json:"sendFollowUpEmail"`
	SendFollowUpOnlyIfActionNeeded               bool               `json:"sendFollowUpOnlyIfActionNeeded"`
	ShowRunNowButton                             bool               `json:"showRunNowButton"`
	ShowPostponeButton                           bool               `json:"showPostponeButton"`
	ShowMaintenanceActions                       bool               `json:"showMaintenanceActions"`
	Computers                                    []Target           `json:"computers"`
	Tenants                                      []Target           `json:"tenants"`

	// With rebootPreference: what the reboot stage does after a computer's actions.
	AutoConsentToReboots bool                `json:"autoConsentToReboots"`
	PromptTimeoutAction  PromptTimeoutAction `json:"promptTimeoutAction"`
	PromptTimeoutMinutes int                 `json:"promptTimeoutMinutes"`
}

// StateCompletedWithErrors is the state of a session in which no action failed but at least
// one could not be determined (cacheOnly without a cached detection), or whose reboot the
// agent refused or could not do. Calls use the same words for the same idea.
const StateCompletedWithErrors = store.CallCompletedWithErrors

// ActionUndetermined and ResultUndetermined mark a maintenance action whose software has no
// cached detection in a cacheOnly session (ImmyBot's Undetermined action, Indeterminable
// result).
const (
	ActionUndetermined = "undetermined"
	ResultUndetermined = "undetermined"
)

// Offline behaviours (ImmyBot's ComputerOfflineMaintenanceSessionBehavior).
const (
	OfflineSkip           = 1
	OfflineApplyOnConnect = 2
)

// plan is what a session was asked to do, checked when the request came in.
type plan struct {
	in      RunInput
	sw      store.Software    // the one item, unless full maintenance or inventory only
	desired int               // its desired state from maintenanceParams
	pinned  *store.Deployment // deploymentId, when it decides the item
}

// SessionRef names one session of a run-immy-service reply (ImmyBot's
// sessionsStarted/sessionsAlreadyInProgress items; psbridge has no persons, so no personId).
type SessionRef struct {
	ComputerID int64 `json:"computerId"`
	SessionID  int64 `json:"sessionId"`
	TenantID   int64 `json:"tenantId,omitempty"`
}

// Started is what Start did with the computers of a request.
type Started struct {
	// Sessions are the sessions started (state pending), in request order.
	Sessions []store.MaintenanceSession
	// SessionsStarted names them.
	SessionsStarted []SessionRef
	// SessionsAlreadyInProgress names, for each computer that already had a queued, waiting or
	// running session of the same item (the same software, full maintenance, or inventory),
	// that session; no second one was started.
	SessionsAlreadyInProgress []SessionRef
}

// Run starts sessions as Start does and returns, for each computer of in, the session started
// or the one already in progress for it.
func (s *Service) Run(in RunInput) ([]store.MaintenanceSession, error) {
	st, err := s.Start(in)
	out := st.Sessions
	for _, r := range st.SessionsAlreadyInProgress {
		m, gerr := s.st.Session(r.SessionID)
		if gerr != nil {
			return out, gerr
		}
		out = append(out, m)
	}
	return out, err
}

// sessionItem names what a session maintains, to find a session already in progress for the
// same computer and item: inventory, full maintenance or one software.
func sessionItem(m store.MaintenanceSession) string {
	switch {
	case m.InventoryOnly:
		return "inventory"
	case m.FullMaintenance:
		return "full maintenance"
	}
	return "software " + strconv.FormatInt(m.SoftwareID, 10)
}

// inProgress returns the queued, waiting or running session of item on computer (0: none).
func (s *Service) inProgress(computer int64, item string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, l := range s.live {
		if l.computerID == computer && l.item == item {
			return id
		}
	}
	return 0
}

// Start starts one session per computer of in (state pending), except for a computer with a
// session of the same item already queued, waiting or running: that one is named in
// SessionsAlreadyInProgress instead. What it cannot do is refused with a field error rather
// than ignored.
//
// A session maintains one item (maintenanceParams, or the software of deploymentId), or with
// fullMaintenance every software that a deployment applies to the computer, each in the state
// of its winning deployment. useWinningDeployment takes the item's desired state from its
// winning deployment instead of maintenanceParams (and ignores deploymentId). inventoryOnly
// sessions run the inventory and identification and stop.
func (s *Service) Start(in RunInput) (Started, error) {
	var fe engine.FieldErrors
	p := plan{in: in, desired: NewerOrEqualVersion}
	mp := in.MaintenanceParams
	swFromParams := func() {
		switch {
		case mp == nil:
			fe = append(fe, engine.FieldError{Field: "maintenanceParams", Message: "is required (or set fullMaintenance, deploymentId or inventoryOnly)"})
			return
		case mp.MaintenanceType != 0:
			fe = append(fe, engine.FieldError{Field: "maintenanceParams.maintenanceType", Message: "only 0 (software) is supported"})
			return
		}
		id, err := strconv.ParseInt(strings.TrimSpace(mp.MaintenanceIdentifier), 10, 64)
		if err == nil {
			p.sw, err = s.st.SoftwareByID(id)
		}
		if err != nil {
			fe = append(fe, engine.FieldError{Field: "maintenanceParams.maintenanceIdentifier", Message: "names no software"})
		}
	}
	switch {
	case in.InventoryOnly:
		if in.FullMaintenance || in.DeploymentID != nil {
			fe = append(fe, engine.FieldError{Field: "inventoryOnly", Message: "an inventory-only session applies no deployment: leave fullMaintenance false and deploymentId null"})
		}
	case in.FullMaintenance:
		if in.DeploymentID != nil {
			fe = append(fe, engine.FieldError{Field: "deploymentId", Message: "fullMaintenance applies every deployment of the computer: leave deploymentId null"})
		}
	case in.DeploymentID != nil && !in.UseWinningDeployment:
		d, err := s.st.DeploymentByID(*in.DeploymentID)
		if err != nil {
			fe = append(fe, engine.FieldError{Field: "deploymentId", Message: "names no deployment"})
			break
		}
		p.pinned, p.desired = &d, d.DesiredSoftwareState
		if p.sw, err = s.st.SoftwareByID(d.SoftwareID); err != nil {
			fe = append(fe, engine.FieldError{Field: "deploymentId", Message: fmt.Sprintf("deployment %d deploys software %d, which no longer exists", d.ID, d.SoftwareID)})
		}
		if mp != nil && strings.TrimSpace(mp.MaintenanceIdentifier) != "" && strings.TrimSpace(mp.MaintenanceIdentifier) != strconv.FormatInt(d.SoftwareID, 10) {
			fe = append(fe, engine.FieldError{Field: "maintenanceParams.maintenanceIdentifier", Message: fmt.Sprintf("names other software than deployment %d (software %d)", d.ID, d.SoftwareID)})
		}
	default:
		swFromParams()
	}
	if mp != nil && mp.DesiredSoftwareState != nil {
		if *mp.DesiredSoftwareState < 0 || *mp.DesiredSoftwareState > 6 {
			fe = append(fe, engine.FieldError{Field: "maintenanceParams.desiredSoftwareState", Message: "must be 0 to 6"})
		} else if p.pinned == nil {
			p.desired = *mp.DesiredSoftwareState
		}
	}
	fe = append(fe, checkReboot(in)...)
	switch in.OfflineBehavior {
	case 0, OfflineSkip, OfflineApplyOnConnect:
	default:
		fe = append(fe, engine.FieldError{Field: "offlineBehavior", Message: "must be 1 (Skip) or 2 (ApplyOnConnect)"})
	}
	if len(in.Tenants) > 0 {
		fe = append(fe, engine.FieldError{Field: "tenants", Message: "cloud tasks need maintenance tasks, which psbridge does not have; target computers instead"})
	} else if len(in.Computers) == 0 {
		fe = append(fe, engine.FieldError{Field: "computers", Message: "needs at least one {computerId}"})
	}
	tenantOf := map[int64]int64{}
	for i, c := range in.Computers {
		sc, err := s.st.Computer(c.ComputerID)
		if err != nil {
			fe = append(fe, engine.FieldError{Field: fmt.Sprintf("computers[%d].computerId", i), Message: "names no computer"})
			continue
		}
		tenantOf[sc.ID] = sc.TenantID
		if p.pinned != nil && !Applies(*p.pinned, sc) {
			fe = append(fe, engine.FieldError{Field: fmt.Sprintf("computers[%d].computerId", i),
				Message: fmt.Sprintf("deployment %d targets %s, not computer %d (tenant %d)", p.pinned.ID, targetText(*p.pinned), sc.ID, sc.TenantID)})
		}
	}
	out := Started{Sessions: []store.MaintenanceSession{}, SessionsStarted: []SessionRef{}, SessionsAlreadyInProgress: []SessionRef{}}
	if len(fe) > 0 {
		return out, fe
	}
	raw, _ := json.Marshal(in)
	// One Start at a time checks for sessions in progress and registers its own, so that two
	// requests for the same computer and item never both start one.
	s.startMu.Lock()
	defer s.startMu.Unlock()
	for _, c := range in.Computers {
		m := store.MaintenanceSession{ComputerID: c.ComputerID, SoftwareID: p.sw.ID, State: "pending", Stage: "resolution",
			FullMaintenance: in.FullMaintenance && !in.InventoryOnly, InventoryOnly: in.InventoryOnly,
			DesiredState: p.desired, Request: raw, Log: []store.SessionLogEntry{}}
		if p.pinned != nil {
			m.DeploymentID = p.pinned.ID
		}
		item := sessionItem(m)
		if id := s.inProgress(c.ComputerID, item); id != 0 {
			out.SessionsAlreadyInProgress = append(out.SessionsAlreadyInProgress, SessionRef{ComputerID: c.ComputerID, SessionID: id, TenantID: tenantOf[c.ComputerID]})
			continue
		}
		if err := s.st.PutSession(&m); err != nil {
			return out, err
		}
		l := &live{computerID: m.ComputerID, item: item, subs: map[chan store.SessionLogEntry]struct{}{}, done: make(chan struct{})}
		s.mu.Lock()
		s.live[m.ID] = l
		s.mu.Unlock()
		out.Sessions = append(out.Sessions, m)
		out.SessionsStarted = append(out.SessionsStarted, SessionRef{ComputerID: c.ComputerID, SessionID: m.ID, TenantID: tenantOf[c.ComputerID]})
		s.wg.Add(1)
		go s.run(m, p, l)
	}
	return out, nil
}

// Session returns a session, with the live log of a running one.
func (s *Service) Session(id int64) (store.MaintenanceSession, error) {
	return s.st.Session(id)
}

// Sessions lists every session without logs.
func (s *Service) Sessions() ([]store.MaintenanceSession, error) { return s.st.Sessions() }

// Follow returns the log so far and, for a running session, a channel of further entries
// (closed when the session ends) and a function to stop following.
func (s *Service) Follow(id int64) ([]store.SessionLogEntry, <-chan store.SessionLogEntry, func(), error) {
	s.mu.Lock()
	l, ok := s.live[id]
	if ok {
		ch := make(chan store.SessionLogEntry, 256)
		past := append([]store.SessionLogEntry(nil), l.log...)
		l.subs[ch] = struct{}{}
		s.mu.Unlock()
		return past, ch, func() {
			s.mu.Lock()
			if _, still := l.subs[ch]; still {
				delete(l.subs, ch)
				close(ch)
			}
			s.mu.Unlock()
		}, nil
	}
	s.mu.Unlock()
	m, err := s.st.Session(id)
	if err != nil {
		return nil, nil, nil, err
	}
	return m.Log, nil, func() {}, nil
}

// Wait blocks until session id ends or ctx is done.
func (s *Service) Wait(ctx context.Context, id int64) error {
	s.mu.Lock()
	l, ok := s.live[id]
	s.mu.Unlock()
	if !ok {
		return nil
	}
	select {
	case <-l.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// item is one piece of software a session maintains, with its resolved desired state.
type item struct {
	sw         store.Software
	desired    int
	deployment int64 // 0: from maintenanceParams
	// want is the version the desired state compares with: the software's fixed version, or
	// the chosen dynamic version's.
	want string
	dyn  *store.DynamicVersion // the chosen dynamic version (nil: none)
	err  string                // why resolving the item failed ("" when it did not)
}

// run drives one session to its end.
func (s *Service) run(m store.MaintenanceSession, p plan, l *live) {
	defer s.wg.Done()
	in := p.in
	logf := func(level, format string, args ...any) {
		e := store.SessionLogEntry{Time: time.Now().UTC(), Stage: m.Stage, Level: level, Message: fmt.Sprintf(format, args...)}
		s.mu.Lock()
		l.log = append(l.log, e)
		m.Log = l.log
		for ch := range l.subs {
			select {
			case ch <- e:
			default: // a listener that does not keep up misses lines; the kept log has them
			}
		}
		s.mu.Unlock()
	}
	save := func() {
		s.mu.Lock()
		m.Log = append([]store.SessionLogEntry(nil), l.log...)
		s.mu.Unlock()
		_ = s.st.PutSession(&m)
	}
	stage := func(name string) { m.Stage = name; logf("info", "stage %s", name); save() }
	end := func(state, errMsg string) {
		m.State, m.Error, m.EndedAt = state, errMsg, time.Now().UTC()
		if errMsg != "" {
			logf("error", "%s", errMsg)
		}
		logf("info", "session %s", state)
		m.Stage = "done"
		save()
		s.mu.Lock()
		delete(s.live, m.ID)
		for ch := range l.subs {
			close(ch)
		}
		l.subs = nil
		s.mu.Unlock()
		close(l.done)
	}
	// fail ends the session as failed, or as cancelled when the server is shutting down
	// (the error is then the cancellation's, not the script's).
	fail := func(msg string) {
		if s.ctx.Err() != nil {
			end("cancelled", "the server shut down during "+m.Stage)
			return
		}
		end("failed", msg)
	}
	if s.ctx.Err() != nil {
		end("cancelled", "the server shut down before the session started")
		return
	}
	hub := s.eng.Hub()
	// A cacheOnly detection-only session reads the cached inventory and runs nothing on the
	// computer, so, like a resolution-only one, it needs no connected agent.
	offlineOK := in.ResolutionOnly || (in.CacheOnly && in.DetectionOnly)
	// ApplyOnConnect: wait for the hub's connect event, holding no session slot meanwhile.
	if in.OfflineBehavior == OfflineApplyOnConnect && !offlineOK && !hub.Status(m.ComputerID).Online {
		m.State = "waiting"
		save() // before the log line, so that a listener that reads it finds the state
		logf("info", "computer %d is offline: the session runs when its agent connects (offlineBehavior ApplyOnConnect)", m.ComputerID)
		save()
		select {
		case <-hub.Connected(m.ComputerID):
			logf("info", "computer %d connected", m.ComputerID)
		case <-s.ctx.Done():
			// The session stays waiting in the store; Resume picks it up at the next start.
			s.mu.Lock()
			delete(s.live, m.ID)
			for ch := range l.subs {
				close(ch)
			}
			l.subs = nil
			s.mu.Unlock()
			close(l.done)
			return
		}
	}
	if !in.SkipBackgroundJob {
		select {
		case s.slots <- struct{}{}:
			defer func() { <-s.slots }()
		case <-s.ctx.Done():
			end("cancelled", "the server shut down before the session started")
			return
		}
	}
	m.State = "running"
	ctx := s.ctx
	offlineSkip := func() bool {
		return in.OfflineBehavior == OfflineSkip && !hub.Status(m.ComputerID).Online
	}

	if in.InventoryOnly {
		stage("inventory")
		if offlineSkip() {
			end("skipped", "the computer is offline and offlineBehavior is Skip")
			return
		}
		if err := s.inventory(ctx, m.ComputerID, logf); err != nil {
			fail("inventory: " + err.Error())
			return
		}
		end("succeeded", "")
		return
	}

	// Resolution.
	stage("resolution")
	items, err := s.resolve(m, p, logf)
	if err != nil {
		end("failed", "resolution: "+err.Error())
		return
	}
	for i := range items {
		s.resolveVersion(ctx, &items[i], len(items) > 1, logf)
	}
	for _, it := range items {
		m.Actions = append(m.Actions, store.MaintenanceAction{SoftwareID: it.sw.ID, SoftwareName: it.sw.Name,
			DeploymentID: it.deployment, DesiredState: it.desired, Result: "pending"})
	}
	single := !m.FullMaintenance && len(items) == 1
	if single {
		m.DesiredState = items[0].desired
	}
	save()
	if in.ResolutionOnly {
		for i, it := range items {
			if it.err != "" {
				m.Actions[i].Result, m.Actions[i].Error = "failed", it.err
				save()
				end("failed", it.err)
				return
			}
		}
		end("succeeded", "")
		return
	}
	if len(items) > 0 && !offlineOK && offlineSkip() {
		end("skipped", "the computer is offline and offlineBehavior is Skip")
		return
	}

	var failed, undetermined []string
	var rb rebootNeed
	for i, it := range items {
		a := &m.Actions[i]
		errMsg := it.err
		if errMsg == "" {
			errMsg = s.maintain(ctx, &m, it, a, in, len(items) > 1, &rb, stage, logf)
		}
		switch {
		case errMsg != "" && a.Action == ActionUndetermined:
			a.Result, a.Error = ResultUndetermined, errMsg
			undetermined = append(undetermined, errMsg)
		case errMsg != "":
			a.Result, a.Error = "failed", errMsg
			failed = append(failed, errMsg)
		default:
			a.Result = "succeeded"
		}
		if single {
			m.DetectedVersion, m.Action = a.DetectedVersion, a.Action
		}
		save()
	}
	// The reboot stage: only after an install, upgrade or uninstall script ran.
	if rb.actionRan && s.ctx.Err() == nil {
		stage("reboot")
		state, msg := s.rebootStage(ctx, &m, in, rb, logf)
		logf("info", "reboot pending: %v; reboot action: %s", m.RebootPending, m.RebootAction)
		switch {
		case state == "failed" || (state != "" && s.ctx.Err() != nil):
			fail(msg)
			return
		case state != "" && len(failed) == 0:
			end(state, msg)
			return
		case state != "":
			logf("error", "%s", msg)
		}
	}
	switch {
	case len(failed) == 0 && len(undetermined) == 0:
		end("succeeded", "")
	case len(failed) == 0 && single:
		// Nothing failed, but the action could not be determined (no cached inventory).
		end(StateCompletedWithErrors, undetermined[0])
	case len(failed) == 0:
		end(StateCompletedWithErrors, fmt.Sprintf("%d of %d actions undetermined; first: %s", len(undetermined), len(items), undetermined[0]))
	case single:
		fail(failed[0])
	default:
		fail(fmt.Sprintf("%d of %d actions failed; first: %s", len(failed), len(items), failed[0]))
	}
}

// resolve decides which software the session maintains and in which desired state.
func (s *Service) resolve(m store.MaintenanceSession, p plan, logf func(string, string, ...any)) ([]item, error) {
	in := p.in
	switch {
	case m.FullMaintenance:
		c, err := s.st.Computer(m.ComputerID)
		if err != nil {
			return nil, err
		}
		ds, err := s.st.Deployments()
		if err != nil {
			return nil, err
		}
		win := Winning(ds, c)
		if len(win) == 0 {
			logf("info", "no deployment applies to computer %d (tenant %d): nothing to do", c.ID, c.TenantID)
			return nil, nil
		}
		var items []item
		for _, d := range win {
			sw, err := s.st.SoftwareByID(d.SoftwareID)
			if err != nil {
				logf("warning", "deployment %d names software %d, which no longer exists; skipped", d.ID, d.SoftwareID)
				continue
			}
			logf("info", "software %d %q: deployment %d (%s) wins, desired state %d (%s)", sw.ID, sw.Name, d.ID, targetText(d), d.DesiredSoftwareState, stateName(d.DesiredSoftwareState))
			items = append(items, item{sw: sw, desired: d.DesiredSoftwareState, deployment: d.ID})
		}
		return items, nil
	case p.pinned != nil:
		d := *p.pinned
		logf("info", "software %d %q, desired state %d (%s) from deployment %d (%s)", p.sw.ID, p.sw.Name, d.DesiredSoftwareState, stateName(d.DesiredSoftwareState), d.ID, targetText(d))
		return []item{{sw: p.sw, desired: d.DesiredSoftwareState, deployment: d.ID}}, nil
	case in.UseWinningDeployment:
		d, ok, err := s.WinningFor(m.ComputerID, p.sw.ID)
		if err != nil {
			return nil, err
		}
		if !ok {
			logf("info", "software %d %q: no deployment applies to computer %d; desired state %d (%s)", p.sw.ID, p.sw.Name, m.ComputerID, NoAction, stateName(NoAction))
			return []item{{sw: p.sw, desired: NoAction}}, nil
		}
		logf("info", "software %d %q: deployment %d (%s) wins, desired state %d (%s)", p.sw.ID, p.sw.Name, d.ID, targetText(d), d.DesiredSoftwareState, stateName(d.DesiredSoftwareState))
		return []item{{sw: p.sw, desired: d.DesiredSoftwareState, deployment: d.ID}}, nil
	}
	logf("info", "software %d %q, desired state %d (%s)", p.sw.ID, p.sw.Name, p.desired, stateName(p.desired))
	return []item{{sw: p.sw, desired: p.desired}}, nil
}

// maintain runs detection, action and verification of one item and returns why it failed
// ("" when it succeeded). With prefix set, log lines name the software.
func (s *Service) maintain(ctx context.Context, m *store.MaintenanceSession, it item, a *store.MaintenanceAction, in RunInput, prefix bool,
	rb *rebootNeed, stage func(string), logf func(string, string, ...any)) string {
	sw := it.sw
	say := logf
	if prefix {
		say = func(level, format string, args ...any) { logf(level, "%s: %s", sw.Name, fmt.Sprintf(format, args...)) }
	}
	stage("detection")
	var ver string
	var err error
	if in.CacheOnly {
		var found bool
		if ver, found, err = s.cachedDetect(*m, sw, say); err != nil {
			return "detection: " + err.Error()
		} else if !found {
			a.Action = ActionUndetermined
			msg := s.noCacheMessage(m.ComputerID, sw)
			if prefix { // several items: the session's end names only the first
				logf("warning", "%s", msg)
			}
			return msg
		}
	} else if ver, err = s.detect(ctx, *m, sw, say); err != nil {
		return "detection: " + err.Error()
	}
	a.DetectedVersion = ver
	if ver == "" {
		say("info", "not installed")
	} else {
		say("info", "installed version %s", ver)
	}
	if in.DetectionOnly {
		return ""
	}

	stage("action")
	action := decide(it.desired, ver, it.want, in.MaintenanceParams != nil && in.MaintenanceParams.Repair)
	a.Action = action
	say("info", "action: %s", action)
	if action != "none" {
		script := map[string]string{"install": sw.InstallScript, "upgrade": sw.UpgradeScript, "uninstall": sw.UninstallScript}[action]
		if action == "upgrade" && strings.TrimSpace(script) == "" {
			script = sw.InstallScript
		}
		if strings.TrimSpace(script) == "" {
			return "the software has no " + action + " script"
		}
		var args map[string]any
		if it.dyn != nil && action != "uninstall" {
			args = dynamicVars(*it.dyn)
		}
		res, err := s.runScript(ctx, *m, sw, action+".ps1", script, sessionVars(in, args), say)
		if err != nil {
			return action + ": " + err.Error()
		}
		rb.actionRan = true
		rb.noteExitCode(res.Output)
	}

	stage("verification")
	ver, err = s.detect(ctx, *m, sw, say)
	if err != nil {
		return "verification: " + err.Error()
	}
	a.DetectedVersion = ver
	if !satisfied(it.desired, ver, it.want) {
		return fmt.Sprintf("after %s the detected version is %q, which is not %s", action, ver, stateName(it.desired))
	}
	say("info", "verified: detected version %q", ver)
	return ""
}

// inventory logs what the computer's agent reported and runs the identification of every
// integration mapped to its tenant (ImmyBot's inventory stage).
func (s *Service) inventory(ctx context.Context, computerID int64, logf func(string, string, ...any)) error {
	c, err := s.st.Computer(computerID)
	if err != nil {
		return err
	}
	if inv := c.Inventory; inv != nil {
		logf("info", "inventory: computer name %q, OS %q, serial %q, primary user %q, agent %s",
			inv.ComputerName, strings.TrimSpace(inv.OSName+" "+inv.OSVersion), inv.Serial, inv.PrimaryEmail, inv.AgentVersion)
	} else {
		logf("warning", "the computer's agent has reported no inventory yet")
	}
	rs, err := s.eng.IdentifyComputer(ctx, computerID)
	if err != nil {
		return err
	}
	if len(rs) == 0 {
		logf("info", "identification: no enabled integration mapped to tenant %d identifies computers", c.TenantID)
	}
	for _, r := range rs {
		if r.OK {
			logf("info", "identification: integration %d identified agent %q", r.IntegrationID, r.AgentID)
		} else {
			logf("warning", "identification: integration %d failed: %s", r.IntegrationID, r.Error)
		}
	}
	return nil
}

// detect runs the software's detection script on the session's computer and returns the
// installed version ("" when not installed); the result is cached for cacheOnly sessions.
func (s *Service) detect(ctx context.Context, m store.MaintenanceSession, sw store.Software, logf func(string, string, ...any)) (string, error) {
	res, err := s.runScript(ctx, m, sw, "detection.ps1", sw.DetectionScript, nil, logf)
	if err != nil {
		return "", err
	}
	ver := ""
	for i := len(res.Output) - 1; i >= 0 && ver == ""; i-- {
		var v any
		if json.Unmarshal(res.Output[i], &v) == nil && v != nil {
			ver = strings.TrimSpace(fmt.Sprint(v))
		}
	}
	d := store.DetectedSoftware{ComputerID: m.ComputerID, SoftwareID: sw.ID, SoftwareScope: sw.Scope, SoftwareName: sw.Name,
		Installed: ver != "", Version: ver, DetectedAt: time.Now().UTC(), SessionID: m.ID}
	if err := s.st.PutDetectedSoftware(d); err != nil {
		logf("warning", "the detected version was not cached: %v", err)
	}
	return ver, nil
}

// cachedDetect reads the version the last detection of sw on the session's computer found
// (cacheOnly) and logs where it comes from; found is false when nothing is cached.
func (s *Service) cachedDetect(m store.MaintenanceSession, sw store.Software, logf func(string, string, ...any)) (ver string, found bool, err error) {
	d, ok, err := s.st.DetectedSoftwareFor(m.ComputerID, sw.ID)
	if err != nil || !ok {
		return "", false, err
	}
	what := d.Version
	if !d.Installed {
		what = "not installed"
	}
	logf("info", "detected %s from cached inventory of %s (session %d)", what, d.DetectedAt.Format(time.RFC3339), d.SessionID)
	return d.Version, true, nil
}

// noCacheMessage says that software sw has no cached detection on computer id.
func (s *Service) noCacheMessage(id int64, sw store.Software) string {
	computer := fmt.Sprintf("computer %d", id)
	if c, err := s.st.Computer(id); err == nil && c.Name != "" {
		computer += fmt.Sprintf(" %q", c.Name)
	}
	return fmt.Sprintf("no cached inventory for software %d %q on %s; run detection first", sw.ID, sw.Name, computer)
}

// DetectedSoftware returns the cached software inventory of computer id: the last detected
// version of each software a session detected there (ErrNotFound for an unknown computer).
func (s *Service) DetectedSoftware(id int64) ([]store.DetectedSoftware, error) {
	if _, err := s.st.Computer(id); err != nil {
		return nil, err
	}
	return s.st.DetectedSoftwareOf(id)
}

// runScript runs one of the software's scripts for the session's computer.
func (s *Service) runScript(ctx context.Context, m store.MaintenanceSession, sw store.Software, name, script string, args map[string]any,
	logf func(string, string, ...any)) (*bridge.Result, error) {
	in := engine.ComputerScriptInput{Script: script, Context: sw.ScriptContext, Name: name, TimeoutSeconds: 1800, Args: args}
	if sw.ScriptContext == "metascript" && sw.IntegrationTypeID != "" {
		id, err := s.integrationFor(m.ComputerID, sw.IntegrationTypeID)
		if err != nil {
			return nil, err
		}
		logf("info", "linked to integration %d", id)
		in.IntegrationID = id
	}
	res, err := s.eng.RunOnComputerScript(ctx, m.ComputerID, in, func(r bridge.Record) {
		if msg := recordText(r); msg != "" {
			logf(r.Stream, "%s", msg)
		}
	})
	var se *bridge.ScriptError
	if errors.As(err, &se) {
		return nil, fmt.Errorf("%s line %d: %s", name, se.Line, se.Message)
	}
	return res, err
}

// integrationFor finds the enabled integration of type typeID with a client mapped to the
// computer's tenant (the lowest id when several are).
func (s *Service) integrationFor(computerID int64, typeID string) (int64, error) {
	c, err := s.st.Computer(computerID)
	if err != nil {
		return 0, err
	}
	insts, err := s.st.Instances()
	if err != nil {
		return 0, err
	}
	for _, in := range insts {
		if in.TypeID != typeID || in.Disabled {
			continue
		}
		if _, ok, err := s.st.ClientForTenant(in.ID, c.TenantID); err == nil && ok {
			return in.ID, nil
		}
	}
	return 0, fmt.Errorf("no enabled integration of type %s has a client mapped to tenant %d of computer %d", typeID, c.TenantID, c.ID)
}

func recordText(r bridge.Record) string {
	if r.Message != "" {
		return r.Message
	}
	return ""
}

// decide picks the action that brings detected version got to the desired state, given the
// software's known version want.
func decide(desired int, got, want string, repair bool) string {
	installed := got != ""
	switch desired {
	case NoAction:
		return "none"
	case NotPresent:
		if installed {
			return "uninstall"
		}
		return "none"
	}
	if !installed {
		return "install"
	}
	if repair {
		return "install"
	}
	if want == "" || desired == AnyVersion {
		return "none"
	}
	c := CompareVersions(got, want)
	switch desired {
	case ThisVersion:
		if c != 0 {
			return "install"
		}
	case OlderOrEqualVersion:
		if c > 0 {
			return "install"
		}
	case LatestVersion, NewerOrEqualVersion:
		if c < 0 {
			return "upgrade"
		}
	}
	return "none"
}

// satisfied reports whether version got meets the desired state.
func satisfied(desired int, got, want string) bool {
	switch desired {
	case NoAction:
		return true
	case NotPresent:
		return got == ""
	case AnyVersion:
		return got != ""
	}
	if got == "" {
		return false
	}
	if want == "" {
		return true
	}
	c := CompareVersions(got, want)
	switch desired {
	case ThisVersion, LatestVersion:
		return c == 0 || (desired == LatestVersion && c > 0)
	case OlderOrEqualVersion:
		return c <= 0
	}
	return c >= 0
}

// CompareVersions compares two versions as vendors and SemVer write them, returning -1, 0 or 1.
// The dotted numbers count first, numerically part by part (1.10 is newer than 1.9, 1.2 equals
// 1.2.0, a leading "v" is ignored); then a version with a pre-release label ("-beta.1") is older
// than the same version without one, and two labels compare part by part (beta.2 < beta.10,
// numbers before words); build metadata ("+abc") is ignored. Detected versions and dynamic
// versions share it, so "1.0-beta" installed never satisfies "1.0".
func CompareVersions(a, b string) int {
	na, la := splitLabel(a)
	nb, lb := splitLabel(b)
	if c := compareDotted(na, nb, "0"); c != 0 {
		return c
	}
	switch {
	case la == lb:
		return 0
	case la == "":
		return 1
	case lb == "":
		return -1
	}
	return compareDotted(la, lb, "")
}

// compareDotted compares dot-separated parts: two numbers numerically, a number before a word,
// two words as text. A missing part reads as pad ("0" for version numbers, so 1.2 = 1.2.0; ""
// for labels, so beta < beta.1).
func compareDotted(a, b, pad string) int {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < max(len(pa), len(pb)); i++ {
		x, y := pad, pad
		if i < len(pa) {
			x = pa[i]
		}
		if i < len(pb) {
			y = pb[i]
		}
		nx, ex := strconv.ParseUint(x, 10, 64)
		ny, ey := strconv.ParseUint(y, 10, 64)
		switch {
		case ex == nil && ey == nil:
			if nx != ny {
				if nx < ny {
					return -1
				}
				return 1
			}
		case ex == nil && y != "":
			return -1
		case ey == nil && x != "":
			return 1
		default:
			if c := strings.Compare(x, y); c != 0 {
				return c
			}
		}
	}
	return 0
}

func stateName(d int) string {
	names := []string{"NoAction", "NotPresent", "ThisVersion", "OlderOrEqualVersion", "LatestVersion", "NewerOrEqualVersion", "AnyVersion"}
	if d >= 0 && d < len(names) {
		return names[d]
	}
	return strconv.Itoa(d)
}
