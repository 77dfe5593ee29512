namespace Rbee.Worker.Tests.ChatTemplates;

internal static class TextDiff
{
    /// <summary>Null when equal, else where the texts first differ with some context of each, escaped.</summary>
    public static string? Describe(string expected, string actual)
    {
        if (string.Equals(expected, actual, StringComparison.Ordinal))
        {
            return null;
        }

        var i = 0;
        while (i < expected.Length && i < actual.Length && expected[i] == actual[i])
        {
            i++;
        }

        var from = Math.Max(0, i - 40);
        string Around(string s) => Escape(s[from..Math.Min(s.Length, i + 40)]);
        return $"first difference at index {i} (expected length {expected.Length}, actual length {actual.Length})\n" +
               $"  expected: …{Around(expected)}…\n" +
               $"  actual:   …{Around(actual)}…";
    }

    private static string Escape(string s) =>
        s.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal).Replace("\t", "\\t", StringComparison.Ordinal);
}
