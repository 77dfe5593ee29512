namespace Rbee.Worker.Sampling;

/// <summary>
/// How the next token is chosen from the logits. Defaults follow llama.cpp's server so that a client moving
/// between the two sees the same behaviour; a field set to its "off" value (top_k 0, top_p 1, min_p 0,
/// penalties 1/0) takes no part.
/// </summary>
public sealed record SamplingParameters
{
    public static SamplingParameters Default { get; } = new();

    /// <summary>0 (or below) means greedy: always the arg-max.</summary>
    public float Temperature { get; init; } = 0.8f;

    /// <summary>Keep only the k most likely tokens; 0 keeps all.</summary>
    public int TopK { get; init; } = 40;

    /// <summary>Keep the smallest set whose probability reaches p; 1 keeps all.</summary>
    public float TopP { get; init; } = 0.95f;

    /// <summary>Drop tokens whose probability is below min_p times the top token's; 0 keeps all.</summary>
    public float MinP { get; init; } = 0.05f;

    /// <summary>llama.cpp's repetition penalty: positive logits divided, negative multiplied; 1 is off.</summary>
    public float RepeatPenalty { get; init; } = 1.0f;

    /// <summary>How many of the last tokens the penalties look at; 0 disables them, -1 means the whole context.</summary>
    public int RepeatLastN { get; init; } = 64;

    /// <summary>OpenAI's frequency penalty: subtracted once per earlier occurrence.</summary>
    public float FrequencyPenalty { get; init; }

    /// <summary>OpenAI's presence penalty: subtracted once if the token occurred at all.</summary>
    public float PresencePenalty { get; init; }

    /// <summary>Seed of the random draw; the same seed with the same prompt gives the same output. Null: random.</summary>
    public ulong? Seed { get; init; }

    public bool IsGreedy => Temperature <= 0f;

    public bool HasPenalties =>
        RepeatLastN != 0 && (RepeatPenalty != 1.0f || FrequencyPenalty != 0f || PresencePenalty != 0f);
}
