using System.Text;

namespace Tollgate.IntegrationTests.Harness;

/// <summary>One server-sent event: its <c>event:</c> name (if any) and its joined <c>data:</c> lines.</summary>
internal sealed record SseEvent(string? Event, string Data);

/// <summary>What a client read from an SSE body: the events, and how the body ended.</summary>
internal sealed record SseRead(IReadOnlyList<SseEvent> Events, Exception? EndedWith, string Raw)
{
    public bool SawDone => Events.Any(e => e.Data == "[DONE]");
}

/// <summary>A plain SSE reader, as a client would have it (WHATWG event-stream rules, minus retry/id).</summary>
internal static class Sse
{
    /// <summary>Reads the whole stream; an I/O failure part way is recorded in <see cref="SseRead.EndedWith"/>, not thrown.</summary>
    public static async Task<SseRead> ReadAllAsync(Stream body, CancellationToken cancellationToken)
    {
        var events = new List<SseEvent>();
        var raw = new StringBuilder();
        string? name = null;
        var data = new StringBuilder();
        var hasData = false;
        Exception? endedWith = null;
        using var reader = new StreamReader(body, Encoding.UTF8);
        try
        {
            while (await reader.ReadLineAsync(cancellationToken) is { } line)
            {
                raw.Append(line).Append('\n');
                if (line.Length == 0)
                {
                    if (hasData)
                    {
                        events.Add(new SseEvent(name, data.ToString()));
                    }

                    name = null;
                    data.Clear();
                    hasData = false;
                    continue;
                }

                if (line.StartsWith(':'))
                {
                    continue;
                }

                var colon = line.IndexOf(':', StringComparison.Ordinal);
                var field = colon < 0 ? line : line[..colon];
                var value = colon < 0 ? string.Empty : line[(colon + 1)..];
                if (value.StartsWith(' '))
                {
                    value = value[1..];
                }

                if (field == "event")
                {
                    name = value;
                }
                else if (field == "data")
                {
                    if (hasData)
                    {
                        data.Append('\n');
                    }

                    data.Append(value);
                    hasData = true;
                }
            }
        }
        catch (Exception e) when (e is IOException or HttpRequestException)
        {
            endedWith = e;
        }

        // An event without its blank line was cut off; it never counts as delivered.
        return new SseRead(events, endedWith, raw.ToString());
    }
}
