using System.Text.Json;
using Tollgate.Pipeline;

namespace Tollgate.Translation;

// The canonical model every format is read into and written from (DESIGN §2). It is deliberately small:
// what the four formats share, plus raw JSON (JsonElement over the source document) for what rides along.

internal enum ChatRole
{
    User,
    Assistant,

    /// <summary>A system message that is not at the start of the conversation.</summary>
    System,
}

internal abstract record ContentPart;

/// <summary>Text. <see cref="CacheControl"/> is Anthropic's marker, kept raw.</summary>
internal sealed record TextPart(string Text, JsonElement? CacheControl = null) : ContentPart;

/// <summary>
/// An image or document: either inline base64 <see cref="Data"/> with its <see cref="MediaType"/>, or a
/// <see cref="Url"/> (http(s), or a provider file URI). <see cref="Detail"/> is OpenAI's image detail.
/// </summary>
internal sealed record MediaPart(string? MediaType, string? Data, string? Url, string? Detail = null, string? Filename = null, JsonElement? CacheControl = null) : ContentPart
{
    public bool IsImage => MediaType is null || MediaType.StartsWith("image/", StringComparison.OrdinalIgnoreCase);
}

internal enum ToolKind
{
    Function,

    /// <summary>An OpenAI Responses custom (free-form text) tool; its input is a string, not a JSON object.</summary>
    Custom,
}

/// <summary>A call the model made. <see cref="Arguments"/> is JSON object text (or the raw input of a custom tool).</summary>
internal sealed record ToolCallPart(string Id, string Name, string Arguments, ToolKind Kind = ToolKind.Function) : ContentPart;

/// <summary>A tool's answer. <see cref="Content"/> holds text and media parts.</summary>
internal sealed record ToolResultPart(string CallId, string? Name, IReadOnlyList<ContentPart> Content, bool IsError = false, JsonElement? CacheControl = null) : ContentPart;

/// <summary>Reasoning text with Anthropic's signature, or opaque redacted reasoning.</summary>
internal sealed record ThinkingPart(string Text, string? Signature = null, string? RedactedData = null) : ContentPart;

internal sealed record ChatMessage(ChatRole Role, List<ContentPart> Parts);

internal sealed record ToolDefinition(string Name, string? Description, JsonElement? Parameters, ToolKind Kind = ToolKind.Function, bool? Strict = null, JsonElement? CacheControl = null);

internal enum ToolChoiceMode
{
    Auto,
    None,
    Required,
    Specific,
}

internal sealed record ToolChoice(ToolChoiceMode Mode, string? Name = null);

/// <summary>Reasoning asked for: an OpenAI effort word or an Anthropic/Gemini token budget (or both).</summary>
internal sealed record ReasoningRequest(bool Enabled, string? Effort, int? BudgetTokens);

/// <summary>Structured output: <c>json_object</c>, or <c>json_schema</c> with its schema.</summary>
internal sealed record ResponseFormat(string Type, string? Name, JsonElement? Schema, bool? Strict);

internal sealed class ChatRequest
{
    public List<TextPart> System { get; } = [];

    public List<ChatMessage> Messages { get; } = [];

    public List<ToolDefinition> Tools { get; } = [];

    public ToolChoice? ToolChoice { get; set; }

    public bool? ParallelToolCalls { get; set; }

    public int? MaxTokens { get; set; }

    public double? Temperature { get; set; }

    public double? TopP { get; set; }

    public int? TopK { get; set; }

    public List<string>? Stop { get; set; }

    public ReasoningRequest? Reasoning { get; set; }

    /// <summary>Structured output asked for; null for plain text.</summary>
    public ResponseFormat? ResponseFormat { get; set; }

    /// <summary>An end-user id (OpenAI <c>user</c>, Anthropic <c>metadata.user_id</c>).</summary>
    public string? User { get; set; }

    /// <summary>Names that may be set on the call ids of tool results when a format needs them (Gemini).</summary>
    public string? ToolNameFor(string callId)
    {
        foreach (var message in Messages)
        {
            foreach (var part in message.Parts)
            {
                if (part is ToolCallPart call && call.Id == callId)
                {
                    return call.Name;
                }
            }
        }

        return null;
    }
}

internal enum StopReason
{
    EndTurn,
    MaxTokens,
    ToolUse,
    StopSequence,
    ContentFilter,
    PauseTurn,
    Error,
}

/// <summary>A whole (non-stream) model answer.</summary>
internal sealed class ChatResponse
{
    public string Id { get; set; } = "";

    public List<ContentPart> Parts { get; } = [];

    public StopReason StopReason { get; set; } = StopReason.EndTurn;

    public string? StopSequence { get; set; }

    public Usage Usage { get; set; }
}
