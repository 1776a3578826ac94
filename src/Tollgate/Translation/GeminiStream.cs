using System.Text;
using System.Text.Json;
using Tollgate.Pipeline;

namespace Tollgate.Translation;

/// <summary>
/// Reads a Gemini <c>streamGenerateContent?alt=sse</c> stream: each event is a whole GenerateContentResponse
/// holding the next parts; function calls arrive whole; usageMetadata is cumulative; the last candidate has a
/// finishReason.
/// </summary>
internal sealed class GeminiStreamDecoder : StreamDecoder
{
    private string _id = "";
    private int _calls;

    public override void Decode(ReadOnlySpan<byte> eventName, JsonElement chunk, StreamTranslator t)
    {
        if (chunk.Prop("error") is { } error)
        {
            t.UpstreamError = error.Str("message") ?? "the upstream reported an error";
            return;
        }

        if (_id.Length == 0)
        {
            _id = chunk.Str("responseId") ?? "";
        }

        t.EnsureStarted(_id);
        if (chunk.Prop("usageMetadata") is { } usage)
        {
            t.Usage = Gemini.ReadUsage(usage);
        }

        string? finish = null;
        if (chunk.Prop("candidates") is { ValueKind: JsonValueKind.Array } candidates && candidates.GetArrayLength() > 0)
        {
            var candidate = candidates[0];
            foreach (var part in ((candidate.Prop("content") ?? default).Prop("parts") ?? default).EnumerateArrayOrEmpty())
            {
                if (part.Str("text") is { } text)
                {
                    t.Delta(part.Bool("thought") ? BlockKind.Thinking : BlockKind.Text, text);
                }
                else if (part.Prop("functionCall") is { } call)
                {
                    t.Open(BlockKind.ToolCall, call.Str("id") ?? Gemini.CallId(_id, _calls), call.Str("name"));
                    t.Delta(BlockKind.ToolCall, (call.Prop("args") is { } args ? Json.Compact(args) : "{}"));
                    t.Close();
                    _calls++;
                }
            }

            finish = candidate.Str("finishReason");
        }
        else if ((chunk.Prop("promptFeedback") ?? default).Str("blockReason") is not null)
        {
            finish = "SAFETY";
        }

        if (finish is not null)
        {
            t.Stop(Gemini.ParseFinish(finish, _calls > 0), null);
            t.End();
        }
    }
}

/// <summary>Writes a Gemini SSE stream for a client: one GenerateContentResponse per event.</summary>
internal sealed class GeminiStreamEncoder(string clientModel) : StreamEncoder
{
    private readonly StringBuilder _args = new();
    private string _id = "";
    private string? _callId;
    private string? _name;

    public override void Start(string id, Usage? usage) => _id = id;

    public override void BlockStart(BlockKind kind, string? toolId, string? toolName)
    {
        _args.Clear();
        _callId = toolId;
        _name = toolName;
    }

    public override void Delta(BlockKind kind, string text)
    {
        if (kind == BlockKind.ToolCall)
        {
            _args.Append(text); // Gemini sends a call whole: it goes out when its block ends
            return;
        }

        var w = BeginChunk();
        Gemini.WritePart(w, kind == BlockKind.Thinking ? new ThinkingPart(text) : new TextPart(text));
        EndChunk(w, null, null);
    }

    public override void BlockStop(BlockKind kind)
    {
        if (kind != BlockKind.ToolCall)
        {
            return;
        }

        var w = BeginChunk();
        Gemini.WritePart(w, new ToolCallPart(_callId ?? "", _name ?? "", _args.ToString()));
        EndChunk(w, null, null);
    }

    public override void Stop(StopReason reason, string? stopSequence, Usage usage)
    {
        var w = BeginChunk();
        Gemini.WritePart(w, new TextPart(""));
        EndChunk(w, Gemini.FinishString(reason), usage);
    }

    public override void End()
    {
    }

    private Utf8JsonWriter BeginChunk()
    {
        var w = BeginJson();
        w.WriteStartObject();
        w.WriteStartArray("candidates");
        w.WriteStartObject();
        w.WriteStartObject("content");
        w.WriteString("role", "model");
        w.WriteStartArray("parts");
        return w;
    }

    private void EndChunk(Utf8JsonWriter w, string? finish, Usage? usage)
    {
        w.WriteEndArray();
        w.WriteEndObject();
        if (finish is not null)
        {
            w.WriteString("finishReason", finish);
        }

        w.WriteNumber("index", 0);
        w.WriteEndObject();
        w.WriteEndArray();
        if (usage is { } u)
        {
            Gemini.WriteUsage(w, u);
        }

        w.WriteString("modelVersion", clientModel);
        w.WriteString("responseId", _id);
        w.WriteEndObject();
        Emit(default);
    }
}
