using System.Text;
using System.Text.Json;
using Tollgate.Pipeline;

namespace Tollgate.Translation;

/// <summary>
/// Reads an OpenAI Responses stream (response.created … output_item.added/delta/done … response.completed).
/// https://platform.openai.com/docs/api-reference/responses-streaming
/// </summary>
internal sealed class OpenAiResponsesStreamDecoder : StreamDecoder
{
    private bool _sawCall;

    public override void Decode(ReadOnlySpan<byte> eventName, JsonElement data, StreamTranslator t)
    {
        switch (data.Str("type"))
        {
            case "response.created":
            case "response.in_progress":
                t.EnsureStarted((data.Prop("response") ?? default).Str("id") ?? "");
                break;
            case "response.output_item.added":
                var item = data.Prop("item") ?? default;
                switch (item.Str("type"))
                {
                    case "function_call":
                        _sawCall = true;
                        t.Open(BlockKind.ToolCall, item.Str("call_id"), item.Str("name"));
                        t.Delta(BlockKind.ToolCall, item.Str("arguments") ?? "");
                        break;
                    case "reasoning":
                        t.Open(BlockKind.Thinking);
                        break;
                    case "message":
                        t.Open(BlockKind.Text);
                        break;
                }

                break;
            case "response.output_text.delta":
            case "response.refusal.delta":
                t.Delta(BlockKind.Text, data.Str("delta") ?? "");
                break;
            case "response.reasoning_summary_text.delta":
            case "response.reasoning_text.delta":
                t.Delta(BlockKind.Thinking, data.Str("delta") ?? "");
                break;
            case "response.function_call_arguments.delta":
                t.Delta(BlockKind.ToolCall, data.Str("delta") ?? "");
                break;
            case "response.output_item.done":
                if ((data.Prop("item") ?? default).Str("encrypted_content") is { Length: > 0 } signature)
                {
                    t.Signature(signature);
                }

                t.Close();
                break;
            case "response.completed":
            case "response.incomplete":
                var response = data.Prop("response") ?? default;
                t.EnsureStarted(response.Str("id") ?? "");
                if (response.Prop("usage") is { } usage)
                {
                    t.Usage = OpenAiResponses.ReadUsage(usage);
                }

                t.Stop(OpenAiResponses.ParseStatus(response, _sawCall), null);
                t.End();
                break;
            case "response.failed":
                t.UpstreamError = ((data.Prop("response") ?? default).Prop("error") ?? default).Str("message") ?? "the upstream response failed";
                break;
            case "error":
                t.UpstreamError = data.Str("message") ?? "the upstream reported an error";
                break;
        }
    }
}

/// <summary>
/// Writes an OpenAI Responses stream for a client (the Codex CLI reads it): every event carries a
/// <c>sequence_number</c>; each output item goes added → part added → deltas → done events → item done; the
/// stream ends with response.completed (or response.incomplete) holding every item and the usage.
/// </summary>
internal sealed class OpenAiResponsesStreamEncoder(string clientModel, long created) : StreamEncoder
{
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, byte[]> EventNames = new(StringComparer.Ordinal);

    private readonly List<OpenAiResponses.Item> _items = [];
    private readonly StringBuilder _text = new();
    private string _id = "";
    private string _baseId = "";
    private int _sequence;
    private string _itemId = "";
    private BlockKind _kind;
    private string? _signature;
    private string? _callId;
    private string? _name;
    private StopReason _stop;
    private Usage _usage;

    public override void Start(string id, Usage? usage)
    {
        _baseId = id.Length > 0 ? id : "tollgate";
        _id = OpenAiResponses.ResponseId(_baseId);
        foreach (var type in new[] { "response.created", "response.in_progress" })
        {
            var w = Begin(type);
            w.WritePropertyName("response");
            OpenAiResponses.WriteResponseObject(w, _id, created, clientModel, [], null, null);
            End(w, type);
        }
    }

    public override void BlockStart(BlockKind kind, string? toolId, string? toolName)
    {
        _text.Clear();
        _signature = null;
        _callId = toolId;
        _name = toolName;
        _kind = kind;
        _itemId = OpenAiResponses.ItemId(kind switch { BlockKind.Text => "msg", BlockKind.Thinking => "rs", _ => "fc" }, _baseId, _items.Count);

        var w = Begin("response.output_item.added");
        w.WriteNumber("output_index", _items.Count);
        w.WritePropertyName("item");
        OpenAiResponses.WriteItem(w, Current(), done: false);
        End(w, "response.output_item.added");

        if (kind == BlockKind.Text)
        {
            w = BeginPart("response.content_part.added");
            w.WritePropertyName("part");
            OpenAiResponses.WriteTextPart(w, "");
            End(w, "response.content_part.added");
        }
        else if (kind == BlockKind.Thinking)
        {
            w = BeginSummary("response.reasoning_summary_part.added");
            w.WritePropertyName("part");
            OpenAiResponses.WriteSummaryPart(w, "");
            End(w, "response.reasoning_summary_part.added");
        }
    }

    public override void Delta(BlockKind kind, string text)
    {
        _text.Append(text);
        Utf8JsonWriter w;
        switch (kind)
        {
            case BlockKind.Text:
                w = BeginPart("response.output_text.delta");
                w.WriteString("delta", text);
                w.WriteStartArray("logprobs");
                w.WriteEndArray();
                End(w, "response.output_text.delta");
                break;
            case BlockKind.Thinking:
                w = BeginSummary("response.reasoning_summary_text.delta");
                w.WriteString("delta", text);
                End(w, "response.reasoning_summary_text.delta");
                break;
            default:
                w = Begin("response.function_call_arguments.delta");
                w.WriteString("item_id", _itemId);
                w.WriteNumber("output_index", _items.Count);
                w.WriteString("delta", text);
                End(w, "response.function_call_arguments.delta");
                break;
        }
    }

    public override void Signature(string signature) => _signature = (_signature ?? "") + signature;

    public override void BlockStop(BlockKind kind)
    {
        var text = _text.ToString();
        Utf8JsonWriter w;
        switch (kind)
        {
            case BlockKind.Text:
                w = BeginPart("response.output_text.done");
                w.WriteString("text", text);
                w.WriteStartArray("logprobs");
                w.WriteEndArray();
                End(w, "response.output_text.done");
                w = BeginPart("response.content_part.done");
                w.WritePropertyName("part");
                OpenAiResponses.WriteTextPart(w, text);
                End(w, "response.content_part.done");
                break;
            case BlockKind.Thinking:
                w = BeginSummary("response.reasoning_summary_text.done");
                w.WriteString("text", text);
                End(w, "response.reasoning_summary_text.done");
                w = BeginSummary("response.reasoning_summary_part.done");
                w.WritePropertyName("part");
                OpenAiResponses.WriteSummaryPart(w, text);
                End(w, "response.reasoning_summary_part.done");
                break;
            default:
                if (text.Length == 0)
                {
                    _text.Append("{}");
                    text = "{}";
                }

                w = Begin("response.function_call_arguments.done");
                w.WriteString("item_id", _itemId);
                w.WriteString("name", _name);
                w.WriteNumber("output_index", _items.Count);
                w.WriteString("arguments", text);
                End(w, "response.function_call_arguments.done");
                break;
        }

        var item = Current();
        w = Begin("response.output_item.done");
        w.WriteNumber("output_index", _items.Count);
        w.WritePropertyName("item");
        OpenAiResponses.WriteItem(w, item, done: true);
        End(w, "response.output_item.done");
        _items.Add(item);
    }

    public override void Stop(StopReason reason, string? stopSequence, Usage usage)
    {
        _stop = reason;
        _usage = usage;
    }

    public override void End()
    {
        var type = _stop is StopReason.MaxTokens or StopReason.ContentFilter ? "response.incomplete" : "response.completed";
        var w = Begin(type);
        w.WritePropertyName("response");
        OpenAiResponses.WriteResponseObject(w, _id, created, clientModel, _items, _stop, _usage);
        End(w, type);
    }

    private OpenAiResponses.Item Current() => new(_kind, _itemId, _text.ToString(), _signature, _callId, _name);

    private Utf8JsonWriter Begin(string type)
    {
        var w = BeginJson();
        w.WriteStartObject();
        w.WriteString("type", type);
        w.WriteNumber("sequence_number", _sequence++);
        return w;
    }

    private Utf8JsonWriter BeginPart(string type)
    {
        var w = Begin(type);
        w.WriteString("item_id", _itemId);
        w.WriteNumber("output_index", _items.Count);
        w.WriteNumber("content_index", 0);
        return w;
    }

    private Utf8JsonWriter BeginSummary(string type)
    {
        var w = Begin(type);
        w.WriteString("item_id", _itemId);
        w.WriteNumber("output_index", _items.Count);
        w.WriteNumber("summary_index", 0);
        return w;
    }

    private void End(Utf8JsonWriter w, string type)
    {
        w.WriteEndObject();
        // Event names are few and fixed: encode each once.
        Emit(EventNames.GetOrAdd(type, static t => Encoding.UTF8.GetBytes(t)));
    }
}
