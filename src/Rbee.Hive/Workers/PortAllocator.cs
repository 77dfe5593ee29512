using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Rbee.Hive.Monitoring;

namespace Rbee.Hive.Workers;

/// <summary>A port held for one worker: an exclusive <c>flock</c> on <c>&lt;run&gt;/ports/&lt;port&gt;.lock</c>, released on dispose.</summary>
public sealed class PortLease : IDisposable
{
    private int _fd;

    internal PortLease(int port, int fd)
    {
        Port = port;
        _fd = fd;
    }

    public int Port { get; }

    public bool IsHeld => _fd >= 0;

    public void Dispose()
    {
        var fd = Interlocked.Exchange(ref _fd, -1);
        if (fd >= 0) Libc.close(fd); // closing the descriptor drops the flock
    }
}

/// <summary>
/// Ports for workers (DESIGN.md "Workers under the hive", Spawn): the lowest port from a type's base that no one holds,
/// skipping a port any process is bound to, and locked machine-wide so two hives on one machine never hand out the
/// same one. The lock is an open file description the hive keeps (O_CLOEXEC, so workers do not inherit it): it is
/// released when the worker's port is freed or when the hive process dies.
/// </summary>
public sealed class PortAllocator
{
    private readonly string _lockDirectory;
    private readonly Func<int, bool> _isBindable;

    public PortAllocator(string runDirectory, Func<int, bool>? isBindable = null)
    {
        _lockDirectory = Path.Combine(runDirectory, "ports");
        Directory.CreateDirectory(_lockDirectory);
        _isBindable = isBindable ?? IsBindable;
    }

    public string LockDirectory => _lockDirectory;

    /// <summary>The lowest free port in [basePort, basePort + count); null when all are taken.</summary>
    public PortLease? Acquire(int basePort, int count)
    {
        for (var port = basePort; port < basePort + count && port <= 65535; port++)
        {
            var lease = TryLock(port);
            if (lease is null) continue;
            if (_isBindable(port)) return lease;
            lease.Dispose(); // someone outside rbee listens there: skip it
        }
        return null;
    }

    /// <summary>Locks <paramref name="port"/> without checking it is bindable: for a re-adopted worker that is bound to it.</summary>
    public PortLease? TryLock(int port)
    {
        var path = Path.Combine(_lockDirectory, port.ToString(CultureInfo.InvariantCulture) + ".lock");
        var fd = Libc.open(path, Libc.O_RDWR | Libc.O_CREAT | Libc.O_CLOEXEC, 0x1B6 /* 0666 */);
        if (fd < 0) throw new IOException($"cannot open port lock {path}: errno {Marshal.GetLastPInvokeError()}");
        if (Libc.flock(fd, Libc.LOCK_EX | Libc.LOCK_NB) != 0)
        {
            Libc.close(fd);
            return null;
        }
        return new PortLease(port, fd);
    }

    /// <summary>True when nothing is bound to the port on any address (IPv4 or IPv6).</summary>
    public static bool IsBindable(int port)
    {
        foreach (var address in new[] { IPAddress.Any, IPAddress.Loopback, IPAddress.IPv6Any })
        {
            try
            {
                using var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
                if (address.AddressFamily == AddressFamily.InterNetworkV6) socket.DualMode = false;
                socket.Bind(new IPEndPoint(address, port));
                socket.Listen(1);
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressFamilyNotSupported || e.SocketErrorCode == SocketError.AddressNotAvailable)
            {
                // no IPv6 on this machine: nothing can be bound there either
            }
            catch (SocketException)
            {
                return false;
            }
        }
        return true;
    }
}
