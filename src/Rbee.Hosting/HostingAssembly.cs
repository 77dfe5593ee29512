namespace Rbee.Hosting;

/// <summary>Marker for the shared server plumbing assembly.</summary>
public static class HostingAssembly;
