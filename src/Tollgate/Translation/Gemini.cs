using System.Text;
using System.Text.Json;
using Tollgate.Pipeline;

namespace Tollgate.Translation;

/// <summary>
/// Gemini generateContent request and response bodies ↔ the canonical model.
/// https://ai.google.dev/api/generate-content. The reader takes the camelCase names and the snake_case
/// ones the API also accepts; the writer uses camelCase. Function calls without ids are paired with their
/// responses by name, in order.
/// </summary>
internal static class Gemini
{
    private static JsonElement? G(this JsonElement obj, string camel, string snake) => obj.Prop(camel) ?? obj.Prop(snake);

    // ---- request ----

    public static ChatRequest ReadRequest(JsonElement root)
    {
        var req = new ChatRequest();
        if (root.G("systemInstruction", "system_instruction") is { } system)
        {
            foreach (var part in (system.Prop("parts") ?? default).EnumerateArrayOrEmpty())
            {
                if (part.Str("text") is { } text)
                {
                    req.System.Add(new TextPart(text));
                }
            }
        }

        var contents = root.Require("contents", JsonValueKind.Array, "contents");
        var pending = new List<(string Id, string Name)>();
        var c = 0;
        foreach (var content in contents.EnumerateArray())
        {
            var param = $"contents.{c}";
            var role = content.Str("role") == "model" ? ChatRole.Assistant : ChatRole.User;
            var parts = new List<ContentPart>();
            var p = 0;
            foreach (var part in (content.Prop("parts") ?? default).EnumerateArrayOrEmpty())
            {
                var pp = $"{param}.parts.{p}";
                if (part.Str("text") is { } text)
                {
                    parts.Add(part.Bool("thought") ? new ThinkingPart(text) : new TextPart(text));
                }
                else if (part.G("inlineData", "inline_data") is { } inline)
                {
                    parts.Add(new MediaPart(inline.Str("mimeType") ?? inline.Str("mime_type"), inline.RequireString("data", pp + ".inlineData.data"), null));
                }
                else if (part.G("fileData", "file_data") is { } file)
                {
                    parts.Add(new MediaPart(file.Str("mimeType") ?? file.Str("mime_type"), null, file.Str("fileUri") ?? file.Str("file_uri")));
                }
                else if (part.G("functionCall", "function_call") is { } call)
                {
                    var name = call.RequireString("name", pp + ".functionCall.name");
                    var id = call.Str("id") ?? $"call_{c}_{p}";
                    pending.Add((id, name));
                    parts.Add(new ToolCallPart(id, name, (call.Prop("args") is { } args ? Json.Compact(args) : "{}")));
                }
                else if (part.G("functionResponse", "function_response") is { } response)
                {
                    var name = response.RequireString("name", pp + ".functionResponse.name");
                    var id = response.Str("id");
                    var match = pending.FindIndex(x => id is not null ? x.Id == id : x.Name == name);
                    if (match >= 0)
                    {
                        id = pending[match].Id;
                        pending.RemoveAt(match);
                    }

                    var output = response.Prop("response");
                    var text2 = output is { } o && o.Prop("output") is { ValueKind: JsonValueKind.String } s ? s.GetString()! : output is { } raw ? Json.Compact(raw) : "";
                    var isError = output is { } e && e.Prop("error") is not null && e.Prop("output") is null;
                    parts.Add(new ToolResultPart(id ?? $"call_{name}", name, [new TextPart(text2)], isError));
                }
                else
                {
                    throw new TranslationException($"'{pp}' is a part this upstream cannot take; use text, inlineData, fileData, functionCall or functionResponse.", pp);
                }

                p++;
            }

            req.Messages.Add(new ChatMessage(role, parts));
            c++;
        }

        if (root.G("generationConfig", "generation_config") is { } config)
        {
            req.MaxTokens = config.Int("maxOutputTokens", "generationConfig.maxOutputTokens") ?? config.Int("max_output_tokens", "generationConfig.maxOutputTokens");
            req.Temperature = config.Double("temperature", "generationConfig.temperature");
            req.TopP = config.Double("topP", "generationConfig.topP") ?? config.Double("top_p", "generationConfig.topP");
            req.TopK = config.Int("topK", "generationConfig.topK") ?? config.Int("top_k", "generationConfig.topK");
            req.Stop = config.Strings("stopSequences", "generationConfig.stopSequences") ?? config.Strings("stop_sequences", "generationConfig.stopSequences");
            if ((config.Int("candidateCount", "generationConfig.candidateCount") ?? 1) > 1)
            {
                throw new TranslationException("'generationConfig.candidateCount' must be 1: the upstream of this model returns one candidate.", "generationConfig.candidateCount");
            }

            if (config.G("thinkingConfig", "thinking_config") is { } thinking)
            {
                var budget = thinking.Int("thinkingBudget", "generationConfig.thinkingConfig.thinkingBudget") ?? thinking.Int("thinking_budget", "generationConfig.thinkingConfig.thinkingBudget");
                var level = thinking.Str("thinkingLevel") ?? thinking.Str("thinking_level");
                if (budget is > 0 || level is not null)
                {
                    req.Reasoning = new ReasoningRequest(true, level?.ToLowerInvariant(), budget);
                }
            }

            var schema = config.G("responseJsonSchema", "response_json_schema") ?? config.G("responseSchema", "response_schema");
            if (schema is not null)
            {
                req.ResponseFormat = new ResponseFormat("json_schema", "response", schema, null);
            }
            else if ((config.Str("responseMimeType") ?? config.Str("response_mime_type")) == "application/json")
            {
                req.ResponseFormat = new ResponseFormat("json_object", null, null, null);
            }
        }

        foreach (var tool in (root.Prop("tools") ?? default).EnumerateArrayOrEmpty())
        {
            var declarations = tool.G("functionDeclarations", "function_declarations")
                ?? throw new TranslationException("Only function declarations can be sent to the upstream of this model; remove built-in tools such as googleSearch or codeExecution.", "tools");
            foreach (var fn in declarations.EnumerateArray())
            {
                req.Tools.Add(new ToolDefinition(fn.RequireString("name", "tools.functionDeclarations.name"), fn.Str("description"),
                    fn.G("parametersJsonSchema", "parameters_json_schema") ?? (fn.Prop("parameters") is { } schema ? ToJsonSchema(schema) : null)));
            }
        }

        if ((root.G("toolConfig", "tool_config") ?? default).G("functionCallingConfig", "function_calling_config") is { } calling)
        {
            var allowed = calling.G("allowedFunctionNames", "allowed_function_names");
            req.ToolChoice = calling.Str("mode") switch
            {
                "NONE" => new ToolChoice(ToolChoiceMode.None),
                "ANY" when allowed is { ValueKind: JsonValueKind.Array } a && a.GetArrayLength() == 1 => new ToolChoice(ToolChoiceMode.Specific, a[0].GetString()),
                "ANY" => new ToolChoice(ToolChoiceMode.Required),
                _ => new ToolChoice(ToolChoiceMode.Auto),
            };
        }

        return req;
    }

    /// <summary>
    /// Gemini's <c>parameters</c> is an OpenAPI schema whose type names are upper case (OBJECT, STRING); JSON
    /// Schema wants them lower case. Everything else is the same shape.
    /// </summary>
    private static JsonElement ToJsonSchema(JsonElement schema)
    {
        var bytes = Json.Write(schema, static (w, s) => CopyLowercasingTypes(w, s));
        using var doc = JsonDocument.Parse(bytes);
        return doc.RootElement.Clone();
    }

    private static void CopyLowercasingTypes(Utf8JsonWriter w, JsonElement e)
    {
        switch (e.ValueKind)
        {
            case JsonValueKind.Object:
                w.WriteStartObject();
                foreach (var p in e.EnumerateObject())
                {
                    w.WritePropertyName(p.Name);
                    if (p.NameEquals("type") && p.Value.ValueKind == JsonValueKind.String)
                    {
                        w.WriteStringValue(p.Value.GetString()!.ToLowerInvariant());
                    }
                    else
                    {
                        CopyLowercasingTypes(w, p.Value);
                    }
                }

                w.WriteEndObject();
                break;
            case JsonValueKind.Array:
                w.WriteStartArray();
                foreach (var item in e.EnumerateArray())
                {
                    CopyLowercasingTypes(w, item);
                }

                w.WriteEndArray();
                break;
            default:
                e.WriteTo(w);
                break;
        }
    }

    public static void WriteRequest(Utf8JsonWriter w, ChatRequest req, TranslationOptions options)
    {
        _ = options; // the model and stream choice live in the URL: /v1beta/models/{model}:streamGenerateContent?alt=sse
        w.WriteStartObject();
        w.WriteStartArray("contents");
        var i = 0;
        while (i < req.Messages.Count)
        {
            var role = req.Messages[i].Role;
            if (role == ChatRole.System)
            {
                i++;
                continue;
            }

            var parts = new List<ContentPart>();
            while (i < req.Messages.Count && (req.Messages[i].Role == role || req.Messages[i].Role == ChatRole.System))
            {
                if (req.Messages[i].Role == role)
                {
                    parts.AddRange(req.Messages[i].Parts);
                }

                i++;
            }

            WriteContent(w, req, role == ChatRole.Assistant ? "model" : "user", parts);
        }

        w.WriteEndArray();

        var system = req.System.Concat(req.Messages.Where(m => m.Role == ChatRole.System).SelectMany(m => m.Parts.OfType<TextPart>())).ToList();
        if (system.Count > 0)
        {
            w.WriteStartObject("systemInstruction");
            w.WriteStartArray("parts");
            foreach (var part in system)
            {
                w.WriteStartObject();
                w.WriteString("text", part.Text);
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteEndObject();
        }

        if (req.Tools.Count > 0)
        {
            w.WriteStartArray("tools");
            w.WriteStartObject();
            w.WriteStartArray("functionDeclarations");
            foreach (var tool in req.Tools)
            {
                w.WriteStartObject();
                w.WriteString("name", tool.Name);
                if (tool.Description is not null)
                {
                    w.WriteString("description", tool.Description);
                }

                // parametersJsonSchema takes full JSON Schema, so tool schemas pass without rewriting.
                w.WritePropertyName("parametersJsonSchema");
                OpenAiChat.WriteParameters(w, tool);
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteEndArray();

            if (req.ToolChoice is { } choice)
            {
                w.WriteStartObject("toolConfig");
                w.WriteStartObject("functionCallingConfig");
                w.WriteString("mode", choice.Mode switch
                {
                    ToolChoiceMode.None => "NONE",
                    ToolChoiceMode.Required or ToolChoiceMode.Specific => "ANY",
                    _ => "AUTO",
                });
                if (choice.Mode == ToolChoiceMode.Specific)
                {
                    w.WriteStartArray("allowedFunctionNames");
                    w.WriteStringValue(choice.Name);
                    w.WriteEndArray();
                }

                w.WriteEndObject();
                w.WriteEndObject();
            }
        }

        w.WriteStartObject("generationConfig");
        if (req.MaxTokens is { } max)
        {
            w.WriteNumber("maxOutputTokens", max);
        }

        if (req.Temperature is { } t)
        {
            Json.WriteNumberValue(w, "temperature", t);
        }

        if (req.TopP is { } p)
        {
            Json.WriteNumberValue(w, "topP", p);
        }

        if (req.TopK is { } k)
        {
            w.WriteNumber("topK", k);
        }

        if (req.Stop is { Count: > 0 } stop)
        {
            w.WriteStartArray("stopSequences");
            foreach (var s in stop)
            {
                w.WriteStringValue(s);
            }

            w.WriteEndArray();
        }

        if (req.ResponseFormat is { } format)
        {
            w.WriteString("responseMimeType", "application/json");
            if (format.Schema is { } schema)
            {
                w.WritePropertyName("responseJsonSchema");
                schema.WriteTo(w);
            }
        }

        if (req.Reasoning is { Enabled: true } reasoning)
        {
            w.WriteStartObject("thinkingConfig");
            w.WriteBoolean("includeThoughts", true);
            var budget = reasoning.BudgetTokens ?? reasoning.Effort switch
            {
                "low" => 1024,
                "medium" => 8192,
                "high" or "xhigh" or "max" => 24576,
                _ => (int?)null,
            };
            if (budget is { } b)
            {
                w.WriteNumber("thinkingBudget", b);
            }

            w.WriteEndObject();
        }

        w.WriteEndObject();
        w.WriteEndObject();
    }

    private static void WriteContent(Utf8JsonWriter w, ChatRequest req, string role, List<ContentPart> parts)
    {
        // Gemini takes no foreign thought signatures and no empty text: leave them out.
        parts.RemoveAll(p => p is ThinkingPart or TextPart { Text.Length: 0 });
        if (parts.Count == 0)
        {
            return;
        }

        w.WriteStartObject();
        w.WriteString("role", role);
        w.WriteStartArray("parts");
        foreach (var part in parts)
        {
            switch (part)
            {
                case TextPart text:
                    w.WriteStartObject();
                    w.WriteString("text", text.Text);
                    w.WriteEndObject();
                    break;
                case MediaPart media:
                    WriteMedia(w, media);
                    break;
                case ToolCallPart call:
                    w.WriteStartObject();
                    w.WriteStartObject("functionCall");
                    w.WriteString("name", call.Name);
                    w.WritePropertyName("args");
                    if (call.Kind == ToolKind.Custom)
                    {
                        w.WriteRawValue(OpenAiChat.ArgumentsText(call));
                    }
                    else
                    {
                        Json.WriteArgumentsObject(w, call.Arguments);
                    }

                    w.WriteEndObject();
                    w.WriteEndObject();
                    break;
                case ToolResultPart result:
                    w.WriteStartObject();
                    w.WriteStartObject("functionResponse");
                    w.WriteString("name", result.Name ?? req.ToolNameFor(result.CallId) ?? result.CallId);
                    w.WriteStartObject("response");
                    w.WriteString(result.IsError ? "error" : "output", OpenAiChat.JoinText(result.Content));
                    w.WriteEndObject();
                    w.WriteEndObject();
                    w.WriteEndObject();
                    foreach (var media in result.Content.OfType<MediaPart>())
                    {
                        WriteMedia(w, media);
                    }

                    break;
            }
        }

        w.WriteEndArray();
        w.WriteEndObject();
    }

    private static void WriteMedia(Utf8JsonWriter w, MediaPart media)
    {
        w.WriteStartObject();
        if (media.Data is not null)
        {
            w.WriteStartObject("inlineData");
            w.WriteString("mimeType", media.MediaType ?? "image/png");
            w.WriteString("data", media.Data);
        }
        else
        {
            w.WriteStartObject("fileData");
            w.WriteString("mimeType", media.MediaType ?? GuessMediaType(media.Url!));
            w.WriteString("fileUri", media.Url);
        }

        w.WriteEndObject();
        w.WriteEndObject();
    }

    private static string GuessMediaType(string url)
    {
        var path = url.AsSpan();
        var q = path.IndexOfAny('?', '#');
        if (q >= 0)
        {
            path = path[..q];
        }

        return Path.GetExtension(path).ToString().ToLowerInvariant() switch
        {
            ".png" => "image/png",
            ".gif" => "image/gif",
            ".webp" => "image/webp",
            ".pdf" => "application/pdf",
            _ => "image/jpeg",
        };
    }

    // ---- response ----

    public static ChatResponse ReadResponse(JsonElement root)
    {
        var resp = new ChatResponse { Id = root.Str("responseId") ?? "" };
        var sawCall = false;
        string? finish = null;
        if (root.Prop("candidates") is { ValueKind: JsonValueKind.Array } candidates && candidates.GetArrayLength() > 0)
        {
            var candidate = candidates[0];
            var p = 0;
            foreach (var part in ((candidate.Prop("content") ?? default).Prop("parts") ?? default).EnumerateArrayOrEmpty())
            {
                if (part.Str("text") is { } text)
                {
                    resp.Parts.Add(part.Bool("thought") ? new ThinkingPart(text) : new TextPart(text));
                }
                else if (part.Prop("functionCall") is { } call)
                {
                    sawCall = true;
                    resp.Parts.Add(new ToolCallPart(call.Str("id") ?? CallId(resp.Id, p), call.Str("name") ?? "", (call.Prop("args") is { } args ? Json.Compact(args) : "{}")));
                }

                p++;
            }

            finish = candidate.Str("finishReason");
        }
        else if ((root.Prop("promptFeedback") ?? default).Str("blockReason") is not null)
        {
            finish = "SAFETY";
        }

        resp.StopReason = ParseFinish(finish, sawCall);
        resp.Usage = root.Prop("usageMetadata") is { } usage ? ReadUsage(usage) : default;
        return resp;
    }

    public static string CallId(string responseId, int index) => $"call_{responseId}_{index}";

    public static StopReason ParseFinish(string? finish, bool sawCall) => finish switch
    {
        "MAX_TOKENS" => StopReason.MaxTokens,
        "SAFETY" or "RECITATION" or "BLOCKLIST" or "PROHIBITED_CONTENT" or "SPII" or "IMAGE_SAFETY" => StopReason.ContentFilter,
        "MALFORMED_FUNCTION_CALL" or "OTHER" => StopReason.Error,
        _ => sawCall ? StopReason.ToolUse : StopReason.EndTurn,
    };

    public static string FinishString(StopReason reason) => reason switch
    {
        StopReason.MaxTokens => "MAX_TOKENS",
        StopReason.ContentFilter => "SAFETY",
        StopReason.Error => "OTHER",
        _ => "STOP",
    };

    /// <summary>promptTokenCount includes cached content; candidatesTokenCount excludes thoughts, so they are added.</summary>
    public static Usage ReadUsage(JsonElement usage)
    {
        var thoughts = usage.Long("thoughtsTokenCount");
        return new Usage(usage.Long("promptTokenCount") + usage.Long("toolUsePromptTokenCount"), usage.Long("candidatesTokenCount") + thoughts, usage.Long("cachedContentTokenCount"), 0, thoughts);
    }

    public static void WriteUsage(Utf8JsonWriter w, Usage usage)
    {
        w.WriteStartObject("usageMetadata");
        w.WriteNumber("promptTokenCount", usage.InputTokens);
        w.WriteNumber("candidatesTokenCount", usage.OutputTokens - usage.ReasoningTokens);
        w.WriteNumber("totalTokenCount", usage.TotalTokens);
        if (usage.CacheReadTokens > 0)
        {
            w.WriteNumber("cachedContentTokenCount", usage.CacheReadTokens);
        }

        if (usage.ReasoningTokens > 0)
        {
            w.WriteNumber("thoughtsTokenCount", usage.ReasoningTokens);
        }

        w.WriteEndObject();
    }

    public static void WriteResponse(Utf8JsonWriter w, ChatResponse resp, string clientModel)
    {
        w.WriteStartObject();
        w.WriteStartArray("candidates");
        w.WriteStartObject();
        w.WriteStartObject("content");
        w.WriteString("role", "model");
        w.WriteStartArray("parts");
        foreach (var part in resp.Parts)
        {
            WritePart(w, part);
        }

        w.WriteEndArray();
        w.WriteEndObject();
        w.WriteString("finishReason", FinishString(resp.StopReason));
        w.WriteNumber("index", 0);
        w.WriteEndObject();
        w.WriteEndArray();
        WriteUsage(w, resp.Usage);
        w.WriteString("modelVersion", clientModel);
        w.WriteString("responseId", resp.Id);
        w.WriteEndObject();
    }

    public static void WritePart(Utf8JsonWriter w, ContentPart part)
    {
        switch (part)
        {
            case TextPart text:
                w.WriteStartObject();
                w.WriteString("text", text.Text);
                w.WriteEndObject();
                break;
            case ThinkingPart { RedactedData: null } thinking:
                w.WriteStartObject();
                w.WriteString("text", thinking.Text);
                w.WriteBoolean("thought", true);
                w.WriteEndObject();
                break;
            case ToolCallPart call:
                w.WriteStartObject();
                w.WriteStartObject("functionCall");
                w.WriteString("id", call.Id);
                w.WriteString("name", call.Name);
                w.WritePropertyName("args");
                Json.WriteArgumentsObject(w, call.Arguments);
                w.WriteEndObject();
                w.WriteEndObject();
                break;
        }
    }
}
