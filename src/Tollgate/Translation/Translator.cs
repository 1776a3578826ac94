using System.Text.Json;
using Tollgate.Pipeline;

namespace Tollgate.Translation;

/// <summary>
/// Entry point for format translation. Every pair goes through the canonical model: a reader for the source
/// format, a writer for the target format (DESIGN §2). Same-format traffic never comes here.
/// </summary>
internal static class Translator
{
    /// <summary>Client body in <paramref name="from"/> → upstream body in <paramref name="to"/> for <paramref name="upstreamModel"/>.</summary>
    public static RequestTranslation TranslateRequest(ReadOnlySpan<byte> body, WireFormat from, WireFormat to, string upstreamModel, TranslationOptions options)
    {
        ArgumentNullException.ThrowIfNull(upstreamModel);
        ArgumentNullException.ThrowIfNull(options);
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(body.ToArray(), Json.DocumentOptions);
        }
        catch (JsonException ex)
        {
            var line = ex.LineNumber is { } l ? l + 1 : 0;
            var column = ex.BytePositionInLine is { } c ? c + 1 : 0;
            return new RequestTranslation(null, $"The request body is not valid JSON (line {line}, byte {column}): fix the JSON syntax.");
        }

        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
            {
                return new RequestTranslation(null, "The request body must be a JSON object.");
            }

            try
            {
                var request = from switch
                {
                    WireFormat.OpenAiChat => OpenAiChat.ReadRequest(doc.RootElement),
                    WireFormat.OpenAiResponses => OpenAiResponses.ReadRequest(doc.RootElement),
                    WireFormat.AnthropicMessages => AnthropicMessages.ReadRequest(doc.RootElement),
                    WireFormat.Gemini => Gemini.ReadRequest(doc.RootElement),
                    _ => throw new ArgumentOutOfRangeException(nameof(from)),
                };
                var bytes = Json.Write((request, upstreamModel, options, to), static (w, s) =>
                {
                    switch (s.to)
                    {
                        case WireFormat.OpenAiChat:
                            OpenAiChat.WriteRequest(w, s.request, s.upstreamModel, s.options);
                            break;
                        case WireFormat.OpenAiResponses:
                            OpenAiResponses.WriteRequest(w, s.request, s.upstreamModel, s.options);
                            break;
                        case WireFormat.AnthropicMessages:
                            AnthropicMessages.WriteRequest(w, s.request, s.upstreamModel, s.options);
                            break;
                        case WireFormat.Gemini:
                            Gemini.WriteRequest(w, s.request, s.options);
                            break;
                        default:
                            throw new ArgumentOutOfRangeException(nameof(to));
                    }
                });
                return new RequestTranslation(bytes, null);
            }
            catch (TranslationException ex)
            {
                return new RequestTranslation(null, ex.Message, ex.Param);
            }
        }
    }

    /// <summary>Whole (non-stream) upstream success body → client body, with the model field set to <paramref name="clientModel"/>.</summary>
    public static ResponseTranslation TranslateResponse(ReadOnlySpan<byte> upstreamBody, WireFormat upstream, WireFormat client, string clientModel)
        => TranslateResponse(upstreamBody, upstream, client, clientModel, DateTimeOffset.UtcNow.ToUnixTimeSeconds());

    /// <summary>As above, with the creation time the OpenAI formats carry given (golden tests fix it).</summary>
    internal static ResponseTranslation TranslateResponse(ReadOnlySpan<byte> upstreamBody, WireFormat upstream, WireFormat client, string clientModel, long created)
    {
        ArgumentNullException.ThrowIfNull(clientModel);
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(upstreamBody.ToArray(), Json.DocumentOptions);
        }
        catch (JsonException)
        {
            return new ResponseTranslation(null, default, "The upstream response is not valid JSON.");
        }

        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
            {
                return new ResponseTranslation(null, default, "The upstream response is not a JSON object.");
            }

            var response = upstream switch
            {
                WireFormat.OpenAiChat => OpenAiChat.ReadResponse(doc.RootElement),
                WireFormat.OpenAiResponses => OpenAiResponses.ReadResponse(doc.RootElement),
                WireFormat.AnthropicMessages => AnthropicMessages.ReadResponse(doc.RootElement),
                WireFormat.Gemini => Gemini.ReadResponse(doc.RootElement),
                _ => throw new ArgumentOutOfRangeException(nameof(upstream)),
            };
            var bytes = Json.Write((response, clientModel, created, client), static (w, s) =>
            {
                switch (s.client)
                {
                    case WireFormat.OpenAiChat:
                        OpenAiChat.WriteResponse(w, s.response, s.clientModel, s.created);
                        break;
                    case WireFormat.OpenAiResponses:
                        OpenAiResponses.WriteResponse(w, s.response, s.clientModel, s.created);
                        break;
                    case WireFormat.AnthropicMessages:
                        AnthropicMessages.WriteResponse(w, s.response, s.clientModel);
                        break;
                    case WireFormat.Gemini:
                        Gemini.WriteResponse(w, s.response, s.clientModel);
                        break;
                    default:
                        throw new ArgumentOutOfRangeException(nameof(client));
                }
            });
            return new ResponseTranslation(bytes, response.Usage, null);
        }
    }

    public static IStreamTranslator CreateStreamTranslator(WireFormat upstream, WireFormat client, string clientModel)
        => CreateStreamTranslator(upstream, client, clientModel, DateTimeOffset.UtcNow.ToUnixTimeSeconds());

    internal static IStreamTranslator CreateStreamTranslator(WireFormat upstream, WireFormat client, string clientModel, long created)
    {
        ArgumentNullException.ThrowIfNull(clientModel);
        StreamDecoder decoder = upstream switch
        {
            WireFormat.OpenAiChat => new OpenAiChatStreamDecoder(),
            WireFormat.OpenAiResponses => new OpenAiResponsesStreamDecoder(),
            WireFormat.AnthropicMessages => new AnthropicStreamDecoder(),
            WireFormat.Gemini => new GeminiStreamDecoder(),
            _ => throw new ArgumentOutOfRangeException(nameof(upstream)),
        };
        StreamEncoder encoder = client switch
        {
            WireFormat.OpenAiChat => new OpenAiChatStreamEncoder(clientModel, created),
            WireFormat.OpenAiResponses => new OpenAiResponsesStreamEncoder(clientModel, created),
            WireFormat.AnthropicMessages => new AnthropicStreamEncoder(clientModel),
            WireFormat.Gemini => new GeminiStreamEncoder(clientModel),
            _ => throw new ArgumentOutOfRangeException(nameof(client)),
        };
        return new StreamTranslator(decoder, encoder);
    }
}
