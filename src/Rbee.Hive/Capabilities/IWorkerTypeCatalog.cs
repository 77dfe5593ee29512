using Rbee.Contracts.Wire;

namespace Rbee.Hive.Capabilities;

/// <summary>
/// The worker types this hive can start, for <c>worker_types</c> in capabilities (DESIGN.md "Workers under the
/// hive": a type whose program is missing is <c>available: false</c> with the reason). The workers capability
/// registers the real catalog after <c>AddHive</c> (last registration wins); until then the list is empty.
/// </summary>
public interface IWorkerTypeCatalog
{
    IReadOnlyList<WorkerTypeInfo> Describe();
}

/// <summary>No worker types known: what a hive without the workers capability honestly reports.</summary>
public sealed class NoWorkerTypes : IWorkerTypeCatalog
{
    public IReadOnlyList<WorkerTypeInfo> Describe() => [];
}
