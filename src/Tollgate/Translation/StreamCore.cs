using System.Buffers;
using System.Text.Json;
using Tollgate.Pipeline;

namespace Tollgate.Translation;

internal enum BlockKind
{
    Text,
    Thinking,
    ToolCall,
}

/// <summary>
/// Writes one client format's stream from canonical stream updates. <see cref="StreamTranslator"/> guarantees
/// the order: Start once; blocks one at a time (start, deltas, stop); Stop once; End once.
/// </summary>
internal abstract class StreamEncoder
{
    private readonly ArrayBufferWriter<byte> _json = new(1024);
    private Utf8JsonWriter? _writer;

    /// <summary>Where events go; set for each upstream event.</summary>
    public IBufferWriter<byte> Output { get; set; } = null!;

    public abstract void Start(string id, Usage? usage);

    public abstract void BlockStart(BlockKind kind, string? toolId, string? toolName);

    public abstract void Delta(BlockKind kind, string text);

    public virtual void Signature(string signature)
    {
    }

    public abstract void BlockStop(BlockKind kind);

    public abstract void Stop(StopReason reason, string? stopSequence, Usage usage);

    public abstract void End();

    /// <summary>A JSON writer over a reused buffer for the next event's data.</summary>
    protected Utf8JsonWriter BeginJson()
    {
        _json.ResetWrittenCount();
        if (_writer is null)
        {
            _writer = new Utf8JsonWriter(_json, Json.WriterOptions);
        }
        else
        {
            _writer.Reset(_json);
        }

        return _writer;
    }

    /// <summary>Frames the JSON just written as one SSE event; no event line when <paramref name="eventName"/> is empty.</summary>
    protected void Emit(ReadOnlySpan<byte> eventName)
    {
        _writer!.Flush();
        if (!eventName.IsEmpty)
        {
            Output.Write("event: "u8);
            Output.Write(eventName);
            Output.Write("\n"u8);
        }

        Output.Write("data: "u8);
        Output.Write(_json.WrittenSpan);
        Output.Write("\n\n"u8);
    }

    protected void EmitRaw(ReadOnlySpan<byte> frame) => Output.Write(frame);
}

/// <summary>Reads one upstream format's SSE events and drives a <see cref="StreamTranslator"/>.</summary>
internal abstract class StreamDecoder
{
    public abstract void Decode(ReadOnlySpan<byte> eventName, JsonElement data, StreamTranslator t);

    /// <summary>Data that is not JSON (OpenAI's <c>[DONE]</c>).</summary>
    public virtual void DecodeRaw(ReadOnlySpan<byte> data, StreamTranslator t)
    {
    }
}

/// <summary>Upstream decoder + client encoder, with the bookkeeping both need: block order, stop, usage.</summary>
internal sealed class StreamTranslator(StreamDecoder decoder, StreamEncoder encoder) : IStreamTranslator
{
    private bool _started;
    private BlockKind? _open;
    private bool _stopped;

    public bool Completed { get; private set; }

    public Usage Usage { get; set; }

    public string? UpstreamError { get; set; }

    public BlockKind? OpenBlock => _open;

    public void OnEvent(ReadOnlySpan<byte> eventName, ReadOnlySpan<byte> data, IBufferWriter<byte> output)
    {
        encoder.Output = output;
        var trimmed = data.Trim(" \r\n\t"u8);
        if (trimmed.IsEmpty)
        {
            return;
        }

        if (trimmed[0] != (byte)'{')
        {
            decoder.DecodeRaw(trimmed, this);
            return;
        }

        // The document reads from a pooled copy: the caller's span is only valid during this call.
        var rented = ArrayPool<byte>.Shared.Rent(trimmed.Length);
        try
        {
            trimmed.CopyTo(rented);
            JsonDocument doc;
            try
            {
                doc = JsonDocument.Parse(rented.AsMemory(0, trimmed.Length), Json.DocumentOptions);
            }
            catch (JsonException)
            {
                UpstreamError ??= "the upstream sent an event that is not valid JSON";
                return;
            }

            using (doc)
            {
                decoder.Decode(eventName, doc.RootElement, this);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    public void Finish(IBufferWriter<byte> output)
    {
        encoder.Output = output;
        EnsureStarted("");
        Stop(StopReason.EndTurn, null);
        End();
    }

    public void EnsureStarted(string id, Usage? usage = null)
    {
        if (_started)
        {
            return;
        }

        _started = true;
        if (usage is { } u)
        {
            Usage = u;
        }

        encoder.Start(id, usage);
    }

    /// <summary>Opens a block, closing the one before; a text or thinking block already open just continues.</summary>
    public void Open(BlockKind kind, string? toolId = null, string? toolName = null)
    {
        if (_stopped)
        {
            return;
        }

        EnsureStarted("");
        if (_open == kind && kind != BlockKind.ToolCall)
        {
            return;
        }

        Close();
        _open = kind;
        encoder.BlockStart(kind, toolId, toolName);
    }

    public void Delta(BlockKind kind, string text)
    {
        if (_stopped || text.Length == 0)
        {
            return;
        }

        if (_open != kind)
        {
            if (kind == BlockKind.ToolCall)
            {
                return; // arguments for a call whose block is closed cannot be placed; decoders prevent this
            }

            Open(kind);
        }

        encoder.Delta(kind, text);
    }

    public void Signature(string signature)
    {
        if (_open == BlockKind.Thinking)
        {
            encoder.Signature(signature);
        }
    }

    public void Close()
    {
        if (_open is { } kind)
        {
            _open = null;
            encoder.BlockStop(kind);
        }
    }

    public void Stop(StopReason reason, string? stopSequence)
    {
        if (_stopped)
        {
            return;
        }

        EnsureStarted("");
        Close();
        _stopped = true;
        encoder.Stop(reason, stopSequence, Usage);
    }

    public void End()
    {
        if (Completed)
        {
            return;
        }

        Stop(StopReason.EndTurn, null);
        Completed = true;
        encoder.End();
    }
}
