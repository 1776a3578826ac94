using System.Buffers;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Tollgate.Surfaces;

/// <summary>
/// Same-format forwarding rewrites only what it must: the <c>model</c> value, and for streamed chat the
/// <c>stream_options.include_usage</c> flag. Everything else is copied byte for byte.
/// </summary>
internal static class BodyRewriter
{
    private static ReadOnlySpan<byte> StreamUsageProperty => "\"stream_options\":{\"include_usage\":true},"u8;

    /// <summary>
    /// Writes the body with <paramref name="upstreamModelJson"/> (a JSON string token, quotes included) in place
    /// of the model, into a pooled buffer the caller returns. <paramref name="injected"/> says whether the
    /// usage option was added (so the relay hides the extra usage chunk from the client).
    /// </summary>
    public static PooledBytes Rewrite(ReadOnlySpan<byte> body, in RequestPeek peek, ReadOnlySpan<byte> upstreamModelJson, bool wantStreamUsage, out bool injected)
    {
        injected = false;
        if (wantStreamUsage && peek.HasStreamOptions && !peek.IncludeUsage)
        {
            // Rare: the client sent stream_options without include_usage. Edit the tree once rather than splice.
            injected = true;
            return RewriteWithTree(body, upstreamModelJson);
        }

        var insertUsage = wantStreamUsage && !peek.HasStreamOptions;
        injected = insertUsage;
        var length = body.Length - peek.ModelLength + upstreamModelJson.Length + (insertUsage ? StreamUsageProperty.Length : 0);
        var buffer = ArrayPool<byte>.Shared.Rent(length);
        var span = buffer.AsSpan();
        var written = 0;
        var cursor = 0;
        if (insertUsage)
        {
            var open = body.IndexOf((byte)'{') + 1;
            body[..open].CopyTo(span);
            StreamUsageProperty.CopyTo(span[open..]);
            written = open + StreamUsageProperty.Length;
            cursor = open;
        }

        body[cursor..peek.ModelStart].CopyTo(span[written..]);
        written += peek.ModelStart - cursor;
        upstreamModelJson.CopyTo(span[written..]);
        written += upstreamModelJson.Length;
        var rest = body[(peek.ModelStart + peek.ModelLength)..];
        rest.CopyTo(span[written..]);
        written += rest.Length;
        return new PooledBytes(buffer, written);
    }

    private static PooledBytes RewriteWithTree(ReadOnlySpan<byte> body, ReadOnlySpan<byte> upstreamModelJson)
    {
        var root = JsonNode.Parse(body)!.AsObject();
        root["model"] = JsonNode.Parse(upstreamModelJson);
        if (root["stream_options"] is JsonObject options)
        {
            options["include_usage"] = true;
        }
        else
        {
            root["stream_options"] = new JsonObject { ["include_usage"] = true };
        }
        var output = new ArrayBufferWriter<byte>(body.Length + 64);
        using (var writer = new Utf8JsonWriter(output))
        {
            root.WriteTo(writer);
        }

        var buffer = ArrayPool<byte>.Shared.Rent(output.WrittenCount);
        output.WrittenSpan.CopyTo(buffer);
        return new PooledBytes(buffer, output.WrittenCount);
    }
}

/// <summary>A rented array and how much of it is used. Dispose returns it to the pool.</summary>
internal readonly struct PooledBytes(byte[] array, int length) : IDisposable
{
    public byte[] Array { get; } = array;

    public int Length { get; } = length;

    public ReadOnlyMemory<byte> Memory => Array.AsMemory(0, Length);

    public ReadOnlySpan<byte> Span => Array.AsSpan(0, Length);

    /// <summary>Swaps a full pooled buffer for one twice its size, keeping its first <paramref name="filled"/> bytes.</summary>
    public static void Grow(ref byte[] buffer, int filled)
    {
        var bigger = ArrayPool<byte>.Shared.Rent(buffer.Length * 2);
        buffer.AsSpan(0, filled).CopyTo(bigger);
        ArrayPool<byte>.Shared.Return(buffer);
        buffer = bigger;
    }

    public void Dispose()
    {
        if (Array is not null)
        {
            ArrayPool<byte>.Shared.Return(Array);
        }
    }
}
