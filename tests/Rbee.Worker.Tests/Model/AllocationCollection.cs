namespace Rbee.Worker.Tests.Model;

/// <summary>
/// Tests that count the bytes a decode step allocates on its thread run alone: while another test's model holds the
/// shared compute pool, a step waits on the pool's lock, and the first contended wait allocates the lock's wait
/// object on the waiting thread, which the count would blame on the step.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class AllocationCollection
{
    public const string Name = "Allocation";
}
