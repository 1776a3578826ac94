using System.Buffers;
using System.Text;
using System.Text.Json;
using Tollgate.Pipeline;
using Tollgate.Sensitivity;
using Tollgate.Storage;

namespace Tollgate.Ledger;

/// <summary>
/// The audit record of one request under <c>audit.bodies: full</c>: the prompt and the answer as text, with
/// detected secrets redacted, capped in size. Under <c>metadata</c> (the default) the ledger row is the
/// request's record and no bodies are kept; under <c>off</c> neither bodies nor this record exist.
/// </summary>
internal static class AuditBodies
{
    /// <summary>Bodies above this are cut (and say so).</summary>
    public const int MaxChars = 256 * 1024;

    public static string? Text(ReadOnlySpan<byte> utf8)
    {
        if (utf8.IsEmpty)
        {
            return null;
        }

        var text = Encoding.UTF8.GetString(utf8.Length > MaxChars * 4 ? utf8[..(MaxChars * 4)] : utf8);
        return text.Length > MaxChars ? string.Concat(text.AsSpan(0, MaxChars), "…[cut]") : text;
    }

    public static AuditRecord Record(GatewayContext ctx, ReadOnlySpan<byte> requestBody, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(ctx);
        var buffer = new ArrayBufferWriter<byte>(requestBody.Length + 512);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("endpoint", ctx.Operation.Endpoint);
            w.WriteString("model", ctx.ModelRequested);
            w.WriteString("deployment", ctx.ServedBy?.Label);
            w.WriteNumber("status", ctx.Status);
            w.WriteBoolean("streamed", ctx.Streamed);
            WriteRedacted(w, "request_body", Text(requestBody));
            WriteRedacted(w, "response_body", ctx.ResponseTextForAudit);
            if (ctx.Streamed)
            {
                w.WriteString("response_note", "streamed: the answer's events are not kept; the ledger row has its usage");
            }

            w.WriteEndObject();
        }

        return new AuditRecord
        {
            Id = "aud_" + ctx.RequestId,
            Time = now,
            Actor = ctx.Key?.Id ?? "unknown",
            Action = "request",
            Target = ctx.RequestId,
            DetailsJson = Encoding.UTF8.GetString(buffer.WrittenSpan),
        };
    }

    private static void WriteRedacted(Utf8JsonWriter w, string name, string? text)
    {
        if (text is null)
        {
            w.WriteNull(name);
        }
        else
        {
            w.WriteString(name, Detectors.RedactSecrets(text));
        }
    }
}
