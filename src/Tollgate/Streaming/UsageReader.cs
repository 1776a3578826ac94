using System.Buffers;
using System.Text.Json;
using Tollgate.Pipeline;

namespace Tollgate.Streaming;

/// <summary>
/// Reads a <c>usage</c> object out of an OpenAI-format JSON document (a chat completion, a stream chunk,
/// an embeddings response, a Responses object or a <c>response.completed</c> event) without a DTO.
/// Chat names the fields prompt_tokens/completion_tokens with *_details; Responses names them
/// input_tokens/output_tokens with *_details; Anthropic (a message, or the message_start/message_delta
/// events) puts cache_read_input_tokens and cache_creation_input_tokens beside input_tokens. All are understood.
/// </summary>
internal static class UsageReader
{
    private static readonly SearchValues<byte> Structure = SearchValues.Create("\"{}[]"u8);

    private static ReadOnlySpan<byte> Whitespace => " \t\r\n"u8;

    /// <summary>
    /// For a whole answer (a chat completion, a Responses object, an Anthropic message, an embeddings list):
    /// providers put <c>usage</c> at the top level after the content, and the content can be many kilobytes.
    /// So the answer is walked backwards from its last byte, over strings and nested values, to the top-level
    /// <c>usage</c> member, and only that object is parsed. Whatever the backward walk does not find (no
    /// top-level usage object: absent, null, nested in <c>response</c>, or a name written with escapes) is left to
    /// <see cref="TryRead"/>, which reads forward from the start, so the answer is the same either way. (One
    /// exception: of two top-level <c>usage</c> members the walk takes the last, as <c>JSON.parse</c> does, and the
    /// forward reader the first.) At worst, for an answer without a top-level usage, the answer is read twice.
    /// </summary>
    public static bool TryReadAnswer(ReadOnlySpan<byte> json, out Usage usage)
    {
        if (FindTopLevelUsageObject(json) is var start and >= 0)
        {
            // The reader stops at the usage object's end and never looks at what follows it.
            var reader = new Utf8JsonReader(json[start..]);
            try
            {
                if (reader.Read() && reader.TokenType == JsonTokenType.StartObject)
                {
                    usage = ReadUsageObject(ref reader);
                    return true;
                }
            }
            catch (JsonException)
            {
            }
        }

        return TryRead(json, out usage);
    }

    /// <summary>
    /// The offset of the <c>{</c> that starts the value of the top-level <c>"usage"</c> member, or -1. Walks
    /// backwards: outside strings a quote always ends a string, and the quote that opens it is the nearest one
    /// before it that is not escaped (not preceded by an odd run of backslashes).
    /// </summary>
    internal static int FindTopLevelUsageObject(ReadOnlySpan<byte> json)
    {
        var i = json.LastIndexOfAnyExcept(Whitespace);
        if (i <= 0 || json[i] != (byte)'}')
        {
            return -1;
        }

        var depth = 1;
        while (true)
        {
            i = json[..i].LastIndexOfAny(Structure);
            if (i < 0)
            {
                return -1;
            }

            switch (json[i])
            {
                case (byte)'}' or (byte)']':
                    depth++;
                    break;
                case (byte)'{' or (byte)'[':
                    if (--depth == 0)
                    {
                        return -1;
                    }

                    break;
                default:
                    var end = i;
                    if (OpeningQuote(json, end) is not (var open and >= 0))
                    {
                        return -1;
                    }

                    i = open;
                    if (depth == 1 && json[(open + 1)..end].SequenceEqual("usage"u8))
                    {
                        var after = json[(end + 1)..];
                        var colon = after.IndexOfAnyExcept(Whitespace);
                        if (colon >= 0 && after[colon] == (byte)':')
                        {
                            var value = after[(colon + 1)..].IndexOfAnyExcept(Whitespace);
                            return value >= 0 && after[colon + 1 + value] == (byte)'{' ? end + 1 + colon + 1 + value : -1;
                        }
                    }

                    break;
            }
        }
    }

    /// <summary>The offset of the quote that opens the string whose closing quote is at <paramref name="end"/>, or -1.</summary>
    private static int OpeningQuote(ReadOnlySpan<byte> json, int end)
    {
        var q = end;
        while (true)
        {
            q = json[..q].LastIndexOf((byte)'"');
            if (q < 0)
            {
                return -1;
            }

            var backslashes = 0;
            while (q - backslashes - 1 >= 0 && json[q - backslashes - 1] == (byte)'\\')
            {
                backslashes++;
            }

            if ((backslashes & 1) == 0)
            {
                return q;
            }
        }
    }

    /// <summary>Finds <c>usage</c> at the top level or inside a top-level <c>response</c> object.</summary>
    public static bool TryRead(ReadOnlySpan<byte> json, out Usage usage)
    {
        usage = default;
        var reader = new Utf8JsonReader(json);
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return false;
            }

            return FindUsage(ref reader, 0, out usage);
        }
        catch (JsonException)
        {
            return false;
        }
    }

    private static bool FindUsage(ref Utf8JsonReader reader, int level, out Usage usage)
    {
        usage = default;
        var depth = reader.CurrentDepth;
        while (reader.Read())
        {
            if (reader.TokenType == JsonTokenType.EndObject && reader.CurrentDepth == depth)
            {
                return false;
            }

            if (reader.TokenType != JsonTokenType.PropertyName)
            {
                continue;
            }

            if (reader.ValueTextEquals("usage"u8))
            {
                reader.Read();
                if (reader.TokenType == JsonTokenType.StartObject)
                {
                    usage = ReadUsageObject(ref reader);
                    return true;
                }

                // Not an object (null, or an array): skipped whole, so nothing inside it passes for this level's usage.
                reader.Skip();
                continue;
            }

            if (level == 0 && (reader.ValueTextEquals("response"u8) || reader.ValueTextEquals("message"u8)))
            {
                reader.Read();
                if (reader.TokenType != JsonTokenType.StartObject)
                {
                    reader.Skip();
                }
                else if (FindUsage(ref reader, 1, out usage))
                {
                    return true;
                }

                continue;
            }

            reader.Read();
            reader.Skip();
        }

        return false;
    }

    private static Usage ReadUsageObject(ref Utf8JsonReader reader)
    {
        long input = 0, output = 0, cacheRead = 0, cacheWrite = 0, reasoning = 0;
        // Anthropic reports cache reads and writes beside input_tokens, not inside it.
        long anthropicCacheRead = 0, anthropicCacheWrite = 0;
        var depth = reader.CurrentDepth;
        while (reader.Read() && !(reader.TokenType == JsonTokenType.EndObject && reader.CurrentDepth == depth))
        {
            if (reader.TokenType != JsonTokenType.PropertyName)
            {
                continue;
            }

            if (reader.ValueTextEquals("prompt_tokens"u8) || reader.ValueTextEquals("input_tokens"u8))
            {
                input = ReadLong(ref reader);
            }
            else if (reader.ValueTextEquals("completion_tokens"u8) || reader.ValueTextEquals("output_tokens"u8))
            {
                output = ReadLong(ref reader);
            }
            else if (reader.ValueTextEquals("cache_read_input_tokens"u8))
            {
                anthropicCacheRead = ReadLong(ref reader);
            }
            else if (reader.ValueTextEquals("cache_creation_input_tokens"u8))
            {
                anthropicCacheWrite = ReadLong(ref reader);
            }
            else if (reader.ValueTextEquals("prompt_tokens_details"u8) || reader.ValueTextEquals("input_tokens_details"u8)
                || reader.ValueTextEquals("completion_tokens_details"u8) || reader.ValueTextEquals("output_tokens_details"u8))
            {
                reader.Read();
                if (reader.TokenType != JsonTokenType.StartObject)
                {
                    continue;
                }

                var inner = reader.CurrentDepth;
                while (reader.Read() && !(reader.TokenType == JsonTokenType.EndObject && reader.CurrentDepth == inner))
                {
                    if (reader.TokenType != JsonTokenType.PropertyName)
                    {
                        continue;
                    }

                    if (reader.ValueTextEquals("cached_tokens"u8))
                    {
                        cacheRead = ReadLong(ref reader);
                    }
                    else if (reader.ValueTextEquals("reasoning_tokens"u8))
                    {
                        reasoning = ReadLong(ref reader);
                    }
                    else if (reader.ValueTextEquals("cache_creation_tokens"u8))
                    {
                        cacheWrite = ReadLong(ref reader);
                    }
                    else
                    {
                        reader.Read();
                        reader.Skip();
                    }
                }
            }
            else
            {
                reader.Read();
                reader.Skip();
            }
        }

        if (anthropicCacheRead > 0 || anthropicCacheWrite > 0)
        {
            return new Usage(input + anthropicCacheRead + anthropicCacheWrite, output, anthropicCacheRead, anthropicCacheWrite, reasoning);
        }

        return new Usage(input, output, cacheRead, cacheWrite, reasoning);
    }

    private static long ReadLong(ref Utf8JsonReader reader)
    {
        reader.Read();
        return reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out var value) ? value : 0;
    }
}
