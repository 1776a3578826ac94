using System.Globalization;

namespace Tollgate.Pipeline;

/// <summary>OpenAI's reset durations in <c>x-ratelimit-reset-*</c>: "20ms", "1s", "6m0s", "1h2m3.5s".</summary>
internal static class RateLimitDuration
{
    public static double? TryParseSeconds(string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return null;
        }

        var span = text.AsSpan().Trim();
        double total = 0;
        var any = false;
        while (!span.IsEmpty)
        {
            var i = 0;
            while (i < span.Length && (char.IsAsciiDigit(span[i]) || span[i] == '.'))
            {
                i++;
            }

            if (i == 0 || !double.TryParse(span[..i], NumberStyles.Float, CultureInfo.InvariantCulture, out var number))
            {
                return null;
            }

            span = span[i..];
            double unit;
            if (span.StartsWith("ms"))
            {
                unit = 0.001;
                span = span[2..];
            }
            else if (!span.IsEmpty && span[0] is 'h' or 'm' or 's')
            {
                unit = span[0] switch { 'h' => 3600, 'm' => 60, _ => 1 };
                span = span[1..];
            }
            else if (span.IsEmpty && !any)
            {
                unit = 1; // a bare number is seconds
            }
            else
            {
                return null;
            }

            total += number * unit;
            any = true;
        }

        return total;
    }
}
