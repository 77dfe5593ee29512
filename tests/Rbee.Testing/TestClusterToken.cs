namespace Rbee.Testing;

/// <summary>
/// The cluster token of the daemons the tests start (DESIGN.md "Security": control calls always need it, loopback
/// included). One per test run, written into each test HOME's <c>~/.config/rbee/token</c> as <c>rbee up</c> would, so
/// queen, hives and the CLI of a test share it through the file with nothing configured, and the test's own HTTP client
/// sends it.
/// </summary>
public static class TestClusterToken
{
    public static string Value { get; } = "rbee-test-" + Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(16));

    /// <summary>
    /// The key a worker of hive <paramref name="hiveId"/> on <paramref name="port"/> requires (DESIGN.md "Security"),
    /// derived here from the run's token independently of the product's code: HMAC-SHA256, key the cluster token, message
    /// "rbee worker api key\n{hive id}\n{port}", as lowercase hex.
    /// </summary>
    public static string WorkerKey(string hiveId, int port) =>
        Convert.ToHexStringLower(System.Security.Cryptography.HMACSHA256.HashData(System.Text.Encoding.UTF8.GetBytes(Value),
            System.Text.Encoding.UTF8.GetBytes($"rbee worker api key\n{hiveId}\n{port.ToString(System.Globalization.CultureInfo.InvariantCulture)}")));

    /// <summary>The token file under <paramref name="home"/> (no XDG_CONFIG_HOME: the tests' daemons run without one).</summary>
    public static string FileIn(string home) => Path.Combine(home, ".config", "rbee", "token");

    /// <summary>Writes <see cref="Value"/> into <paramref name="home"/>'s token file (mode 0600) unless one is there.</summary>
    public static void WriteInto(string home)
    {
        var path = FileIn(home);
        if (File.Exists(path)) return;
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        using var stream = new FileStream(path, options);
        stream.Write(System.Text.Encoding.ASCII.GetBytes(Value + "\n"));
    }
}
