namespace Rbee.SystemTests.Infrastructure;

/// <summary>Every test that starts real processes runs in this one collection, never in parallel with itself.</summary>
[CollectionDefinition("System", DisableParallelization = true)]
public sealed class SystemCollection;
