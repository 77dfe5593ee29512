namespace Rbee.Platform.Configuration;

/// <summary>
/// A configuration problem found at start-up: the daemon prints the message as one line and exits with code 2
/// (see <see cref="DaemonMain"/>). The message must never contain a secret.
/// </summary>
public sealed class StartupException(string message) : Exception(message);
