using System.Diagnostics;
using Rbee.Testing;

namespace Rbee.SystemTests.Infrastructure;

/// <summary>Runs the real <c>rbee</c> CLI to completion and captures what it printed.</summary>
public static class CliRun
{
    public sealed record Result(int ExitCode, string Stdout, string Stderr)
    {
        public override string ToString() => $"exit {ExitCode}\nstdout:\n{Stdout}\nstderr:\n{Stderr}";
    }

    public static Task<Result> RunAsync(IEnumerable<string> args, IDictionary<string, string?> environment, TimeSpan budget) =>
        RunProgramAsync(RepoPaths.Executable("rbee"), args, environment, budget);

    /// <summary>Any program, run the same way (no inherited <c>RBEE_</c> variables): e.g. rbee or curl under <c>setpriv</c> as another user.</summary>
    public static async Task<Result> RunProgramAsync(string program, IEnumerable<string> args, IDictionary<string, string?> environment, TimeSpan budget)
    {
        var psi = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        foreach (var key in psi.Environment.Keys.Where(k => k.StartsWith("RBEE_", StringComparison.Ordinal)).ToList()) psi.Environment.Remove(key);
        psi.Environment[TestWorkerUser.Variable] = TestWorkerUser.Value; // for the hive `rbee up` starts
        foreach (var (k, v) in environment) psi.Environment[k] = v;
        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(budget);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill();
            throw new TimeoutException($"{Path.GetFileName(program)} {string.Join(' ', psi.ArgumentList)} did not finish within {budget.TotalSeconds} s");
        }
        return new Result(process.ExitCode, await stdout, await stderr);
    }
}
