using System.Collections.Frozen;
using System.Text.Json;
using Tollgate.Pipeline;

namespace Tollgate.Surfaces.Anthropic;

/// <summary>
/// Checks on a Messages body that the required-field peek cannot make: each message has a role and
/// content, and each content block has a string <c>type</c>. Block types the Messages API does not
/// know are refused here with a hint, rather than sent upstream; new types can be added to the list.
/// </summary>
internal static class AnthropicValidation
{
    private static readonly FrozenSet<string> BlockTypes = new[]
    {
        "text", "image", "document", "search_result", "tool_use", "tool_result", "thinking", "redacted_thinking",
        "server_tool_use", "web_search_tool_result", "web_fetch_tool_result", "code_execution_tool_result",
        "bash_code_execution_tool_result", "text_editor_code_execution_tool_result", "mcp_tool_use", "mcp_tool_result",
        "container_upload", "tool_reference",
    }.ToFrozenSet(StringComparer.Ordinal);

    private static readonly FrozenDictionary<string, string> OpenAiLookalikes = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["image_url"] = "an OpenAI block; the Messages API takes {\"type\":\"image\",\"source\":{…}}",
        ["input_text"] = "a Responses API block; the Messages API takes {\"type\":\"text\",\"text\":…}",
        ["input_image"] = "a Responses API block; the Messages API takes {\"type\":\"image\",\"source\":{…}}",
        ["function_call"] = "an OpenAI item; the Messages API takes {\"type\":\"tool_use\",…}",
    }.ToFrozenDictionary(StringComparer.Ordinal);

    public static GatewayError? Validate(ReadOnlyMemory<byte> body)
    {
        var reader = new Utf8JsonReader(body.Span);
        reader.Read();
        while (reader.Read() && reader.CurrentDepth >= 1)
        {
            if (reader.TokenType == JsonTokenType.PropertyName && reader.CurrentDepth == 1 && reader.ValueTextEquals("messages"u8))
            {
                reader.Read();
                return ValidateMessages(ref reader);
            }

            if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray)
            {
                reader.Skip();
            }
        }

        return null;
    }

    private static GatewayError? ValidateMessages(ref Utf8JsonReader reader)
    {
        var index = -1;
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            index++;
            if (reader.TokenType != JsonTokenType.StartObject)
            {
                return Bad($"messages.{index}: each message must be an object with 'role' and 'content'.", $"messages.{index}");
            }

            var hasRole = false;
            var hasContent = false;
            while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
            {
                if (reader.ValueTextEquals("role"u8))
                {
                    reader.Read();
                    hasRole = reader.TokenType == JsonTokenType.String;
                    if (!hasRole)
                    {
                        return Bad($"messages.{index}.role must be a string: 'user' or 'assistant'.", $"messages.{index}.role");
                    }
                }
                else if (reader.ValueTextEquals("content"u8))
                {
                    hasContent = true;
                    reader.Read();
                    if (reader.TokenType == JsonTokenType.StartArray)
                    {
                        if (ValidateBlocks(ref reader, index) is { } problem)
                        {
                            return problem;
                        }
                    }
                    else if (reader.TokenType != JsonTokenType.String)
                    {
                        return Bad($"messages.{index}.content must be a string or an array of content blocks.", $"messages.{index}.content");
                    }
                }
                else
                {
                    reader.Read();
                    reader.Skip();
                }
            }

            if (!hasRole || !hasContent)
            {
                return Bad($"messages.{index}: each message needs 'role' and 'content'.", $"messages.{index}");
            }
        }

        return null;
    }

    private static GatewayError? ValidateBlocks(ref Utf8JsonReader reader, int message)
    {
        var block = -1;
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            block++;
            var where = $"messages.{message}.content.{block}";
            if (reader.TokenType != JsonTokenType.StartObject)
            {
                return Bad($"{where} must be a content block object with a 'type'.", where);
            }

            string? type = null;
            while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
            {
                if (reader.ValueTextEquals("type"u8))
                {
                    reader.Read();
                    if (reader.TokenType != JsonTokenType.String)
                    {
                        return Bad($"{where}.type must be a string naming the block type.", $"{where}.type");
                    }

                    type = reader.GetString();
                }
                else
                {
                    reader.Read();
                    reader.Skip();
                }
            }

            if (type is null)
            {
                return Bad($"{where} has no 'type'.", $"{where}.type");
            }

            if (!BlockTypes.Contains(type))
            {
                var hint = OpenAiLookalikes.TryGetValue(type, out var lookalike) ? $" '{type}' is {lookalike}." : string.Empty;
                return Bad($"{where}.type '{type}' is not a Messages API content block type.{hint}", $"{where}.type");
            }
        }

        return null;
    }

    private static GatewayError Bad(string message, string param) => new(GatewayErrorKind.BadRequest, message, param);
}
