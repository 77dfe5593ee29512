using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Rbee.Testing;

/// <summary>
/// TCP connections from this test process into a network namespace (<c>ip netns</c>) that the test's own namespace cannot
/// route to, such as the multi-host bed's queen namespace: an HTTP client (and so the official OpenAI client) talks to
/// the queen there as a client on the queen's network would, with no address or route added outside the bed. A socket
/// belongs to the namespace it was created in, whatever thread uses it later; so each one is created on a short-lived
/// thread of its own that enters the namespace (<c>setns</c>, allowed per thread for network namespaces), creates the
/// socket and nothing else, and returns to this process's namespace before it ends: no other thread is started from
/// it, so none inherits the namespace.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public static partial class NetworkNamespace
{
    private const int CloneNewNet = 0x40000000;

    [LibraryImport("libc", EntryPoint = "setns", SetLastError = true)]
    private static partial int SetNs(int fd, int nstype);

    /// <summary>A TCP socket (IPv4) of namespace <paramref name="name"/> (<c>/var/run/netns/NAME</c>).</summary>
    public static Socket CreateSocket(string name)
    {
        Socket? socket = null;
        Exception? error = null;
        var thread = new Thread(() =>
        {
            try
            {
                using var home = File.OpenHandle("/proc/thread-self/ns/net");
                using var target = File.OpenHandle(Path.Combine("/var/run/netns", name));
                Enter(target, name);
                try
                {
                    socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                }
                finally
                {
                    Enter(home, "this process's own");
                }
            }
            catch (Exception e)
            {
                error = e;
            }
        }) { IsBackground = true, Name = "netns-socket" };
        thread.Start();
        thread.Join();
        if (error is not null) throw new InvalidOperationException($"no socket in network namespace {name}: {error.Message}", error);
        return socket!;
    }

    private static void Enter(Microsoft.Win32.SafeHandles.SafeFileHandle ns, string name)
    {
        if (SetNs((int)ns.DangerousGetHandle(), CloneNewNet) != 0)
            throw new IOException($"setns into the {name} network namespace failed: errno {Marshal.GetLastPInvokeError()}");
    }

    /// <summary>An HTTP client whose connections are made inside namespace <paramref name="name"/>; no proxy, no timeout of
    /// its own (the caller bounds each request).</summary>
    public static HttpClient HttpClient(string name) => new(new SocketsHttpHandler
    {
        UseProxy = false,
        PooledConnectionLifetime = TimeSpan.FromMinutes(5),
        ConnectCallback = async (context, ct) =>
        {
            var socket = CreateSocket(name);
            try
            {
                socket.NoDelay = true;
                var address = IPAddress.Parse(context.DnsEndPoint.Host);
                await socket.ConnectAsync(new IPEndPoint(address, context.DnsEndPoint.Port), ct).ConfigureAwait(false);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        },
    }, disposeHandler: true) { Timeout = Timeout.InfiniteTimeSpan };
}
