using System.Buffers;
using System.Text;
using System.Text.Json;

namespace Rbee.Keeper.Connection;

/// <summary>The JSON body of a <c>POST /v1/jobs</c>, written without reflection (the CLI is meant to be AOT-published).</summary>
public static class JobBody
{
    /// <summary><c>{"operation":…, field: value…}</c>; a null value is left out, a string[] is written as a list.</summary>
    public static string Of(string operation, params (string Name, object? Value)[] fields)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("operation"u8, operation);
            foreach (var (name, value) in fields)
            {
                switch (value)
                {
                    case null: break;
                    case string s: w.WriteString(name, s); break;
                    case int i: w.WriteNumber(name, i); break;
                    case bool b: w.WriteBoolean(name, b); break;
                    case IEnumerable<string> list:
                        w.WriteStartArray(name);
                        foreach (var item in list) w.WriteStringValue(item);
                        w.WriteEndArray();
                        break;
                    default: throw new ArgumentException($"field {name}: {value.GetType().Name} is not a job field type", nameof(fields));
                }
            }
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }
}
