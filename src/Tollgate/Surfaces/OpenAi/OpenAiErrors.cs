using System.Buffers;
using System.Globalization;
using System.Text.Json;
using Tollgate.Pipeline;

namespace Tollgate.Surfaces.OpenAi;

/// <summary>
/// OpenAI's error shape: <c>{"error":{"message","type","code","param"}}</c>
/// (https://platform.openai.com/docs/guides/error-codes). In a Responses stream, an <c>error</c> event.
/// </summary>
internal sealed class OpenAiErrors : ISurfaceErrors
{
    public static readonly OpenAiErrors Instance = new();

    /// <summary>Messages quote names ('gpt-4o'); keep them readable rather than \u0027-escaped. The body is JSON, never HTML.</summary>
    internal static readonly JsonWriterOptions WriterOptions = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static string TypeFor(GatewayError error) => error.LimitType ?? error.Status switch
    {
        401 => "authentication_error",
        403 => "permission_error",
        429 => "rate_limit_error",
        >= 500 => "api_error",
        _ => "invalid_request_error",
    };

    public Task WriteAsync(HttpResponse response, GatewayError error)
    {

        var buffer = new ArrayBufferWriter<byte>(256 + (error.Message.Length * 2));
        using (var writer = new Utf8JsonWriter(buffer, WriterOptions))
        {
            writer.WriteStartObject();
            WriteErrorObject(writer, error);
            writer.WriteEndObject();
        }

        return ErrorResponses.WriteAsync(response, error, buffer.WrittenMemory);
    }

    public byte[] StreamErrorEvent(GatewayError error, StreamFormat format)
    {
        ArgumentNullException.ThrowIfNull(error);
        var buffer = new ArrayBufferWriter<byte>(256 + (error.Message.Length * 2));
        if (format == StreamFormat.Responses)
        {
            // The Responses stream's error event: {"type":"error","code","message","param"}.
            buffer.Write("event: error\ndata: "u8);
            using var writer = new Utf8JsonWriter(buffer, WriterOptions);
            writer.WriteStartObject();
            writer.WriteString("type", "error");
            writer.WriteString("code", error.Code);
            writer.WriteString("message", error.Message);
            writer.WriteNull("param");
            writer.WriteEndObject();
        }
        else
        {
            // Chat streams carry errors as a data line with an error object, and never [DONE] after it.
            buffer.Write("data: "u8);
            using var writer = new Utf8JsonWriter(buffer, WriterOptions);
            writer.WriteStartObject();
            WriteErrorObject(writer, error);
            writer.WriteEndObject();
        }

        buffer.Write("\n\n"u8);
        return buffer.WrittenSpan.ToArray();
    }

    private static void WriteErrorObject(Utf8JsonWriter writer, GatewayError error)
    {
        writer.WriteStartObject("error");
        writer.WriteString("message", error.Message);
        writer.WriteString("type", TypeFor(error));
        writer.WriteString("code", error.Code);
        if (error.Param is null)
        {
            writer.WriteNull("param");
        }
        else
        {
            writer.WriteString("param", error.Param);
        }

        writer.WriteEndObject();
    }
}
