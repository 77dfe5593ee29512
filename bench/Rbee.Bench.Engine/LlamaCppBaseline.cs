using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace Rbee.Bench.Engine;

/// <summary>What one engine measured on one file: tokens/s of pp, tg from an empty cache, tg after a cached depth.</summary>
internal sealed record EngineFigures(double Pp, double Tg, double TgDepth, long PeakRssBytes);

/// <summary>
/// llama.cpp measured in the same run, through the npm package node-llama-cpp@3.21.1 (prebuilt llama.cpp libraries
/// for Linux x64, the CPU variant picked at run time): <c>llamacpp-bench.mjs</c> runs in a child node process per file
/// and round, from a scratch folder (<c>~/.cache/rbee/bench/node-llama-cpp</c>) where the package is installed on first
/// use with <c>npm i -E</c>. When node, npm or the prebuilt binary is missing, <see cref="TryCreate"/> says why.
/// </summary>
internal sealed class LlamaCppBaseline
{
    public const string Package = "node-llama-cpp@3.21.1";
    private const string Script = "llamacpp-bench.mjs";

    private readonly string _scratch;

    private LlamaCppBaseline(string scratch, string description)
    {
        _scratch = scratch;
        Description = description;
    }

    /// <summary>The llama.cpp build and CPU features it reported on its first run.</summary>
    public string Description { get; private set; }

    public static LlamaCppBaseline? TryCreate(Action<string> log, out string whyNot)
    {
        whyNot = "";
        var scratch = Path.Combine(BenchModel.CacheDir, "node-llama-cpp");
        Directory.CreateDirectory(scratch);
        if (Run("node", ["--version"], scratch, TimeSpan.FromSeconds(30)) is not (0, var nodeVersion, _))
        {
            whyNot = "node is not installed (apt-get install -y nodejs npm)";
            return null;
        }
        if (!File.Exists(Path.Combine(scratch, "node_modules", "node-llama-cpp", "package.json")))
        {
            log($"installing {Package} into {scratch} ...");
            File.WriteAllText(Path.Combine(scratch, "package.json"), "{\"name\":\"rbee-llamacpp-bench\",\"private\":true,\"type\":\"module\"}\n");
            var (rc, _, err) = Run("npm", ["i", "-E", Package, "--no-audit", "--no-fund"], scratch, TimeSpan.FromMinutes(10));
            if (rc != 0)
            {
                whyNot = $"npm i -E {Package} failed (exit {rc}): {LastLine(err)}";
                return null;
            }
        }
        File.Copy(Path.Combine(AppContext.BaseDirectory, Script), Path.Combine(scratch, Script), overwrite: true);
        return new LlamaCppBaseline(scratch, $"{Package}, node {nodeVersion.Trim()}");
    }

    /// <summary>Runs the script on <paramref name="model"/>; throws with its error output when it fails.</summary>
    public EngineFigures Measure(string model, int threads, int pp, int tg, int depth, int context)
    {
        string[] args =
        [
            Script, "--model", model, "--threads", Str(threads), "--pp", Str(pp), "--tg", Str(tg),
            "--depth", Str(depth), "--ctx", Str(context),
        ];
        var (rc, stdout, stderr) = Run("node", args, _scratch, TimeSpan.FromMinutes(10));
        var json = stdout.Split('\n').LastOrDefault(l => l.StartsWith('{'));
        if (rc != 0 || json is null)
            throw new InvalidOperationException($"llama.cpp run failed (exit {rc}): {LastLine(stderr + stdout)}");
        using var doc = JsonDocument.Parse(json);
        var r = doc.RootElement;
        Description = $"{Package} (llama.cpp {r.GetProperty("llamaCpp")}, flash attention {r.GetProperty("flashAttention")}, " +
                      $"{r.GetProperty("threads")} threads; {r.GetProperty("cpu").GetString()})";
        return new EngineFigures(r.GetProperty("pp").GetDouble(), r.GetProperty("tg").GetDouble(),
            r.GetProperty("tgDepth").ValueKind == JsonValueKind.Number ? r.GetProperty("tgDepth").GetDouble() : double.NaN,
            r.GetProperty("peakRssBytes").GetInt64());
    }

    private static string Str(int v) => v.ToString(CultureInfo.InvariantCulture);

    private static string LastLine(string s) =>
        s.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault() ?? "(no output)";

    private static (int Rc, string Stdout, string Stderr) Run(string file, string[] args, string dir, TimeSpan timeout)
    {
        var psi = new ProcessStartInfo(file) { WorkingDirectory = dir, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        Process p;
        try
        {
            p = Process.Start(psi)!;
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            return (-1, "", ex.Message);
        }
        using (p)
        {
            var stdout = p.StandardOutput.ReadToEndAsync();
            var stderr = p.StandardError.ReadToEndAsync();
            if (!p.WaitForExit(timeout))
            {
                p.Kill(entireProcessTree: true);
                return (-1, "", $"{file} did not finish within {timeout.TotalMinutes:F0} min");
            }
            return (p.ExitCode, stdout.Result, stderr.Result);
        }
    }
}
