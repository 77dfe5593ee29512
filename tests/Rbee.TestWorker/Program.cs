using System.Net;
using System.Net.Sockets;
using System.Text;

// rbee-test-worker --model PATH [--model-id ID] --port N --host ADDR --worker-id ID --ready-file PATH [--busy]
//                  [--never-ready] [--fork-child]
// --model-id: the id it reports for its model (ready file, log line); default the model file's name without extension.
// --busy: one thread spins from the start, at the highest priority the user may set (root: nice -20), so that it
//         really takes about one core even on a loaded test machine: the hive's figure is then checked against a
//         known load, not against whatever share the scheduler happened to give.
// --never-ready: listens but never writes the ready file and answers /health with 503.
// --fork-child: starts a `sleep` child in its own cgroup, so a worker has more than one process.
// --exit-at-once CODE: exits with CODE before listening (a worker that fails to start).
var flags = new HashSet<string>(args.Where(a => a.StartsWith("--", StringComparison.Ordinal)));
string? Arg(string name)
{
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
}

var port = int.Parse(Arg("--port") ?? throw new ArgumentException("--port is required"), System.Globalization.CultureInfo.InvariantCulture);
var host = Arg("--host") ?? "127.0.0.1";
var readyFile = Arg("--ready-file");
var model = Arg("--model") ?? "";
var workerId = Arg("--worker-id") ?? "";
var modelId = Arg("--model-id") ?? Path.GetFileNameWithoutExtension(model);
var neverReady = flags.Contains("--never-ready");
if (Arg("--exit-at-once") is { } exitCode)
{
    Console.WriteLine($"rbee-test-worker {workerId} exits at once with code {exitCode}");
    Environment.Exit(int.Parse(exitCode, System.Globalization.CultureInfo.InvariantCulture));
}

if (flags.Contains("--busy"))
{
    new Thread(() =>
    {
        _ = Native.setpriority(0 /* PRIO_PROCESS */, 0 /* this thread */, -20); // refused without privilege: fine
        // The worker is its own session (setsid), so with autogroup scheduling its share is set per session.
        try { File.WriteAllText("/proc/self/autogroup", "-20"); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        long x = 0;
        while (true) x++;
    }) { IsBackground = true, Name = "busy" }.Start();
}
if (flags.Contains("--fork-child"))
{
    System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("sleep", "100000") { UseShellExecute = false });
}

var listener = new TcpListener(IPAddress.Parse(host), port);
listener.Start();
Console.WriteLine($"rbee-test-worker {workerId} listening on {host}:{port}, model {model} as {modelId}");

if (!neverReady && readyFile is not null)
{
    // The launch contract: write, then rename, so the hive never reads half a line.
    var json = $"{{\"event\":\"ready\",\"worker_id\":\"{workerId}\",\"port\":{port},\"model\":\"{modelId}\",\"pid\":{Environment.ProcessId}}}\n";
    var tmp = readyFile + ".tmp";
    File.WriteAllText(tmp, json);
    File.Move(tmp, readyFile, overwrite: true);
    Console.WriteLine("ready");
}

while (true)
{
    var client = await listener.AcceptTcpClientAsync();
    _ = Task.Run(async () =>
    {
        using (client)
        {
            var stream = client.GetStream();
            var buffer = new byte[4096];
            var read = await stream.ReadAsync(buffer);
            var request = Encoding.ASCII.GetString(buffer, 0, read);
            var path = request.Split(' ').ElementAtOrDefault(1) ?? "/";
            var ok = !(neverReady && path.StartsWith("/health", StringComparison.Ordinal));
            var body = ok ? "{\"status\":\"ok\"}" : "{\"status\":\"loading\"}";
            var head = $"HTTP/1.1 {(ok ? "200 OK" : "503 Service Unavailable")}\r\nContent-Type: application/json\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n";
            await stream.WriteAsync(Encoding.ASCII.GetBytes(head + body));
        }
    });
}

internal static partial class Native
{
    [System.Runtime.InteropServices.LibraryImport("libc")]
    internal static partial int setpriority(int which, int who, int prio);
}
