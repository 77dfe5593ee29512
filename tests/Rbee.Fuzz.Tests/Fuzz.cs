using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using CsCheck;

namespace Rbee.Fuzz.Tests;

/// <summary>
/// The shared machinery of the parser properties: how many cases (a few hundred in CI, seconds; set
/// <c>RBEE_FUZZ_ITER</c> for a long run, e.g. <c>RBEE_FUZZ_ITER=200000 dotnet test tests/Rbee.Fuzz.Tests</c>), and
/// generators that start from valid inputs and break them the ways a peer or a file can: bytes flipped, cut short or
/// inserted; a JSON value swapped for one of another kind, a huge or negative number, a lone surrogate, null.
/// </summary>
public static class Fuzz
{
    /// <summary>Cases per property.</summary>
    public static long Iterations { get; } =
        long.TryParse(Environment.GetEnvironmentVariable("RBEE_FUZZ_ITER"), out var n) && n > 0 ? n : 400;

    /// <summary>Runs <paramref name="property"/> over <paramref name="gen"/>'s cases; CsCheck shrinks a failure to a small one and prints its seed.</summary>
    public static void Check<T>(this Gen<T> gen, Action<T> property) => gen.Sample(property, iter: Iterations, threads: 1);

    /// <summary>A value of any JSON kind, chosen to hit the edges of readers that expect one kind.</summary>
    public static readonly Gen<JsonNode?> AnyValue = Gen.OneOf(
        Gen.Const((JsonNode?)null),
        Gen.Bool.Select(b => (JsonNode?)JsonValue.Create(b)),
        Gen.OneOf(0L, -1L, 1L, -5L, 65536L, int.MaxValue, (long)int.MaxValue + 1, long.MaxValue, long.MinValue).Select(v => (JsonNode?)JsonValue.Create(v)),
        Gen.OneOf(0.5, -0.0, 1e308, -1e308, 1e-300, 3.0).Select(v => (JsonNode?)JsonValue.Create(v)),
        Gen.OneOf("", " ", "cpu", "cuda:0", "/etc/shadow", "../../etc/passwd", "\ud800", "a\udc00b", "\u0000", new string('x', 5000), "llm", "user", "robot")
            .Select(v => (JsonNode?)JsonValue.Create(v)),
        Gen.Const<JsonNode?>(new JsonArray()),
        Gen.Const<JsonNode?>(new JsonObject()),
        Gen.Const<JsonNode?>(new JsonArray(JsonValue.Create(1), JsonValue.Create("x"), null)));

    /// <summary><paramref name="valid"/> with one value (or the whole document) replaced by <see cref="AnyValue"/>.</summary>
    public static Gen<string> MutatedJson(params string[] valid) =>
        Gen.Select(Gen.OneOf(valid), Gen.Int[0, 10_000], AnyValue, Gen.Bool, (json, pick, value, removeInstead) =>
        {
            var root = JsonNode.Parse(json)!;
            var slots = Slots(root).ToList();
            if (slots.Count == 0) return value?.ToJsonString() ?? "null";
            var (parent, key, index) = slots[pick % slots.Count];
            if (parent is JsonObject o)
            {
                if (removeInstead) o.Remove(key!);
                else o[key!] = value?.DeepClone();
            }
            else if (parent is JsonArray a)
            {
                if (removeInstead) a.RemoveAt(index);
                else a[index] = value?.DeepClone();
            }
            return root.ToJsonString();
        });

    /// <summary>Every place a value sits: (object, key) or (array, index).</summary>
    private static IEnumerable<(JsonNode Parent, string? Key, int Index)> Slots(JsonNode node)
    {
        switch (node)
        {
            case JsonObject o:
                foreach (var (k, v) in o.ToList())
                {
                    yield return (o, k, -1);
                    if (v is not null) foreach (var s in Slots(v)) yield return s;
                }
                break;
            case JsonArray a:
                for (var i = 0; i < a.Count; i++)
                {
                    yield return (a, null, i);
                    if (a[i] is { } v) foreach (var s in Slots(v)) yield return s;
                }
                break;
        }
    }

    /// <summary>Bytes of <paramref name="valid"/> broken: some flipped, the end cut off, random bytes inserted.</summary>
    public static Gen<byte[]> MutatedBytes(params byte[][] valid) =>
        Gen.Select(Gen.OneOf(valid), Gen.Int[0, 3], Gen.Int[0, int.MaxValue], Gen.Byte.Array[1, 8], (bytes, how, at, noise) =>
        {
            var b = bytes.ToList();
            var i = b.Count == 0 ? 0 : at % b.Count;
            switch (how)
            {
                case 0:
                    for (var k = 0; k < noise.Length && i + k < b.Count; k++) b[i + k] = noise[k];
                    break;
                case 1:
                    b.RemoveRange(i, b.Count - i);
                    break;
                case 2:
                    b.InsertRange(i, noise);
                    break;
                default:
                    // A length or count field: the same bytes with four 0xFF at a random place.
                    for (var k = 0; k < 4 && i + k < b.Count; k++) b[i + k] = 0xFF;
                    break;
            }
            return b.ToArray();
        });

    /// <summary>Text as UTF-8 bytes with, at a random place, an invalid sequence (a lone continuation byte, an overlong form, 0xFF).</summary>
    public static Gen<byte[]> WithInvalidUtf8(params string[] valid) =>
        Gen.Select(Gen.OneOf(valid), Gen.Int[0, int.MaxValue], Gen.OneOf(new byte[] { 0xFF }, [0x80], [0xC0, 0x80], [0xED, 0xA0, 0x80], [0xF8, 0x88, 0x80, 0x80, 0x80]),
            (text, at, bad) =>
            {
                var bytes = Encoding.UTF8.GetBytes(text).ToList();
                // Inside a string value: after an opening quote, so the JSON stays well-formed apart from the bytes.
                var quotes = Enumerable.Range(0, bytes.Count).Where(i => bytes[i] == (byte)'"').ToList();
                var i = quotes.Count == 0 ? 0 : quotes[at % quotes.Count] + 1;
                bytes.InsertRange(Math.Min(i, bytes.Count), bad);
                return bytes.ToArray();
            });

    /// <summary>Parses JSON the way the daemons do: a malformed document is the endpoint's 400, so it ends the case.</summary>
    public static JsonElement? TryParse(ReadOnlySpan<byte> json)
    {
        try
        {
            using var doc = JsonDocument.Parse(json.ToArray(), new JsonDocumentOptions { MaxDepth = 64 });
            return doc.RootElement.Clone();
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
