using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Rbee.Testing;

/// <summary>Free TCP ports on loopback, for daemons a test starts. Never the protocol's default ports, and never the
/// kernel's ephemeral range: a port free when checked there can be taken as the local port of any outgoing connection
/// before the daemon binds it.</summary>
public static class FreePort
{
    private const int First = 20000;
    private static readonly (int Low, int High) Ephemeral = EphemeralRange();
    private static readonly int Last = Ephemeral.Low > First + 2000 ? Ephemeral.Low - 1 : 60000;
    private static int _next = First + Environment.ProcessId % (Last - First);
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
                if (_next > Last) _next = First;
                if (p is >= 7800 and <= 8300) continue;
                if (p >= Ephemeral.Low && p <= Ephemeral.High) continue;
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

    /// <summary>Linux's <c>ip_local_port_range</c>; an empty range where it cannot be read.</summary>
    private static (int, int) EphemeralRange()
    {
        try
        {
            var parts = File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split((char[])['\t', ' ', '\n'], StringSplitOptions.RemoveEmptyEntries);
            return (int.Parse(parts[0], CultureInfo.InvariantCulture), int.Parse(parts[1], CultureInfo.InvariantCulture));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return (int.MaxValue, int.MaxValue);
        }
    }
}
