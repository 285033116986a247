// The worker host: runs inside a pwsh process started by psbridge's Go supervisor and speaks
// JSON-RPC 2.0 with it over two inherited pipes: fds 3 and 4 on Linux and macOS, the handles named
// in PSBRIDGE_PROTOCOL_HANDLES on Windows (docs/protocol.md). One integration instance = one runspace.
using System;
using System.Buffers;
using System.Globalization;
using System.Collections;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Collections.ObjectModel;
using System.IO;
using System.Linq;
using System.Management.Automation;
using System.Management.Automation.Language;
using System.Management.Automation.Runspaces;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading;

// The module's version (PSBridge.psd1's ModuleVersion, psmodule.Version in Go): the worker's
// handshake reports it. psmodule's TestVersionIsTheSameEverywhere keeps the three equal.
[assembly: System.Reflection.AssemblyVersion("0.1.0")]

namespace PSBridge.Host
{
    /// <summary>A JSON-RPC error that the worker answers with.</summary>
    public sealed class RpcException : Exception
    {
        /// <summary>The JSON-RPC error code (docs/protocol.md).</summary>
        public int Code { get; }
        /// <summary>Structured details, or null.</summary>
        public JsonNode Details { get; }
        /// <summary>Creates an RPC error.</summary>
        public RpcException(int code, string message, JsonNode data = null) : base(message) { Code = code; Details = data; }
    }

    /// <summary>Error codes of the worker protocol.</summary>
    public static class RpcCodes
    {
        /// <summary>Invalid parameters.</summary>
        public const int InvalidParams = -32602;
        /// <summary>Unknown method.</summary>
        public const int MethodNotFound = -32601;
        /// <summary>The script does not parse.</summary>
        public const int ParseFailed = -32001;
        /// <summary>The script threw a terminating error.</summary>
        public const int ScriptFailed = -32002;
        /// <summary>The call was cancelled or timed out.</summary>
        public const int Cancelled = -32003;
        /// <summary>The instance is not loaded in this worker.</summary>
        public const int NotLoaded = -32004;
        /// <summary>The integration lacks the method.</summary>
        public const int NotSupported = -32005;
        /// <summary>The script produced no integration.</summary>
        public const int NoIntegration = -32006;
    }

    /// <summary>Framed, thread-safe JSON-RPC transport over two inherited pipes.</summary>
    internal sealed class Channel
    {
        private const int MaxMessage = 64 << 20;
        private readonly Stream _in;
        private readonly Stream _out;
        private readonly object _writeLock = new object();
        private byte[] _buf = new byte[64 * 1024];
        private int _start, _end;

        [DllImport("libc", SetLastError = true)]
        private static extern int fcntl(int fd, int cmd, int arg);

        [DllImport("kernel32", SetLastError = true)]
        private static extern bool SetHandleInformation(IntPtr handle, uint mask, uint flags);

        /// <summary>The environment variable that names the pipe handles on Windows ("IN,OUT").</summary>
        public const string HandlesVariable = "PSBRIDGE_PROTOCOL_HANDLES";

        /// <summary>Where the protocol pipes are, for error messages.</summary>
        public static string Describe() => OperatingSystem.IsWindows() ? "the handles in " + HandlesVariable : "fds 3 and 4";

        /// <summary>
        /// Opens the protocol pipes the supervisor passed: fds 3 and 4 on Unix; on Windows, which
        /// passes no numbered descriptors beyond the standard three, the inherited pipe handles
        /// whose values PSBRIDGE_PROTOCOL_HANDLES holds. Either way they are made non-inheritable
        /// before any script runs, so no native child gets them.
        /// </summary>
        public static Channel Open()
        {
            if (!OperatingSystem.IsWindows()) return new Channel(3, 4);
            string value = Environment.GetEnvironmentVariable(HandlesVariable);
            Environment.SetEnvironmentVariable(HandlesVariable, null);
            string[] parts = (value ?? "").Split(',');
            if (parts.Length != 2 || !long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out long inHandle)
                || !long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out long outHandle))
                throw new IOException(HandlesVariable + " is missing or malformed (\"" + value + "\")");
            var inPtr = new IntPtr(inHandle);
            var outPtr = new IntPtr(outHandle);
            const uint HANDLE_FLAG_INHERIT = 1;
            if (!SetHandleInformation(inPtr, HANDLE_FLAG_INHERIT, 0) || !SetHandleInformation(outPtr, HANDLE_FLAG_INHERIT, 0))
                throw new IOException("cannot make the protocol handles non-inheritable (error " + Marshal.GetLastWin32Error() + ")");
            return new Channel(
                new FileStream(new Microsoft.Win32.SafeHandles.SafeFileHandle(inPtr, true), FileAccess.Read, 1),
                new FileStream(new Microsoft.Win32.SafeHandles.SafeFileHandle(outPtr, true), FileAccess.Write, 1));
        }

        internal Channel(Stream input, Stream output)
        {
            _in = input;
            _out = output;
        }

        public Channel(int inFd, int outFd)
        {
            const int F_SETFD = 2, FD_CLOEXEC = 1;
            if (fcntl(inFd, F_SETFD, FD_CLOEXEC) != 0 || fcntl(outFd, F_SETFD, FD_CLOEXEC) != 0)
                throw new IOException("cannot mark protocol fds close-on-exec (errno " + Marshal.GetLastWin32Error() + ")");
            _in = new FileStream(new Microsoft.Win32.SafeHandles.SafeFileHandle(new IntPtr(inFd), true), FileAccess.Read, 1);
            _out = new FileStream(new Microsoft.Win32.SafeHandles.SafeFileHandle(new IntPtr(outFd), true), FileAccess.Write, 1);
        }

        /// <summary>Reads one message; null at end of stream.</summary>
        public JsonObject Read()
        {
            while (true)
            {
                int nl = Array.IndexOf(_buf, (byte)'\n', _start, _end - _start);
                if (nl >= 0)
                {
                    var span = new ReadOnlyMemory<byte>(_buf, _start, nl - _start);
                    _start = nl + 1;
                    if (span.Length == 0) continue;
                    try
                    {
                        return JsonNode.Parse(span.Span, HostJson.NodeOptions, HostJson.DocumentOptions) as JsonObject
                            ?? throw new IOException("protocol message is not a JSON object");
                    }
                    catch (JsonException ex)
                    {
                        throw new IOException("malformed protocol message: " + ex.Message, ex);
                    }
                }
                if (_start > 0)
                {
                    Buffer.BlockCopy(_buf, _start, _buf, 0, _end - _start);
                    _end -= _start;
                    _start = 0;
                }
                if (_end == _buf.Length)
                {
                    if (_buf.Length >= MaxMessage) throw new IOException("protocol message larger than 64 MiB");
                    Array.Resize(ref _buf, Math.Min(_buf.Length * 2, MaxMessage));
                }
                int n = _in.Read(_buf, _end, _buf.Length - _end);
                if (n <= 0) return null;
                _end += n;
            }
        }

        // Messages are written as UTF-8 straight into a reused buffer and sent with their newline
        // in one write: the output stream is unbuffered, so every Write is a system call (and
        // a wake-up of the supervisor's reader).
        private ArrayBufferWriter<byte> _wbuf = new ArrayBufferWriter<byte>(16 * 1024);
        private Utf8JsonWriter _writer;
        private const int KeepBuffer = 1 << 20;

        public void Write(JsonObject message)
        {
            lock (_writeLock)
            {
                if (_writer == null)
                    _writer = new Utf8JsonWriter(_wbuf, new JsonWriterOptions { Encoder = HostJson.WriteOptions.Encoder, MaxDepth = HostJson.WriteOptions.MaxDepth });
                else
                    _writer.Reset(_wbuf);
                try
                {
                    message.WriteTo(_writer, HostJson.WriteOptions);
                    _writer.Flush();
                    _wbuf.GetSpan(1)[0] = (byte)'\n';
                    _wbuf.Advance(1);
                    _out.Write(_wbuf.WrittenSpan);
                    _out.Flush();
                }
                finally
                {
                    // Do not hold on to the buffer of an exceptionally large message.
                    if (_wbuf.Capacity > KeepBuffer) { _wbuf = new ArrayBufferWriter<byte>(16 * 1024); _writer.Dispose(); _writer = null; }
                    else _wbuf.ResetWrittenCount();
                }
            }
        }
    }

    /// <summary>State of the call that is running in this worker.</summary>
    internal sealed class CallState
    {
        public string Id;
        public PowerShell Shell;
        public Masker Masker;
        public Hashtable Context;
        public Instance Instance;
        // Block is the script block the call invokes through the wrapper; BindingError the
        // record of its arguments failing to bind (reported at the block, then failing the call).
        public ScriptBlock Block;
        public JsonObject BindingError;
        // Errors counts the error records the call wrote, FirstError is the first one with its
        // position; Output collects a dispatched call's output (Dispatcher).
        public int Errors;
        public string FirstError;
        public readonly List<PSObject> Output = new List<PSObject>();
        public volatile bool TimedOut;
        public volatile bool Cancelled;
        public readonly CancellationTokenSource Cts = new CancellationTokenSource();

        public void Stop(bool timedOut)
        {
            if (timedOut) TimedOut = true; else Cancelled = true;
            try { Cts.Cancel(); } catch { }
            try { Shell?.BeginStop(null, null); } catch { }
        }

        public string MaskText(string text)
        {
            if (Context != null)
            {
                try { Masker.AddContextLeaves(Context); } catch { }
            }
            return Masker.Apply(text);
        }
    }

    /// <summary>One loaded integration instance: its runspace and integration object.</summary>
    internal sealed class Instance
    {
        public string Id;
        public Runspace Runspace;
        // Dispatcher runs the instance's method calls in one long-lived pipeline; null until
        // the first call, and again after a call ended it.
        public Dispatcher Dispatcher;
        public DynamicIntegration Integration;
        public JsonObject Description;
        // Init's dynamicparam fields by name: their kind ("oauthconsent", "helptext", "password"
        // or "" for an ordinary field), so Init's form values bind to them.
        public Dictionary<string, string> DynamicFields = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        public long LastUsed;
        // Host modules this instance imported; re-imported when it is loaded elsewhere.
        public readonly SortedSet<string> Modules = new SortedSet<string>(StringComparer.OrdinalIgnoreCase);

        /// <summary>Ends the instance's dispatcher and disposes its runspace.</summary>
        public void Close()
        {
            Dispatcher?.Close();
            Dispatcher = null;
            try { Runspace.Dispose(); } catch { }
        }

        public JsonArray ModuleList()
        {
            var list = new JsonArray();
            foreach (string m in Modules) list.Add(m);
            return list;
        }
    }

    /// <summary>The worker: reads requests, runs them one at a time, answers.</summary>
    public sealed class Worker
    {
        private const int MaxInstances = 64;
        private const string InvokeWrapper = @"
param($__psbBlock, $__psbBind, $__psbVars)
if ($null -ne $__psbVars) {
    foreach ($__psbName in @($__psbVars.Keys)) { $ExecutionContext.SessionState.PSVariable.Set($__psbName, $__psbVars[$__psbName]) }
}
& $__psbBlock @__psbBind
";
        // The same wrapper for a call that sets no variables (a method called without
        // arguments, the usual case), with the variable loop's lines left blank: the mere
        // presence of that loop makes every invocation of the wrapper cost about 0.2 ms more,
        // even when it does not run. The other lines, and so every position PowerShell reports
        // in the wrapper, are the same.
        private const string InvokeWrapperNoVars = @"
param($__psbBlock, $__psbBind, $__psbVars)



& $__psbBlock @__psbBind
";
        // The wrapper sets variables through $ExecutionContext rather than Set-Variable and
        // Remove-Variable: those cmdlet invocations cost about a millisecond per call, more
        // than the rest of a trivial call together. Without variables the loop is left out.
        private static void AddInvocation(PowerShell ps, ScriptBlock block, Hashtable bind, Hashtable vars)
        {
            if (vars.Count == 0)
                ps.AddScript(InvokeWrapperNoVars, true).AddArgument(block).AddArgument(bind).AddArgument(null);
            else
                ps.AddScript(InvokeWrapper, true).AddArgument(block).AddArgument(bind).AddArgument(vars);
        }
        // LoadWrapper reads $Integration through $ExecutionContext, not Test-Path: that cmdlet
        // would import Microsoft.PowerShell.Management into the runspace on a worker's first load.
        private const string LoadWrapper = @"
param($__psbScript)
$__psbOut = @(. $__psbScript)
$__psbFound = @($__psbOut | Where-Object { $_ -is [PSBridge.DynamicIntegration] })
if ($__psbFound.Count -gt 0) { $__psbFound[-1] }
elseif (($__psbVar = $ExecutionContext.SessionState.PSVariable.Get('Integration')) -and ($__psbVar.Value -is [PSBridge.DynamicIntegration])) { $__psbVar.Value }
";

        private readonly Channel _channel;
        private readonly string _modulePath;
        private readonly string _workDir;
        private readonly InitialSessionState _iss;
        private readonly Dictionary<string, Instance> _instances = new Dictionary<string, Instance>(StringComparer.Ordinal);
        private readonly WaitQueue<JsonObject> _requests = new WaitQueue<JsonObject>();
        private readonly ConcurrentDictionary<string, TaskCompletionSourceLite> _pending = new ConcurrentDictionary<string, TaskCompletionSourceLite>();
        private readonly ConcurrentDictionary<string, string> _moduleFiles = new ConcurrentDictionary<string, string>(StringComparer.Ordinal);
        private long _seq;
        private volatile CallState _current;
        private Runspace _spare;
        // _spareDispatcher is the warm-up's dispatcher in the spare runspace, closed when the
        // spare is taken.
        private Dispatcher _spareDispatcher;
        // _spareWanted asks the warm-up to give the spare back at once.
        private volatile bool _spareWanted;
        // _stash is a request that ended an instance's dispatcher loop, served next.
        private JsonObject _stash;
        // _spareLock guards _spare between the serving thread and the warm-up thread.
        private readonly object _spareLock = new object();
        private volatile bool _stopWarmUp;
        private Thread _warmUp;
        // _invocations counts the pipelines run so far (calls and warm-up together).
        private long _invocations;

        // WarmUpInvocations is how many trivial invocations, real calls included, a worker
        // makes in its spare runspace after it sent "ready" and while it has nothing else to
        // do: .NET's tiered compilation then optimises PowerShell's hot paths before the
        // worker's first callers, instead of during their calls.
        private const int WarmUpInvocations = 2000;

        // WarmUpAfterIdleMs is how long the serving thread must have waited for requests before
        // the warm-up runs. The gaps between one caller's requests are not idle time: a warm-up
        // invocation run in them competes for the cores with the calls of this worker and of
        // every other (four young workers on two cores served 1,248–1,622 calls/s with warm-ups
        // in those gaps, 2,230–3,271 with this gate; docs/performance.md).
        private const int WarmUpAfterIdleMs = 100;

        // _idleSince is when the serving thread started waiting for a request (TickCount64), or
        // Busy while it serves one.
        private long _idleSince = Environment.TickCount64;
        private const long Busy = long.MaxValue / 2;

        internal static Worker Current;

        // CompactAfterBytes and IdleCompactionMs: see TakeRequest. _allocatedAtCompaction is
        // what the process had allocated when its heap was last compacted.
        private const long CompactAfterBytes = 64L << 20;
        private const int IdleCompactionMs = 1000;
        private long _allocatedAtCompaction;

        private Worker(Channel channel, string modulePath, string workDir)
        {
            _channel = channel;
            _modulePath = modulePath;
            _workDir = workDir;
            _iss = InitialSessionState.CreateDefault2();
            // Pipelines run on the thread that invokes them: the serving thread runs each
            // instance's dispatcher loop itself, so no call is handed between threads.
            _iss.ThreadOptions = PSThreadOptions.UseCurrentThread;
            _iss.LanguageMode = PSLanguageMode.FullLanguage;
            _iss.ImportPSModule(new[] { modulePath });
        }

        /// <summary>Entry point called by worker.ps1. Returns the process exit code.</summary>
        [DllImport("libc", EntryPoint = "prctl", SetLastError = true)]
        private static extern int Prctl(int option, ulong arg2, ulong arg3, ulong arg4, ulong arg5);

        public static int Run(string modulePath)
        {
            if (OperatingSystem.IsLinux())
            {
                // Not dumpable: no other process of this user can read this worker's memory or
                // /proc/<pid>/environ, nor ptrace it (PR_SET_DUMPABLE = 4).
                Prctl(4, 0, 0, 0, 0);
            }
            Channel channel;
            try { channel = Channel.Open(); }
            catch (Exception ex)
            {
                Console.Error.WriteLine("psbridge worker: protocol pipes unavailable (" + Channel.Describe() + "): " + ex.Message);
                return 3;
            }
            string workDir = Environment.GetEnvironmentVariable("PSBRIDGE_WORKER_DIR");
            if (string.IsNullOrEmpty(workDir)) workDir = Path.Combine(Path.GetTempPath(), "psbridge-worker-" + Environment.ProcessId);
            Directory.CreateDirectory(workDir);
            var worker = new Worker(channel, modulePath, workDir);
            Current = worker;
            try
            {
                worker._spare = worker.NewRunspace();
            }
            catch (Exception ex)
            {
                Console.Error.WriteLine("psbridge worker: cannot open a runspace with the PSBridge module: " + ex);
                return 4;
            }
            // The serving thread runs every pipeline (see _iss): a thread of its own with the
            // stack PowerShell gives its pipeline threads, not the script thread of worker.ps1.
            int code = 0;
            var serving = new Thread(() => code = worker.Serve(), 10 << 20) { Name = "psbridge-serve" };
            serving.Start();
            serving.Join();
            return code;
        }

        private int Serve()
        {
            var reader = new Thread(ReadLoop) { IsBackground = true, Name = "psbridge-reader" };
            reader.Start();
            _channel.Write(new JsonObject
            {
                ["jsonrpc"] = "2.0",
                ["method"] = "ready",
                ["params"] = new JsonObject
                {
                    ["protocol"] = 1,
                    ["pid"] = Environment.ProcessId,
                    ["psVersion"] = PSVersionInfoText(),
                    ["moduleVersion"] = typeof(Worker).Assembly.GetName().Version?.ToString(3) ?? "",
                },
            });
            _warmUp = new Thread(WarmUp) { IsBackground = true, Name = "psbridge-warmup", Priority = ThreadPriority.Lowest };
            _warmUp.Start();
            while (true)
            {
                JsonObject request = _stash ?? TakeRequest();
                _stash = null;
                string method = request["method"]?.GetValue<string>() ?? "";
                JsonNode id = request["id"]?.DeepClone();
                JsonNode result = null;
                RpcException error = null;
                try
                {
                    var p = request["params"] as JsonObject ?? new JsonObject();
                    switch (method)
                    {
                        case "load": result = Load(p); PromoteLoadSurvivors(); break;
                        case "invoke": ServeInvoke(id, p); continue; // answers on its own
                        case "exec": result = Exec(p); break;
                        case "unload": Unload(Str(p, "instance")); result = new JsonObject(); break;
                        case "shutdown":
                            Reply(id, new JsonObject(), null);
                            Shutdown();
                            return 0;
                        default: throw new RpcException(RpcCodes.MethodNotFound, "unknown method " + method);
                    }
                }
                catch (RpcException ex) { error = ex; }
                catch (Exception ex) { error = new RpcException(-32603, "worker error: " + ex.Message); }
                if (id != null) Reply(id, result, error);
            }
        }

        // PromoteLoadSurvivors collects the young generations once a load is done. What a load
        // allocates (the parsed and compiled script, the instance's state in its runspace) lives
        // as long as the instance; left in gen0, it is all copied by the next gen0 collection,
        // an 8-10 ms pause in one of the instance's first calls. Collected here, it is copied
        // once, inside the load.
        private static void PromoteLoadSurvivors() => GC.Collect(1, GCCollectionMode.Forced, blocking: true, compacting: false);

        // WarmUpRequest is an invoke request as the supervisor sends one, for WarmUpProtocol.
        private static readonly byte[] WarmUpRequest = Encoding.UTF8.GetBytes(
            "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"invoke\",\"params\":{\"callId\":\"c-1\",\"instance\":\"warm-up\"," +
            "\"method\":\"GetClients\",\"args\":{},\"context\":{},\"secrets\":[],\"public\":[],\"timeoutMs\":60000}}\n");
        private MemoryStream _warmUpIn;
        private Channel _warmUpChannel;

        // WarmUpProtocol takes a warm-up invocation through the protocol code too, which only
        // real calls run otherwise: it reads WarmUpRequest through a channel of its own (the
        // parsing Channel.Read does, then the params as an invoke reads them) and writes the
        // invocation's result as a reply to nowhere (Channel.Write's serialisation).
        private void WarmUpProtocol(JsonObject result)
        {
            _warmUpIn ??= new MemoryStream(WarmUpRequest, false);
            _warmUpChannel ??= new Channel(_warmUpIn, Stream.Null);
            _warmUpIn.Position = 0;
            var request = _warmUpChannel.Read();
            _ = request["method"]?.GetValue<string>();
            var id = request["id"]?.DeepClone();
            var p = request["params"] as JsonObject ?? new JsonObject();
            _ = Str(p, "instance") + Str(p, "method") + Str(p, "callId");
            AddSecrets(new Masker(), p["secrets"]);
            _ = HostJson.FromTypedNode(p["context"]);
            _ = HostJson.ToHashtable(p["args"]);
            result["hadErrors"] = false;
            result["context"] = HostJson.ToTypedNode(HostJson.FromTypedNode(new JsonObject()));
            _warmUpChannel.Write(new JsonObject { ["jsonrpc"] = "2.0", ["id"] = id, ["result"] = result });
        }

        private static string PSVersionInfoText()
        {
            var table = typeof(PSObject).Assembly.GetType("System.Management.Automation.PSVersionInfo");
            var prop = table?.GetProperty("PSVersion", System.Reflection.BindingFlags.Static | System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Public);
            return prop?.GetValue(null)?.ToString() ?? "";
        }

        private void Shutdown()
        {
            _stopWarmUp = true;
            lock (_spareLock)
            {
                _spareDispatcher?.Close();
                _spareDispatcher = null;
            }
            foreach (var inst in _instances.Values) inst.Close();
            _instances.Clear();
            try { _spare?.Dispose(); } catch { }
            try { Directory.Delete(_workDir, true); } catch { }
        }

        private void ReadLoop()
        {
            try
            {
                while (true)
                {
                    JsonObject msg = _channel.Read();
                    if (msg == null) break;
                    string method = msg["method"]?.GetValue<string>();
                    if (method == null)
                    {
                        string rid = msg["id"]?.ToString();
                        if (rid != null && _pending.TryRemove(rid, out var waiter)) waiter.Set(msg);
                        continue;
                    }
                    switch (method)
                    {
                        case "ping":
                            var cur = _current;
                            Reply(msg["id"]?.DeepClone(), new JsonObject
                            {
                                ["pid"] = Environment.ProcessId,
                                ["busy"] = cur != null,
                                ["callId"] = cur?.Id,
                            }, null);
                            break;
                        case "cancel":
                            string callId = (msg["params"] as JsonObject)?["callId"]?.GetValue<string>();
                            var running = _current;
                            if (running != null && running.Id == callId) running.Stop(false);
                            break;
                        default:
                            _requests.Add(msg);
                            break;
                    }
                }
            }
            catch (Exception ex)
            {
                Console.Error.WriteLine("psbridge worker: protocol read failed: " + ex.Message);
            }
            // The supervisor is gone or broke the protocol: nothing left to serve.
            Environment.Exit(0);
        }

        private void Reply(JsonNode id, JsonNode result, RpcException error)
        {
            var msg = new JsonObject { ["jsonrpc"] = "2.0", ["id"] = id };
            if (error != null)
            {
                var e = new JsonObject { ["code"] = error.Code, ["message"] = error.Message };
                if (error.Details != null) e["data"] = error.Details;
                msg["error"] = e;
            }
            else msg["result"] = result ?? new JsonObject();
            _channel.Write(msg);
        }

        private static string Str(JsonObject p, string name)
        {
            var n = p[name];
            if (n == null) return null;
            if (n is JsonValue v && v.GetValueKind() == JsonValueKind.String) return v.GetValue<string>();
            throw new RpcException(RpcCodes.InvalidParams, "parameter " + name + " must be a string");
        }

        private Runspace NewRunspace()
        {
            var rs = RunspaceFactory.CreateRunspace(_iss);
            rs.Open();
            return rs;
        }

        private Runspace TakeRunspace()
        {
            Runspace rs;
            _spareWanted = true;
            lock (_spareLock)
            {
                _spareWanted = false;
                rs = _spare;
                _spare = null;
                _spareDispatcher?.Close();
                _spareDispatcher = null;
            }
            return rs ?? NewRunspace();
        }

        private void RefillSpare()
        {
            if (_spare == null)
            {
                Runspace rs = null;
                try { rs = NewRunspace(); } catch { }
                lock (_spareLock) { _spare ??= rs; }
            }
        }

        // WarmUp runs trivial method invocations in the spare runspace, one at a time and only
        // once the serving thread has waited WarmUpAfterIdleMs for a request (none running or
        // waiting), until the worker has made WarmUpInvocations
        // in all: the first quarter in a pipeline of their own, as scripts and loads run, the
        // rest through a dispatcher, as method calls run (the same wrappers, binding and stream
        // set-up). A caller that needs the spare waits for at most the one trivial invocation in
        // progress. When it ends, unless the worker stopped it, it tells the supervisor with the
        // notification warmedUp (docs/protocol.md), with the error that ended it early if one did.
        private void WarmUp()
        {
            Exception failure = null;
            try
            {
                var block = ScriptBlock.Create("param($Value) 1");
                var empty = new Hashtable(StringComparer.OrdinalIgnoreCase);
                long n = 0;
                while (!_stopWarmUp && Interlocked.Read(ref _invocations) < WarmUpInvocations)
                {
                    if (_current != null || _requests.Count > 0 || _spareWanted || !IdleFor(WarmUpAfterIdleMs))
                    {
                        Thread.Sleep(WarmUpAfterIdleMs / 4);
                        continue;
                    }
                    lock (_spareLock)
                    {
                        if (_stopWarmUp) return;
                        var rs = _spare;
                        if (rs == null) { Monitor.Wait(_spareLock, 20); continue; }
                        if (n >= WarmUpInvocations / 4)
                        {
                            // Trivial calls through a dispatcher, on this thread, until the
                            // count is reached or anybody needs the worker or the spare.
                            _spareDispatcher ??= new Dispatcher(rs, AttachStreams);
                            DispatchedCall Trivial() => new DispatchedCall
                            {
                                Block = block,
                                Bind = empty,
                                State = new CallState { Id = "warm-up", Masker = new Masker() },
                                Context = new Hashtable(),
                            };
                            bool more() => !_stopWarmUp && !_spareWanted && _current == null && _requests.Count == 0 && IdleFor(WarmUpAfterIdleMs)
                                && Interlocked.Read(ref _invocations) < WarmUpInvocations;
                            try
                            {
                                _spareDispatcher.Run(Trivial(), _ => Interlocked.Increment(ref _invocations), finished =>
                                {
                                    WarmUpProtocol(OutputToResult(finished.State.Output));
                                    _spareDispatcher.Clear();
                                    n++;
                                    return more() ? Trivial() : null;
                                });
                            }
                            catch (Exception)
                            {
                                _spareDispatcher.Close();
                                _spareDispatcher = null;
                                throw;
                            }
                            continue;
                        }
                        else
                        {
                            using var ps = PowerShell.Create();
                            ps.Runspace = rs;
                            AddInvocation(ps, block, empty, empty);
                            AttachStreams(ps, () => null);
                            OutputToResult(ps.Invoke());
                            n++;
                        }
                        HostJson.ToTypedNode(HostJson.FromTypedNode(new JsonObject()));
                        Interlocked.Increment(ref _invocations);
                    }
                }
            }
            catch (Exception ex)
            {
                failure = ex;
            }
            finally
            {
                lock (_spareLock)
                {
                    _spareDispatcher?.Close();
                    _spareDispatcher = null;
                }
                // WarmUpProtocol's channel holds a 64 KiB read buffer: not kept past the warm-up.
                _warmUpChannel = null;
                _warmUpIn = null;
            }
            // A warm-up the worker stopped (it is shutting down) reports nothing.
            if (_stopWarmUp && failure == null) return;
            var report = new JsonObject { ["invocations"] = Interlocked.Read(ref _invocations) };
            if (failure != null) report["error"] = failure.GetType().FullName + ": " + failure.Message;
            try { _channel.Write(new JsonObject { ["jsonrpc"] = "2.0", ["method"] = "warmedUp", ["params"] = report }); }
            catch (Exception) { } // the supervisor is gone; ReadLoop ends the process
        }

        // ---- load -------------------------------------------------------------------------

        private static ScriptBlock Parse(string script, string scriptName)
        {
            ScriptBlockAst ast = Parser.ParseInput(script ?? "", scriptName, out _, out ParseError[] errors);
            if (errors.Length > 0)
            {
                var list = new JsonArray();
                foreach (var e in errors)
                {
                    list.Add(new JsonObject
                    {
                        ["line"] = e.Extent.StartLineNumber,
                        ["column"] = e.Extent.StartColumnNumber,
                        ["message"] = e.Message,
                        ["errorId"] = e.ErrorId,
                    });
                }
                var first = errors[0];
                throw new RpcException(RpcCodes.ParseFailed,
                    string.Format("{0}:{1}:{2}: {3}", scriptName ?? "script", first.Extent.StartLineNumber, first.Extent.StartColumnNumber, first.Message),
                    new JsonObject { ["errors"] = list });
            }
            return ast.GetScriptBlock();
        }

        private JsonNode Load(JsonObject p)
        {
            string id = Str(p, "instance") ?? throw new RpcException(RpcCodes.InvalidParams, "load needs instance");
            string scriptName = Str(p, "scriptName") ?? (id + ".ps1");
            ScriptBlock sb = Parse(Str(p, "script"), scriptName);
            Unload(id);
            var rs = TakeRunspace();
            var inst = new Instance { Id = id, Runspace = rs, LastUsed = Environment.TickCount64 };
            var state = new CallState { Id = Str(p, "callId") ?? ("load-" + id), Masker = new Masker(), Instance = inst };
            AddSecrets(state.Masker, p["secrets"]);
            var preload = new List<string>();
            if (p["importModules"] is JsonArray mods)
            {
                foreach (var m in mods) if (m is JsonValue mv && mv.GetValueKind() == JsonValueKind.String) preload.Add(mv.GetValue<string>());
            }
            Collection<PSObject> output;
            try
            {
                output = RunPipeline(rs, state, ps => ps.AddScript(LoadWrapper, true).AddArgument(sb), 0, out bool hadErrors, out string firstError);
                if (hadErrors)
                    throw new RpcException(RpcCodes.ScriptFailed, "loading " + scriptName + " wrote errors: " + firstError, null);
                if (preload.Count > 0)
                {
                    // Modules an earlier call of this instance imported (on another worker) stay
                    // available, as they would in one long-lived session.
                    RunPipeline(rs, state, ps => ps.AddScript("param($names) foreach ($n in $names) { Import-Module $n }", true).AddArgument(preload.ToArray()),
                        0, out bool importErrors, out string importError);
                    if (importErrors)
                        throw new RpcException(RpcCodes.ScriptFailed, "re-importing modules for " + scriptName + " failed: " + importError, null);
                }
            }
            catch
            {
                rs.Dispose();
                throw;
            }
            DynamicIntegration integration = output.Select(o => o?.BaseObject as DynamicIntegration).LastOrDefault(o => o != null);
            if (integration == null)
            {
                rs.Dispose();
                throw new RpcException(RpcCodes.NoIntegration,
                    scriptName + " did not produce an integration: create it with New-DynamicIntegration and either return it, emit it, or assign it to $Integration");
            }
            inst.Integration = integration;
            inst.Description = Describe(integration);
            inst.Description["imports"] = HostSchema.DescribeImports(sb.Ast as ScriptBlockAst);
            try { DescribeDynamicParams(rs, state, inst, scriptName); }
            catch
            {
                rs.Dispose();
                throw;
            }
            _instances[id] = inst;
            EvictInstances();
            RefillSpare();
            var result = (JsonObject)inst.Description.DeepClone();
            result["modules"] = inst.ModuleList();
            return result;
        }

        // Runs Init's dynamicparam block on its own (static parameters set to markers, see
        // HostSchema.MarkerPrefix) and adds the fields it returns to Init's description.
        private void DescribeDynamicParams(Runspace rs, CallState state, Instance inst, string scriptName)
        {
            ScriptBlock dyn = HostSchema.DynamicParamBlock(inst.Integration.Init);
            if (dyn == null) return;
            var vars = new Hashtable(StringComparer.OrdinalIgnoreCase);
            foreach (string name in HostSchema.DeclaredParameters(inst.Integration.Init).Keys)
                vars[name] = HostSchema.MarkerPrefix + name + HostSchema.MarkerSuffix;
            Collection<PSObject> output;
            bool hadErrors;
            string firstError;
            try
            {
                output = RunPipeline(rs, state, ps => AddInvocation(ps, dyn, new Hashtable(), vars), 0, out hadErrors, out firstError);
            }
            catch (RpcException ex)
            {
                throw new RpcException(ex.Code, scriptName + ": Init's dynamicparam block failed: " + ex.Message, ex.Details);
            }
            if (hadErrors)
                throw new RpcException(RpcCodes.ScriptFailed, scriptName + ": Init's dynamicparam block wrote errors: " + firstError, null);
            JsonArray fields = HostSchema.DescribeDynamic(output);
            if (fields.Count == 0) return;
            var init = inst.Description["methods"]?["Init"] as JsonObject;
            if (init == null) return;
            var parameters = init["parameters"] as JsonArray;
            if (parameters == null) init["parameters"] = parameters = new JsonArray();
            var taken = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            foreach (var p in parameters) taken.Add((string)p["name"]);
            foreach (var f in fields.ToList())
            {
                string name = (string)f["name"];
                if (taken.Contains(name)) continue; // a static parameter of that name wins, as in PowerShell's own error
                fields.Remove(f);
                parameters.Add(f);
                string type = (string)f["type"];
                inst.DynamicFields[name] = type == "oauthconsent" || type == "helptext" ? type : (f["password"] != null ? "password" : "");
            }
        }

        private void EvictInstances()
        {
            while (_instances.Count > MaxInstances)
            {
                var oldest = _instances.Values.OrderBy(i => i.LastUsed).First();
                Unload(oldest.Id);
            }
        }

        private void Unload(string id)
        {
            if (id != null && _instances.Remove(id, out var inst)) inst.Close();
        }

        private static JsonObject Describe(DynamicIntegration integration)
        {
            var caps = new JsonArray();
            var methods = new JsonObject();
            if (integration.Init != null) methods["Init"] = HostSchema.DescribeBlock(integration.Init, null);
            if (integration.HealthCheck != null) methods["HealthCheck"] = HostSchema.DescribeBlock(integration.HealthCheck, null);
            foreach (Capability cap in integration.Capabilities)
            {
                var members = new JsonArray();
                foreach (var kv in cap.Members)
                {
                    members.Add(kv.Key);
                    methods[kv.Key] = HostSchema.DescribeBlock(kv.Value, cap.Interface);
                }
                caps.Add(new JsonObject { ["interface"] = cap.Interface, ["members"] = members });
            }
            return new JsonObject { ["capabilities"] = caps, ["methods"] = methods };
        }

        // ---- invoke / exec ----------------------------------------------------------------

        private static void AddSecrets(Masker masker, JsonNode secrets)
        {
            if (secrets is JsonArray arr)
            {
                foreach (var s in arr)
                {
                    if (s is JsonValue v && v.GetValueKind() == JsonValueKind.String) masker.Add(v.GetValue<string>());
                }
            }
        }

        private static int TimeoutMs(JsonObject p)
        {
            var n = p["timeoutMs"];
            if (n == null) return 0;
            try { return (int)Math.Min(int.MaxValue, Math.Max(0, n.GetValue<long>())); }
            catch { throw new RpcException(RpcCodes.InvalidParams, "timeoutMs must be a number"); }
        }

        private static object ConvertArgument(string name, object value, ParameterAst declared)
        {
            // Typed objects the host passes as JSON objects.
            if (value is IDictionary d)
            {
                switch (name.ToLowerInvariant())
                {
                    case "httpcontext": return Microsoft.AspNetCore.Http.HttpContext.FromDictionary(d);
                    case "agent":
                    case "device": return IntegrationAgent.FromDictionary(d);
                    case "user": return Immybot.Backend.Domain.Models.User.FromDictionary(d);
                }
            }
            if (declared != null && value is string s)
            {
                string type = HostSchema.TypeName(declared);
                if (type == "bool" || type == "boolean" || type == "system.boolean" || type == "switch" || type == "switchparameter")
                {
                    switch (s.Trim().ToLowerInvariant())
                    {
                        case "true": case "$true": case "1": case "yes": case "on": return true;
                        case "false": case "$false": case "0": case "no": case "off": case "": return false;
                    }
                }
            }
            return value;
        }

        // PrepareCall reads an invoke request into the call to run (its block, arguments,
        // context, secrets); it throws what is wrong with the request.
        private DispatchedCall PrepareCall(JsonNode requestId, JsonObject p)
        {
            string id = Str(p, "instance") ?? throw new RpcException(RpcCodes.InvalidParams, "invoke needs instance");
            string method = Str(p, "method") ?? throw new RpcException(RpcCodes.InvalidParams, "invoke needs method");
            if (!_instances.TryGetValue(id, out var inst))
                throw new RpcException(RpcCodes.NotLoaded, "instance " + id + " is not loaded in this worker");
            inst.LastUsed = Environment.TickCount64;
            ScriptBlock block;
            if (string.Equals(method, "Init", StringComparison.OrdinalIgnoreCase)) block = inst.Integration.Init;
            else if (string.Equals(method, "HealthCheck", StringComparison.OrdinalIgnoreCase)) block = inst.Integration.HealthCheck;
            else block = inst.Integration.FindMethod(method, out _);
            if (block == null)
            {
                var caps = new JsonArray();
                foreach (var c in inst.Integration.Capabilities) caps.Add(c.Interface);
                throw new RpcException(RpcCodes.NotSupported, "the integration does not implement " + method,
                    new JsonObject { ["method"] = method, ["capabilities"] = caps });
            }

            var state = new CallState { Id = Str(p, "callId") ?? ("call-" + Interlocked.Increment(ref _seq)), Masker = new Masker(), Instance = inst };
            AddSecrets(state.Masker, p["secrets"]);
            if (p["public"] is JsonArray pub)
            {
                foreach (var v in pub)
                    if (v is JsonValue jv && jv.GetValueKind() == JsonValueKind.String) state.Masker.Public.Add(jv.GetValue<string>());
            }
            Hashtable context = HostJson.FromTypedNode(p["context"]) as Hashtable ?? new Hashtable(StringComparer.OrdinalIgnoreCase);
            state.Masker.AddContextLeaves(context);
            state.Context = context;

            var declared = HostSchema.DeclaredParameters(block);
            var bind = new Hashtable(StringComparer.OrdinalIgnoreCase);
            var vars = new Hashtable(StringComparer.OrdinalIgnoreCase);
            if (string.Equals(method, "Init", StringComparison.OrdinalIgnoreCase))
            {
                Hashtable form = HostJson.ToHashtable(p["formData"]) ?? new Hashtable(StringComparer.OrdinalIgnoreCase);
                foreach (DictionaryEntry e in form)
                {
                    string name = (string)e.Key;
                    if (declared.TryGetValue(name, out var decl))
                    {
                        if (HostSchema.IsPassword(decl)) state.Masker.AddLeaves(e.Value);
                        else if (e.Value is string plain) state.Masker.Public.Add(plain);
                        bind[decl.Name.VariablePath.UserPath] = ConvertArgument(name, e.Value, decl);
                    }
                    else if (inst.DynamicFields.TryGetValue(name, out string kind) && kind != "helptext")
                    {
                        object value = e.Value;
                        if (kind == "oauthconsent" && value is string tokens && tokens.TrimStart().StartsWith("{", StringComparison.Ordinal))
                        {
                            try { value = HostJson.ToHashtable(JsonNode.Parse(tokens)); }
                            catch (System.Text.Json.JsonException) { throw new RpcException(RpcCodes.InvalidParams, "formData." + name + ": the stored OAuth consent is not a JSON object"); }
                        }
                        if (kind == "oauthconsent" || kind == "password") state.Masker.AddLeaves(value);
                        else if (value is string plain) state.Masker.Public.Add(plain);
                        bind[name] = value;
                    }
                }
                vars["providerTypeFormData"] = form;
            }
            Hashtable args = HostJson.ToHashtable(p["args"]);
            if (args != null)
            {
                foreach (DictionaryEntry e in args)
                {
                    string name = (string)e.Key;
                    declared.TryGetValue(name, out var decl);
                    object value = ConvertArgument(name, e.Value, decl);
                    vars[name] = value;
                    if (decl != null) bind[decl.Name.VariablePath.UserPath] = value;
                }
            }

            return new DispatchedCall
            {
                Block = block,
                Bind = bind,
                State = state,
                Vars = vars.Count > 0 ? vars : null,
                Context = context,
                Preferences = Preferences(p["preferences"] as JsonObject),
                Reply = requestId,
                TimeoutMs = TimeoutMs(p),
            };
        }

        // ServeInvoke answers an invoke request, and every invoke of the same instance that
        // follows it, from the instance's dispatcher on this thread (see Dispatcher). It returns
        // when another kind of request, or another instance's, is next: that one waits in _stash.
        private void ServeInvoke(JsonNode requestId, JsonObject p)
        {
            DispatchedCall first;
            try { first = PrepareCall(requestId, p); }
            catch (Exception ex) { ReplyFailure(requestId, ex); return; }
            var inst = first.State.Instance;
            var dispatcher = inst.Dispatcher ??= new Dispatcher(inst.Runspace, AttachStreams);
            Exception ended = null;
            try
            {
                dispatcher.Run(first, StartCall, finished => NextCall(inst, dispatcher, finished));
            }
            catch (Exception ex) { ended = ex; }
            var call = dispatcher.Current;
            dispatcher.Clear();
            if (ended != null || call != null || dispatcher.Poisoned)
            {
                // The pipeline ended during a call, or may still be stopping: start afresh.
                inst.Dispatcher = null;
                dispatcher.Close();
            }
            if (call != null)
            {
                Dispatcher.AfterEnd(call, inst.Runspace);
                Answer(call, ended);
                call.Release();
            }
            else if (ended != null && !dispatcher.Poisoned)
            {
                Console.Error.WriteLine("psbridge worker: the dispatcher of " + inst.Id + " ended between calls: " + ended.Message);
            }
        }

        // TakeRequest waits for the next request. A worker that allocated more than
        // CompactAfterBytes since it last compacted its heap, and then has nothing to do for
        // IdleCompactionMs, first collects and compacts its heap and gives the free memory back
        // to the system: otherwise an integration's worker keeps the memory of its largest call
        // for as long as it lives (idle after a 10,000-agent sync: 238 MiB resident; now 141).
        // Off every caller's path: a request that comes during the collection (about 0.2 s for
        // a heap of 400 MB) waits for it.
        private JsonObject TakeRequest()
        {
            Volatile.Write(ref _idleSince, Environment.TickCount64);
            JsonObject request = null;
            if (GC.GetTotalAllocatedBytes() - _allocatedAtCompaction > CompactAfterBytes && !_requests.TryTake(IdleCompactionMs, out request))
            {
                GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, true, true);
                _allocatedAtCompaction = GC.GetTotalAllocatedBytes();
            }
            request ??= _requests.Take();
            Volatile.Write(ref _idleSince, Busy);
            return request;
        }

        // IdleFor tells whether the serving thread has been waiting for requests for at least ms.
        private bool IdleFor(int ms) => Environment.TickCount64 - Volatile.Read(ref _idleSince) >= ms;

        // ReplyFailure answers a request that failed before it ran, as the serving loop
        // answers any failed request (nothing for a notification, which has no id).
        private void ReplyFailure(JsonNode requestId, Exception ex)
        {
            if (requestId == null) return;
            Reply(requestId, null, ex as RpcException ?? new RpcException(-32603, "worker error: " + ex.Message));
        }

        // StartCall runs on the loop as a call starts: it becomes the running call, under its deadline.
        private void StartCall(DispatchedCall call)
        {
            var state = call.State;
            state.Block = call.Block;
            state.Shell = state.Instance.Dispatcher?.Shell;
            _current = state;
            Interlocked.Increment(ref _invocations);
            if (call.TimeoutMs > 0) call.Timer = new Timer(_ => state.Stop(true), null, call.TimeoutMs, Timeout.Infinite);
        }

        // NextCall runs on the loop between calls: it answers the call that finished, then takes
        // the next request. An invoke of the same instance is the next call; anything else ends
        // the loop and waits in _stash for the serving loop.
        private DispatchedCall NextCall(Instance inst, Dispatcher dispatcher, DispatchedCall finished)
        {
            if (finished != null)
            {
                bool stopping = finished.State.TimedOut || finished.State.Cancelled;
                Answer(finished, null);
                finished.Release();
                dispatcher.Clear();
                if (stopping)
                {
                    // A stop that came as the call finished may still end this pipeline: the
                    // next call must not start in it.
                    dispatcher.Poisoned = true;
                    return null;
                }
            }
            while (true)
            {
                JsonObject request = TakeRequest();
                string method = request["method"]?.GetValue<string>() ?? "";
                var p = request["params"] as JsonObject;
                JsonNode id = request["id"]?.DeepClone();
                if (method != "invoke" || p == null || !(p["instance"] is JsonValue iv) || iv.GetValueKind() != JsonValueKind.String
                    || iv.GetValue<string>() != inst.Id)
                {
                    _stash = request;
                    return null;
                }
                try { return PrepareCall(id, p); }
                catch (Exception ex) { ReplyFailure(id, ex); }
            }
        }

        // Answer replies to a call that finished (ended == null: its block returned, or exit
        // ended the pipeline) or that ended the pipeline with ended.
        private void Answer(DispatchedCall call, Exception ended)
        {
            var state = call.State;
            call.Timer?.Dispose();
            call.Timer = null;
            _current = null;
            state.Shell = null;
            JsonObject result = null;
            RpcException error = null;
            try
            {
                if (!call.Started) throw new RpcException(RpcCodes.ScriptFailed, "the instance's pipeline ended before the call started");
                if (ended != null) throw ended;
                if (state.TimedOut || state.Cancelled) throw Stopped(state, call.TimeoutMs);
                if (state.BindingError != null)
                {
                    var data = (JsonObject)state.BindingError.DeepClone();
                    throw new RpcException(RpcCodes.ScriptFailed, data["message"]?.GetValue<string>() ?? "the arguments did not bind", data);
                }
                result = OutputToResult(state.Output);
                result["hadErrors"] = state.Errors > 0;
                result["context"] = FinalContext(call, state);
                result["modules"] = state.Instance.ModuleList();
            }
            catch (Exception ex)
            {
                error = ex switch
                {
                    RpcException rpc => rpc,
                    _ when state.TimedOut || state.Cancelled || ex is PipelineStoppedException => Stopped(state, call.TimeoutMs),
                    RuntimeException rte => ScriptFailure(rte.ErrorRecord, rte, state),
                    _ => new RpcException(RpcCodes.ScriptFailed, state.MaskText(ex.Message), new JsonObject { ["exceptionType"] = ex.GetType().FullName }),
                };
                try
                {
                    var data = error.Details as JsonObject ?? new JsonObject();
                    data["context"] = FinalContext(call, state);
                    data["modules"] = state.Instance.ModuleList();
                    error = new RpcException(error.Code, error.Message, data);
                }
                catch (Exception) { }
            }
            if (call.Reply != null) Reply(call.Reply, result, error);
        }

        // Preferences reads a request's "preferences" ({"verbose": true, ...}) as the preference
        // variables to set for it, Continue when true and SilentlyContinue when false: one
        // reading for method calls (set by their dispatcher) and scripts (set in their runspace).
        private static Dictionary<string, ActionPreference> Preferences(JsonObject prefs)
        {
            if (prefs == null) return null;
            var set = new Dictionary<string, ActionPreference>(StringComparer.OrdinalIgnoreCase);
            foreach (var kv in prefs)
            {
                string var = PreferenceVariable(kv.Key);
                if (var == null) continue;
                bool on = kv.Value is JsonValue v && v.GetValueKind() == JsonValueKind.True;
                set[var] = on ? ActionPreference.Continue : ActionPreference.SilentlyContinue;
            }
            return set.Count > 0 ? set : null;
        }

        private static string PreferenceVariable(string stream) => stream.ToLowerInvariant() switch
        {
            "verbose" => "VerbosePreference",
            "debug" => "DebugPreference",
            "information" => "InformationPreference",
            "warning" => "WarningPreference",
            "progress" => "ProgressPreference",
            _ => null,
        };

        private static JsonNode FinalContext(DispatchedCall call, CallState state)
        {
            object v = call.FinalContextRead ? call.FinalContext : null;
            if (v is PSObject pso) v = pso.BaseObject;
            if (v == null) v = state.Context;
            state.Masker.AddContextLeaves(v);
            return HostJson.ToTypedNode(v) ?? new JsonObject();
        }

        private JsonNode Exec(JsonObject p)
        {
            string scriptName = Str(p, "scriptName") ?? "script.ps1";
            ScriptBlock sb = Parse(Str(p, "script"), scriptName);
            var state = new CallState { Id = Str(p, "callId") ?? ("call-" + Interlocked.Increment(ref _seq)), Masker = new Masker() };
            AddSecrets(state.Masker, p["secrets"]);
            var declared = HostSchema.DeclaredParameters(sb);
            var bind = new Hashtable(StringComparer.OrdinalIgnoreCase);
            var vars = new Hashtable(StringComparer.OrdinalIgnoreCase);
            Hashtable args = HostJson.ToHashtable(p["args"]);
            if (args != null)
            {
                foreach (DictionaryEntry e in args)
                {
                    string name = (string)e.Key;
                    declared.TryGetValue(name, out var decl);
                    object value = ConvertArgument(name, e.Value, decl);
                    vars[name] = value;
                    if (decl != null) bind[decl.Name.VariablePath.UserPath] = value;
                }
            }
            var rs = TakeRunspace();
            try
            {
                // Ordinary scripts see the variable, but never an integration's context.
                rs.SessionStateProxy.SetVariable("global:IntegrationContext", null);
                // The runspace is the script's alone and disposed afterwards: nothing to restore.
                var prefs = Preferences(p["preferences"] as JsonObject);
                if (prefs != null)
                {
                    foreach (var kv in prefs) rs.SessionStateProxy.SetVariable(kv.Key, kv.Value);
                }
                state.Block = sb;
                var output = RunPipeline(rs, state, ps => AddInvocation(ps, sb, bind, vars),
                    TimeoutMs(p), out bool hadErrors, out _);
                var result = OutputToResult(output);
                result["hadErrors"] = hadErrors;
                return result;
            }
            finally
            {
                rs.Dispose();
                RefillSpare();
            }
        }

        private static JsonObject OutputToResult(IEnumerable<PSObject> output)
        {
            var values = new JsonArray();
            var types = new JsonArray();
            foreach (PSObject o in output)
            {
                if (o == null) { values.Add(null); types.Add(null); continue; }
                object b = o.BaseObject;
                values.Add(HostJson.ToNode(o));
                types.Add(b is PSCustomObject ? "PSCustomObject" : b.GetType().FullName);
            }
            return new JsonObject { ["output"] = values, ["outputTypes"] = types };
        }

        // ---- running a pipeline with live streams -----------------------------------------

        private Collection<PSObject> RunPipeline(Runspace rs, CallState state, Action<PowerShell> build, int timeoutMs,
            out bool hadErrors, out string firstError)
        {
            using var ps = PowerShell.Create();
            ps.Runspace = rs;
            build(ps);
            state.Shell = ps;
            state.FirstError = null;
            AttachStreams(ps, () => state);
            Timer timer = null;
            _current = state;
            try
            {
                if (timeoutMs > 0) timer = new Timer(_ => state.Stop(true), null, timeoutMs, Timeout.Infinite);
                Interlocked.Increment(ref _invocations);
                var output = ps.Invoke();
                hadErrors = ps.HadErrors;
                firstError = state.FirstError;
                if (state.TimedOut || state.Cancelled) throw Stopped(state, timeoutMs);
                if (state.BindingError != null)
                {
                    var data = (JsonObject)state.BindingError.DeepClone();
                    throw new RpcException(RpcCodes.ScriptFailed, data["message"]?.GetValue<string>() ?? "the arguments did not bind", data);
                }
                return output;
            }
            catch (RpcException) { throw; }
            catch (Exception ex) when (state.TimedOut || state.Cancelled || ex is PipelineStoppedException)
            {
                throw Stopped(state, timeoutMs);
            }
            catch (RuntimeException ex)
            {
                throw ScriptFailure(ex.ErrorRecord, ex, state);
            }
            catch (Exception ex)
            {
                throw new RpcException(RpcCodes.ScriptFailed, state.MaskText(ex.Message), new JsonObject { ["exceptionType"] = ex.GetType().FullName });
            }
            finally
            {
                timer?.Dispose();
                _current = null;
                state.Shell = null;
            }
        }

        // AttachStreams sends the records ps writes, masked, as "record" notifications of the
        // call current() returns (none when it returns null), and catches the binding errors of
        // the call's block (see IsWrapperBindingError).
        private void AttachStreams(PowerShell ps, Func<CallState> current)
        {
            ps.Streams.Error.DataAdded += (s, e) =>
            {
                var state = current();
                if (state == null) return;
                var rec = ((PSDataCollection<ErrorRecord>)s)[e.Index];
                var n = ErrorRecordNode(rec, state);
                if (state.BindingError == null && IsWrapperBindingError(rec, state))
                {
                    // The block's own arguments did not bind: PowerShell reports that at the
                    // wrapper's "& $block" line and goes on with an empty result. Report it at
                    // the block's parameter instead, and fail the call.
                    PositionAtBlock(n, rec, state.Block, state);
                    state.BindingError = n;
                }
                state.Errors++;
                if (state.FirstError == null) state.FirstError = Positioned(n);
                SendRecord(state, "error", n);
            };
            ps.Streams.Warning.DataAdded += (s, e) =>
            {
                var state = current();
                if (state != null) SendRecord(state, "warning", new JsonObject { ["message"] = state.MaskText(((PSDataCollection<WarningRecord>)s)[e.Index].Message) });
            };
            ps.Streams.Verbose.DataAdded += (s, e) =>
            {
                var state = current();
                if (state != null) SendRecord(state, "verbose", new JsonObject { ["message"] = state.MaskText(((PSDataCollection<VerboseRecord>)s)[e.Index].Message) });
            };
            ps.Streams.Debug.DataAdded += (s, e) =>
            {
                var state = current();
                if (state != null) SendRecord(state, "debug", new JsonObject { ["message"] = state.MaskText(((PSDataCollection<DebugRecord>)s)[e.Index].Message) });
            };
            ps.Streams.Information.DataAdded += (s, e) =>
            {
                var state = current();
                if (state == null) return;
                var rec = ((PSDataCollection<InformationRecord>)s)[e.Index];
                var tags = new JsonArray();
                foreach (var t in rec.Tags) tags.Add(t);
                string text = rec.MessageData is HostInformationMessage him ? him.Message : Convert.ToString(rec.MessageData);
                SendRecord(state, "information", new JsonObject { ["message"] = state.MaskText(text), ["tags"] = tags });
            };
            ps.Streams.Progress.DataAdded += (s, e) =>
            {
                var state = current();
                if (state == null) return;
                var rec = ((PSDataCollection<ProgressRecord>)s)[e.Index];
                SendRecord(state, "progress", new JsonObject
                {
                    ["message"] = state.MaskText(rec.StatusDescription == "Processing" || string.IsNullOrEmpty(rec.StatusDescription) ? rec.Activity : rec.Activity + ": " + rec.StatusDescription),
                    ["activity"] = state.MaskText(rec.Activity),
                    ["status"] = state.MaskText(rec.StatusDescription),
                    ["percent"] = rec.PercentComplete,
                    ["completed"] = rec.RecordType == ProgressRecordType.Completed,
                });
            };
        }

        // IsWrapperBindingError: a ParameterBindingException raised while binding the call's
        // block itself (the invocation wrapper, which has no file, is where PowerShell places it).
        private static bool IsWrapperBindingError(ErrorRecord rec, CallState state)
        {
            if (state.Block == null || !(rec.Exception is ParameterBindingException)) return false;
            var ii = rec.InvocationInfo;
            if (ii == null || !string.IsNullOrEmpty(ii.ScriptName)) return false;
            return ii.Line != null && ii.Line.Contains("& $__psbBlock @__psbBind", StringComparison.Ordinal);
        }

        // PositionAtBlock moves an error node to the parameter of block that the binding error
        // names (its declaration in the script), else to the block's param() or its first line.
        private static void PositionAtBlock(JsonObject n, ErrorRecord rec, ScriptBlock block, CallState state)
        {
            IScriptExtent extent = null;
            if (block.Ast is ScriptBlockAst ast)
            {
                string names = (rec.Exception as ParameterBindingException)?.ParameterName ?? "";
                if (ast.ParamBlock != null)
                {
                    foreach (ParameterAst p in ast.ParamBlock.Parameters)
                    {
                        string name = p.Name.VariablePath.UserPath;
                        foreach (string part in names.Split(new[] { ',', ' ' }, StringSplitOptions.RemoveEmptyEntries))
                        {
                            if (string.Equals(part.Trim(), name, StringComparison.OrdinalIgnoreCase)) { extent = p.Name.Extent; break; }
                        }
                        if (extent != null) break;
                    }
                    if (extent == null) extent = ast.ParamBlock.Extent;
                }
                if (extent == null) extent = ast.Extent;
            }
            if (extent == null) return;
            n["line"] = extent.StartLineNumber;
            n["column"] = extent.StartColumnNumber;
            if (!string.IsNullOrEmpty(extent.File)) n["script"] = extent.File; else n.Remove("script");
            string lineText = extent.StartScriptPosition.Line?.TrimEnd() ?? "";
            n["positionMessage"] = state.MaskText(string.Format(CultureInfo.InvariantCulture, "At {0}:{1} char:{2}\n+ {3}",
                string.IsNullOrEmpty(extent.File) ? "line" : extent.File, extent.StartLineNumber, extent.StartColumnNumber, lineText));
        }

        // Positioned prefixes an error record's message with "script:line:column: " when the
        // record knows where it happened, so a summary line still names the line.
        private static string Positioned(JsonObject n)
        {
            string msg = n["message"]?.GetValue<string>();
            if (n["line"] == null) return msg;
            string script = n["script"]?.GetValue<string>();
            string where = (string.IsNullOrEmpty(script) ? "line " : System.IO.Path.GetFileName(script) + ":") + n["line"];
            if (n["column"] != null) where += ":" + n["column"];
            return where + ": " + msg;
        }

        private static RpcException Stopped(CallState state, int timeoutMs)
        {
            if (state.TimedOut)
                return new RpcException(RpcCodes.Cancelled, string.Format("the script did not finish within its timeout of {0} s and was stopped", timeoutMs / 1000.0),
                    new JsonObject { ["reason"] = "timeout" });
            return new RpcException(RpcCodes.Cancelled, "the call was cancelled", new JsonObject { ["reason"] = "cancelled" });
        }

        private static JsonObject ErrorRecordNode(ErrorRecord rec, CallState state)
        {
            var n = new JsonObject { ["message"] = state.MaskText(rec.ToString()) };
            var ii = rec.InvocationInfo;
            if (ii != null)
            {
                if (ii.ScriptLineNumber > 0) n["line"] = ii.ScriptLineNumber;
                if (ii.OffsetInLine > 0) n["column"] = ii.OffsetInLine;
                // Write-Error reports the invocation of the block that called it (our wrapper's
                // "& $block" line); the script stack trace has the line of Write-Error itself.
                if (TopFrame(rec.ScriptStackTrace, out string frameFile, out int frameLine)
                    && frameLine != ii.ScriptLineNumber
                    && (string.IsNullOrEmpty(ii.ScriptName) ? frameFile != "<No file>" : string.Equals(frameFile, ii.ScriptName, StringComparison.Ordinal)))
                {
                    n["line"] = frameLine;
                    n["column"] = FirstColumn(state, frameLine);
                    if (string.IsNullOrEmpty(ii.ScriptName)) n["script"] = frameFile;
                }
                if (!string.IsNullOrEmpty(ii.ScriptName)) n["script"] = ii.ScriptName;
                if (!string.IsNullOrEmpty(ii.PositionMessage)) n["positionMessage"] = state.MaskText(ii.PositionMessage);
            }
            n["category"] = rec.CategoryInfo.Category.ToString();
            if (!string.IsNullOrEmpty(rec.FullyQualifiedErrorId)) n["errorId"] = state.MaskText(rec.FullyQualifiedErrorId); // throw "text" makes the text the id
            if (rec.Exception != null) n["exceptionType"] = rec.Exception.GetType().FullName;
            return n;
        }

        // Parses the first frame of a ScriptStackTrace ("at <ScriptBlock>, file.ps1: line 14").
        private static bool TopFrame(string stack, out string file, out int line)
        {
            file = null;
            line = 0;
            if (string.IsNullOrEmpty(stack)) return false;
            string first = stack.Split('\n')[0].TrimEnd('\r');
            int comma = first.IndexOf(", ", StringComparison.Ordinal);
            int at = first.LastIndexOf(": line ", StringComparison.Ordinal);
            if (comma < 0 || at < comma) return false;
            file = first.Substring(comma + 2, at - comma - 2);
            return int.TryParse(first.Substring(at + 7), NumberStyles.Integer, CultureInfo.InvariantCulture, out line) && line > 0;
        }

        // The column of the first non-blank character of a line of the instance's script (1 when unknown).
        private static int FirstColumn(CallState state, int line)
        {
            try
            {
                string text = state.Instance?.Integration?.Init?.Ast?.Extent?.StartScriptPosition?.GetFullScript();
                if (text == null) return 1;
                string[] lines = text.Split('\n');
                if (line < 1 || line > lines.Length) return 1;
                string l = lines[line - 1];
                int i = 0;
                while (i < l.Length && char.IsWhiteSpace(l[i])) i++;
                return i < l.Length ? i + 1 : 1;
            }
            catch (Exception)
            {
                return 1;
            }
        }

        private static RpcException ScriptFailure(ErrorRecord rec, Exception ex, CallState state)
        {
            if (rec == null)
                return new RpcException(RpcCodes.ScriptFailed, state.MaskText(ex.Message), new JsonObject { ["exceptionType"] = ex.GetType().FullName });
            var data = ErrorRecordNode(rec, state);
            string message = data["message"]?.GetValue<string>() ?? ex.Message;
            return new RpcException(RpcCodes.ScriptFailed, message, data);
        }

        private void SendRecord(CallState state, string stream, JsonObject rec)
        {
            rec["callId"] = state.Id;
            rec["stream"] = stream;
            rec["time"] = DateTime.UtcNow.ToString("o");
            _channel.Write(new JsonObject { ["jsonrpc"] = "2.0", ["method"] = "record", ["params"] = rec });
        }

        // ---- callbacks into Go -------------------------------------------------------------

        /// <summary>Calls the Go host while a call runs and waits for its answer.</summary>
        internal object CallHost(string method, IDictionary parameters)
        {
            var state = _current;
            if (state == null) throw new InvalidOperationException("psbridge: " + method + " can only be used while psbridge runs a call");
            var p = HostJson.ToNode(parameters) as JsonObject ?? new JsonObject();
            p["callId"] = state.Id;
            string id = "w" + Interlocked.Increment(ref _seq);
            var waiter = new TaskCompletionSourceLite();
            _pending[id] = waiter;
            _channel.Write(new JsonObject { ["jsonrpc"] = "2.0", ["id"] = id, ["method"] = method, ["params"] = p });
            JsonObject reply;
            try
            {
                reply = waiter.Wait(state.Cts.Token);
            }
            catch (OperationCanceledException)
            {
                _pending.TryRemove(id, out _);
                throw new PipelineStoppedException();
            }
            if (reply["error"] is JsonObject err)
            {
                string message = err["message"]?.GetValue<string>() ?? "host call failed";
                throw new InvalidOperationException(state.MaskText(message));
            }
            object result = HostJson.FromNode(reply["result"]);
            // Refreshed OAuth consent tokens (Update-OAuthConsentToken) are secrets of this call.
            if (method == "host.token" && parameters["kind"] is string kind && kind.StartsWith("oauthRefresh:", StringComparison.Ordinal)
                && result is IDictionary answer && answer["value"] is IDictionary tokens)
            {
                foreach (string key in new[] { "AccessToken", "RefreshToken", "IdToken", "Code" })
                    if (tokens[key] is string secret && secret.Length > 0) state.Masker.Add(secret);
            }
            return result;
        }

        /// <summary>Asks the host for a module script by name and returns the path of a local copy, or null.</summary>
        internal string FindModule(string name)
        {
            var state = _current;
            if (state == null) return null;
            if (!(CallHost("host.findModule", new Hashtable { ["name"] = name }) is Hashtable found)) return null;
            string script = found["script"] as string;
            if (script == null) return null;
            string moduleName = found["name"] as string ?? name;
            state.Instance?.Modules.Add(moduleName);
            foreach (char c in Path.GetInvalidFileNameChars()) moduleName = moduleName.Replace(c, '_');
            string hash = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(moduleName + "\0" + script))).Substring(0, 16);
            return _moduleFiles.GetOrAdd(hash, _ =>
            {
                string dir = Path.Combine(_workDir, "modules", hash, moduleName);
                Directory.CreateDirectory(dir);
                string file = Path.Combine(dir, moduleName + ".psm1");
                File.WriteAllText(file, script, new UTF8Encoding(false));
                return file;
            });
        }
    }

    /// <summary>A minimal blocking one-shot signal carrying a message.</summary>
    internal sealed class TaskCompletionSourceLite
    {
        private readonly ManualResetEventSlim _done = new ManualResetEventSlim(false);
        private JsonObject _value;

        public void Set(JsonObject value)
        {
            _value = value;
            _done.Set();
        }

        public JsonObject Wait(CancellationToken token)
        {
            _done.Wait(token);
            return _value;
        }
    }

}

namespace PSBridge
{
    /// <summary>The module's way to reach the psbridge host (Go) while a call runs: token lookups,
    /// module scripts, computer commands.</summary>
    public static class HostBridge
    {
        /// <summary>True inside a psbridge worker.</summary>
        public static bool IsAttached => Host.Worker.Current != null;

        /// <summary>Calls a host method (docs/protocol.md, "Worker → Go requests") and returns its
        /// result; throws with the host's message when the host answers an error.</summary>
        public static object Call(string method, System.Collections.IDictionary parameters)
        {
            var worker = Host.Worker.Current;
            if (worker == null)
                throw new InvalidOperationException("psbridge host is not attached: " + method + " only works inside a psbridge worker");
            return worker.CallHost(method, parameters ?? new System.Collections.Hashtable());
        }

        /// <summary>Returns the path of a host-provided module script named <paramref name="name"/>, or null.</summary>
        public static string FindModule(string name)
        {
            var worker = Host.Worker.Current;
            return worker?.FindModule(name);
        }
    }
}
