using Rbee.Contracts.Wire;
using Rbee.Hive.Devices;
using Rbee.Hive.Workers;

namespace Rbee.Hive.Tests.Workers;

public sealed class SpawnAdmissionTests
{
    private const long GiB = 1L << 30;

    private static string MemInfo(long totalGiB, long availableGiB) =>
        $"MemTotal: {totalGiB * 1024 * 1024} kB\nMemFree: 1 kB\nMemAvailable: {availableGiB * 1024 * 1024} kB\n";

    private static SpawnAdmission Admission(int max = 2, string? memInfo = null, IReadOnlyList<NvidiaGpu>? gpus = null) =>
        new(new WorkerOptions { MaxConcurrentSpawns = max }, () => memInfo ?? MemInfo(16, 12), _ => Task.FromResult(gpus));

    /// <summary>A model whose estimate is its weights plus 10 % (no KV term: the header lacks the KV fields).</summary>
    private static ModelInfo Model(long weightsBytes) => new() { Id = "m", Path = "/models/m.gguf", SizeBytes = weightsBytes };

    [Fact]
    public async Task BeyondTheLimit_SpawnsWait_AndGoInTheOrderTheyCame()
    {
        var admission = Admission(max: 2);
        var said = new List<string>();
        var first = await admission.EnterAsync("cpu", null, "llm", said.Add, CancellationToken.None);
        var second = await admission.EnterAsync("cpu", null, "llm", said.Add, CancellationToken.None);
        Assert.Empty(said);

        var third = admission.EnterAsync("cpu", null, "llm", said.Add, CancellationToken.None);
        var fourth = admission.EnterAsync("cpu", null, "llm", said.Add, CancellationToken.None);
        Assert.False(third.IsCompleted);
        Assert.Equal(["waiting for a spawn slot: 2 spawn(s) ahead (Workers:MaxConcurrentSpawns = 2)",
            "waiting for a spawn slot: 3 spawn(s) ahead (Workers:MaxConcurrentSpawns = 2)"], said);

        second.Dispose();
        (await third.WaitAsync(TimeSpan.FromSeconds(10))).Dispose();
        Assert.False(fourth.IsCompleted || admission.Running != 2);
        first.Dispose();
        (await fourth.WaitAsync(TimeSpan.FromSeconds(10))).Dispose();
        Assert.Equal(0, admission.Running);
    }

    [Fact]
    public async Task AWaitingSpawnThatIsCancelled_LeavesTheQueue_AndTheNextGetsTheSlot()
    {
        var admission = Admission(max: 1);
        var held = await admission.EnterAsync("cpu", null, "llm", _ => { }, CancellationToken.None);
        using var cancel = new CancellationTokenSource();
        var cancelled = admission.EnterAsync("cpu", null, "llm", _ => { }, cancel.Token);
        var next = admission.EnterAsync("cpu", null, "llm", _ => { }, CancellationToken.None);
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled);
        held.Dispose();
        (await next.WaitAsync(TimeSpan.FromSeconds(10))).Dispose();
        Assert.Equal(0, admission.Running);
    }

    [Fact]
    public async Task AModelThatDoesNotFitInTheFreeMemory_IsRefused_CountingWhatLoadingSpawnsClaimed()
    {
        var admission = Admission(max: 4, memInfo: MemInfo(16, 10));
        // 5 GiB of weights: 5.5 GiB with the margin. The first fits in 10 GiB, the second not beside it.
        var first = await admission.EnterAsync("cpu", Model(5 * GiB), "llm", _ => { }, CancellationToken.None);
        var refusal = await Assert.ThrowsAsync<WorkerOperationException>(() => admission.EnterAsync("cpu", Model(5 * GiB), "llm", _ => { }, CancellationToken.None));
        Assert.Contains("m needs about 5.5 GiB on cpu", refusal.Message);
        Assert.Contains("4.5 GiB free of 16.0 GiB, 5.5 GiB of it claimed by spawns still loading", refusal.Message);
        Assert.Equal(1, admission.Running);

        // Once the first is ready its memory shows in the device's own figures, and its claim is released.
        first.Dispose();
        (await admission.EnterAsync("cpu", Model(5 * GiB), "llm", _ => { }, CancellationToken.None)).Dispose();
    }

    [Fact]
    public async Task AGpusFreeMemory_IsItsOwn_AndUnknownFiguresRefuseNothing()
    {
        var gpu = new NvidiaGpu(0, "test", 8 * GiB, 6 * GiB, 0, 40);
        var admission = Admission(gpus: [gpu]);
        await Assert.ThrowsAsync<WorkerOperationException>(() => admission.EnterAsync("cuda:0", Model(3 * GiB), "llm", _ => { }, CancellationToken.None));
        // No such GPU in nvidia-smi's answer, no /proc/meminfo, no header: nothing to judge by.
        (await admission.EnterAsync("cuda:1", Model(300 * GiB), "llm", _ => { }, CancellationToken.None)).Dispose();
        (await Admission(memInfo: "").EnterAsync("cpu", Model(300 * GiB), "llm", _ => { }, CancellationToken.None)).Dispose();
        (await admission.EnterAsync("cpu", null, "llm", _ => { }, CancellationToken.None)).Dispose();
    }
}
