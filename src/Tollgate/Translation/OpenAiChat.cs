using System.Text;
using System.Text.Json;
using Tollgate.Pipeline;

namespace Tollgate.Translation;

/// <summary>
/// OpenAI chat completions request and response bodies ↔ the canonical model.
/// https://platform.openai.com/docs/api-reference/chat/create
/// Assistant reasoning travels as <c>reasoning_content</c>, the field vLLM, SGLang and DeepSeek use.
/// </summary>
internal static class OpenAiChat
{
    // ---- request ----

    public static ChatRequest ReadRequest(JsonElement root)
    {
        var req = new ChatRequest();
        var messages = root.Require("messages", JsonValueKind.Array, "messages");
        var m = 0;
        foreach (var message in messages.EnumerateArray())
        {
            var param = $"messages.{m++}";
            if (message.ValueKind != JsonValueKind.Object)
            {
                throw new TranslationException($"'{param}' must be a message object.", param);
            }

            var role = message.RequireString("role", param + ".role");
            switch (role)
            {
                case "system":
                case "developer":
                    var texts = ReadTexts(message, param);
                    if (req.Messages.Count == 0)
                    {
                        req.System.AddRange(texts);
                    }
                    else
                    {
                        req.Messages.Add(new ChatMessage(ChatRole.System, [.. texts]));
                    }

                    break;
                case "user":
                    req.Messages.Add(new ChatMessage(ChatRole.User, ReadUserContent(message, param)));
                    break;
                case "assistant":
                    req.Messages.Add(new ChatMessage(ChatRole.Assistant, ReadAssistant(message, param)));
                    break;
                case "tool":
                    var callId = message.RequireString("tool_call_id", param + ".tool_call_id");
                    var content = ReadUserContent(message, param);
                    req.Messages.Add(new ChatMessage(ChatRole.User, [new ToolResultPart(callId, null, content)]));
                    break;
                default:
                    throw new TranslationException($"'{param}.role' is '{role}'; use system, developer, user, assistant or tool.", param + ".role");
            }
        }

        if (root.Prop("n") is { } n && (n.ValueKind != JsonValueKind.Number || n.GetInt32() != 1))
        {
            throw new TranslationException("'n' must be 1: the upstream of this model returns one choice.", "n");
        }

        req.MaxTokens = root.Int("max_completion_tokens", "max_completion_tokens") ?? root.Int("max_tokens", "max_tokens");
        req.Temperature = root.Double("temperature", "temperature");
        req.TopP = root.Double("top_p", "top_p");
        req.Stop = root.Strings("stop", "stop");
        req.User = root.Str("user") ?? root.Str("safety_identifier");
        if (root.Str("reasoning_effort") is { } effort)
        {
            req.Reasoning = new ReasoningRequest(effort is not ("none" or "minimal"), effort, null);
        }

        if (root.Prop("parallel_tool_calls") is { } parallel)
        {
            req.ParallelToolCalls = parallel.ValueKind != JsonValueKind.False;
        }

        if (root.Prop("response_format") is { } format)
        {
            var type = format.Str("type");
            if (type is "json_object")
            {
                req.ResponseFormat = new ResponseFormat(type, null, null, null);
            }
            else if (type is "json_schema" && format.Prop("json_schema") is { } js)
            {
                req.ResponseFormat = new ResponseFormat(type, js.Str("name"), js.Prop("schema"), js.Prop("strict")?.ValueKind == JsonValueKind.True ? true : null);
            }
        }

        if (root.Prop("tools") is { } tools)
        {
            var t = 0;
            foreach (var tool in tools.EnumerateArray())
            {
                var param = $"tools.{t++}";
                switch (tool.Str("type"))
                {
                    case "function":
                        var fn = tool.Require("function", JsonValueKind.Object, param + ".function");
                        req.Tools.Add(new ToolDefinition(fn.RequireString("name", param + ".function.name"), fn.Str("description"), fn.Prop("parameters"),
                            Strict: fn.Prop("strict")?.ValueKind == JsonValueKind.True ? true : null));
                        break;
                    case "custom":
                        var custom = tool.Require("custom", JsonValueKind.Object, param + ".custom");
                        req.Tools.Add(new ToolDefinition(custom.RequireString("name", param + ".custom.name"), custom.Str("description"), null, ToolKind.Custom));
                        break;
                    default:
                        throw new TranslationException($"'{param}.type' must be function or custom.", param + ".type");
                }
            }
        }

        if (root.Prop("tool_choice") is { } choice)
        {
            req.ToolChoice = ReadToolChoice(choice);
        }

        return req;
    }

    /// <summary>Chat and Responses share the string forms; the object forms differ only in where the name sits.</summary>
    public static ToolChoice ReadToolChoice(JsonElement choice)
    {
        if (choice.ValueKind == JsonValueKind.String)
        {
            return choice.GetString() switch
            {
                "none" => new ToolChoice(ToolChoiceMode.None),
                "required" => new ToolChoice(ToolChoiceMode.Required),
                "auto" => new ToolChoice(ToolChoiceMode.Auto),
                _ => throw new TranslationException("'tool_choice' must be auto, none, required or a named function.", "tool_choice"),
            };
        }

        var name = choice.Prop("function")?.Str("name") ?? choice.Prop("custom")?.Str("name") ?? choice.Str("name");
        return choice.Str("type") is "function" or "custom" && name is not null
            ? new ToolChoice(ToolChoiceMode.Specific, name)
            : new ToolChoice(ToolChoiceMode.Auto);
    }

    private static List<TextPart> ReadTexts(JsonElement message, string param)
    {
        var parts = new List<TextPart>();
        foreach (var part in ReadUserContent(message, param))
        {
            parts.Add(part as TextPart ?? throw new TranslationException($"'{param}.content' may hold only text.", param + ".content"));
        }

        return parts;
    }

    private static List<ContentPart> ReadUserContent(JsonElement message, string param)
    {
        var parts = new List<ContentPart>();
        var content = message.Prop("content");
        if (content is null)
        {
            return parts;
        }

        if (content.Value.ValueKind == JsonValueKind.String)
        {
            parts.Add(new TextPart(content.Value.GetString()!));
            return parts;
        }

        if (content.Value.ValueKind != JsonValueKind.Array)
        {
            throw new TranslationException($"'{param}.content' must be a string or an array of content parts.", param + ".content");
        }

        var i = 0;
        foreach (var part in content.Value.EnumerateArray())
        {
            var p = $"{param}.content.{i++}";
            switch (part.Str("type"))
            {
                case "text":
                    parts.Add(new TextPart(part.RequireString("text", p + ".text")));
                    break;
                case "refusal":
                    parts.Add(new TextPart(part.RequireString("refusal", p + ".refusal")));
                    break;
                case "image_url":
                    var image = part.Require("image_url", JsonValueKind.Object, p + ".image_url");
                    parts.Add(Media(image.RequireString("url", p + ".image_url.url"), image.Str("detail"), null));
                    break;
                case "file":
                    var file = part.Require("file", JsonValueKind.Object, p + ".file");
                    var data = file.Str("file_data") ?? throw new TranslationException($"'{p}.file.file_data' is required: file ids cannot be sent to this upstream.", p + ".file.file_data");
                    parts.Add(Media(data, null, file.Str("filename")));
                    break;
                default:
                    throw new TranslationException($"'{p}.type' is '{part.Str("type")}', which cannot be sent to the upstream of this model; use text, image_url or file.", p + ".type");
            }
        }

        return parts;
    }

    public static MediaPart Media(string url, string? detail, string? filename)
        => Json.TryParseDataUrl(url, out var mediaType, out var data)
            ? new MediaPart(mediaType, data, null, detail, filename)
            : new MediaPart(null, null, url, detail, filename);

    private static List<ContentPart> ReadAssistant(JsonElement message, string param)
    {
        var parts = new List<ContentPart>();
        if ((message.Str("reasoning_content") ?? message.Str("reasoning")) is { Length: > 0 } reasoning)
        {
            parts.Add(new ThinkingPart(reasoning));
        }

        parts.AddRange(ReadUserContent(message, param));
        if (message.Str("refusal") is { Length: > 0 } refusal)
        {
            parts.Add(new TextPart(refusal));
        }

        if (message.Prop("tool_calls") is { } calls)
        {
            var i = 0;
            foreach (var call in calls.EnumerateArray())
            {
                var p = $"{param}.tool_calls.{i++}";
                var id = call.RequireString("id", p + ".id");
                if (call.Str("type") == "custom")
                {
                    var custom = call.Require("custom", JsonValueKind.Object, p + ".custom");
                    parts.Add(new ToolCallPart(id, custom.RequireString("name", p + ".custom.name"), custom.Str("input") ?? "", ToolKind.Custom));
                    continue;
                }

                var fn = call.Require("function", JsonValueKind.Object, p + ".function");
                parts.Add(new ToolCallPart(id, fn.RequireString("name", p + ".function.name"), fn.Str("arguments") ?? "{}"));
            }
        }

        return parts;
    }

    public static void WriteRequest(Utf8JsonWriter w, ChatRequest req, string model, TranslationOptions options)
    {
        w.WriteStartObject();
        w.WriteString("model", model);
        w.WriteStartArray("messages");
        if (req.System.Count > 0)
        {
            WriteTextMessage(w, "system", req.System);
        }

        foreach (var message in req.Messages)
        {
            switch (message.Role)
            {
                case ChatRole.System:
                    WriteTextMessage(w, "system", message.Parts.OfType<TextPart>());
                    break;
                case ChatRole.Assistant:
                    WriteAssistant(w, message.Parts);
                    break;
                default:
                    WriteUser(w, message.Parts);
                    break;
            }
        }

        w.WriteEndArray();

        if (req.Tools.Count > 0)
        {
            w.WriteStartArray("tools");
            foreach (var tool in req.Tools)
            {
                w.WriteStartObject();
                w.WriteString("type", "function");
                w.WriteStartObject("function");
                w.WriteString("name", tool.Name);
                if (tool.Description is not null)
                {
                    w.WriteString("description", tool.Description);
                }

                w.WritePropertyName("parameters");
                WriteParameters(w, tool);
                if (tool.Strict is { } strict)
                {
                    w.WriteBoolean("strict", strict);
                }

                w.WriteEndObject();
                w.WriteEndObject();
            }

            w.WriteEndArray();
            if (req.ToolChoice is { } choice)
            {
                w.WritePropertyName("tool_choice");
                WriteToolChoice(w, choice, responses: false);
            }

            if (req.ParallelToolCalls is { } parallel)
            {
                w.WriteBoolean("parallel_tool_calls", parallel);
            }
        }

        if (req.MaxTokens is { } max)
        {
            w.WriteNumber(options.UseMaxCompletionTokens ? "max_completion_tokens" : "max_tokens", max);
        }

        if (req.Temperature is { } t)
        {
            Json.WriteNumberValue(w, "temperature", t);
        }

        if (req.TopP is { } p)
        {
            Json.WriteNumberValue(w, "top_p", p);
        }

        if (req.Stop is { Count: > 0 } stop)
        {
            w.WriteStartArray("stop");
            foreach (var s in stop)
            {
                w.WriteStringValue(s);
            }

            w.WriteEndArray();
        }

        if (req.Reasoning?.Effort is { } effort)
        {
            w.WriteString("reasoning_effort", effort);
        }

        if (req.ResponseFormat is { } format)
        {
            w.WriteStartObject("response_format");
            w.WriteString("type", format.Type);
            if (format.Type == "json_schema")
            {
                w.WriteStartObject("json_schema");
                w.WriteString("name", format.Name ?? "response");
                if (format.Schema is { } schema)
                {
                    w.WritePropertyName("schema");
                    schema.WriteTo(w);
                }

                if (format.Strict is { } strict)
                {
                    w.WriteBoolean("strict", strict);
                }

                w.WriteEndObject();
            }

            w.WriteEndObject();
        }

        if (options.Stream)
        {
            w.WriteBoolean("stream", true);
            w.WriteStartObject("stream_options");
            w.WriteBoolean("include_usage", true);
            w.WriteEndObject();
        }

        w.WriteEndObject();
    }

    /// <summary>A custom (free-form) tool becomes a function taking one string, <c>input</c>.</summary>
    public static void WriteParameters(Utf8JsonWriter w, ToolDefinition tool)
    {
        if (tool.Kind == ToolKind.Custom)
        {
            w.WriteRawValue("""{"type":"object","properties":{"input":{"type":"string"}},"required":["input"]}""");
        }
        else if (tool.Parameters is { } schema)
        {
            schema.WriteTo(w);
        }
        else
        {
            w.WriteRawValue("""{"type":"object","properties":{}}""");
        }
    }

    public static void WriteToolChoice(Utf8JsonWriter w, ToolChoice choice, bool responses)
    {
        switch (choice.Mode)
        {
            case ToolChoiceMode.None:
                w.WriteStringValue("none");
                break;
            case ToolChoiceMode.Required:
                w.WriteStringValue("required");
                break;
            case ToolChoiceMode.Specific:
                w.WriteStartObject();
                w.WriteString("type", "function");
                if (responses)
                {
                    w.WriteString("name", choice.Name);
                }
                else
                {
                    w.WriteStartObject("function");
                    w.WriteString("name", choice.Name);
                    w.WriteEndObject();
                }

                w.WriteEndObject();
                break;
            default:
                w.WriteStringValue("auto");
                break;
        }
    }

    private static void WriteTextMessage(Utf8JsonWriter w, string role, IEnumerable<TextPart> parts)
    {
        w.WriteStartObject();
        w.WriteString("role", role);
        w.WriteString("content", JoinText(parts));
        w.WriteEndObject();
    }

    /// <summary>Blocks of one turn are joined with a blank line, as separate paragraphs read.</summary>
    public static string JoinText(IEnumerable<ContentPart> parts)
    {
        var sb = new StringBuilder();
        foreach (var part in parts)
        {
            if (part is TextPart text)
            {
                if (sb.Length > 0 && text.Text.Length > 0)
                {
                    sb.Append("\n\n");
                }

                sb.Append(text.Text);
            }
        }

        return sb.ToString();
    }

    private static void WriteUser(Utf8JsonWriter w, List<ContentPart> parts)
    {
        // Tool results become tool messages; images a tool returned follow in a user message, since a tool
        // message carries only text.
        var rest = new List<ContentPart>();
        foreach (var part in parts)
        {
            if (part is not ToolResultPart result)
            {
                rest.Add(part);
                continue;
            }

            w.WriteStartObject();
            w.WriteString("role", "tool");
            w.WriteString("tool_call_id", result.CallId);
            var text = JoinText(result.Content);
            w.WriteString("content", result.IsError && text.Length == 0 ? "Error" : text);
            w.WriteEndObject();
            rest.AddRange(result.Content.OfType<MediaPart>());
        }

        if (rest.Count == 0)
        {
            return;
        }

        w.WriteStartObject();
        w.WriteString("role", "user");
        if (rest is [TextPart only])
        {
            w.WriteString("content", only.Text);
        }
        else
        {
            w.WriteStartArray("content");
            foreach (var part in rest)
            {
                WritePart(w, part);
            }

            w.WriteEndArray();
        }

        w.WriteEndObject();
    }

    private static void WritePart(Utf8JsonWriter w, ContentPart part)
    {
        w.WriteStartObject();
        switch (part)
        {
            case TextPart text:
                w.WriteString("type", "text");
                w.WriteString("text", text.Text);
                break;
            case MediaPart { IsImage: true } image:
                w.WriteString("type", "image_url");
                w.WriteStartObject("image_url");
                w.WriteString("url", image.Data is not null ? Json.DataUrl(image.MediaType ?? "image/png", image.Data) : image.Url);
                if (image.Detail is not null)
                {
                    w.WriteString("detail", image.Detail);
                }

                w.WriteEndObject();
                break;
            case MediaPart file:
                if (file.Data is null)
                {
                    throw new TranslationException("A document given by URL cannot be sent to an OpenAI-format upstream; send it inline as base64.", null);
                }

                w.WriteString("type", "file");
                w.WriteStartObject("file");
                w.WriteString("file_data", Json.DataUrl(file.MediaType ?? "application/pdf", file.Data));
                w.WriteString("filename", file.Filename ?? "document.pdf");
                w.WriteEndObject();
                break;
            default:
                throw new TranslationException($"A '{part.GetType().Name}' cannot appear in a user message.", null);
        }

        w.WriteEndObject();
    }

    private static void WriteAssistant(Utf8JsonWriter w, List<ContentPart> parts)
    {
        w.WriteStartObject();
        w.WriteString("role", "assistant");
        var text = JoinText(parts);
        var hasCalls = parts.Exists(p => p is ToolCallPart);
        if (text.Length == 0 && hasCalls)
        {
            w.WriteNull("content");
        }
        else
        {
            w.WriteString("content", text);
        }

        var reasoning = string.Concat(parts.OfType<ThinkingPart>().Select(t => t.Text));
        if (reasoning.Length > 0)
        {
            w.WriteString("reasoning_content", reasoning);
        }

        if (hasCalls)
        {
            w.WriteStartArray("tool_calls");
            foreach (var call in parts.OfType<ToolCallPart>())
            {
                w.WriteStartObject();
                w.WriteString("id", call.Id);
                w.WriteString("type", "function");
                w.WriteStartObject("function");
                w.WriteString("name", call.Name);
                w.WriteString("arguments", ArgumentsText(call));
                w.WriteEndObject();
                w.WriteEndObject();
            }

            w.WriteEndArray();
        }

        w.WriteEndObject();
    }

    /// <summary>Function arguments as JSON text; a custom tool's raw input is wrapped as <c>{"input": …}</c>.</summary>
    public static string ArgumentsText(ToolCallPart call)
    {
        if (call.Kind != ToolKind.Custom)
        {
            return call.Arguments.Length == 0 ? "{}" : call.Arguments;
        }

        return Encoding.UTF8.GetString(Json.Write(call.Arguments, static (w, input) =>
        {
            w.WriteStartObject();
            w.WriteString("input", input);
            w.WriteEndObject();
        }));
    }

    // ---- response ----

    public static ChatResponse ReadResponse(JsonElement root)
    {
        var resp = new ChatResponse { Id = root.Str("id") ?? "" };
        if (root.Prop("choices") is { ValueKind: JsonValueKind.Array } choices && choices.GetArrayLength() > 0)
        {
            var choice = choices[0];
            var message = choice.Prop("message") ?? default;
            if ((message.Str("reasoning_content") ?? message.Str("reasoning")) is { Length: > 0 } reasoning)
            {
                resp.Parts.Add(new ThinkingPart(reasoning));
            }

            if (message.Str("content") is { Length: > 0 } content)
            {
                resp.Parts.Add(new TextPart(content));
            }

            if (message.Str("refusal") is { Length: > 0 } refusal)
            {
                resp.Parts.Add(new TextPart(refusal));
            }

            if (message.Prop("tool_calls") is { ValueKind: JsonValueKind.Array } calls)
            {
                var i = 0;
                foreach (var call in calls.EnumerateArray())
                {
                    var fn = call.Prop("function") ?? default;
                    resp.Parts.Add(new ToolCallPart(call.Str("id") ?? ToolCallId(resp.Id, i), fn.Str("name") ?? "", fn.Str("arguments") ?? "{}"));
                    i++;
                }
            }

            (resp.StopReason, resp.StopSequence) = ParseFinish(choice.Str("finish_reason"), choice.Str("stop_reason"));
        }

        if (root.Prop("usage") is { } usage)
        {
            resp.Usage = ReadUsage(usage);
        }

        return resp;
    }

    /// <summary>An id for a tool call whose upstream sent none (some compatible servers omit it).</summary>
    public static string ToolCallId(string responseId, int index) => $"call_{responseId}_{index}";

    /// <summary>vLLM also names the stop string that matched in <c>stop_reason</c>.</summary>
    public static (StopReason, string?) ParseFinish(string? finish, string? matchedStop) => finish switch
    {
        "length" => (StopReason.MaxTokens, null),
        "tool_calls" or "function_call" => (StopReason.ToolUse, null),
        "content_filter" => (StopReason.ContentFilter, null),
        "stop" when matchedStop is not null => (StopReason.StopSequence, matchedStop),
        _ => (StopReason.EndTurn, null),
    };

    public static string FinishString(StopReason reason) => reason switch
    {
        StopReason.MaxTokens => "length",
        StopReason.ToolUse => "tool_calls",
        StopReason.ContentFilter => "content_filter",
        _ => "stop",
    };

    /// <summary>Chat usage: prompt_tokens already includes cached tokens; completion_tokens includes reasoning.</summary>
    public static Usage ReadUsage(JsonElement usage)
    {
        var details = usage.Prop("prompt_tokens_details") ?? default;
        var completion = usage.Prop("completion_tokens_details") ?? default;
        return new Usage(usage.Long("prompt_tokens"), usage.Long("completion_tokens"), details.Long("cached_tokens"), details.Long("cache_creation_tokens"), completion.Long("reasoning_tokens"));
    }

    public static void WriteUsage(Utf8JsonWriter w, Usage usage)
    {
        w.WriteStartObject("usage");
        w.WriteNumber("prompt_tokens", usage.InputTokens);
        w.WriteNumber("completion_tokens", usage.OutputTokens);
        w.WriteNumber("total_tokens", usage.TotalTokens);
        w.WriteStartObject("prompt_tokens_details");
        w.WriteNumber("cached_tokens", usage.CacheReadTokens);
        w.WriteEndObject();
        w.WriteStartObject("completion_tokens_details");
        w.WriteNumber("reasoning_tokens", usage.ReasoningTokens);
        w.WriteEndObject();
        w.WriteEndObject();
    }

    public static string CompletionId(string upstreamId) => upstreamId.StartsWith("chatcmpl-", StringComparison.Ordinal) ? upstreamId : "chatcmpl-" + upstreamId;

    public static void WriteResponse(Utf8JsonWriter w, ChatResponse resp, string clientModel, long created)
    {
        w.WriteStartObject();
        w.WriteString("id", CompletionId(resp.Id));
        w.WriteString("object", "chat.completion");
        w.WriteNumber("created", created);
        w.WriteString("model", clientModel);
        w.WriteStartArray("choices");
        w.WriteStartObject();
        w.WriteNumber("index", 0);
        w.WriteStartObject("message");
        w.WriteString("role", "assistant");
        var text = string.Concat(resp.Parts.OfType<TextPart>().Select(t => t.Text));
        var hasCalls = resp.Parts.Exists(p => p is ToolCallPart);
        if (text.Length == 0 && hasCalls)
        {
            w.WriteNull("content");
        }
        else
        {
            w.WriteString("content", text);
        }

        var reasoning = string.Concat(resp.Parts.OfType<ThinkingPart>().Select(t => t.Text));
        if (reasoning.Length > 0)
        {
            w.WriteString("reasoning_content", reasoning);
        }

        if (hasCalls)
        {
            w.WriteStartArray("tool_calls");
            foreach (var call in resp.Parts.OfType<ToolCallPart>())
            {
                w.WriteStartObject();
                w.WriteString("id", call.Id);
                w.WriteString("type", "function");
                w.WriteStartObject("function");
                w.WriteString("name", call.Name);
                w.WriteString("arguments", ArgumentsText(call));
                w.WriteEndObject();
                w.WriteEndObject();
            }

            w.WriteEndArray();
        }

        w.WriteNull("refusal");
        w.WriteEndObject();
        w.WriteNull("logprobs");
        w.WriteString("finish_reason", FinishString(resp.StopReason));
        w.WriteEndObject();
        w.WriteEndArray();
        WriteUsage(w, resp.Usage);
        w.WriteEndObject();
    }
}
