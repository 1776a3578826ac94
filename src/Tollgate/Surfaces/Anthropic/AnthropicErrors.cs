using System.Buffers;
using System.Globalization;
using System.Text.Json;
using Tollgate.Pipeline;
using Tollgate.Surfaces.OpenAi;

namespace Tollgate.Surfaces.Anthropic;

/// <summary>
/// Anthropic's error shape: <c>{"type":"error","error":{"type","message"}}</c>, and in a stream an
/// <c>event: error</c> with the same body (https://docs.anthropic.com/en/api/errors).
/// </summary>
internal sealed class AnthropicErrors : ISurfaceErrors
{
    public static readonly AnthropicErrors Instance = new();

    public static string TypeFor(GatewayError error) => error.LimitType ?? error.Status switch
    {
        400 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        503 or 529 => "overloaded_error",
        _ => "api_error",
    };

    public Task WriteAsync(HttpResponse response, GatewayError error)
    {

        return ErrorResponses.WriteAsync(response, error, Body(error));
    }

    public byte[] StreamErrorEvent(GatewayError error, StreamFormat format)
    {
        var body = Body(error);
        var framed = new byte[body.Length + 21];
        "event: error\ndata: "u8.CopyTo(framed);
        body.CopyTo(framed.AsSpan(19));
        framed[^2] = (byte)'\n';
        framed[^1] = (byte)'\n';
        return framed;
    }

    private static byte[] Body(GatewayError error)
    {
        ArgumentNullException.ThrowIfNull(error);
        var buffer = new ArrayBufferWriter<byte>(128 + (error.Message.Length * 2));
        using (var writer = new Utf8JsonWriter(buffer, OpenAiErrors.WriterOptions))
        {
            writer.WriteStartObject();
            writer.WriteString("type", "error");
            writer.WriteStartObject("error");
            writer.WriteString("type", TypeFor(error));
            writer.WriteString("message", error.Message);
            writer.WriteEndObject();
            writer.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }
}
