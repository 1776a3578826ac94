using System.Buffers;

namespace Tollgate.Translation;

/// <summary>
/// Splits one raw SSE event (its lines up to and including the blank line) into its event name and data,
/// following https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation:
/// several data lines join with "\n", one space after the colon is dropped, comment lines are ignored.
/// </summary>
internal static class SseEvents
{
    /// <summary>
    /// <paramref name="data"/> points into <paramref name="rawEvent"/> when the event has one data line (the
    /// usual case); otherwise the joined lines are written to <paramref name="scratch"/>, which it then points into.
    /// </summary>
    public static void Split(ReadOnlySpan<byte> rawEvent, out ReadOnlySpan<byte> eventName, out ReadOnlySpan<byte> data, ArrayBufferWriter<byte> scratch)
    {
        ArgumentNullException.ThrowIfNull(scratch);
        eventName = default;
        data = default;
        var dataLines = 0;
        var rest = rawEvent;
        while (!rest.IsEmpty)
        {
            var end = rest.IndexOfAny((byte)'\n', (byte)'\r');
            var line = end < 0 ? rest : rest[..end];
            if (end < 0)
            {
                rest = default;
            }
            else
            {
                var skip = rest[end] == (byte)'\r' && end + 1 < rest.Length && rest[end + 1] == (byte)'\n' ? 2 : 1;
                rest = rest[(end + skip)..];
            }

            if (line.IsEmpty || line[0] == (byte)':')
            {
                continue;
            }

            var colon = line.IndexOf((byte)':');
            var field = colon < 0 ? line : line[..colon];
            var value = colon < 0 ? default : line[(colon + 1)..];
            if (!value.IsEmpty && value[0] == (byte)' ')
            {
                value = value[1..];
            }

            if (field.SequenceEqual("event"u8))
            {
                eventName = value;
            }
            else if (field.SequenceEqual("data"u8))
            {
                if (dataLines == 0)
                {
                    data = value;
                }
                else
                {
                    if (dataLines == 1)
                    {
                        scratch.ResetWrittenCount();
                        scratch.Write(data);
                    }

                    scratch.Write("\n"u8);
                    scratch.Write(value);
                }

                dataLines++;
            }
        }

        if (dataLines > 1)
        {
            data = scratch.WrittenSpan;
        }
    }
}
