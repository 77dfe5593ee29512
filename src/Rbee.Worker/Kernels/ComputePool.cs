namespace Rbee.Worker.Kernels;

/// <summary>
/// A fixed set of compute threads that split one kernel call between them. The calling thread works too, so a pool
/// of <see cref="Threads"/> = N starts N−1 threads. A call posts a job (a function pointer and a context pointer,
/// so nothing is allocated per call), the threads take task indices from a shared counter until none are left
/// (dynamic split: a thread slowed down by other load on the machine simply takes fewer tasks, and one not
/// scheduled at all takes none), and the caller returns once every task is done. Idle threads spin for <see cref="SpinIterations"/> rounds, then sleep
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

    // The posted job. Written by the caller before the state word announces it; read by a thread only after it
    // has claimed a task of that job, and the caller changes them only once every task is done.
    private delegate*<void*, int, void> _body;
    private void* _context;
    private int _done;

    // Generation (24 bits) | task count (20 bits) | next task (20 bits), claimed with one compare-and-swap, so a
    // thread that wakes late can never take a task of a job that has moved on, and the caller never waits for a
    // thread that was not scheduled: it simply runs the tasks itself.
    private long _state;
    private const int TaskBits = 20;
    private const long TaskMask = (1L << TaskBits) - 1;
    private const int GenShift = 2 * TaskBits;
    private const long GenMask = (1L << 24) - 1;
    public const int MaxTasks = (int)TaskMask;

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
        ArgumentOutOfRangeException.ThrowIfGreaterThan(tasks, MaxTasks);
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
            _done = 0;
            var gen = ((Volatile.Read(ref _state) >> GenShift) + 1) & GenMask;
            Interlocked.Exchange(ref _state, (gen << GenShift) | ((long)tasks << TaskBits)); // full fence: job first
            if (Volatile.Read(ref _sleepers) > 0)
                lock (_sleepGate) Monitor.PulseAll(_sleepGate);

            Work(gen);

            var spin = new SpinWait();
            while (Volatile.Read(ref _done) < tasks) spin.SpinOnce(sleep1Threshold: -1);
        }
    }

    /// <summary>Claims and runs tasks of generation <paramref name="gen"/> until none are left.</summary>
    private void Work(long gen)
    {
        while (true)
        {
            var s = Volatile.Read(ref _state);
            if (((s >> GenShift) & GenMask) != gen) return;
            var next = s & TaskMask;
            if (next >= ((s >> TaskBits) & TaskMask)) return;
            if (Interlocked.CompareExchange(ref _state, s + 1, s) != s) continue;
            _body(_context, (int)next);
            Interlocked.Increment(ref _done);
        }
    }

    private long Generation => (Volatile.Read(ref _state) >> GenShift) & GenMask;

    private void WorkerLoop()
    {
        long seen = 0;
        while (true)
        {
            // Spin first: the next matrix product of the same token is usually microseconds away.
            var spins = 0;
            while (Generation == seen && spins < SpinIterations && !_disposed)
            {
                Thread.SpinWait(20);
                spins++;
            }
            if (Generation == seen)
            {
                Interlocked.Increment(ref _sleepers); // full fence pairs with the caller's publish-then-read
                lock (_sleepGate)
                {
                    while (Generation == seen && !_disposed) Monitor.Wait(_sleepGate);
                }
                Interlocked.Decrement(ref _sleepers);
            }
            if (_disposed) return;
            seen = Generation;
            Work(seen);
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
