using Rbee.Testing.Gguf;
using Rbee.Worker.Model;

namespace Rbee.Worker.Tests.Model;

/// <summary>What cannot be run is refused at load with the name of what is wrong (issue 5), not a crash later.</summary>
public sealed class ModelLoadErrorTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("rbee-model-err-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(GgufWriter w)
    {
        var path = Path.Combine(_dir, $"{Guid.NewGuid():N}.gguf");
        w.Write(path);
        return path;
    }

    [Fact]
    public void UnsupportedArchitecture_IsRefusedNamingIt()
    {
        var path = Write(RandomLlama.Build(new RandomLlamaSpec { Architecture = "falcon" }));
        var e = Assert.Throws<NotSupportedException>(() => LlamaModel.Load(path));
        Assert.Contains("'falcon'", e.Message);
    }

    [Fact]
    public void UnsupportedTensorType_IsRefusedNamingTypeAndTensor()
    {
        var w = RandomLlama.Build(new RandomLlamaSpec { Omit = ["blk.1.attn_q.weight"] });
        const uint iq2xxs = 16; // a type this engine has no decoder for
        w.AddTensorRaw("blk.1.attn_q.weight", [64, 64], iq2xxs, new byte[64 * 64 / 256 * 66]);
        var path = Write(w);
        var e = Assert.Throws<NotSupportedException>(() => LlamaModel.Load(path));
        Assert.Contains("IQ2_XXS", e.Message);
        Assert.Contains("'blk.1.attn_q.weight'", e.Message);
    }

    [Fact]
    public void MissingTensor_IsNamed()
    {
        var path = Write(RandomLlama.Build(new RandomLlamaSpec { Omit = ["blk.1.ffn_up.weight"] }));
        var e = Assert.Throws<InvalidDataException>(() => LlamaModel.Load(path));
        Assert.Contains("'blk.1.ffn_up.weight'", e.Message);
        Assert.Contains("missing", e.Message);
    }

    [Fact]
    public void Qwen2WithoutBias_IsRefusedNamingTheBias()
    {
        var path = Write(RandomLlama.Build(new RandomLlamaSpec { Architecture = "qwen2", Omit = ["blk.0.attn_k.bias"] }));
        var e = Assert.Throws<InvalidDataException>(() => LlamaModel.Load(path));
        Assert.Contains("'blk.0.attn_k.bias'", e.Message);
    }

    [Fact]
    public void TensorOfWrongShape_IsRefusedNamingShapes()
    {
        var w = RandomLlama.Build(new RandomLlamaSpec { Omit = ["blk.0.attn_k.weight"] });
        w.AddTensorF32("blk.0.attn_k.weight", [64, 48], new float[64 * 48]); // 2 KV heads of 16 → 32 rows expected
        var e = Assert.Throws<InvalidDataException>(() => LlamaModel.Load(Write(w)));
        Assert.Contains("'blk.0.attn_k.weight'", e.Message);
        Assert.Contains("[64, 32]", e.Message);
    }

    [Fact]
    public void MissingHyperParameter_IsNamed()
    {
        var w = RandomLlama.Build(new RandomLlamaSpec());
        w.Remove("llama.block_count");
        var e = Assert.Throws<InvalidDataException>(() => LlamaModel.Load(Write(w)));
        Assert.Contains("llama.block_count", e.Message);
    }

    [Fact]
    public void UnsupportedRopeScaling_IsRefusedNamingIt()
    {
        var w = RandomLlama.Build(new RandomLlamaSpec());
        w.Set("llama.rope.scaling.type", "yarn");
        var e = Assert.Throws<NotSupportedException>(() => LlamaModel.Load(Write(w)));
        Assert.Contains("'yarn'", e.Message);
    }

    [Fact]
    public void ContextOverflow_IsAClearErrorAndLeavesTheSessionUsable()
    {
        using var model = LlamaModel.Load(ModelTestData.Aidreams);
        var session = model.CreateSession(8);
        session.Evaluate([1, 388, 355, 260, 275, 280]);
        var e = Assert.Throws<ContextFullException>(() => session.Evaluate([302, 450, 405]));
        Assert.Contains("context of 8 tokens", e.Message);
        Assert.Equal((8, 6, 3), (e.ContextSize, e.Position, e.Tokens));
        Assert.Equal(6, session.Position);
        session.Evaluate([302, 450]); // exactly full is fine
        Assert.Throws<ContextFullException>(() => session.Evaluate(405));
        Assert.Throws<ArgumentOutOfRangeException>(() => model.CreateSession(model.Config.ContextLength + 1));
    }

    [Fact]
    public void BadTokenAndEmptyInput_AreRefusedBeforeAnythingChanges()
    {
        using var model = LlamaModel.Load(ModelTestData.Aidreams);
        var session = model.CreateSession();
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => session.Evaluate([1, 512]));
        Assert.Contains("512", e.Message);
        Assert.Throws<ArgumentException>(() => session.Evaluate(ReadOnlySpan<int>.Empty));
        Assert.Equal(0, session.Position);
        Assert.Throws<ArgumentOutOfRangeException>(() => session.Truncate(1));
    }

    [Fact]
    public void DisposedModel_RefusesToEvaluate()
    {
        var model = LlamaModel.Load(ModelTestData.Aidreams);
        var session = model.CreateSession();
        model.Dispose();
        Assert.Throws<ObjectDisposedException>(() => session.Evaluate(1));
    }
}
