using System.Net;
using System.Net.Sockets;

namespace Rbee.Testing;

/// <summary>Free TCP ports on loopback, for daemons a test starts. Never the protocol's default ports.</summary>
public static class FreePort
{
    private static int _next = 20000 + Environment.ProcessId % 20000;
    private static readonly object Gate = new();

    /// <summary>A port that is free now. Taken from a private counter and checked by binding, so two calls in one
    /// test run never return the same port even before either is bound.</summary>
    public static int Next()
    {
        lock (Gate)
        {
            while (true)
            {
                var p = _next++;
                if (_next > 60000) _next = 20000;
                if (p is >= 7800 and <= 8300) continue;
                if (IsFree(p)) return p;
            }
        }
    }

    public static bool IsFree(int port)
    {
        try
        {
            using var l = new TcpListener(IPAddress.Loopback, port);
            l.Start();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
