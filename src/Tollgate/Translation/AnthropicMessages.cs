using System.Text.Json;
using Tollgate.Pipeline;

namespace Tollgate.Translation;

/// <summary>
/// Anthropic Messages request and response bodies ↔ the canonical model.
/// https://docs.anthropic.com/en/api/messages
/// </summary>
internal static class AnthropicMessages
{
    private const string EmptySchema = """{"type":"object","properties":{}}""";

    // ---- request ----

    public static ChatRequest ReadRequest(JsonElement root)
    {
        var req = new ChatRequest();
        if (root.Prop("system") is { } system)
        {
            if (system.ValueKind == JsonValueKind.String)
            {
                req.System.Add(new TextPart(system.GetString()!));
            }
            else if (system.ValueKind == JsonValueKind.Array)
            {
                var i = 0;
                foreach (var block in system.EnumerateArray())
                {
                    var param = $"system.{i++}";
                    if (block.Str("type") != "text")
                    {
                        throw new TranslationException($"'{param}' must be a text block.", param);
                    }

                    req.System.Add(new TextPart(block.RequireString("text", param + ".text"), block.Prop("cache_control")));
                }
            }
            else
            {
                throw new TranslationException("'system' must be a string or an array of text blocks.", "system");
            }
        }

        var messages = root.Require("messages", JsonValueKind.Array, "messages");
        var m = 0;
        foreach (var message in messages.EnumerateArray())
        {
            var param = $"messages.{m++}";
            if (message.ValueKind != JsonValueKind.Object)
            {
                throw new TranslationException($"'{param}' must be a message object.", param);
            }

            var role = message.RequireString("role", param + ".role") switch
            {
                "user" => ChatRole.User,
                "assistant" => ChatRole.Assistant,
                "system" => ChatRole.System,
                var other => throw new TranslationException($"'{param}.role' is '{other}'; use 'user' or 'assistant'.", param + ".role"),
            };
            req.Messages.Add(new ChatMessage(role, ReadContent(message, param)));
        }

        req.MaxTokens = root.Int("max_tokens", "max_tokens");
        req.Temperature = root.Double("temperature", "temperature");
        req.TopP = root.Double("top_p", "top_p");
        req.TopK = root.Int("top_k", "top_k");
        req.Stop = root.Strings("stop_sequences", "stop_sequences");
        if (root.Prop("metadata") is { } metadata)
        {
            req.User = metadata.Str("user_id");
        }

        if (root.Prop("thinking") is { } thinking && thinking.Str("type") is "enabled" or "adaptive")
        {
            req.Reasoning = new ReasoningRequest(true, null, thinking.Int("budget_tokens", "thinking.budget_tokens"));
        }

        if (root.Prop("tools") is { } tools)
        {
            var t = 0;
            foreach (var tool in tools.EnumerateArray())
            {
                var param = $"tools.{t++}";
                var type = tool.Str("type");
                if (type is not (null or "custom"))
                {
                    throw new TranslationException(
                        $"'{param}' is Anthropic's server tool '{type}', which the upstream of this model cannot run; remove it or use a model served by Anthropic.", param);
                }

                req.Tools.Add(new ToolDefinition(tool.RequireString("name", param + ".name"), tool.Str("description"), tool.Prop("input_schema"), CacheControl: tool.Prop("cache_control")));
            }
        }

        if (root.Prop("tool_choice") is { } choice)
        {
            req.ToolChoice = choice.Str("type") switch
            {
                "auto" => new ToolChoice(ToolChoiceMode.Auto),
                "any" => new ToolChoice(ToolChoiceMode.Required),
                "none" => new ToolChoice(ToolChoiceMode.None),
                "tool" => new ToolChoice(ToolChoiceMode.Specific, choice.RequireString("name", "tool_choice.name")),
                _ => throw new TranslationException("'tool_choice.type' must be auto, any, tool or none.", "tool_choice.type"),
            };
            if (choice.Bool("disable_parallel_tool_use"))
            {
                req.ParallelToolCalls = false;
            }
        }

        return req;
    }

    private static List<ContentPart> ReadContent(JsonElement message, string param)
    {
        var parts = new List<ContentPart>();
        if (!message.TryGetProperty("content", out var content))
        {
            throw new TranslationException($"'{param}.content' is required.", param + ".content");
        }

        if (content.ValueKind == JsonValueKind.String)
        {
            parts.Add(new TextPart(content.GetString()!));
            return parts;
        }

        if (content.ValueKind != JsonValueKind.Array)
        {
            throw new TranslationException($"'{param}.content' must be a string or an array of content blocks.", param + ".content");
        }

        var i = 0;
        foreach (var block in content.EnumerateArray())
        {
            parts.Add(ReadBlock(block, $"{param}.content.{i++}", allowToolBlocks: true));
        }

        return parts;
    }

    private static ContentPart ReadBlock(JsonElement block, string param, bool allowToolBlocks)
    {
        var type = block.Str("type") ?? throw new TranslationException($"'{param}.type' is required.", param + ".type");
        switch (type)
        {
            case "text":
                return new TextPart(block.RequireString("text", param + ".text"), block.Prop("cache_control"));
            case "image":
            case "document":
                return ReadMedia(block, param);
            case "tool_use" when allowToolBlocks:
                var input = block.Require("input", JsonValueKind.Object, param + ".input");
                return new ToolCallPart(block.RequireString("id", param + ".id"), block.RequireString("name", param + ".name"), Json.Compact(input));
            case "tool_result" when allowToolBlocks:
                var results = new List<ContentPart>();
                if (block.Prop("content") is { } c)
                {
                    if (c.ValueKind == JsonValueKind.String)
                    {
                        results.Add(new TextPart(c.GetString()!));
                    }
                    else if (c.ValueKind == JsonValueKind.Array)
                    {
                        var j = 0;
                        foreach (var inner in c.EnumerateArray())
                        {
                            results.Add(ReadBlock(inner, $"{param}.content.{j++}", allowToolBlocks: false));
                        }
                    }
                    else
                    {
                        throw new TranslationException($"'{param}.content' must be a string or an array of blocks.", param + ".content");
                    }
                }

                return new ToolResultPart(block.RequireString("tool_use_id", param + ".tool_use_id"), null, results, block.Bool("is_error"), block.Prop("cache_control"));
            case "thinking" when allowToolBlocks:
                return new ThinkingPart(block.RequireString("thinking", param + ".thinking"), block.Str("signature"));
            case "redacted_thinking" when allowToolBlocks:
                return new ThinkingPart("", null, block.RequireString("data", param + ".data"));
            default:
                throw new TranslationException(
                    $"'{param}.type' is '{type}', which cannot be sent to the upstream of this model; use text, image, document, tool_use, tool_result or thinking blocks.", param + ".type");
        }
    }

    private static MediaPart ReadMedia(JsonElement block, string param)
    {
        var source = block.Require("source", JsonValueKind.Object, param + ".source");
        var cache = block.Prop("cache_control");
        var title = block.Str("title");
        switch (source.Str("type"))
        {
            case "base64":
                return new MediaPart(source.RequireString("media_type", param + ".source.media_type"), source.RequireString("data", param + ".source.data"), null, null, title, cache);
            case "url":
                return new MediaPart(block.Str("type") == "document" ? "application/pdf" : null, null, source.RequireString("url", param + ".source.url"), null, title, cache);
            case "text":
                var text = source.RequireString("data", param + ".source.data");
                return new MediaPart("text/plain", Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(text)), null, null, title, cache);
            default:
                throw new TranslationException($"'{param}.source.type' must be base64 or url (file ids cannot be sent to this upstream).", param + ".source.type");
        }
    }

    public static void WriteRequest(Utf8JsonWriter w, ChatRequest req, string model, TranslationOptions options)
    {
        if (req.ResponseFormat is { Type: "json_schema" })
        {
            throw new TranslationException("'response_format' json_schema cannot be translated for an Anthropic upstream; describe the JSON shape in the prompt instead.", "response_format");
        }

        var maxTokens = req.MaxTokens ?? options.DefaultMaxTokens;
        var budget = CanThink(req) ? ThinkingBudget(req.Reasoning, maxTokens) : null;

        w.WriteStartObject();
        w.WriteString("model", model);
        w.WriteNumber("max_tokens", maxTokens);

        var system = new List<TextPart>(req.System);
        foreach (var message in req.Messages)
        {
            if (message.Role == ChatRole.System)
            {
                // Anthropic takes system text only at the top (mid-conversation system turns need a beta): hoist it.
                system.AddRange(message.Parts.OfType<TextPart>());
            }
        }

        if (system.Count == 1 && system[0].CacheControl is null)
        {
            w.WriteString("system", system[0].Text);
        }
        else if (system.Count > 0)
        {
            w.WriteStartArray("system");
            foreach (var part in system)
            {
                WriteText(w, part);
            }

            w.WriteEndArray();
        }

        w.WriteStartArray("messages");
        var i = 0;
        while (i < req.Messages.Count)
        {
            var role = req.Messages[i].Role;
            if (role == ChatRole.System)
            {
                i++;
                continue;
            }

            // Merge consecutive turns of one role (OpenAI sends each tool result as its own message).
            var parts = new List<ContentPart>();
            while (i < req.Messages.Count && (req.Messages[i].Role == role || req.Messages[i].Role == ChatRole.System))
            {
                if (req.Messages[i].Role == role)
                {
                    parts.AddRange(req.Messages[i].Parts);
                }

                i++;
            }

            if (role == ChatRole.User)
            {
                // Tool results must lead the user turn that answers a tool_use turn.
                parts = [.. parts.OfType<ToolResultPart>(), .. parts.Where(p => p is not ToolResultPart)];
            }

            WriteMessage(w, role, parts);
        }

        w.WriteEndArray();

        if (req.Tools.Count > 0)
        {
            w.WriteStartArray("tools");
            foreach (var tool in req.Tools)
            {
                w.WriteStartObject();
                w.WriteString("name", tool.Name);
                if (tool.Description is not null)
                {
                    w.WriteString("description", tool.Description);
                }

                w.WritePropertyName("input_schema");
                if (tool.Kind == ToolKind.Custom)
                {
                    WriteCustomToolSchema(w, tool.Description);
                }
                else if (tool.Parameters is { } schema)
                {
                    schema.WriteTo(w);
                }
                else
                {
                    w.WriteRawValue(EmptySchema);
                }

                if (tool.CacheControl is { } cc)
                {
                    w.WritePropertyName("cache_control");
                    cc.WriteTo(w);
                }

                w.WriteEndObject();
            }

            w.WriteEndArray();

            if (req.ToolChoice is not null || req.ParallelToolCalls == false)
            {
                var choice = req.ToolChoice ?? new ToolChoice(ToolChoiceMode.Auto);
                w.WriteStartObject("tool_choice");
                w.WriteString("type", choice.Mode switch
                {
                    ToolChoiceMode.None => "none",
                    ToolChoiceMode.Required => "any",
                    ToolChoiceMode.Specific => "tool",
                    _ => "auto",
                });
                if (choice.Mode == ToolChoiceMode.Specific)
                {
                    w.WriteString("name", choice.Name);
                }

                if (req.ParallelToolCalls == false && choice.Mode != ToolChoiceMode.None)
                {
                    w.WriteBoolean("disable_parallel_tool_use", true);
                }

                w.WriteEndObject();
            }
        }

        if (req.Stop is { Count: > 0 } stop)
        {
            w.WriteStartArray("stop_sequences");
            foreach (var s in stop)
            {
                w.WriteStringValue(s);
            }

            w.WriteEndArray();
        }

        if (budget is { } b)
        {
            // Extended thinking refuses temperature, top_k and a narrow top_p: leave sampling to the model.
            w.WriteStartObject("thinking");
            w.WriteString("type", "enabled");
            w.WriteNumber("budget_tokens", b);
            w.WriteEndObject();
        }
        else
        {
            if (req.Temperature is { } t)
            {
                // OpenAI's range is 0–2, Anthropic's 0–1.
                Json.WriteNumberValue(w, "temperature", Math.Clamp(t, 0, 1));
            }
            else if (req.TopP is { } p)
            {
                // Current Claude models refuse temperature and top_p together; temperature wins.
                Json.WriteNumberValue(w, "top_p", p);
            }

            if (req.TopK is { } k)
            {
                w.WriteNumber("top_k", k);
            }
        }

        if (req.User is not null)
        {
            w.WriteStartObject("metadata");
            w.WriteString("user_id", req.User);
            w.WriteEndObject();
        }

        if (options.Stream)
        {
            w.WriteBoolean("stream", true);
        }

        w.WriteEndObject();
    }

    /// <summary>
    /// Extended thinking is refused with a forced tool choice, and in a tool loop every assistant tool_use turn
    /// must open with a signed thinking block, which a client of another format cannot give back. Then the
    /// request goes without thinking rather than fail.
    /// </summary>
    private static bool CanThink(ChatRequest req)
    {
        if (req.ToolChoice is { Mode: ToolChoiceMode.Required or ToolChoiceMode.Specific })
        {
            return false;
        }

        foreach (var message in req.Messages)
        {
            if (message.Role == ChatRole.Assistant && message.Parts.Exists(p => p is ToolCallPart)
                && message.Parts.Find(p => p is not TextPart { Text.Length: 0 }) is not ThinkingPart { Signature.Length: > 0 } and not ThinkingPart { RedactedData: not null })
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Budget for extended thinking: Anthropic wants at least 1024 tokens and fewer than max_tokens.</summary>
    private static int? ThinkingBudget(ReasoningRequest? reasoning, int maxTokens)
    {
        if (reasoning is not { Enabled: true })
        {
            return null;
        }

        var budget = reasoning.BudgetTokens ?? reasoning.Effort switch
        {
            "low" => 2048,
            "medium" => 8192,
            "high" => 24576,
            "xhigh" or "max" => 32000,
            _ => 0,
        };
        budget = Math.Min(budget, maxTokens - 1);
        return budget >= 1024 ? budget : null;
    }

    private static void WriteCustomToolSchema(Utf8JsonWriter w, string? description)
    {
        w.WriteStartObject();
        w.WriteString("type", "object");
        w.WriteStartObject("properties");
        w.WriteStartObject("input");
        w.WriteString("type", "string");
        w.WriteString("description", description ?? "The raw input for this tool.");
        w.WriteEndObject();
        w.WriteEndObject();
        w.WriteStartArray("required");
        w.WriteStringValue("input");
        w.WriteEndArray();
        w.WriteEndObject();
    }

    private static void WriteMessage(Utf8JsonWriter w, ChatRole role, List<ContentPart> parts)
    {
        // Anthropic refuses empty text blocks and thinking without a signature (it cannot verify it).
        parts.RemoveAll(p => p is TextPart { Text.Length: 0 } or ThinkingPart { Signature: null, RedactedData: null });
        if (parts.Count == 0)
        {
            return;
        }

        w.WriteStartObject();
        w.WriteString("role", role == ChatRole.Assistant ? "assistant" : "user");
        if (parts is [TextPart { CacheControl: null } only])
        {
            w.WriteString("content", only.Text);
        }
        else
        {
            w.WriteStartArray("content");
            foreach (var part in parts)
            {
                WriteBlock(w, part);
            }

            w.WriteEndArray();
        }

        w.WriteEndObject();
    }

    private static void WriteText(Utf8JsonWriter w, TextPart text)
    {
        w.WriteStartObject();
        w.WriteString("type", "text");
        w.WriteString("text", text.Text);
        if (text.CacheControl is { } cc)
        {
            w.WritePropertyName("cache_control");
            cc.WriteTo(w);
        }

        w.WriteEndObject();
    }

    private static void WriteBlock(Utf8JsonWriter w, ContentPart part)
    {
        switch (part)
        {
            case TextPart text:
                WriteText(w, text);
                break;
            case MediaPart media:
                WriteMedia(w, media);
                break;
            case ToolCallPart call:
                w.WriteStartObject();
                w.WriteString("type", "tool_use");
                w.WriteString("id", call.Id);
                w.WriteString("name", call.Name);
                w.WritePropertyName("input");
                if (call.Kind == ToolKind.Custom)
                {
                    w.WriteStartObject();
                    w.WriteString("input", call.Arguments);
                    w.WriteEndObject();
                }
                else
                {
                    Json.WriteArgumentsObject(w, call.Arguments);
                }

                w.WriteEndObject();
                break;
            case ToolResultPart result:
                w.WriteStartObject();
                w.WriteString("type", "tool_result");
                w.WriteString("tool_use_id", result.CallId);
                if (result.Content is [TextPart { CacheControl: null } single])
                {
                    w.WriteString("content", single.Text);
                }
                else if (result.Content.Count > 0)
                {
                    w.WriteStartArray("content");
                    foreach (var inner in result.Content)
                    {
                        WriteBlock(w, inner);
                    }

                    w.WriteEndArray();
                }

                if (result.IsError)
                {
                    w.WriteBoolean("is_error", true);
                }

                if (result.CacheControl is { } cc)
                {
                    w.WritePropertyName("cache_control");
                    cc.WriteTo(w);
                }

                w.WriteEndObject();
                break;
            case ThinkingPart thinking:
                WriteThinking(w, thinking, thinking.Signature);
                break;
        }
    }

    /// <summary>A thinking block, or a redacted_thinking block when only the opaque data is known.</summary>
    private static void WriteThinking(Utf8JsonWriter w, ThinkingPart thinking, string? signature)
    {
        w.WriteStartObject();
        if (thinking.RedactedData is { } data)
        {
            w.WriteString("type", "redacted_thinking");
            w.WriteString("data", data);
        }
        else
        {
            w.WriteString("type", "thinking");
            w.WriteString("thinking", thinking.Text);
            w.WriteString("signature", signature);
        }

        w.WriteEndObject();
    }

    private static void WriteMedia(Utf8JsonWriter w, MediaPart media)
    {
        var isPdf = string.Equals(media.MediaType, "application/pdf", StringComparison.OrdinalIgnoreCase);
        var isText = string.Equals(media.MediaType, "text/plain", StringComparison.OrdinalIgnoreCase);
        if (!media.IsImage && !isPdf && !isText)
        {
            throw new TranslationException($"A '{media.MediaType}' attachment cannot be sent to an Anthropic upstream; it takes images, PDF and plain text.", null);
        }

        w.WriteStartObject();
        w.WriteString("type", media.IsImage ? "image" : "document");
        w.WriteStartObject("source");
        if (isText && media.Data is not null)
        {
            w.WriteString("type", "text");
            w.WriteString("media_type", "text/plain");
            w.WriteString("data", System.Text.Encoding.UTF8.GetString(Convert.FromBase64String(media.Data)));
        }
        else if (media.Data is not null)
        {
            w.WriteString("type", "base64");
            w.WriteString("media_type", media.MediaType);
            w.WriteString("data", media.Data);
        }
        else
        {
            w.WriteString("type", "url");
            w.WriteString("url", media.Url);
        }

        w.WriteEndObject();
        if (!media.IsImage && media.Filename is not null)
        {
            w.WriteString("title", media.Filename);
        }

        if (media.CacheControl is { } cc)
        {
            w.WritePropertyName("cache_control");
            cc.WriteTo(w);
        }

        w.WriteEndObject();
    }

    // ---- response ----

    public static ChatResponse ReadResponse(JsonElement root)
    {
        var resp = new ChatResponse { Id = root.Str("id") ?? "" };
        if (root.Prop("content") is { ValueKind: JsonValueKind.Array } content)
        {
            foreach (var block in content.EnumerateArray())
            {
                switch (block.Str("type"))
                {
                    case "text":
                        resp.Parts.Add(new TextPart(block.Str("text") ?? ""));
                        break;
                    case "thinking":
                        resp.Parts.Add(new ThinkingPart(block.Str("thinking") ?? "", block.Str("signature")));
                        break;
                    case "redacted_thinking":
                        resp.Parts.Add(new ThinkingPart("", null, block.Str("data")));
                        break;
                    case "tool_use":
                        resp.Parts.Add(new ToolCallPart(block.Str("id") ?? "", block.Str("name") ?? "", (block.Prop("input") is { } i ? Json.Compact(i) : "{}")));
                        break;
                }
            }
        }

        resp.StopReason = ParseStop(root.Str("stop_reason"));
        resp.StopSequence = root.Str("stop_sequence");
        resp.Usage = root.Prop("usage") is { } usage ? ReadUsage(usage, default) : default;
        return resp;
    }

    public static StopReason ParseStop(string? value) => value switch
    {
        "max_tokens" or "model_context_window_exceeded" => StopReason.MaxTokens,
        "tool_use" => StopReason.ToolUse,
        "stop_sequence" => StopReason.StopSequence,
        "refusal" => StopReason.ContentFilter,
        "pause_turn" => StopReason.PauseTurn,
        _ => StopReason.EndTurn,
    };

    public static string StopString(StopReason reason) => reason switch
    {
        StopReason.MaxTokens => "max_tokens",
        StopReason.ToolUse => "tool_use",
        StopReason.StopSequence => "stop_sequence",
        StopReason.ContentFilter => "refusal",
        StopReason.PauseTurn => "pause_turn",
        _ => "end_turn",
    };

    /// <summary>
    /// Reads an Anthropic usage object over <paramref name="known"/>: fields present replace, absent ones keep.
    /// Anthropic's input_tokens excludes cache reads and writes; the canonical InputTokens includes them.
    /// </summary>
    public static Usage ReadUsage(JsonElement usage, Usage known)
    {
        var uncached = known.UncachedInputTokens;
        var cacheRead = known.CacheReadTokens;
        var cacheWrite = known.CacheWriteTokens;
        var output = known.OutputTokens;
        if (usage.Prop("input_tokens") is { ValueKind: JsonValueKind.Number } i)
        {
            uncached = i.GetInt64();
        }

        if (usage.Prop("cache_read_input_tokens") is { ValueKind: JsonValueKind.Number } r)
        {
            cacheRead = r.GetInt64();
        }

        if (usage.Prop("cache_creation_input_tokens") is { ValueKind: JsonValueKind.Number } c)
        {
            cacheWrite = c.GetInt64();
        }

        if (usage.Prop("output_tokens") is { ValueKind: JsonValueKind.Number } o)
        {
            output = o.GetInt64();
        }

        return new Usage(uncached + cacheRead + cacheWrite, output, cacheRead, cacheWrite, known.ReasoningTokens);
    }

    public static void WriteUsage(Utf8JsonWriter w, Usage usage)
    {
        w.WriteStartObject("usage");
        w.WriteNumber("input_tokens", usage.UncachedInputTokens);
        w.WriteNumber("cache_creation_input_tokens", usage.CacheWriteTokens);
        w.WriteNumber("cache_read_input_tokens", usage.CacheReadTokens);
        w.WriteNumber("output_tokens", usage.OutputTokens);
        w.WriteEndObject();
    }

    public static string MessageId(string upstreamId) => upstreamId.StartsWith("msg_", StringComparison.Ordinal) ? upstreamId : "msg_" + upstreamId;

    public static void WriteResponse(Utf8JsonWriter w, ChatResponse resp, string clientModel)
    {
        w.WriteStartObject();
        w.WriteString("id", MessageId(resp.Id));
        w.WriteString("type", "message");
        w.WriteString("role", "assistant");
        w.WriteString("model", clientModel);
        w.WriteStartArray("content");
        foreach (var part in resp.Parts)
        {
            switch (part)
            {
                case TextPart text:
                    w.WriteStartObject();
                    w.WriteString("type", "text");
                    w.WriteString("text", text.Text);
                    w.WriteEndObject();
                    break;
                case ThinkingPart thinking:
                    // A response always carries a signature field, empty when the upstream gave none.
                    WriteThinking(w, thinking, thinking.Signature ?? "");
                    break;
                case ToolCallPart call:
                    w.WriteStartObject();
                    w.WriteString("type", "tool_use");
                    w.WriteString("id", call.Id);
                    w.WriteString("name", call.Name);
                    w.WritePropertyName("input");
                    Json.WriteArgumentsObject(w, call.Arguments);
                    w.WriteEndObject();
                    break;
            }
        }

        w.WriteEndArray();
        w.WriteString("stop_reason", StopString(resp.StopReason));
        if (resp.StopReason == StopReason.StopSequence && resp.StopSequence is not null)
        {
            w.WriteString("stop_sequence", resp.StopSequence);
        }
        else
        {
            w.WriteNull("stop_sequence");
        }

        WriteUsage(w, resp.Usage);
        w.WriteEndObject();
    }
}
