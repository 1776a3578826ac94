using System.Text.Json;

namespace Tollgate.Surfaces;

/// <summary>
/// The few top-level fields routing needs, read with <see cref="Utf8JsonReader"/> in one pass that also
/// proves the whole body is well-formed JSON. No DTO is built for the body.
/// </summary>
internal struct RequestPeek
{
    /// <summary>The <c>model</c> value, unescaped.</summary>
    public string? Model;

    /// <summary>Byte offset of the model value's opening quote, and the raw token length including quotes.</summary>
    public int ModelStart;
    public int ModelLength;

    public bool Stream;
    public long? MaxTokens;

    /// <summary>Whether <c>stream_options</c> is present, and whether it asks for <c>include_usage: true</c>.</summary>
    public bool HasStreamOptions;
    public bool IncludeUsage;

    /// <summary>Top-level property names seen that a surface may require (bit per <see cref="Field"/>).</summary>
    public Field Present;

    /// <summary>Set when the body is not acceptable; says what to fix.</summary>
    public string? Error;
    public string? ErrorParam;

    [Flags]
    public enum Field
    {
        None = 0,
        Messages = 1,
        Input = 2,
        System = 4,
    }

    public static RequestPeek Read(ReadOnlySpan<byte> body)
    {
        var peek = default(RequestPeek);
        if (body.IsEmpty)
        {
            peek.Error = "The request body is empty; send a JSON object.";
            return peek;
        }

        var reader = new Utf8JsonReader(body, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Disallow, MaxDepth = 256 });
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                peek.Error = "The request body must be a JSON object.";
                return peek;
            }

            while (reader.Read())
            {
                if (reader.TokenType == JsonTokenType.EndObject && reader.CurrentDepth == 0)
                {
                    break;
                }

                // Only property names at depth 1 reach here; values are read or skipped below.
                if (reader.ValueTextEquals("model"u8))
                {
                    reader.Read();
                    if (reader.TokenType != JsonTokenType.String)
                    {
                        return Fail(ref peek, "'model' must be a string naming a model alias.", "model");
                    }

                    peek.Model = reader.GetString();
                    peek.ModelStart = (int)reader.TokenStartIndex;
                    peek.ModelLength = (reader.ValueIsEscaped ? RawStringLength(body, peek.ModelStart) : reader.ValueSpan.Length + 2);
                }
                else if (reader.ValueTextEquals("stream"u8))
                {
                    reader.Read();
                    if (reader.TokenType is JsonTokenType.True or JsonTokenType.False)
                    {
                        peek.Stream = reader.TokenType == JsonTokenType.True;
                    }
                    else if (reader.TokenType != JsonTokenType.Null)
                    {
                        return Fail(ref peek, "'stream' must be true or false.", "stream");
                    }
                }
                else if (reader.ValueTextEquals("max_tokens"u8) || reader.ValueTextEquals("max_completion_tokens"u8) || reader.ValueTextEquals("max_output_tokens"u8))
                {
                    var name = reader.GetString();
                    reader.Read();
                    if (reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out var max) && max > 0)
                    {
                        peek.MaxTokens = max;
                    }
                    else if (reader.TokenType != JsonTokenType.Null)
                    {
                        return Fail(ref peek, $"'{name}' must be a positive integer.", name);
                    }
                }
                else if (reader.ValueTextEquals("stream_options"u8))
                {
                    peek.HasStreamOptions = true;
                    reader.Read();
                    if (reader.TokenType == JsonTokenType.StartObject)
                    {
                        var depth = reader.CurrentDepth;
                        while (reader.Read() && !(reader.TokenType == JsonTokenType.EndObject && reader.CurrentDepth == depth))
                        {
                            if (reader.TokenType == JsonTokenType.PropertyName && reader.CurrentDepth == depth + 1 && reader.ValueTextEquals("include_usage"u8))
                            {
                                reader.Read();
                                peek.IncludeUsage = reader.TokenType == JsonTokenType.True;
                            }
                            else if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray)
                            {
                                reader.Skip();
                            }
                        }
                    }
                    else if (reader.TokenType != JsonTokenType.Null)
                    {
                        return Fail(ref peek, "'stream_options' must be an object.", "stream_options");
                    }
                }
                else if (reader.ValueTextEquals("messages"u8))
                {
                    reader.Read();
                    if (reader.TokenType != JsonTokenType.StartArray)
                    {
                        return Fail(ref peek, "'messages' must be an array of message objects.", "messages");
                    }

                    peek.Present |= Field.Messages;
                    reader.Skip();
                }
                else if (reader.ValueTextEquals("input"u8))
                {
                    peek.Present |= Field.Input;
                    reader.Read();
                    reader.Skip();
                }
                else
                {
                    reader.Read();
                    reader.Skip();
                }
            }

            // Anything after the closing brace other than white space is malformed.
            if (reader.Read())
            {
                return Fail(ref peek, "The request body has trailing data after the JSON object.", null);
            }
        }
        catch (JsonException ex)
        {
            var line = ex.LineNumber is { } l ? l + 1 : 0;
            var column = ex.BytePositionInLine is { } c ? c + 1 : 0;
            return Fail(ref peek, $"The request body is not valid JSON (line {line}, byte {column}): fix the JSON syntax.", null);
        }

        return peek;
    }

    private static RequestPeek Fail(ref RequestPeek peek, string message, string? param)
    {
        peek.Error = message;
        peek.ErrorParam = param;
        return peek;
    }

    /// <summary>Length of an escaped JSON string token starting at the quote at <paramref name="start"/>.</summary>
    private static int RawStringLength(ReadOnlySpan<byte> body, int start)
    {
        var i = start + 1;
        while (i < body.Length)
        {
            if (body[i] == (byte)'\\')
            {
                i += 2;
                continue;
            }

            if (body[i] == (byte)'"')
            {
                return i - start + 1;
            }

            i++;
        }

        return body.Length - start;
    }
}
