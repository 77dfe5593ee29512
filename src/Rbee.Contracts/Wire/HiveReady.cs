namespace Rbee.Contracts.Wire;

/// <summary><c>POST /v1/hive/ready</c>, hive to queen.</summary>
public sealed record HiveReady(string HiveId, string HiveUrl, string InstanceId, string Version, int Protocol);

/// <summary>The queen's answer to an accepted ready.</summary>
public sealed record HiveReadyAccepted(string HiveId, string QueenVersion, int Protocol);
