using System.Buffers.Text;
using System.Net.Sockets;

namespace Tollgate.Upstream;

/// <summary>
/// The body of the current answer on an <see cref="Http1Connection"/>, as a read-only stream: it ends (reads 0) at
/// the end the framing gives, and throws an <see cref="IOException"/> when the connection ends before that. One per
/// connection, reused by each answer on it; the answer's owner disposes the <see cref="Http1Response"/>, not this.
/// </summary>
internal sealed class Http1Body(Http1Connection connection) : Stream
{
    /// <summary>The most a chunk-size or trailer line may take.</summary>
    private const int MaxLine = 8 * 1024;

    private BodyFraming _framing;
    private long _remaining;
    private ChunkState _state;
    private bool _done;

    private enum ChunkState
    {
        Size,
        Data,
        DataEnd,
        Trailers,
    }

    /// <summary>The answer this body belongs to now; null between calls.</summary>
    public Http1Response? Owner { get; set; }

    public void Start(Http1Response owner, ResponseHead head)
    {
        Owner = owner;
        _framing = head.Framing;
        _remaining = head.Framing == BodyFraming.Length ? head.Length : 0;
        _state = ChunkState.Size;
        _done = head.Framing == BodyFraming.None;
    }

    /// <summary>Whether the body has been read to its end, finishing it from buffered bytes when they hold the rest.</summary>
    public bool TryFinish()
    {
        if (!_done && _framing == BodyFraming.Length && connection.Buffered.Length >= _remaining)
        {
            connection.Consume((int)_remaining);
            _remaining = 0;
            _done = true;
        }
        else if (!_done && _framing == BodyFraming.Chunked)
        {
            try
            {
                while (!_done && _state != ChunkState.Data && AdvanceChunks())
                {
                }
            }
            catch (IOException)
            {
                return false;
            }
        }

        return _done;
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_done || buffer.IsEmpty)
        {
            return 0;
        }

        try
        {
            switch (_framing)
            {
                case BodyFraming.Length:
                {
                    var n = await connection.ReadAsync(buffer[..(int)Math.Min(buffer.Length, _remaining)], cancellationToken);
                    if (n == 0)
                    {
                        throw Truncated();
                    }

                    _remaining -= n;
                    _done = _remaining == 0;
                    return n;
                }

                case BodyFraming.UntilClose:
                {
                    var n = await connection.ReadAsync(buffer, cancellationToken);
                    _done = n == 0;
                    return n;
                }

                default:
                    while (true)
                    {
                        if (_state == ChunkState.Data)
                        {
                            var n = await connection.ReadAsync(buffer[..(int)Math.Min(buffer.Length, _remaining)], cancellationToken);
                            if (n == 0)
                            {
                                throw Truncated();
                            }

                            _remaining -= n;
                            if (_remaining == 0)
                            {
                                _state = ChunkState.DataEnd;
                            }

                            return n;
                        }

                        if (AdvanceChunks())
                        {
                            if (_done)
                            {
                                return 0;
                            }

                            continue;
                        }

                        if (await connection.FillAsync(cancellationToken) == 0)
                        {
                            throw Truncated();
                        }
                    }
            }
        }
        catch (SocketException ex) when (!cancellationToken.IsCancellationRequested)
        {
            throw new IOException("the upstream connection broke in the middle of the response body", ex);
        }
        catch (SocketException) when (cancellationToken.IsCancellationRequested)
        {
            throw new OperationCanceledException(cancellationToken);
        }
    }

    /// <summary>
    /// Consumes chunk framing lines from the buffered bytes; true once it reached chunk data or the body's end,
    /// false when it needs more bytes.
    /// </summary>
    private bool AdvanceChunks()
    {
        while (true)
        {
            var data = connection.Buffered;
            var line = ResponseHead.NextLine(data, 0, out var next);
            if (next < 0)
            {
                return data.Length <= MaxLine ? false : throw new IOException("the upstream's chunked body has a framing line over 8 KB");
            }

            switch (_state)
            {
                case ChunkState.DataEnd:
                    if (!line.IsEmpty)
                    {
                        throw new IOException("the upstream's chunked body is malformed: a chunk did not end where its size said");
                    }

                    connection.Consume(next);
                    _state = ChunkState.Size;
                    break;
                case ChunkState.Size:
                {
                    var semicolon = line.IndexOf((byte)';');
                    var hex = (semicolon < 0 ? line : line[..semicolon]).Trim(" \t"u8);
                    if (hex.Length is 0 or > 15 || !Utf8Parser.TryParse(hex, out long size, out var used, 'X') || used != hex.Length)
                    {
                        throw new IOException("the upstream's chunked body is malformed: a chunk size is not a hex number");
                    }

                    connection.Consume(next);
                    if (size == 0)
                    {
                        _state = ChunkState.Trailers;
                        break;
                    }

                    _remaining = size;
                    _state = ChunkState.Data;
                    return true;
                }

                default:
                    // Trailers after the last chunk: read and dropped, up to the empty line that ends the body.
                    connection.Consume(next);
                    if (line.IsEmpty)
                    {
                        _done = true;
                        return true;
                    }

                    break;
            }
        }
    }

    private static IOException Truncated() => new("the upstream closed the connection before the response body was complete");

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override int Read(byte[] buffer, int offset, int count) =>
        ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
