using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;

namespace Rbee.Hosting.Security;

/// <summary>
/// The machine's own IP addresses, from every network interface (DESIGN.md "Security": with no token, "callers from
/// the machine's own addresses", which includes a LAN address the machine calls itself on, not only 127.0.0.1).
/// Re-read when the OS reports an address change, so a DHCP renewal does not lock the operator out.
/// </summary>
public sealed class LocalAddresses : IDisposable
{
    private volatile HashSet<IPAddress> _addresses;
    private readonly Func<IEnumerable<IPAddress>> _source;
    private readonly bool _watching;

    public LocalAddresses() : this(Enumerate, watchChanges: true) { }

    /// <summary>For tests: a fixed source of addresses.</summary>
    public LocalAddresses(Func<IEnumerable<IPAddress>> source, bool watchChanges = false)
    {
        _source = source;
        _addresses = Load(source);
        if (watchChanges)
        {
            try
            {
                NetworkChange.NetworkAddressChanged += OnChanged;
                _watching = true;
            }
            catch (Exception e) when (e is NetworkInformationException or PlatformNotSupportedException)
            {
                // Without change notifications the set read at start stays in force.
            }
        }
    }

    public IReadOnlyCollection<IPAddress> Current => _addresses;

    public bool IsLocal(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6) address = address.MapToIPv4();
        if (IPAddress.IsLoopback(address)) return true;
        return _addresses.Contains(address);
    }

    /// <summary>The first address of the machine that is not loopback (IPv4 preferred), or null.</summary>
    public IPAddress? FirstNonLoopback() =>
        _addresses.Where(a => !IPAddress.IsLoopback(a) && !a.IsIPv6LinkLocal)
            .OrderBy(a => a.AddressFamily == AddressFamily.InterNetwork ? 0 : 1)
            .ThenBy(a => a.ToString(), StringComparer.Ordinal)
            .FirstOrDefault();

    public void Refresh() => _addresses = Load(_source);

    private void OnChanged(object? sender, EventArgs e) => Refresh();

    private static HashSet<IPAddress> Load(Func<IEnumerable<IPAddress>> source)
    {
        var set = new HashSet<IPAddress> { IPAddress.Loopback, IPAddress.IPv6Loopback };
        foreach (var a in source()) set.Add(a.IsIPv4MappedToIPv6 ? a.MapToIPv4() : a);
        return set;
    }

    private static IEnumerable<IPAddress> Enumerate()
    {
        NetworkInterface[] interfaces;
        try
        {
            interfaces = NetworkInterface.GetAllNetworkInterfaces();
        }
        catch (NetworkInformationException)
        {
            return [];
        }
        var list = new List<IPAddress>();
        foreach (var nic in interfaces)
        {
            try
            {
                foreach (var u in nic.GetIPProperties().UnicastAddresses)
                {
                    var a = u.Address;
                    // Scope ids differ between the interface list and an accepted socket; compare without them.
                    if (a.AddressFamily == AddressFamily.InterNetworkV6 && a.ScopeId != 0) a = new IPAddress(a.GetAddressBytes());
                    list.Add(a);
                }
            }
            catch (NetworkInformationException)
            {
                // An interface that vanished while we read it.
            }
        }
        return list;
    }

    public void Dispose()
    {
        if (_watching) NetworkChange.NetworkAddressChanged -= OnChanged;
    }
}
