using System.Text;
using System.Text.Json;
using Tollgate.Pipeline;

namespace Tollgate.Translation;

/// <summary>
/// OpenAI Responses request and response bodies ↔ the canonical model.
/// https://platform.openai.com/docs/api-reference/responses/create
/// Anthropic thinking travels as a reasoning item: the thinking text as its summary and the signature as its
/// <c>encrypted_content</c>, so a client that sends the item back (Codex does, with store off) keeps it valid.
/// </summary>
internal static class OpenAiResponses
{
    // ---- request ----

    public static ChatRequest ReadRequest(JsonElement root)
    {
        var req = new ChatRequest();
        if (root.Prop("previous_response_id") is not null)
        {
            throw new TranslationException("'previous_response_id' cannot be used with this model: Tollgate does not store responses for it. Send the whole conversation in 'input' (store: false).", "previous_response_id");
        }

        if (root.Str("instructions") is { Length: > 0 } instructions)
        {
            req.System.Add(new TextPart(instructions));
        }

        var input = root.Prop("input") ?? throw new TranslationException("'input' is required.", "input");
        if (input.ValueKind == JsonValueKind.String)
        {
            req.Messages.Add(new ChatMessage(ChatRole.User, [new TextPart(input.GetString()!)]));
        }
        else if (input.ValueKind == JsonValueKind.Array)
        {
            var i = 0;
            foreach (var item in input.EnumerateArray())
            {
                ReadItem(req, item, $"input.{i++}");
            }
        }
        else
        {
            throw new TranslationException("'input' must be a string or an array of input items.", "input");
        }

        req.MaxTokens = root.Int("max_output_tokens", "max_output_tokens");
        req.Temperature = root.Double("temperature", "temperature");
        req.TopP = root.Double("top_p", "top_p");
        req.User = root.Str("user") ?? root.Str("safety_identifier");
        if (root.Prop("parallel_tool_calls") is { } parallel)
        {
            req.ParallelToolCalls = parallel.ValueKind != JsonValueKind.False;
        }

        if (root.Prop("reasoning") is { } reasoning && reasoning.Str("effort") is { } effort)
        {
            req.Reasoning = new ReasoningRequest(effort is not ("none" or "minimal"), effort, null);
        }

        if (root.Prop("text")?.Prop("format") is { } format)
        {
            var type = format.Str("type");
            if (type is "json_object" or "json_schema")
            {
                req.ResponseFormat = new ResponseFormat(type, format.Str("name"), format.Prop("schema"), format.Prop("strict")?.ValueKind == JsonValueKind.True ? true : null);
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
                        req.Tools.Add(new ToolDefinition(tool.RequireString("name", param + ".name"), tool.Str("description"), tool.Prop("parameters"),
                            Strict: tool.Prop("strict")?.ValueKind == JsonValueKind.True ? true : null));
                        break;
                    case "custom":
                        req.Tools.Add(new ToolDefinition(tool.RequireString("name", param + ".name"), tool.Str("description"), null, ToolKind.Custom));
                        break;
                    case "namespace":
                        // A namespace only groups function tools (Codex sends its multi-agent tools this way): offer them as they are.
                        var inner = 0;
                        foreach (var member in tool.Prop("tools")?.EnumerateArray() ?? default)
                        {
                            var memberParam = $"{param}.tools.{inner++}";
                            if (member.Str("type") == "function")
                            {
                                req.Tools.Add(new ToolDefinition(member.RequireString("name", memberParam + ".name"), member.Str("description"), member.Prop("parameters"),
                                    Strict: member.Prop("strict")?.ValueKind == JsonValueKind.True ? true : null));
                            }
                        }

                        break;
                    case "web_search" or "web_search_preview":
                        // OpenAI's hosted search runs only at OpenAI. Clients such as Codex offer it by default; the model
                        // can answer without it, so it is left out rather than refusing the whole request.
                        break;
                    case var other:
                        throw new TranslationException($"'{param}' is the hosted tool '{other}', which the upstream of this model cannot run; remove it or use an OpenAI model.", param + ".type");
                }
            }
        }

        if (root.Prop("tool_choice") is { } choice)
        {
            req.ToolChoice = OpenAiChat.ReadToolChoice(choice);
        }

        return req;
    }

    private static void ReadItem(ChatRequest req, JsonElement item, string param)
    {
        var type = item.Str("type") ?? (item.Prop("role") is not null ? "message" : null);
        switch (type)
        {
            case "message":
                var role = item.RequireString("role", param + ".role");
                var parts = ReadContent(item, param);
                switch (role)
                {
                    case "system" or "developer":
                        var texts = parts.Select(p => p as TextPart ?? throw new TranslationException($"'{param}.content' may hold only text.", param + ".content")).ToList();
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
                        Append(req, ChatRole.User, parts);
                        break;
                    case "assistant":
                        Append(req, ChatRole.Assistant, parts);
                        break;
                    default:
                        throw new TranslationException($"'{param}.role' is '{role}'; use user, assistant, system or developer.", param + ".role");
                }

                break;
            case "function_call":
                Append(req, ChatRole.Assistant, [new ToolCallPart(item.RequireString("call_id", param + ".call_id"), item.RequireString("name", param + ".name"), item.Str("arguments") ?? "{}")]);
                break;
            case "custom_tool_call":
                Append(req, ChatRole.Assistant, [new ToolCallPart(item.RequireString("call_id", param + ".call_id"), item.RequireString("name", param + ".name"), item.Str("input") ?? "", ToolKind.Custom)]);
                break;
            case "function_call_output":
            case "custom_tool_call_output":
                var callId = item.RequireString("call_id", param + ".call_id");
                var output = item.Prop("output") ?? throw new TranslationException($"'{param}.output' is required.", param + ".output");
                List<ContentPart> content = output.ValueKind == JsonValueKind.String ? [new TextPart(output.GetString()!)] : ReadParts(output, param + ".output");
                Append(req, ChatRole.User, [new ToolResultPart(callId, null, content)]);
                break;
            case "reasoning":
                var sb = new StringBuilder();
                foreach (var array in new[] { item.Prop("summary"), item.Prop("content") })
                {
                    if (array is { ValueKind: JsonValueKind.Array } a)
                    {
                        foreach (var s in a.EnumerateArray())
                        {
                            sb.Append(s.Str("text"));
                        }

                        if (sb.Length > 0)
                        {
                            break;
                        }
                    }
                }

                Append(req, ChatRole.Assistant, [new ThinkingPart(sb.ToString(), item.Str("encrypted_content"))]);
                break;
            default:
                throw new TranslationException($"'{param}.type' is '{type}', which cannot be sent to the upstream of this model; use message, function_call, function_call_output or reasoning items.", param + ".type");
        }
    }

    /// <summary>Adds parts to the last message when it has the same role, so one turn's calls stay one turn.</summary>
    private static void Append(ChatRequest req, ChatRole role, List<ContentPart> parts)
    {
        if (req.Messages.Count > 0 && req.Messages[^1].Role == role)
        {
            req.Messages[^1].Parts.AddRange(parts);
        }
        else
        {
            req.Messages.Add(new ChatMessage(role, parts));
        }
    }

    private static List<ContentPart> ReadContent(JsonElement item, string param)
    {
        var content = item.Prop("content") ?? throw new TranslationException($"'{param}.content' is required.", param + ".content");
        return content.ValueKind == JsonValueKind.String ? [new TextPart(content.GetString()!)] : ReadParts(content, param + ".content");
    }

    private static List<ContentPart> ReadParts(JsonElement content, string param)
    {
        if (content.ValueKind != JsonValueKind.Array)
        {
            throw new TranslationException($"'{param}' must be a string or an array of content parts.", param);
        }

        var parts = new List<ContentPart>();
        var i = 0;
        foreach (var part in content.EnumerateArray())
        {
            var p = $"{param}.{i++}";
            switch (part.Str("type"))
            {
                case "input_text" or "output_text" or "text":
                    parts.Add(new TextPart(part.RequireString("text", p + ".text")));
                    break;
                case "refusal":
                    parts.Add(new TextPart(part.RequireString("refusal", p + ".refusal")));
                    break;
                case "input_image":
                    var url = part.Str("image_url") ?? throw new TranslationException($"'{p}.image_url' is required: file ids cannot be sent to this upstream.", p + ".image_url");
                    parts.Add(OpenAiChat.Media(url, part.Str("detail") is "auto" ? null : part.Str("detail"), null));
                    break;
                case "input_file":
                    var data = part.Str("file_data") ?? part.Str("file_url") ?? throw new TranslationException($"'{p}.file_data' is required: file ids cannot be sent to this upstream.", p + ".file_data");
                    parts.Add(OpenAiChat.Media(data, null, part.Str("filename")));
                    break;
                default:
                    throw new TranslationException($"'{p}.type' is '{part.Str("type")}', which cannot be sent to the upstream of this model.", p + ".type");
            }
        }

        return parts;
    }

    public static void WriteRequest(Utf8JsonWriter w, ChatRequest req, string model, TranslationOptions options)
    {
        w.WriteStartObject();
        w.WriteString("model", model);
        if (req.System.Count > 0)
        {
            w.WriteString("instructions", OpenAiChat.JoinText(req.System));
        }

        w.WriteStartArray("input");
        foreach (var message in req.Messages)
        {
            var role = message.Role switch
            {
                ChatRole.Assistant => "assistant",
                ChatRole.System => "developer",
                _ => "user",
            };
            var pending = new List<ContentPart>();
            foreach (var part in message.Parts)
            {
                switch (part)
                {
                    case TextPart or MediaPart:
                        pending.Add(part);
                        break;
                    case ToolCallPart call:
                        FlushMessage(w, role, pending);
                        w.WriteStartObject();
                        w.WriteString("type", "function_call");
                        w.WriteString("call_id", call.Id);
                        w.WriteString("name", call.Name);
                        w.WriteString("arguments", OpenAiChat.ArgumentsText(call));
                        w.WriteEndObject();
                        break;
                    case ToolResultPart result:
                        FlushMessage(w, role, pending);
                        w.WriteStartObject();
                        w.WriteString("type", "function_call_output");
                        w.WriteString("call_id", result.CallId);
                        if (result.Content.All(c => c is TextPart))
                        {
                            w.WriteString("output", OpenAiChat.JoinText(result.Content));
                        }
                        else
                        {
                            w.WriteStartArray("output");
                            foreach (var c in result.Content)
                            {
                                WriteInputPart(w, c, "user");
                            }

                            w.WriteEndArray();
                        }

                        w.WriteEndObject();
                        break;
                    case ThinkingPart { Signature: { } signature } thinking:
                        // Reasoning items are only accepted back from the same provider; only a signed one is worth sending.
                        FlushMessage(w, role, pending);
                        w.WriteStartObject();
                        w.WriteString("type", "reasoning");
                        w.WriteStartArray("summary");
                        w.WriteStartObject();
                        w.WriteString("type", "summary_text");
                        w.WriteString("text", thinking.Text);
                        w.WriteEndObject();
                        w.WriteEndArray();
                        w.WriteString("encrypted_content", signature);
                        w.WriteEndObject();
                        break;
                }
            }

            FlushMessage(w, role, pending);
        }

        w.WriteEndArray();

        if (req.Tools.Count > 0)
        {
            w.WriteStartArray("tools");
            foreach (var tool in req.Tools)
            {
                w.WriteStartObject();
                w.WriteString("type", "function");
                w.WriteString("name", tool.Name);
                if (tool.Description is not null)
                {
                    w.WriteString("description", tool.Description);
                }

                w.WritePropertyName("parameters");
                OpenAiChat.WriteParameters(w, tool);
                w.WriteBoolean("strict", tool.Strict ?? false);
                w.WriteEndObject();
            }

            w.WriteEndArray();
            if (req.ToolChoice is { } choice)
            {
                w.WritePropertyName("tool_choice");
                OpenAiChat.WriteToolChoice(w, choice, responses: true);
            }

            if (req.ParallelToolCalls is { } parallel)
            {
                w.WriteBoolean("parallel_tool_calls", parallel);
            }
        }

        if (req.MaxTokens is { } max)
        {
            w.WriteNumber("max_output_tokens", max);
        }

        if (req.Temperature is { } t)
        {
            Json.WriteNumberValue(w, "temperature", t);
        }

        if (req.TopP is { } p)
        {
            Json.WriteNumberValue(w, "top_p", p);
        }

        if (req.Reasoning?.Effort is { } effort)
        {
            w.WriteStartObject("reasoning");
            w.WriteString("effort", effort);
            w.WriteEndObject();
        }

        if (req.ResponseFormat is { } format)
        {
            w.WriteStartObject("text");
            w.WriteStartObject("format");
            w.WriteString("type", format.Type);
            if (format.Type == "json_schema")
            {
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
            }

            w.WriteEndObject();
            w.WriteEndObject();
        }

        if (req.User is not null)
        {
            w.WriteString("user", req.User);
        }

        // Nothing is stored upstream: Tollgate sends the whole conversation each time.
        w.WriteBoolean("store", false);
        if (options.Stream)
        {
            w.WriteBoolean("stream", true);
        }

        w.WriteEndObject();
    }

    private static void FlushMessage(Utf8JsonWriter w, string role, List<ContentPart> parts)
    {
        if (parts.Count == 0)
        {
            return;
        }

        w.WriteStartObject();
        w.WriteString("type", "message");
        w.WriteString("role", role);
        w.WriteStartArray("content");
        foreach (var part in parts)
        {
            WriteInputPart(w, part, role);
        }

        w.WriteEndArray();
        w.WriteEndObject();
        parts.Clear();
    }

    private static void WriteInputPart(Utf8JsonWriter w, ContentPart part, string role)
    {
        w.WriteStartObject();
        switch (part)
        {
            case TextPart text:
                w.WriteString("type", role == "assistant" ? "output_text" : "input_text");
                w.WriteString("text", text.Text);
                break;
            case MediaPart { IsImage: true } image:
                w.WriteString("type", "input_image");
                w.WriteString("image_url", image.Data is not null ? Json.DataUrl(image.MediaType ?? "image/png", image.Data) : image.Url);
                w.WriteString("detail", image.Detail ?? "auto");
                break;
            case MediaPart file:
                w.WriteString("type", "input_file");
                if (file.Data is not null)
                {
                    w.WriteString("file_data", Json.DataUrl(file.MediaType ?? "application/pdf", file.Data));
                    w.WriteString("filename", file.Filename ?? "document.pdf");
                }
                else
                {
                    w.WriteString("file_url", file.Url);
                }

                break;
        }

        w.WriteEndObject();
    }

    // ---- response ----

    public static ChatResponse ReadResponse(JsonElement root)
    {
        var resp = new ChatResponse { Id = root.Str("id") ?? "" };
        var sawCall = false;
        if (root.Prop("output") is { ValueKind: JsonValueKind.Array } output)
        {
            foreach (var item in output.EnumerateArray())
            {
                switch (item.Str("type"))
                {
                    case "message":
                        foreach (var part in (item.Prop("content") ?? default).EnumerateArrayOrEmpty())
                        {
                            if ((part.Str("text") ?? part.Str("refusal")) is { } partText)
                            {
                                resp.Parts.Add(new TextPart(partText));
                            }
                        }

                        break;
                    case "function_call":
                        sawCall = true;
                        resp.Parts.Add(new ToolCallPart(item.Str("call_id") ?? "", item.Str("name") ?? "", item.Str("arguments") ?? "{}"));
                        break;
                    case "reasoning":
                        var text = string.Concat((item.Prop("summary") ?? default).EnumerateArrayOrEmpty().Select(s => s.Str("text")));
                        resp.Parts.Add(new ThinkingPart(text, item.Str("encrypted_content")));
                        break;
                }
            }
        }

        resp.StopReason = ParseStatus(root, sawCall);
        resp.Usage = root.Prop("usage") is { } usage ? ReadUsage(usage) : default;
        return resp;
    }

    public static IEnumerable<JsonElement> EnumerateArrayOrEmpty(this JsonElement element)
        => element.ValueKind == JsonValueKind.Array ? element.EnumerateArray() : [];

    public static StopReason ParseStatus(JsonElement response, bool sawCall)
    {
        if (response.Str("status") == "incomplete")
        {
            return (response.Prop("incomplete_details") ?? default).Str("reason") == "content_filter" ? StopReason.ContentFilter : StopReason.MaxTokens;
        }

        return sawCall ? StopReason.ToolUse : StopReason.EndTurn;
    }

    public static Usage ReadUsage(JsonElement usage)
    {
        var input = usage.Prop("input_tokens_details") ?? default;
        var output = usage.Prop("output_tokens_details") ?? default;
        return new Usage(usage.Long("input_tokens"), usage.Long("output_tokens"), input.Long("cached_tokens"), 0, output.Long("reasoning_tokens"));
    }

    public static void WriteUsage(Utf8JsonWriter w, Usage usage)
    {
        w.WriteStartObject("usage");
        w.WriteNumber("input_tokens", usage.InputTokens);
        w.WriteStartObject("input_tokens_details");
        w.WriteNumber("cached_tokens", usage.CacheReadTokens);
        w.WriteEndObject();
        w.WriteNumber("output_tokens", usage.OutputTokens);
        w.WriteStartObject("output_tokens_details");
        w.WriteNumber("reasoning_tokens", usage.ReasoningTokens);
        w.WriteEndObject();
        w.WriteNumber("total_tokens", usage.TotalTokens);
        w.WriteEndObject();
    }

    public static string ResponseId(string upstreamId) => upstreamId.StartsWith("resp_", StringComparison.Ordinal) ? upstreamId : "resp_" + upstreamId;

    /// <summary>One output item, as the non-stream writer and the stream encoder both emit it.</summary>
    internal sealed record Item(BlockKind Kind, string Id, string Text, string? Signature = null, string? CallId = null, string? Name = null);

    public static void WriteItem(Utf8JsonWriter w, Item item, bool done)
    {
        var status = done ? "completed" : "in_progress";
        w.WriteStartObject();
        switch (item.Kind)
        {
            case BlockKind.Text:
                w.WriteString("id", item.Id);
                w.WriteString("type", "message");
                w.WriteString("status", status);
                w.WriteString("role", "assistant");
                w.WriteStartArray("content");
                if (done)
                {
                    WriteTextPart(w, item.Text);
                }

                w.WriteEndArray();
                break;
            case BlockKind.Thinking:
                w.WriteString("id", item.Id);
                w.WriteString("type", "reasoning");
                w.WriteStartArray("summary");
                if (done)
                {
                    WriteSummaryPart(w, item.Text);
                }

                w.WriteEndArray();
                if (done && item.Signature is { Length: > 0 } signature)
                {
                    w.WriteString("encrypted_content", signature);
                }

                break;
            default:
                w.WriteString("id", item.Id);
                w.WriteString("type", "function_call");
                w.WriteString("status", status);
                w.WriteString("arguments", done ? item.Text : "");
                w.WriteString("call_id", item.CallId);
                w.WriteString("name", item.Name);
                break;
        }

        w.WriteEndObject();
    }

    public static void WriteTextPart(Utf8JsonWriter w, string text)
    {
        w.WriteStartObject();
        w.WriteString("type", "output_text");
        w.WriteStartArray("annotations");
        w.WriteEndArray();
        w.WriteStartArray("logprobs");
        w.WriteEndArray();
        w.WriteString("text", text);
        w.WriteEndObject();
    }

    public static void WriteSummaryPart(Utf8JsonWriter w, string text)
    {
        w.WriteStartObject();
        w.WriteString("type", "summary_text");
        w.WriteString("text", text);
        w.WriteEndObject();
    }

    /// <summary>
    /// The Response object. Fields the spec marks required but that echo the request (tools, tool_choice,
    /// temperature…) are written as their defaults: the translator does not see the request again.
    /// </summary>
    public static void WriteResponseObject(Utf8JsonWriter w, string id, long created, string model, IReadOnlyList<Item> items, StopReason? stop, Usage? usage)
    {
        w.WriteStartObject();
        w.WriteString("id", id);
        w.WriteString("object", "response");
        w.WriteNumber("created_at", created);
        var incomplete = stop is StopReason.MaxTokens or StopReason.ContentFilter;
        w.WriteString("status", stop is null ? "in_progress" : incomplete ? "incomplete" : "completed");
        w.WriteNull("error");
        if (incomplete)
        {
            w.WriteStartObject("incomplete_details");
            w.WriteString("reason", stop == StopReason.ContentFilter ? "content_filter" : "max_output_tokens");
            w.WriteEndObject();
        }
        else
        {
            w.WriteNull("incomplete_details");
        }

        w.WriteNull("instructions");
        w.WriteString("model", model);
        w.WriteStartArray("output");
        foreach (var item in items)
        {
            WriteItem(w, item, done: true);
        }

        w.WriteEndArray();
        w.WriteBoolean("parallel_tool_calls", true);
        w.WriteNull("previous_response_id");
        w.WriteNull("temperature");
        w.WriteString("tool_choice", "auto");
        w.WriteStartArray("tools");
        w.WriteEndArray();
        w.WriteNull("top_p");
        w.WriteStartObject("metadata");
        w.WriteEndObject();
        if (usage is { } u)
        {
            WriteUsage(w, u);
        }
        else
        {
            w.WriteNull("usage");
        }

        w.WriteEndObject();
    }

    /// <summary>An output item id derived from the upstream response id, so ids are stable for one response.</summary>
    public static string ItemId(string prefix, string responseId, int index)
    {
        var bare = responseId.AsSpan();
        foreach (var known in (ReadOnlySpan<string>)["msg_", "chatcmpl-", "resp_"])
        {
            if (bare.StartsWith(known, StringComparison.Ordinal))
            {
                bare = bare[known.Length..];
                break;
            }
        }

        return $"{prefix}_{bare}_{index}";
    }

    public static void WriteResponse(Utf8JsonWriter w, ChatResponse resp, string clientModel, long created)
    {
        var items = new List<Item>();
        var texts = new StringBuilder();
        for (var i = 0; i < resp.Parts.Count; i++)
        {
            switch (resp.Parts[i])
            {
                case TextPart text:
                    texts.Append(text.Text);
                    if (i + 1 < resp.Parts.Count && resp.Parts[i + 1] is TextPart)
                    {
                        continue; // adjacent text blocks are one message
                    }

                    items.Add(new Item(BlockKind.Text, ItemId("msg", resp.Id, items.Count), texts.ToString()));
                    texts.Clear();
                    break;
                case ThinkingPart { RedactedData: null } thinking:
                    items.Add(new Item(BlockKind.Thinking, ItemId("rs", resp.Id, items.Count), thinking.Text, thinking.Signature));
                    break;
                case ToolCallPart call:
                    items.Add(new Item(BlockKind.ToolCall, ItemId("fc", resp.Id, items.Count), OpenAiChat.ArgumentsText(call), null, call.Id, call.Name));
                    break;
            }
        }

        WriteResponseObject(w, ResponseId(resp.Id), created, clientModel, items, resp.StopReason, resp.Usage);
    }
}
