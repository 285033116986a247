// The dispatcher: one long-lived pipeline per integration instance that runs the instance's
// method calls one after another, on the serving thread. Starting a PowerShell pipeline
// (PowerShell.Create, the hand-off to the runspace's pipeline thread, a wrapper script's scope)
// cost about 0.15–0.2 ms of a warm worker's CPU per call, most of a trivial call; running the
// next call in a pipeline that is already running costs a few microseconds.
// docs/performance.md has the measurements.
using System;
using System.Collections;
using System.Collections.Generic;
using System.Management.Automation;
using System.Management.Automation.Runspaces;
using System.Runtime.ExceptionServices;
using System.Text.Json.Nodes;
using System.Threading;

namespace PSBridge.Host
{
    /// <summary>
    /// A blocking first-in first-out queue whose takers sleep at once instead of spinning:
    /// BlockingCollection spins (and yields the CPU) before it sleeps, which on a worker's few
    /// cores cost more CPU than the wake-up it saves, taken from the supervisor's side. Nothing
    /// completes it: the worker exits when its protocol pipe closes.
    /// </summary>
    internal sealed class WaitQueue<T> where T : class
    {
        private readonly Queue<T> _items = new Queue<T>();

        /// <summary>Adds item and wakes a taker.</summary>
        public void Add(T item)
        {
            lock (_items)
            {
                _items.Enqueue(item);
                Monitor.Pulse(_items);
            }
        }

        /// <summary>Waits for the next item.</summary>
        public T Take()
        {
            lock (_items)
            {
                while (_items.Count == 0) Monitor.Wait(_items);
                return _items.Dequeue();
            }
        }

        /// <summary>Waits at most timeoutMs for the next item; false when none came.</summary>
        public bool TryTake(int timeoutMs, out T item)
        {
            long deadline = Environment.TickCount64 + timeoutMs;
            lock (_items)
            {
                while (_items.Count == 0)
                {
                    long left = deadline - Environment.TickCount64;
                    if (left <= 0)
                    {
                        item = null;
                        return false;
                    }
                    Monitor.Wait(_items, (int)left);
                }
                item = _items.Dequeue();
                return true;
            }
        }

        /// <summary>How many items wait.</summary>
        public int Count
        {
            get { lock (_items) return _items.Count; }
        }
    }

    /// <summary>
    /// One call handed to a <see cref="Dispatcher"/>: the block to run, its arguments, and what
    /// the loop sets in the runspace before it and puts back after it.
    /// </summary>
    public sealed class DispatchedCall
    {
        /// <summary>The script block the call runs (an integration method).</summary>
        public ScriptBlock Block { get; internal set; }

        /// <summary>The arguments bound to the block's parameters (splatted).</summary>
        public Hashtable Bind { get; internal set; }

        internal CallState State;
        internal Hashtable Vars;
        internal object Context;
        internal Dictionary<string, ActionPreference> Preferences;

        // Set on the pipeline thread: what the call left in $IntegrationContext, the preference
        // values to put back, and whether the loop got as far as finishing the call.
        internal object FinalContext;
        internal bool FinalContextRead;
        internal List<KeyValuePair<string, object>> SavedPreferences;
        internal volatile bool Started;
        // Reply is the request's id to answer; TimeoutMs its deadline; Timer the deadline's timer.
        internal JsonNode Reply;
        internal int TimeoutMs;
        internal Timer Timer;

        /// <summary>
        /// Lets go of what an answered call holds (its block, arguments, context and output):
        /// the loop's $__psbCall keeps the call itself until the next one starts, and an idle
        /// worker must not keep the last call's output alive (see Worker.TakeRequest).
        /// </summary>
        internal void Release()
        {
            Block = null;
            Bind = null;
            Vars = null;
            Context = null;
            FinalContext = null;
            Preferences = null;
            SavedPreferences = null;
            Reply = null;
            State = null;
        }
    }

    /// <summary>
    /// Runs an instance's calls inside one pipeline that stays running between calls: the
    /// pipeline's script (<see cref="LoopScript"/>) asks <see cref="Next"/> for a call, invokes
    /// its block, and reports it with <see cref="Finish"/>. The loop runs on the thread that
    /// calls <see cref="Run"/> (the runspace uses the current thread), and asks that thread's
    /// owner for each next call, so a call is never handed from one thread to another. A call
    /// that ends the pipeline (throw, exit, a stop for a timeout or a cancel) ends the loop;
    /// <see cref="Current"/> is then that call. Public only because the loop script calls it;
    /// scripts have no use for it.
    /// </summary>
    public sealed class Dispatcher
    {
        // LoopScript keeps "& $__psbBlock @__psbBind" alone on line 5, as in the one-call
        // wrapper (Worker.InvokeWrapper), so that every position PowerShell reports at the
        // invocation (binding errors, Write-Error without a script stack) is the same. Each call
        // runs in a fresh child scope holding its variables, as a one-call wrapper's scope did:
        // what a block sets in its parent scope is gone after the call. The do/while takes a
        // stray break or continue in the block, which would otherwise end or restart this loop,
        // and stops the block as it would stop a pipeline. No try/catch or trap anywhere: either
        // would turn the block's statement-terminating errors (1/0, a failing .NET method) into
        // terminating ones, unlike PowerShell at top level.
        internal const string LoopScript = @"param($__psbDispatch)
while ($__psbCall = $__psbDispatch.Next($ExecutionContext)) {
& { param($__psbBlock, $__psbBind) $__psbDispatch.SetVariables($ExecutionContext)
do {
& $__psbBlock @__psbBind
} while ($false) } $__psbCall.Block $__psbCall.Bind
$__psbDispatch.Finish($ExecutionContext)
}
";

        private readonly PowerShell _shell;
        private readonly PSDataCollection<PSObject> _output = new PSDataCollection<PSObject>();
        private DispatchedCall _first;
        private DispatchedCall _finished;
        private Func<DispatchedCall, DispatchedCall> _next;
        private Action<DispatchedCall> _starting;
        private volatile DispatchedCall _call;
        // _nextFailure is what _next threw, for Run to throw once the loop has ended.
        private ExceptionDispatchInfo _nextFailure;

        /// <summary>The pipeline the calls run in: what Stop stops.</summary>
        internal PowerShell Shell => _shell;

        /// <summary>Set when a stop may still reach the pipeline: it must not run again.</summary>
        internal bool Poisoned;

        /// <summary>The call that was running when the loop's pipeline ended; null when it ended between calls.</summary>
        internal DispatchedCall Current => _call;

        /// <summary>Prepares the loop in rs (a runspace that uses the current thread); attach
        /// routes the pipeline's streams to the running call's state.</summary>
        internal Dispatcher(Runspace rs, Action<PowerShell, Func<CallState>> attach)
        {
            _shell = PowerShell.Create();
            _shell.Runspace = rs;
            _shell.AddScript(LoopScript, true).AddArgument(this);
            attach(_shell, () => _call?.State);
            _output.DataAdded += (s, e) =>
            {
                var item = _output[e.Index];
                _call?.State?.Output.Add(item);
            };
        }

        /// <summary>
        /// Runs the loop on this thread, starting with first: starting is told of each call
        /// as it starts; next is given each finished call (to answer it) and returns the call
        /// to run after it, or null to end the loop. Throws what ended the pipeline otherwise
        /// (a terminating error, a stop) or what next threw (the loop then ended between calls,
        /// and <see cref="Current"/> is null); after a terminating error, a stop or exit,
        /// <see cref="Current"/> is the call it ended.
        /// </summary>
        internal void Run(DispatchedCall first, Action<DispatchedCall> starting, Func<DispatchedCall, DispatchedCall> next)
        {
            _first = first;
            _starting = starting;
            _next = next;
            _call = null;
            _finished = null;
            _nextFailure = null;
            _shell.Invoke<PSObject, PSObject>(null, _output, null);
            var failure = _nextFailure;
            _nextFailure = null;
            failure?.Throw();
        }

        /// <summary>
        /// Called by the loop: hands over the call that finished, if any, and returns the next
        /// one with its context and preferences set; null ends the loop.
        /// </summary>
        public DispatchedCall Next(EngineIntrinsics context)
        {
            DispatchedCall call = _first;
            _first = null;
            if (call == null)
            {
                var finished = _finished;
                _finished = null;
                // An exception thrown here would reach the loop as a statement-terminating
                // error: the while statement would end, quietly, and Run return as if next
                // had ended the loop. Run throws it instead.
                try { call = _next(finished); }
                catch (Exception ex)
                {
                    _nextFailure = ExceptionDispatchInfo.Capture(ex);
                    return null;
                }
                if (call == null) return null;
            }
            var vars = context.SessionState.PSVariable;
            vars.Set("global:IntegrationContext", call.Context);
            if (call.Preferences != null)
            {
                call.SavedPreferences = new List<KeyValuePair<string, object>>();
                foreach (var kv in call.Preferences)
                {
                    call.SavedPreferences.Add(new KeyValuePair<string, object>(kv.Key, vars.GetValue("global:" + kv.Key)));
                    vars.Set("global:" + kv.Key, kv.Value);
                }
            }
            call.Started = true;
            _call = call;
            _starting(call);
            return call;
        }

        /// <summary>
        /// Called by the loop in the call's own scope: sets the call's variables there (its
        /// arguments, readable as variables as well as parameters).
        /// </summary>
        public void SetVariables(EngineIntrinsics context)
        {
            var call = _call;
            if (call?.Vars == null) return;
            var vars = context.SessionState.PSVariable;
            foreach (DictionaryEntry e in call.Vars) vars.Set((string)e.Key, e.Value);
        }

        /// <summary>
        /// Called by the loop when the current call's block returned: reads back
        /// $IntegrationContext and restores preferences.
        /// </summary>
        public void Finish(EngineIntrinsics context)
        {
            var call = _call;
            if (call == null) return;
            var vars = context.SessionState.PSVariable;
            try
            {
                call.FinalContext = vars.GetValue("global:IntegrationContext");
                call.FinalContextRead = true;
                Restore(call, vars);
            }
            finally
            {
                _call = null;
                _finished = call;
            }
        }

        private static void Restore(DispatchedCall call, PSVariableIntrinsics vars)
        {
            if (call.SavedPreferences == null) return;
            foreach (var kv in call.SavedPreferences)
            {
                try { vars.Set("global:" + kv.Key, kv.Value); } catch (Exception) { }
            }
            call.SavedPreferences = null;
        }

        /// <summary>
        /// After the pipeline ended during call: reads back $IntegrationContext and restores
        /// preferences through the runspace, idle again (the call's scope went with the pipeline).
        /// </summary>
        internal static void AfterEnd(DispatchedCall call, Runspace rs)
        {
            try
            {
                call.FinalContext = rs.SessionStateProxy.GetVariable("global:IntegrationContext");
                call.FinalContextRead = true;
                Restore(call, rs.SessionStateProxy.PSVariable);
            }
            catch (Exception) { }
        }

        /// <summary>Forgets the records and output the calls left in the pipeline's streams.</summary>
        internal void Clear()
        {
            _shell.Streams.ClearStreams();
            _output.Clear();
        }

        /// <summary>Disposes the pipeline (the loop does not run: it runs only inside Run).</summary>
        internal void Close()
        {
            try { _shell.Dispose(); } catch (Exception) { }
        }
    }
}
