using System.Text.Json;
using Tollgate.Pipeline;

namespace Tollgate.Streaming;

/// <summary>
/// Reads a <c>usage</c> object out of an OpenAI-format JSON document (a chat completion, a stream chunk,
/// an embeddings response, a Responses object or a <c>response.completed</c> event) without a DTO.
/// Chat names the fields prompt_tokens/completion_tokens with *_details; Responses names them
/// input_tokens/output_tokens with *_details. Both are understood.
/// </summary>
internal static class UsageReader
{
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

                continue;
            }

            if (level == 0 && reader.ValueTextEquals("response"u8))
            {
                reader.Read();
                if (reader.TokenType == JsonTokenType.StartObject && FindUsage(ref reader, 1, out usage))
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

        return new Usage(input, output, cacheRead, cacheWrite, reasoning);
    }

    private static long ReadLong(ref Utf8JsonReader reader)
    {
        reader.Read();
        return reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out var value) ? value : 0;
    }
}
