using System.Diagnostics;
using System.Globalization;
using Rbee.Platform.Processes;

namespace Rbee.Hive.Devices;

/// <summary>One NVIDIA GPU as <c>nvidia-smi</c> reports it; a field it prints as <c>[N/A]</c> is null.</summary>
public sealed record NvidiaGpu(int Index, string Name, long? VramTotalBytes, long? VramUsedBytes, double? UtilPct, double? TempC)
{
    public string Id => $"cuda:{Index}";
}

/// <summary>
/// Reads every NVIDIA GPU through <c>nvidia-smi --query-gpu</c> (DESIGN.md "Workers under the hive": only when
/// present, never fake numbers). Absent program → no GPUs; a failed or hung run → null (unknown), not zero.
/// </summary>
public sealed class NvidiaSmi
{
    internal const string Query = "index,name,memory.total,memory.used,utilization.gpu,temperature.gpu";
    private static readonly TimeSpan RunTimeout = TimeSpan.FromSeconds(3);

    public string? ProgramPath { get; }

    public NvidiaSmi(string? programPath = null) => ProgramPath = programPath ?? ExecutableSearch.OnPath("nvidia-smi");

    public bool Present => ProgramPath is not null;

    /// <summary>The GPUs now; empty when nvidia-smi is absent; null when it is present but did not answer.</summary>
    public async Task<IReadOnlyList<NvidiaGpu>?> QueryAsync(CancellationToken ct)
    {
        if (ProgramPath is null) return [];
        return await RunAsync([$"--query-gpu={Query}", "--format=csv,noheader,nounits"], ct) is { } output ? Parse(output) : null;
    }

    /// <summary>
    /// Runs nvidia-smi with <paramref name="arguments"/>: its output when it exits 0, else null. A run that hangs (a
    /// wedged driver does that) is killed after the time-out, so no caller (the telemetry loop, the worker monitor's GPU sampler) hangs with it.
    /// </summary>
    public async Task<string?> RunAsync(IEnumerable<string> arguments, CancellationToken ct)
    {
        if (ProgramPath is null) return null;
        var psi = new ProcessStartInfo(ProgramPath)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in arguments) psi.ArgumentList.Add(a);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(RunTimeout);
        try
        {
            using var process = Process.Start(psi);
            if (process is null) return null;
            var output = process.StandardOutput.ReadToEndAsync(timeout.Token);
            try
            {
                await process.WaitForExitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                process.Kill();
                throw;
            }
            return process.ExitCode == 0 ? await output : null;
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException or IOException or OperationCanceledException)
        {
            if (ct.IsCancellationRequested) throw;
            return null;
        }
    }

    /// <summary>Parses <c>--format=csv,noheader,nounits</c> output of <see cref="Query"/>: MiB, %, °C.</summary>
    public static IReadOnlyList<NvidiaGpu> Parse(string csv)
    {
        var gpus = new List<NvidiaGpu>();
        foreach (var raw in csv.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var f = raw.Split(',', StringSplitOptions.TrimEntries);
            if (f.Length < 6 || !int.TryParse(f[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out var index)) continue;
            gpus.Add(new NvidiaGpu(index, f[1], MiB(f[2]), MiB(f[3]), Number(f[4]), Number(f[5])));
        }
        return gpus;
    }

    private static double? Number(string s) =>
        double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v : null;

    private static long? MiB(string s) => Number(s) is { } v ? (long)(v * 1024 * 1024) : null;

}
