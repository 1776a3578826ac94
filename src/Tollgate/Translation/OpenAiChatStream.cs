using System.Text.Json;
using Tollgate.Pipeline;

namespace Tollgate.Translation;

/// <summary>
/// Reads an OpenAI chat completions stream: chunks whose deltas carry content, reasoning_content and
/// tool_calls fragments by index, a chunk with finish_reason, a usage chunk (we always ask for
/// include_usage), then [DONE]. https://platform.openai.com/docs/api-reference/chat-streaming
/// </summary>
internal sealed class OpenAiChatStreamDecoder : StreamDecoder
{
    private sealed class Call(string? id, string? name)
    {
        public string? Id = id;
        public string? Name = name;
        public string Pending = "";
        public bool Opened;
        public bool Closed;
    }

    private readonly Dictionary<int, Call> _calls = [];
    private int _current = -1;
    private string _id = "";
    private (StopReason Reason, string? Sequence)? _finish;
    private bool _haveUsage;

    public override void DecodeRaw(ReadOnlySpan<byte> data, StreamTranslator t)
    {
        if (data.SequenceEqual("[DONE]"u8))
        {
            t.EnsureStarted(_id);
            var (reason, sequence) = _finish ?? (StopReason.EndTurn, null);
            t.Stop(reason, sequence);
            t.End();
        }
    }

    public override void Decode(ReadOnlySpan<byte> eventName, JsonElement chunk, StreamTranslator t)
    {
        if (chunk.Prop("error") is { } error)
        {
            t.UpstreamError = error.Str("message") ?? "the upstream reported an error";
            return;
        }

        if (_id.Length == 0)
        {
            _id = chunk.Str("id") ?? "";
        }

        if (chunk.Prop("choices") is { ValueKind: JsonValueKind.Array } choices)
        {
            foreach (var choice in choices.EnumerateArray())
            {
                if (choice.Long("index") != 0)
                {
                    continue;
                }

                t.EnsureStarted(_id);
                if (choice.Prop("delta") is { } delta)
                {
                    ReadDelta(delta, t);
                }

                if (choice.Str("finish_reason") is { } finish)
                {
                    FlushPendingCalls(t);
                    t.Close();
                    _finish = OpenAiChat.ParseFinish(finish, choice.Str("stop_reason"));
                }
            }
        }

        if (chunk.Prop("usage") is { ValueKind: JsonValueKind.Object } usage)
        {
            t.Usage = OpenAiChat.ReadUsage(usage);
            _haveUsage = true;
        }

        if (_finish is { } f && _haveUsage)
        {
            t.Stop(f.Reason, f.Sequence);
            t.End();
        }
    }

    private void ReadDelta(JsonElement delta, StreamTranslator t)
    {
        if ((delta.Str("reasoning_content") ?? delta.Str("reasoning")) is { Length: > 0 } reasoning)
        {
            t.Delta(BlockKind.Thinking, reasoning);
        }

        if (delta.Str("content") is { Length: > 0 } content)
        {
            t.Delta(BlockKind.Text, content);
        }

        if (delta.Str("refusal") is { Length: > 0 } refusal)
        {
            t.Delta(BlockKind.Text, refusal);
        }

        if (delta.Prop("tool_calls") is not { ValueKind: JsonValueKind.Array } calls)
        {
            return;
        }

        foreach (var fragment in calls.EnumerateArray())
        {
            var fn = fragment.Prop("function") ?? default;
            var id = fragment.Str("id");
            var name = fn.Str("name");
            var args = fn.Str("arguments") ?? "";

            // Servers that omit the index send each call whole, or start a new call with a new id.
            int index;
            if (fragment.Prop("index") is { ValueKind: JsonValueKind.Number } i)
            {
                index = i.GetInt32();
            }
            else
            {
                index = id is not null && (_current < 0 || _calls[_current].Id != id) ? _calls.Count : Math.Max(_current, 0);
            }

            if (!_calls.TryGetValue(index, out var call))
            {
                call = new Call(id, name);
                _calls[index] = call;
            }
            else
            {
                call.Id ??= id;
                call.Name ??= name;
            }

            if (call.Closed)
            {
                continue; // a fragment for a call whose block already closed (interleaved calls) cannot be placed
            }

            if (!call.Opened)
            {
                call.Pending += args;
                if (call.Name is null)
                {
                    continue; // the block starts once the name is known
                }

                OpenCall(index, call, t);
            }
            else if (args.Length > 0)
            {
                t.Delta(BlockKind.ToolCall, args);
            }
        }
    }

    private void OpenCall(int index, Call call, StreamTranslator t)
    {
        if (_current >= 0 && _calls[_current] is { Opened: true } previous)
        {
            previous.Closed = true;
        }

        _current = index;
        call.Opened = true;
        t.Open(BlockKind.ToolCall, call.Id ?? OpenAiChat.ToolCallId(_id, index), call.Name);
        if (call.Pending.Length > 0)
        {
            t.Delta(BlockKind.ToolCall, call.Pending);
            call.Pending = "";
        }
    }

    private void FlushPendingCalls(StreamTranslator t)
    {
        foreach (var (index, call) in _calls)
        {
            if (!call.Opened && call.Name is not null)
            {
                OpenCall(index, call, t);
            }
        }
    }
}

/// <summary>Writes an OpenAI chat completions stream for a client.</summary>
internal sealed class OpenAiChatStreamEncoder(string clientModel, long created) : StreamEncoder
{
    private string _id = "";
    private int _toolIndex = -1;

    public override void Start(string id, Usage? usage)
    {
        _id = OpenAiChat.CompletionId(id);
        var w = BeginChunk();
        w.WriteString("role", "assistant");
        w.WriteString("content", "");
        EndChunk(w, null);
    }

    public override void BlockStart(BlockKind kind, string? toolId, string? toolName)
    {
        if (kind != BlockKind.ToolCall)
        {
            return;
        }

        _toolIndex++;
        var w = BeginChunk();
        w.WriteStartArray("tool_calls");
        w.WriteStartObject();
        w.WriteNumber("index", _toolIndex);
        w.WriteString("id", toolId);
        w.WriteString("type", "function");
        w.WriteStartObject("function");
        w.WriteString("name", toolName);
        w.WriteString("arguments", "");
        w.WriteEndObject();
        w.WriteEndObject();
        w.WriteEndArray();
        EndChunk(w, null);
    }

    public override void Delta(BlockKind kind, string text)
    {
        var w = BeginChunk();
        switch (kind)
        {
            case BlockKind.Text:
                w.WriteString("content", text);
                break;
            case BlockKind.Thinking:
                w.WriteString("reasoning_content", text);
                break;
            default:
                w.WriteStartArray("tool_calls");
                w.WriteStartObject();
                w.WriteNumber("index", _toolIndex);
                w.WriteStartObject("function");
                w.WriteString("arguments", text);
                w.WriteEndObject();
                w.WriteEndObject();
                w.WriteEndArray();
                break;
        }

        EndChunk(w, null);
    }

    public override void BlockStop(BlockKind kind)
    {
    }

    public override void Stop(StopReason reason, string? stopSequence, Usage usage)
    {
        var w = BeginChunk();
        EndChunk(w, OpenAiChat.FinishString(reason));

        // The usage chunk: no choices, as OpenAI sends it with stream_options.include_usage.
        w = BeginJson();
        WriteEnvelope(w);
        w.WriteStartArray("choices");
        w.WriteEndArray();
        OpenAiChat.WriteUsage(w, usage);
        w.WriteEndObject();
        Emit(default);
    }

    public override void End() => EmitRaw("data: [DONE]\n\n"u8);

    private void WriteEnvelope(Utf8JsonWriter w)
    {
        w.WriteStartObject();
        w.WriteString("id", _id);
        w.WriteString("object", "chat.completion.chunk");
        w.WriteNumber("created", created);
        w.WriteString("model", clientModel);
    }

    private Utf8JsonWriter BeginChunk()
    {
        var w = BeginJson();
        WriteEnvelope(w);
        w.WriteStartArray("choices");
        w.WriteStartObject();
        w.WriteNumber("index", 0);
        w.WriteStartObject("delta");
        return w;
    }

    private void EndChunk(Utf8JsonWriter w, string? finish)
    {
        w.WriteEndObject();
        w.WriteNull("logprobs");
        if (finish is null)
        {
            w.WriteNull("finish_reason");
        }
        else
        {
            w.WriteString("finish_reason", finish);
        }

        w.WriteEndObject();
        w.WriteEndArray();
        w.WriteEndObject();
        Emit(default);
    }
}
