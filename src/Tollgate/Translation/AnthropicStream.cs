using System.Text.Json;
using Tollgate.Pipeline;

namespace Tollgate.Translation;

/// <summary>
/// Reads an Anthropic Messages stream: message_start → content_block_start/delta/stop → message_delta →
/// message_stop. https://docs.anthropic.com/en/docs/build-with-claude/streaming
/// </summary>
internal sealed class AnthropicStreamDecoder : StreamDecoder
{
    // Blocks Tollgate cannot show in another format (server tool use and its results) are skipped by index.
    private readonly HashSet<long> _skipped = [];

    public override void Decode(ReadOnlySpan<byte> eventName, JsonElement data, StreamTranslator t)
    {
        switch (data.Str("type"))
        {
            case "message_start":
                var message = data.Prop("message") ?? default;
                var usage = message.Prop("usage") is { } u ? AnthropicMessages.ReadUsage(u, default) : default;
                t.EnsureStarted(message.Str("id") ?? "", usage);
                break;
            case "content_block_start":
                var block = data.Prop("content_block") ?? default;
                switch (block.Str("type"))
                {
                    case "text":
                        t.Open(BlockKind.Text);
                        t.Delta(BlockKind.Text, block.Str("text") ?? "");
                        break;
                    case "thinking":
                        t.Open(BlockKind.Thinking);
                        t.Delta(BlockKind.Thinking, block.Str("thinking") ?? "");
                        break;
                    case "tool_use":
                        t.Open(BlockKind.ToolCall, block.Str("id"), block.Str("name"));
                        break;
                    default:
                        _skipped.Add(data.Long("index"));
                        break;
                }

                break;
            case "content_block_delta":
                if (_skipped.Contains(data.Long("index")))
                {
                    break;
                }

                var delta = data.Prop("delta") ?? default;
                switch (delta.Str("type"))
                {
                    case "text_delta":
                        t.Delta(BlockKind.Text, delta.Str("text") ?? "");
                        break;
                    case "thinking_delta":
                        t.Delta(BlockKind.Thinking, delta.Str("thinking") ?? "");
                        break;
                    case "signature_delta":
                        t.Signature(delta.Str("signature") ?? "");
                        break;
                    case "input_json_delta":
                        t.Delta(BlockKind.ToolCall, delta.Str("partial_json") ?? "");
                        break;
                }

                break;
            case "content_block_stop":
                if (!_skipped.Contains(data.Long("index")))
                {
                    t.Close();
                }

                break;
            case "message_delta":
                if (data.Prop("usage") is { } more)
                {
                    t.Usage = AnthropicMessages.ReadUsage(more, t.Usage);
                }

                var md = data.Prop("delta") ?? default;
                t.Stop(AnthropicMessages.ParseStop(md.Str("stop_reason")), md.Str("stop_sequence"));
                break;
            case "message_stop":
                t.End();
                break;
            case "error":
                t.UpstreamError = (data.Prop("error") ?? default).Str("message") ?? "the upstream reported an error";
                break;
        }
    }
}

/// <summary>Writes an Anthropic Messages stream for a client.</summary>
internal sealed class AnthropicStreamEncoder(string clientModel) : StreamEncoder
{
    private int _index = -1;

    public override void Start(string id, Usage? usage)
    {
        var w = BeginJson();
        w.WriteStartObject();
        w.WriteString("type", "message_start");
        w.WriteStartObject("message");
        w.WriteString("id", AnthropicMessages.MessageId(id));
        w.WriteString("type", "message");
        w.WriteString("role", "assistant");
        w.WriteString("model", clientModel);
        w.WriteStartArray("content");
        w.WriteEndArray();
        w.WriteNull("stop_reason");
        w.WriteNull("stop_sequence");
        AnthropicMessages.WriteUsage(w, usage ?? default);
        w.WriteEndObject();
        w.WriteEndObject();
        Emit("message_start"u8);
    }

    public override void BlockStart(BlockKind kind, string? toolId, string? toolName)
    {
        _index++;
        var w = BeginJson();
        w.WriteStartObject();
        w.WriteString("type", "content_block_start");
        w.WriteNumber("index", _index);
        w.WriteStartObject("content_block");
        switch (kind)
        {
            case BlockKind.Text:
                w.WriteString("type", "text");
                w.WriteString("text", "");
                break;
            case BlockKind.Thinking:
                w.WriteString("type", "thinking");
                w.WriteString("thinking", "");
                w.WriteString("signature", "");
                break;
            default:
                w.WriteString("type", "tool_use");
                w.WriteString("id", toolId);
                w.WriteString("name", toolName);
                w.WriteStartObject("input");
                w.WriteEndObject();
                break;
        }

        w.WriteEndObject();
        w.WriteEndObject();
        Emit("content_block_start"u8);
    }

    public override void Delta(BlockKind kind, string text)
    {
        var w = BeginJson();
        w.WriteStartObject();
        w.WriteString("type", "content_block_delta");
        w.WriteNumber("index", _index);
        w.WriteStartObject("delta");
        switch (kind)
        {
            case BlockKind.Text:
                w.WriteString("type", "text_delta");
                w.WriteString("text", text);
                break;
            case BlockKind.Thinking:
                w.WriteString("type", "thinking_delta");
                w.WriteString("thinking", text);
                break;
            default:
                w.WriteString("type", "input_json_delta");
                w.WriteString("partial_json", text);
                break;
        }

        w.WriteEndObject();
        w.WriteEndObject();
        Emit("content_block_delta"u8);
    }

    public override void Signature(string signature)
    {
        var w = BeginJson();
        w.WriteStartObject();
        w.WriteString("type", "content_block_delta");
        w.WriteNumber("index", _index);
        w.WriteStartObject("delta");
        w.WriteString("type", "signature_delta");
        w.WriteString("signature", signature);
        w.WriteEndObject();
        w.WriteEndObject();
        Emit("content_block_delta"u8);
    }

    public override void BlockStop(BlockKind kind)
    {
        var w = BeginJson();
        w.WriteStartObject();
        w.WriteString("type", "content_block_stop");
        w.WriteNumber("index", _index);
        w.WriteEndObject();
        Emit("content_block_stop"u8);
    }

    public override void Stop(StopReason reason, string? stopSequence, Usage usage)
    {
        var w = BeginJson();
        w.WriteStartObject();
        w.WriteString("type", "message_delta");
        w.WriteStartObject("delta");
        w.WriteString("stop_reason", AnthropicMessages.StopString(reason));
        if (reason == StopReason.StopSequence && stopSequence is not null)
        {
            w.WriteString("stop_sequence", stopSequence);
        }
        else
        {
            w.WriteNull("stop_sequence");
        }

        w.WriteEndObject();

        // The final usage: current SDKs take input and cache figures from message_delta too, which matters
        // when the upstream (OpenAI chat) reports usage only at the end.
        AnthropicMessages.WriteUsage(w, usage);
        w.WriteEndObject();
        Emit("message_delta"u8);
    }

    public override void End() => EmitRaw("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"u8);
}
