namespace Rbee.Hosting.Tests;

public class HostingAssemblyTests
{
    [Fact]
    public void AssemblyLoads() => Assert.NotNull(typeof(Rbee.Hosting.HostingAssembly).Assembly.GetName().Name);
}
