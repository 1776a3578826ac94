using System.Buffers;
using System.Text.Json;
using Microsoft.AspNetCore.Http.Features;
using Tollgate.Pipeline;
using Tollgate.Telemetry;

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

    public static async Task RelayAsync(GatewayContext ctx, HttpResponseMessage response, ActivityTimeout activity, bool hideInjectedUsage, ILogger logger)
    {
        var http = ctx.Http;
        var format = ctx.Operation.StreamFormat;
        ctx.Status = (int)response.StatusCode;
        http.Response.StatusCode = ctx.Status;
        HeaderPolicy.CopyResponseHeaders(response, http.Response);
        http.Response.Headers.CacheControl = "no-cache";
        http.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();

        var output = http.Response.BodyWriter;
        var state = new StreamState(format, hideInjectedUsage);
        var buffer = ArrayPool<byte>.Shared.Rent(InitialBuffer);
        var filled = 0;
        string? failure = null;
        try
        {
            await using var stream = await response.Content.ReadAsStreamAsync(activity.Token);
            while (true)
            {
                if (filled == buffer.Length)
                {
                    var bigger = ArrayPool<byte>.Shared.Rent(buffer.Length * 2);
                    buffer.AsSpan(0, filled).CopyTo(bigger);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = bigger;
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
                    var ev = buffer.AsSpan(consumed, end - consumed);
                    if (state.Inspect(ev, ctx))
                    {
                        output.Write(ev);
                        wrote = true;
                    }

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

        if (state.Completed)
        {
            return;
        }

        failure ??= "the upstream closed the stream before it was complete";
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

            // Responses: the terminal events are response.completed, response.incomplete, response.failed, error.
            var type = TopLevelString(payload, "type"u8);
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
