using System.Diagnostics;
using System.Text;
using Tollgate.Keys;
using Tollgate.Routing;
using Tollgate.Storage;

namespace Tollgate.Pipeline;

/// <summary>The state of one request as it moves through admission, routing, dispatch and accounting.</summary>
internal sealed class GatewayContext
{
    public GatewayContext(HttpContext http, Operation operation, DateTimeOffset now)
    {
        Http = http;
        Operation = operation;
        StartedAt = now;
        StartTimestamp = Stopwatch.GetTimestamp();
        RequestId = RequestIds.Next(now);
    }

    public HttpContext Http { get; }

    public Operation Operation { get; }

    public string RequestId { get; }

    public DateTimeOffset StartedAt { get; }

    public long StartTimestamp { get; }

    public KeyEntry? Key { get; set; }

    public string? ModelRequested { get; set; }

    /// <summary>The group asked for (after any remap).</summary>
    public ModelGroup? Group { get; set; }

    public List<Attempt> Attempts { get; } = new(2);

    /// <summary>Deployments actually called (skipped ones are not counted).</summary>
    public int TriedCount
    {
        get
        {
            var count = 0;
            foreach (var attempt in Attempts)
            {
                count += attempt.Skipped ? 0 : 1;
            }

            return count;
        }
    }

    /// <summary>The answer's body as text, kept only for <c>audit.bodies: full</c> (not for streams).</summary>
    public string? ResponseTextForAudit { get; set; }

    /// <summary>Comma-separated data classes of the request, if any.</summary>
    public string? DataClasses { get; set; }

    public Deployment? ServedBy { get; set; }

    /// <summary><c>from -> to</c> when a different model group served.</summary>
    public string? Fallback { get; set; }

    public int Status { get; set; }

    public string? ErrorType { get; set; }

    public Usage Usage { get; set; }

    public bool Streamed { get; set; }

    public double? TtftMs { get; set; }

    public decimal Cost { get; set; }

    public decimal NotionalCost { get; set; }

    public double ElapsedMs => Stopwatch.GetElapsedTime(StartTimestamp).TotalMilliseconds;

    public LedgerRecord ToLedgerRecord(string currency)
    {
        var headers = Http.Request.Headers;
        return new LedgerRecord
        {
            RequestId = RequestId,
            Time = StartedAt,
            KeyId = Key?.Id,
            KeyAlias = Key?.Record.Alias,
            Workspace = Key?.Record.Workspace,
            Tier = Key?.Record.Tier,
            Endpoint = Operation.Endpoint,
            ModelRequested = ModelRequested,
            ModelGroup = Group?.Name,
            AttemptsJson = Attempts.Count == 0 ? null : AttemptsToJson(),
            Deployment = ServedBy?.Label,
            Provider = ServedBy?.Provider.Name,
            Fallback = Fallback,
            Status = Status,
            ErrorType = ErrorType,
            InputTokens = Usage.InputTokens,
            OutputTokens = Usage.OutputTokens,
            CacheReadTokens = Usage.CacheReadTokens,
            CacheWriteTokens = Usage.CacheWriteTokens,
            ReasoningTokens = Usage.ReasoningTokens,
            Cost = Cost,
            NotionalCost = NotionalCost,
            Currency = currency,
            LatencyMs = Math.Round(ElapsedMs, 3),
            TtftMs = TtftMs is { } ttft ? Math.Round(ttft, 3) : null,
            Streamed = Streamed,
            UserAgent = headers.UserAgent.Count > 0 ? headers.UserAgent.ToString() : null,
            SessionId = headers.TryGetValue("x-claude-code-session-id", out var session) ? session.ToString() : null,
            DataClasses = DataClasses,
        };
    }

    /// <summary>One writer and buffer per thread, reset for each row: the attempts JSON costs only its string.</summary>
    [ThreadStatic]
    private static (System.Buffers.ArrayBufferWriter<byte> Buffer, System.Text.Json.Utf8JsonWriter Writer)? t_attemptsWriter;

    private string AttemptsToJson() => AttemptsToJson(Attempts);

    /// <summary>
    /// The attempts as the ledger's <c>attempts_json</c>. The common case, one attempt that answered from a deployment
    /// whose label needs no escaping, is formatted directly (the same text the JSON writer gives, for less work than the
    /// writer); anything else goes through the writer.
    /// </summary>
    internal static string AttemptsToJson(List<Attempt> attempts)
    {
        if (attempts.Count == 1 && attempts[0] is { Error: null, Skipped: false } only && IsPlainLabel(only.Deployment))
        {
            return string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"[{{\"deployment\":\"{only.Deployment}\",\"status\":{only.Status},\"latency_ms\":{Math.Round(only.LatencyMs, 3):R},\"error\":null}}]");
        }

        return WriteAttemptsJson(attempts);
    }

    /// <summary>The general path of <see cref="AttemptsToJson(List{Attempt})"/>: any attempts, through the JSON writer.</summary>
    internal static string WriteAttemptsJson(List<Attempt> attempts)
    {
        var (buffer, writer) = t_attemptsWriter ??= NewAttemptsWriter();
        buffer.ResetWrittenCount();
        writer.Reset(buffer);
        writer.WriteStartArray();
        foreach (var attempt in attempts)
        {
            writer.WriteStartObject();
            writer.WriteString("deployment", attempt.Deployment);
            writer.WriteNumber("status", attempt.Status);
            writer.WriteNumber("latency_ms", Math.Round(attempt.LatencyMs, 3));
            if (attempt.Skipped)
            {
                writer.WriteBoolean("skipped", true);
            }

            if (attempt.Error is null)
            {
                writer.WriteNull("error");
            }
            else
            {
                writer.WriteString("error", attempt.Error);
            }

            writer.WriteEndObject();
        }

        writer.WriteEndArray();
        writer.Flush();
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    /// <summary>True when the JSON writer would write the label as it is: letters, digits and <c>-_./:</c> only.</summary>
    private static bool IsPlainLabel(string label) => label.AsSpan().IndexOfAnyExcept(PlainLabelChars) < 0;

    private static readonly System.Buffers.SearchValues<char> PlainLabelChars =
        System.Buffers.SearchValues.Create("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:");

    private static (System.Buffers.ArrayBufferWriter<byte>, System.Text.Json.Utf8JsonWriter) NewAttemptsWriter()
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(256);
        return (buffer, new System.Text.Json.Utf8JsonWriter(buffer));
    }
}
