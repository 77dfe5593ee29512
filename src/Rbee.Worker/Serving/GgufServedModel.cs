using Microsoft.Extensions.Logging;

namespace Rbee.Worker.Serving;

/// <summary>The GGUF engine behind <see cref="IServedModel"/>. Wired to the engine once it lands on this branch.</summary>
public static class GgufServedModel
{
    public static IServedModel Load(WorkerOptions options, ILogger log) =>
        throw new NotSupportedException("the inference engine is not merged into this build yet");
}
