namespace Rbee.Worker.Tokenizers;

/// <summary>
/// What a vocabulary entry is, from <c>tokenizer.ggml.token_type</c> (GGUF values 1..6), plus the strip flags
/// llama.cpp sets by model name. Flags rather than an enum value because llama.cpp may add control to a
/// user-defined token that is a known end marker, and strip flags combine with any kind.
/// </summary>
[Flags]
public enum TokenAttributes
{
    Undefined = 0,
    Unknown = 1 << 0,
    Unused = 1 << 1,
    Normal = 1 << 2,
    Control = 1 << 3,
    UserDefined = 1 << 4,
    Byte = 1 << 5,

    /// <summary>Whitespace before this special token is dropped when it is matched in text.</summary>
    LStrip = 1 << 7,

    /// <summary>Whitespace after this special token is dropped when it is matched in text.</summary>
    RStrip = 1 << 8,
}

internal static class TokenTypes
{
    /// <summary>GGUF <c>token_type</c> values (llama.cpp's <c>llama_token_type</c>).</summary>
    public static TokenAttributes FromGguf(int type) => type switch
    {
        1 => TokenAttributes.Normal,
        2 => TokenAttributes.Unknown,
        3 => TokenAttributes.Control,
        4 => TokenAttributes.UserDefined,
        5 => TokenAttributes.Unused,
        6 => TokenAttributes.Byte,
        _ => TokenAttributes.Undefined,
    };
}
