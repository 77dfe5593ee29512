namespace Rbee.Worker.Kernels;

/// <summary>
/// A fixed set of compute threads that split one kernel call between them. The calling thread works too, so a pool
/// of <see cref="Threads"/> = N starts N−1 threads. A call posts a job (a function pointer and a context pointer,
/// so nothing is allocated per call), the threads take task indices from a shared counter until none are left
/// (dynamic split: a thread slowed down by other load on the machine simply takes fewer tasks), and the caller
/// returns once every thread has checked out. Idle threads spin for <see cref="SpinIterations"/> rounds, then sleep
/// on a monitor, so back-to-back matrix products of one token never pay a wake-up, while an idle worker costs
/// no CPU.
/// </summary>
/// <remarks>
/// Thread count: <see cref="Configure"/> replaces <see cref="Shared"/> (the engine calls it once at start-up from
/// its options); until then the shared pool uses <see cref="Environment.ProcessorCount"/> threads. One job runs at a
/// time; concurrent callers queue on a lock. A job body must not call back into the pool.
/// </remarks>
public sealed unsafe class ComputePool : IDisposable
{
    private static ComputePool? _shared;
    private static readonly Lock SharedGate = new();

    /// <summary>The pool the kernels use.</summary>
    public static ComputePool Shared
    {
        get
        {
            var p = Volatile.Read(ref _shared);
            if (p != null) return p;
            lock (SharedGate) return _shared ??= new ComputePool(Environment.ProcessorCount);
        }
    }

    /// <summary>Replaces the shared pool with one of <paramref name="threads"/> threads (the caller included).</summary>
    public static void Configure(int threads, int spinIterations = DefaultSpinIterations)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(threads, 1024);
        lock (SharedGate)
        {
            var old = _shared;
            if (old != null && old.Threads == threads && old.SpinIterations == spinIterations) return;
            _shared = new ComputePool(threads, spinIterations);
            old?.Dispose();
        }
    }

    /// <summary>About 50–100 µs of spinning on current x86 cores before an idle thread sleeps.</summary>
    public const int DefaultSpinIterations = 2000;

    public int Threads { get; }
    public int SpinIterations { get; }

    private readonly Thread[] _workers;
    private readonly Lock _runGate = new();
    private readonly object _sleepGate = new();

    // The posted job. Written by the caller before _generation is bumped; read by workers after they see the bump.
    private delegate*<void*, int, void> _body;
    private void* _context;
    private int _tasks;
    private int _next;
    private int _checkedOut;

    private long _generation;
    private int _sleepers;
    private volatile bool _disposed;

    public ComputePool(int threads, int spinIterations = DefaultSpinIterations)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(spinIterations);
        Threads = threads;
        SpinIterations = spinIterations;
        _workers = new Thread[threads - 1];
        for (var i = 0; i < _workers.Length; i++)
        {
            _workers[i] = new Thread(WorkerLoop) { IsBackground = true, Name = $"rbee-compute-{i + 1}" };
            _workers[i].Start();
        }
    }

    /// <summary>
    /// Calls <c>body(context, i)</c> once for every i in [0, tasks), spread over the pool's threads, and returns when
    /// all are done. <paramref name="context"/> must stay valid until then (a struct on the caller's stack is fine).
    /// </summary>
    public void Run(delegate*<void*, int, void> body, void* context, int tasks)
    {
        if (tasks <= 0) return;
        if (_workers.Length == 0 || tasks == 1)
        {
            for (var i = 0; i < tasks; i++) body(context, i);
            return;
        }
        ObjectDisposedException.ThrowIf(_disposed, this);
        lock (_runGate)
        {
            _body = body;
            _context = context;
            _tasks = tasks;
            _next = 0;
            _checkedOut = 0;
            Interlocked.Increment(ref _generation); // full fence: the job is visible before the bump
            if (Volatile.Read(ref _sleepers) > 0)
                lock (_sleepGate) Monitor.PulseAll(_sleepGate);

            Work();

            // Wait for every worker to check out of this generation, so none can still be reading the job when the
            // next call overwrites it.
            var spin = new SpinWait();
            while (Volatile.Read(ref _checkedOut) < _workers.Length) spin.SpinOnce(sleep1Threshold: -1);
        }
    }

    private void Work()
    {
        var body = _body;
        var ctx = _context;
        var tasks = _tasks;
        int i;
        while ((i = Interlocked.Increment(ref _next) - 1) < tasks) body(ctx, i);
    }

    private void WorkerLoop()
    {
        long seen = 0;
        while (true)
        {
            // Spin first: the next matrix product of the same token is usually microseconds away.
            var spins = 0;
            while (Volatile.Read(ref _generation) == seen && spins < SpinIterations)
            {
                Thread.SpinWait(20);
                spins++;
            }
            if (Volatile.Read(ref _generation) == seen)
            {
                Interlocked.Increment(ref _sleepers); // full fence pairs with the caller's bump-then-read
                lock (_sleepGate)
                {
                    while (Volatile.Read(ref _generation) == seen && !_disposed) Monitor.Wait(_sleepGate);
                }
                Interlocked.Decrement(ref _sleepers);
            }
            if (_disposed) return;
            seen = Volatile.Read(ref _generation);
            Work();
            Interlocked.Increment(ref _checkedOut);
        }
    }

    public void Dispose()
    {
        if (_disposed) return;
        lock (_runGate)
        {
            _disposed = true;
            lock (_sleepGate) Monitor.PulseAll(_sleepGate);
        }
    }
}
