using System.Globalization;
using System.Text;

namespace Rbee.Worker.ChatTemplates;

/// <summary>
/// Python's <c>datetime.strftime</c> on Linux (glibc) for the directives chat templates use, in the C locale.
/// <c>strftime_now</c> is naive local time, so <c>%Z</c> and <c>%z</c> are empty as in Python.
/// </summary>
internal static class PyStrftime
{
    private static readonly string[] Days = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];

    private static readonly string[] Months =
        ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];

    public static string Format(DateTime t, string format)
    {
        var sb = new StringBuilder();
        for (var i = 0; i < format.Length; i++)
        {
            var c = format[i];
            if (c != '%' || i + 1 >= format.Length)
            {
                sb.Append(c);
                continue;
            }

            var d = format[++i];
            var noPad = false;
            if (d == '-' && i + 1 < format.Length)
            {
                noPad = true;
                d = format[++i];
            }

            string Num(int value, int width) =>
                noPad ? value.ToString(CultureInfo.InvariantCulture) : value.ToString(new string('0', width), CultureInfo.InvariantCulture);

            var hour12 = t.Hour % 12 == 0 ? 12 : t.Hour % 12;
            sb.Append(d switch
            {
                'a' => Days[(int)t.DayOfWeek][..3],
                'A' => Days[(int)t.DayOfWeek],
                'b' or 'h' => Months[t.Month - 1][..3],
                'B' => Months[t.Month - 1],
                'd' => Num(t.Day, 2),
                'e' => noPad ? t.Day.ToString(CultureInfo.InvariantCulture) : t.Day.ToString(CultureInfo.InvariantCulture).PadLeft(2),
                'm' => Num(t.Month, 2),
                'y' => Num(t.Year % 100, 2),
                'Y' => t.Year.ToString(CultureInfo.InvariantCulture),
                'H' => Num(t.Hour, 2),
                'I' => Num(hour12, 2),
                'M' => Num(t.Minute, 2),
                'S' => Num(t.Second, 2),
                'f' => (t.Ticks % TimeSpan.TicksPerSecond / 10).ToString("000000", CultureInfo.InvariantCulture),
                'p' => t.Hour < 12 ? "AM" : "PM",
                'j' => Num(t.DayOfYear, 3),
                'u' => (t.DayOfWeek == DayOfWeek.Sunday ? 7 : (int)t.DayOfWeek).ToString(CultureInfo.InvariantCulture),
                'w' => ((int)t.DayOfWeek).ToString(CultureInfo.InvariantCulture),
                'D' or 'x' => Format(t, "%m/%d/%y"),
                'F' => Format(t, "%Y-%m-%d"),
                'T' or 'X' => Format(t, "%H:%M:%S"),
                'R' => Format(t, "%H:%M"),
                'c' => Format(t, "%a %b %e %H:%M:%S %Y"),
                'Z' or 'z' => "",
                'n' => "\n",
                't' => "\t",
                '%' => "%",
                _ => throw new TemplateRuntimeException($"unsupported strftime directive '%{d}'"),
            });
        }

        return sb.ToString();
    }
}
