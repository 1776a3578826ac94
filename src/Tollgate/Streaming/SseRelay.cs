using System.Buffers;
using System.Text.Json;
using Microsoft.AspNetCore.Http.Features;
using Tollgate.Pipeline;
using Tollgate.Surfaces;
using Tollgate.Telemetry;
using Tollgate.Translation;
using Tollgate.Upstream;

namespace Tollgate.Streaming;

/// <summary>
/// Same-format stream relay: copies SSE events byte for byte and flushes after each read, tapping the
/// events only to read usage and to see the stream's proper end. A stream that ends any other way
/// (the upstream disconnects, stalls past the activity timeout, or closes early) is finished with the
/// surface's error event, so a truncated stream never looks complete.
/// </summary>
internal static class SseRelay
{
    private const int InitialBuffer = 16 * 1024;

    public static Task RelayAsync(GatewayContext ctx, UpstreamResponse response, ActivityTimeout activity, bool hideInjectedUsage, ILogger logger)
    {
        var state = new StreamState(ctx.Operation.StreamFormat, hideInjectedUsage);
        return PumpAsync(ctx, response, activity, logger, new CopySink(ctx, state));
    }

    /// <summary>Relays an upstream stream of another format, translating event by event.</summary>
    public static Task RelayTranslatedAsync(GatewayContext ctx, UpstreamResponse response, ActivityTimeout activity, IStreamTranslator translator, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(translator);
        return PumpAsync(ctx, response, activity, logger, new TranslateSink(ctx, translator));
    }

    /// <summary>
    /// Reads the upstream SSE stream, hands each complete event to the sink, and flushes after every read that
    /// produced output. Ends the client's stream with the surface's error event unless the sink saw the proper end.
    /// </summary>
    private static async Task PumpAsync(GatewayContext ctx, UpstreamResponse response, ActivityTimeout activity, ILogger logger, IEventSink sink)
    {
        var http = ctx.Http;
        var format = ctx.Operation.StreamFormat;
        ctx.Status = response.Status;
        http.Response.StatusCode = ctx.Status;
        sink.SetHeaders(response, http.Response);
        http.Response.Headers.CacheControl = "no-cache";
        http.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();

        var output = http.Response.BodyWriter;
        var buffer = ArrayPool<byte>.Shared.Rent(InitialBuffer);
        var filled = 0;
        string? failure = null;
        try
        {
            var stream = response.Body;
            while (true)
            {
                if (filled == buffer.Length)
                {
                    PooledBytes.Grow(ref buffer, filled);
                }

                var read = await stream.ReadAsync(buffer.AsMemory(filled), activity.Token);
                if (read == 0)
                {
                    break;
                }

                activity.Touch();
                var scanFrom = Math.Max(0, filled - 2);
                filled += read;
                var consumed = 0;
                var wrote = false;
                while (FindEventEnd(buffer.AsSpan(0, filled), Math.Max(consumed, scanFrom), out var end))
                {
                    wrote |= sink.OnEvent(buffer.AsSpan(consumed, end - consumed), output);
                    consumed = end;
                }

                if (consumed > 0)
                {
                    buffer.AsSpan(consumed, filled - consumed).CopyTo(buffer);
                    filled -= consumed;
                }

                if (wrote)
                {
                    ctx.TtftMs ??= ctx.ElapsedMs;
                    var flush = await output.FlushAsync(http.RequestAborted);
                    if (flush.IsCompleted || flush.IsCanceled)
                    {
                        ctx.Status = 499;
                        ctx.ErrorType = "client_closed";
                        return;
                    }
                }
            }
        }
        catch (Exception ex) when (ex is IOException or HttpRequestException or OperationCanceledException && !http.RequestAborted.IsCancellationRequested)
        {
            failure = ex is OperationCanceledException
                ? $"the upstream sent nothing for {ActivitySeconds(ctx)}s"
                : "the upstream connection broke mid-stream";
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        if (http.RequestAborted.IsCancellationRequested)
        {
            ctx.Status = 499;
            ctx.ErrorType = "client_closed";
            return;
        }

        if (sink.Completed)
        {
            if (sink.Finish(output))
            {
                await output.FlushAsync(CancellationToken.None);
            }

            return;
        }

        failure = sink.UpstreamError is { } upstreamError ? $"the upstream reported an error: {upstreamError}" : failure ?? "the upstream closed the stream before it was complete";
        var served = ctx.ServedBy!.Label;
        Log.StreamBroken(logger, served, failure);
        var error = new GatewayError(GatewayErrorKind.UpstreamFailed,
            $"The stream from {served} (model group '{ctx.Group!.Name}') was cut off: {failure}. The response is incomplete; retry the request.");
        ctx.Status = 502;
        ctx.ErrorType = "stream_interrupted";
        output.Write(ctx.Operation.Errors.StreamErrorEvent(error, format));
        await output.FlushAsync(CancellationToken.None);
    }

    private static string ActivitySeconds(GatewayContext ctx) =>
        ctx.ServedBy!.Provider.Config.ActivityTimeout.TotalSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Finds the end (exclusive, separator included) of the first complete event at or after <paramref name="from"/>.</summary>
    internal static bool FindEventEnd(ReadOnlySpan<byte> data, int from, out int end)
    {
        var i = from;
        while (i < data.Length)
        {
            var nl = data[i..].IndexOf((byte)'\n');
            if (nl < 0)
            {
                break;
            }

            i += nl;
            if (i + 1 < data.Length && data[i + 1] == (byte)'\n')
            {
                end = i + 2;
                return true;
            }

            if (i + 2 < data.Length && data[i + 1] == (byte)'\r' && data[i + 2] == (byte)'\n')
            {
                end = i + 3;
                return true;
            }

            i++;
        }

        end = 0;
        return false;
    }

    /// <summary>Where the pump hands each complete upstream event.</summary>
    private interface IEventSink
    {
        /// <summary>True once the stream's proper end has been seen.</summary>
        bool Completed { get; }

        string? UpstreamError { get; }

        void SetHeaders(UpstreamResponse upstream, HttpResponse client);

        /// <summary>Handles one raw event; returns whether anything was written for the client.</summary>
        bool OnEvent(ReadOnlySpan<byte> ev, IBufferWriter<byte> output);

        /// <summary>After a complete stream: writes closing events the client still needs; returns whether it wrote.</summary>
        bool Finish(IBufferWriter<byte> output);
    }

    /// <summary>Same format: the bytes go through as they came, and the tap reads usage and the end.</summary>
    private sealed class CopySink(GatewayContext ctx, StreamState state) : IEventSink
    {
        public bool Completed => state.Completed;

        public string? UpstreamError => null;

        public void SetHeaders(UpstreamResponse upstream, HttpResponse client) => HeaderPolicy.CopyResponseHeaders(upstream, client);

        public bool OnEvent(ReadOnlySpan<byte> ev, IBufferWriter<byte> output)
        {
            if (!state.Inspect(ev, ctx))
            {
                return false;
            }

            output.Write(ev);
            return true;
        }

        public bool Finish(IBufferWriter<byte> output) => false;
    }

    /// <summary>Other format: each event is split, translated, and the client's events are written.</summary>
    private sealed class TranslateSink(GatewayContext ctx, IStreamTranslator translator) : IEventSink
    {
        private readonly ArrayBufferWriter<byte> _scratch = new(256);
        private readonly ArrayBufferWriter<byte> _events = new(1024);

        public bool Completed => translator.Completed;

        public string? UpstreamError => translator.UpstreamError;

        public void SetHeaders(UpstreamResponse upstream, HttpResponse client) => client.ContentType = "text/event-stream; charset=utf-8";

        public bool OnEvent(ReadOnlySpan<byte> ev, IBufferWriter<byte> output)
        {
            _scratch.ResetWrittenCount();
            Translation.SseEvents.Split(ev, out var name, out var data, _scratch);
            if (data.IsEmpty && name.IsEmpty)
            {
                return false;
            }

            _events.ResetWrittenCount();
            translator.OnEvent(name, data, _events);
            ctx.Usage = translator.Usage;
            if (_events.WrittenCount == 0)
            {
                return false;
            }

            output.Write(_events.WrittenSpan);
            return true;
        }

        public bool Finish(IBufferWriter<byte> output)
        {
            _events.ResetWrittenCount();
            translator.Finish(_events);
            ctx.Usage = translator.Usage;
            output.Write(_events.WrittenSpan);
            return _events.WrittenCount > 0;
        }
    }

    /// <summary>What the relay learns from the events as they pass.</summary>
    private sealed class StreamState(StreamFormat format, bool hideInjectedUsage)
    {
        public bool Completed { get; private set; }

        /// <summary>Returns false for an event the client must not see (the usage chunk only the gateway asked for).</summary>
        public bool Inspect(ReadOnlySpan<byte> ev, GatewayContext ctx)
        {
            var payload = DataPayload(ev);
            if (payload.IsEmpty)
            {
                return true;
            }

            if (format == StreamFormat.ChatCompletions)
            {
                if (payload.StartsWith("[DONE]"u8))
                {
                    Completed = true;
                    return true;
                }

                if (payload.StartsWith("{\"error\""u8))
                {
                    // The upstream's own error event ends the stream; relay it as it is.
                    Completed = true;
                    ctx.ErrorType = "upstream_stream_error";
                    return true;
                }

                if (HasUsageObject(payload) && UsageReader.TryRead(payload, out var usage))
                {
                    ctx.Usage = usage;
                    return !(hideInjectedUsage && HasNoChoices(payload));
                }

                return true;
            }

            var type = TopLevelString(payload, "type"u8);
            if (format == StreamFormat.AnthropicMessages)
            {
                // message_start carries the input usage, message_delta the running output usage; message_stop ends it.
                switch (type)
                {
                    case "message_start" or "message_delta" when UsageReader.TryRead(payload, out var part):
                        ctx.Usage = Merge(ctx.Usage, part);
                        break;
                    case "message_stop":
                        Completed = true;
                        break;
                    case "error":
                        Completed = true;
                        ctx.ErrorType = "upstream_stream_error";
                        break;
                }

                return true;
            }

            // Responses: the terminal events are response.completed, response.incomplete, response.failed, error.
            if (type is "response.completed" or "response.incomplete" or "response.failed" or "error")
            {
                Completed = true;
                if (UsageReader.TryRead(payload, out var usage))
                {
                    ctx.Usage = usage;
                }

                if (type != "response.completed")
                {
                    ctx.ErrorType = type == "error" ? "upstream_stream_error" : type;
                }
            }

            return true;
        }

        /// <summary>Later usage reports win field by field; zeros in a delta do not erase what message_start said.</summary>
        private static Usage Merge(Usage known, Usage update) => new(
            update.InputTokens > 0 ? update.InputTokens : known.InputTokens,
            update.OutputTokens > 0 ? update.OutputTokens : known.OutputTokens,
            update.CacheReadTokens > 0 ? update.CacheReadTokens : known.CacheReadTokens,
            update.CacheWriteTokens > 0 ? update.CacheWriteTokens : known.CacheWriteTokens,
            update.ReasoningTokens > 0 ? update.ReasoningTokens : known.ReasoningTokens);

        private static ReadOnlySpan<byte> DataPayload(ReadOnlySpan<byte> ev)
        {
            var at = ev.StartsWith("data:"u8) ? 0 : ev.IndexOf("\ndata:"u8) is var i and >= 0 ? i + 1 : -1;
            if (at < 0)
            {
                return default;
            }

            var rest = ev[(at + 5)..];
            if (!rest.IsEmpty && rest[0] == (byte)' ')
            {
                rest = rest[1..];
            }

            var lineEnd = rest.IndexOfAny((byte)'\r', (byte)'\n');
            return lineEnd < 0 ? rest : rest[..lineEnd];
        }

        private static bool HasUsageObject(ReadOnlySpan<byte> payload)
        {
            var at = payload.IndexOf("\"usage\""u8);
            if (at < 0)
            {
                return false;
            }

            var rest = payload[(at + 7)..].TrimStart(" \t:"u8);
            return !rest.IsEmpty && rest[0] == (byte)'{';
        }

        private static bool HasNoChoices(ReadOnlySpan<byte> payload)
        {
            var reader = new Utf8JsonReader(payload);
            try
            {
                reader.Read();
                while (reader.Read() && reader.CurrentDepth >= 1)
                {
                    if (reader.TokenType == JsonTokenType.PropertyName && reader.CurrentDepth == 1 && reader.ValueTextEquals("choices"u8))
                    {
                        reader.Read();
                        return reader.TokenType == JsonTokenType.StartArray && reader.Read() && reader.TokenType == JsonTokenType.EndArray;
                    }

                    if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray)
                    {
                        reader.Skip();
                    }
                }
            }
            catch (JsonException)
            {
            }

            return false;
        }

        private static string? TopLevelString(ReadOnlySpan<byte> payload, ReadOnlySpan<byte> name)
        {
            var reader = new Utf8JsonReader(payload);
            try
            {
                if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
                {
                    return null;
                }

                while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                {
                    if (reader.ValueTextEquals(name))
                    {
                        reader.Read();
                        return reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
                    }

                    reader.Read();
                    reader.Skip();
                }
            }
            catch (JsonException)
            {
            }

            return null;
        }
    }
}
