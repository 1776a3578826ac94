using System.Buffers;
using System.Buffers.Text;
using System.Globalization;
using System.Net.Sockets;
using System.Text;

namespace Tollgate.Upstream;

/// <summary>
/// One keep-alive TCP connection of an <see cref="Http1Client"/>: it writes one request, reads its answer's head,
/// and then serves the body through <see cref="Http1Body"/>. One call at a time; never pipelined.
/// </summary>
internal sealed class Http1Connection : IDisposable
{
    private const int BufferSize = 16 * 1024;

    /// <summary>The most an answer's status line and headers may take.</summary>
    internal const int MaxHeadBytes = 64 * 1024;

    /// <summary>A request whose head and body together fit in this goes out in one send.</summary>
    private const int MaxSingleSend = 64 * 1024;

    private readonly Http1Client _owner;
    private readonly Socket _socket;
    private readonly Http1Body _body;
    private readonly HeaderCache _headers = new();
    private Uri? _prefixUrl;
    private byte[] _prefix = [];
    private byte[] _buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
    private int _start;
    private int _end;
    private bool _disposed;

    // No byte of the current call's answer has arrived yet (so a failure on a pooled connection may be retried).
    private bool _receivedNothing;

    // The upstream answered before it took the whole request body: the connection is not reused.
    private bool _closeAfter;

    public Http1Connection(Http1Client owner, Socket socket)
    {
        _owner = owner;
        _socket = socket;
        _body = new Http1Body(this);
    }

    /// <summary>When it went back to the pool (a <see cref="TimeProvider"/> timestamp).</summary>
    public long IdleSince { get; set; }

    /// <summary>False when the upstream closed the connection (or sent something unasked) while it idled.</summary>
    public bool LooksOpen()
    {
        try
        {
            return !_socket.Poll(0, SelectMode.SelectRead);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            return false;
        }
    }

    /// <summary>
    /// Sends the request and reads the answer's head, in one async method (one state machine per call). When this
    /// connection came from the pool and failed before a byte of the answer arrived, the call goes once more over a
    /// new connection (<paramref name="reused"/>).
    /// </summary>
    public async ValueTask<UpstreamResponse> SendAsync(UpstreamRequest request, bool reused, CancellationToken cancellationToken)
    {
        _receivedNothing = true;
        _closeAfter = false;
        _start = _end = 0;
        try
        {
            var bodyInline = WriteHead(request, out var headLength);
            await SendAllAsync(_buffer.AsMemory(0, headLength), cancellationToken);

            // A body too large for one send goes out while the answer is awaited: an upstream may answer (413, 401)
            // before it has read the whole body, and may never read the rest.
            var bodySend = bodyInline || request.Body.IsEmpty ? null : SendBodyAsync(request.Body, cancellationToken);
            while (true)
            {
                if (_end > _start && ResponseHead.TryParse(_buffer.AsSpan(_start, _end - _start), _headers, out var parsed, out var used))
                {
                    _start += used;
                    if (parsed.Status is >= 100 and < 200 and not 101)
                    {
                        // An interim answer (103 Early Hints, a stray 100 Continue): the real one follows.
                        continue;
                    }

                    if (bodySend is { IsCompletedSuccessfully: false })
                    {
                        // Answered before the body was all sent: the answer is relayed, and the connection, whose
                        // request was cut short, is closed after it.
                        _closeAfter = true;
                    }

                    var response = new Http1Response(this, parsed);
                    _body.Start(response, parsed);
                    return response;
                }

                if (_end - _start >= MaxHeadBytes)
                {
                    throw new HttpRequestException(HttpRequestError.InvalidResponse,
                        $"the upstream's response headers exceed {MaxHeadBytes / 1024} KB");
                }

                MakeRoom();
                var read = await _socket.ReceiveAsync(_buffer.AsMemory(_end), SocketFlags.None, cancellationToken);
                if (read == 0)
                {
                    throw new HttpRequestException(HttpRequestError.ResponseEnded,
                        _receivedNothing ? "the upstream closed the connection before it answered" : "the upstream closed the connection in the middle of its response headers");
                }

                _end += read;
                _receivedNothing = false;
            }
        }
        catch (Exception ex) when (reused && _receivedNothing && !cancellationToken.IsCancellationRequested
            && ex is SocketException or IOException or HttpRequestException { HttpRequestError: HttpRequestError.ResponseEnded })
        {
            // The upstream closed this idle connection before our request reached it: once more, on a new one.
            Dispose();
            return await _owner.SendOnNewConnectionAsync(request, cancellationToken);
        }
        catch (Exception ex) when (ex is SocketException or IOException && !cancellationToken.IsCancellationRequested)
        {
            Dispose();
            throw new HttpRequestException(HttpRequestError.ResponseEnded, "the upstream closed the connection before it answered", ex);
        }
        catch (SocketException) when (cancellationToken.IsCancellationRequested)
        {
            Dispose();
            throw new OperationCanceledException(cancellationToken);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>
    /// Sends a body that did not fit in the head's send. Runs beside the read of the answer; its failure (the upstream
    /// answered and closed without reading it all) is observed here, and the read decides what the call returns.
    /// </summary>
    private Task SendBodyAsync(ReadOnlyMemory<byte> body, CancellationToken cancellationToken)
    {
        var send = SendAllAsync(body, cancellationToken).AsTask();
        if (!send.IsCompletedSuccessfully)
        {
            _ = send.ContinueWith(static t => _ = t.Exception, CancellationToken.None,
                TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }

        return send;
    }

    /// <summary>Sends all of <paramref name="data"/>; a send that completes at once allocates nothing.</summary>
    private async ValueTask SendAllAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        while (!data.IsEmpty)
        {
            data = data[await _socket.SendAsync(data, SocketFlags.None, cancellationToken)..];
        }
    }

    /// <summary>Writes the request line and headers (and the body, when it fits) into the buffer.</summary>
    private bool WriteHead(UpstreamRequest request, out int length)
    {
        var url = request.Url;
        if (!ReferenceEquals(url, _prefixUrl))
        {
            // The request line and Host: the same few URLs on every call (the provider caches its Uri objects).
            _prefix = Encoding.Latin1.GetBytes($"POST {url.PathAndQuery} HTTP/1.1\r\nHost: {url.Authority}\r\n");
            _prefixUrl = url;
        }

        var size = 64 + _prefix.Length + request.ContentType.Length;
        var headers = request.Headers;
        for (var i = 0; i < headers.Count; i++)
        {
            var (name, values) = headers[i];
            foreach (var value in values)
            {
                size += name.Length + (value?.Length ?? 0) + 4;
            }
        }

        var bodyInline = size + request.Body.Length <= MaxSingleSend;
        var need = bodyInline ? size + request.Body.Length : size;
        if (_buffer.Length < need)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = ArrayPool<byte>.Shared.Rent(need);
        }

        var writer = new HeadWriter(_buffer);
        writer.Bytes(_prefix);
        for (var i = 0; i < headers.Count; i++)
        {
            var (name, values) = headers[i];
            foreach (var value in values)
            {
                writer.Header(name, value ?? string.Empty);
            }
        }

        writer.Header("Content-Type", request.ContentType);
        writer.Ascii("Content-Length: ");
        writer.Number(request.Body.Length);
        writer.Ascii("\r\n\r\n");
        if (bodyInline)
        {
            writer.Bytes(request.Body.Span);
        }

        length = writer.Length;
        return bodyInline;
    }

    /// <summary>Reads more from the socket into the buffer (making room first); returns 0 at the end of the stream.</summary>
    internal async ValueTask<int> FillAsync(CancellationToken cancellationToken)
    {
        MakeRoom();
        var read = await _socket.ReceiveAsync(_buffer.AsMemory(_end), SocketFlags.None, cancellationToken);
        _end += read;
        return read;
    }

    /// <summary>Makes room at the end of the buffer: drops consumed bytes, or doubles it when it is full.</summary>
    private void MakeRoom()
    {
        if (_start > 0 && _start == _end)
        {
            _start = _end = 0;
        }

        if (_end == _buffer.Length)
        {
            if (_start > 0)
            {
                Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
                _end -= _start;
                _start = 0;
            }
            else
            {
                var bigger = ArrayPool<byte>.Shared.Rent(_buffer.Length * 2);
                Buffer.BlockCopy(_buffer, 0, bigger, 0, _end);
                ArrayPool<byte>.Shared.Return(_buffer);
                _buffer = bigger;
            }
        }
    }

    /// <summary>Bytes read from the socket but not yet consumed.</summary>
    internal ReadOnlySpan<byte> Buffered => _buffer.AsSpan(_start, _end - _start);

    internal void Consume(int count) => _start += count;

    /// <summary>Copies buffered bytes into <paramref name="destination"/>, or reads from the socket straight into it.</summary>
    internal ValueTask<int> ReadAsync(Memory<byte> destination, CancellationToken cancellationToken)
    {
        var buffered = _end - _start;
        if (buffered > 0)
        {
            var n = Math.Min(buffered, destination.Length);
            _buffer.AsSpan(_start, n).CopyTo(destination.Span);
            _start += n;
            return ValueTask.FromResult(n);
        }

        return _socket.ReceiveAsync(destination, SocketFlags.None, cancellationToken);
    }

    /// <summary>The body of <paramref name="response"/>, while it is the connection's current answer.</summary>
    internal Stream BodyFor(Http1Response response)
    {
        ObjectDisposedException.ThrowIf(!ReferenceEquals(_body.Owner, response), response);
        return _body;
    }

    /// <summary>The answer was disposed: the connection goes back to the pool when its body was read to the end.</summary>
    internal void EndOf(Http1Response response)
    {
        if (!ReferenceEquals(_body.Owner, response))
        {
            return;
        }

        var reusable = response.KeepAlive && _body.TryFinish();
        _body.Owner = null;
        Release(reusable);
    }

    private void Release(bool reusable)
    {
        if (reusable && _start == _end && !_closeAfter && !_disposed)
        {
            _owner.Return(this);
        }
        else
        {
            Dispose();
        }
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _socket.Dispose();
        var buffer = _buffer;
        _buffer = [];
        ArrayPool<byte>.Shared.Return(buffer);
    }

    /// <summary>Request head bytes: Latin-1, and no line breaks inside a header (they would forge headers).</summary>
    private ref struct HeadWriter(byte[] buffer)
    {
        private readonly Span<byte> _span = buffer;

        public int Length { get; private set; }

        public void Ascii(string text) => Length += Encoding.Latin1.GetBytes(text, _span[Length..]);

        public void Bytes(ReadOnlySpan<byte> bytes)
        {
            bytes.CopyTo(_span[Length..]);
            Length += bytes.Length;
        }

        public void Number(int value)
        {
            Utf8Formatter.TryFormat(value, _span[Length..], out var written);
            Length += written;
        }

        public void Header(string name, string value)
        {
            if (name.AsSpan().IndexOfAny('\r', '\n', ':') >= 0 || value.AsSpan().IndexOfAny('\r', '\n', '\0') >= 0)
            {
                throw new HttpRequestException(HttpRequestError.Unknown, $"the header '{name}' for upstream holds a line break; it was not sent");
            }

            Ascii(name);
            Ascii(": ");
            Ascii(value);
            Ascii("\r\n");
        }
    }
}

/// <summary>How an answer's body is framed.</summary>
internal enum BodyFraming
{
    None,
    Length,
    Chunked,
    UntilClose,
}

/// <summary>An answer's status line and headers, parsed from the wire.</summary>
internal readonly record struct ResponseHead(int Status, BodyFraming Framing, long Length, bool KeepAlive, string? MediaType, IReadOnlyList<KeyValuePair<string, string>> Headers)
{
    /// <summary>
    /// Parses a complete head at the start of <paramref name="data"/>; false when the head is not complete yet.
    /// A malformed head throws <see cref="HttpRequestException"/> (<see cref="HttpRequestError.InvalidResponse"/>).
    /// </summary>
    /// <param name="data">The bytes received so far.</param>
    /// <param name="cache">The connection's header strings, reused when the upstream repeats its last answer's headers.</param>
    /// <param name="head">The parsed head.</param>
    /// <param name="used">How many bytes the head took.</param>
    public static bool TryParse(ReadOnlySpan<byte> data, HeaderCache cache, out ResponseHead head, out int used)
    {
        head = default;
        used = 0;
        var first = NextLine(data, 0, out var lineEnd);
        if (first.IsEmpty && lineEnd < 0)
        {
            return false;
        }

        // The status line: HTTP/1.x SSS reason
        if (first.Length < 12 || !first.StartsWith("HTTP/1."u8) || first[8] != (byte)' '
            || !Utf8Parser.TryParse(first.Slice(9, 3), out int status, out var digits) || digits != 3 || status < 100)
        {
            // Wait for the whole line only while it could still become a status line.
            if (lineEnd < 0 && first.Length < 12 && "HTTP/1.1 "u8.StartsWith(first[..Math.Min(first.Length, 9)]))
            {
                return false;
            }

            throw Invalid("its status line is not HTTP/1.x");
        }

        var http10 = first[7] == (byte)'0';
        long? length = null;
        var chunked = false;
        var close = false;
        var keepAlive = false;
        string? mediaType = null;
        var headers = new List<KeyValuePair<string, string>>(8);
        var index = 0;
        var at = lineEnd;
        while (true)
        {
            if (at < 0)
            {
                return false;
            }

            var line = NextLine(data, at, out var next);
            if (next < 0)
            {
                return false;
            }

            at = next;
            if (line.IsEmpty)
            {
                break;
            }

            var colon = line.IndexOf((byte)':');
            if (colon <= 0 || line[0] is (byte)' ' or (byte)'\t')
            {
                throw Invalid("it sent a malformed header line");
            }

            var nameBytes = line[..colon].TrimEnd((byte)' ');
            var valueBytes = line[(colon + 1)..].Trim(" \t"u8);
            if (valueBytes.IndexOfAnyExcept(ValueBytes) >= 0)
            {
                throw Invalid("a header value holds control characters");
            }

            var name = cache.Name(index, nameBytes);
            var slot = index++;
            switch (name)
            {
                case "Content-Length":
                    if (!Utf8Parser.TryParse(valueBytes, out long declared, out var consumed) || consumed != valueBytes.Length || declared < 0
                        || (length is { } earlier && earlier != declared))
                    {
                        throw Invalid("its Content-Length is not a single number");
                    }

                    length = declared;
                    continue;
                case "Transfer-Encoding":
                    chunked = valueBytes.Length >= 7 && Ascii.EqualsIgnoreCase(valueBytes[^7..], "chunked"u8);
                    if (!chunked)
                    {
                        throw Invalid("it used a transfer coding other than chunked");
                    }

                    continue;
                case "Connection":
                    close |= Contains(valueBytes, "close"u8);
                    keepAlive |= Contains(valueBytes, "keep-alive"u8);
                    continue;
                case "Content-Type":
                    var value = cache.Value(slot, valueBytes);
                    var semicolon = value.IndexOf(';', StringComparison.Ordinal);
                    mediaType = (semicolon < 0 ? value : value[..semicolon]).Trim().ToLowerInvariant();
                    headers.Add(new(name, value));
                    continue;
            }

            if (!Pipeline.HeaderPolicy.IsResponseDenied(name))
            {
                headers.Add(new(name, cache.Value(slot, valueBytes)));
            }
        }

        used = at;
        var framing = status is 204 or 304 ? BodyFraming.None
            : chunked ? BodyFraming.Chunked
            : length is { } n ? (n == 0 ? BodyFraming.None : BodyFraming.Length)
            : BodyFraming.UntilClose;
        var reusable = !close && (!http10 || keepAlive) && framing != BodyFraming.UntilClose;
        head = new ResponseHead(status, framing, length ?? 0, reusable, mediaType, headers);
        return true;
    }

    /// <summary>What a header value may hold: visible characters, space, tab and obs-text; no control characters.</summary>
    private static readonly SearchValues<byte> ValueBytes = SearchValues.Create(
        [(byte)'\t', .. Enumerable.Range(0x20, 0x7F - 0x20).Select(b => (byte)b), .. Enumerable.Range(0x80, 0x80).Select(b => (byte)b)]);

    /// <summary>The line starting at <paramref name="from"/> without its CRLF (or bare LF); next is -1 while incomplete.</summary>
    internal static ReadOnlySpan<byte> NextLine(ReadOnlySpan<byte> data, int from, out int next)
    {
        var rest = data[from..];
        var lf = rest.IndexOf((byte)'\n');
        if (lf < 0)
        {
            next = -1;
            return rest;
        }

        next = from + lf + 1;
        var line = rest[..lf];
        return line.Length > 0 && line[^1] == (byte)'\r' ? line[..^1] : line;
    }

    private static bool Contains(ReadOnlySpan<byte> value, ReadOnlySpan<byte> token)
    {
        foreach (var range in value.Split((byte)','))
        {
            if (Ascii.EqualsIgnoreCase(value[range].Trim(" \t"u8), token))
            {
                return true;
            }
        }

        return false;
    }

    internal static HttpRequestException Invalid(string why) =>
        new(HttpRequestError.InvalidResponse, $"the upstream's answer is not valid HTTP/1.1: {why}");
}

/// <summary>Header names (and a few values) as shared strings, so the common ones cost no allocation per answer.</summary>
internal static class HeaderNames
{
    private static readonly Dictionary<string, string> Known = new[]
    {
        "Content-Type", "Content-Length", "Transfer-Encoding", "Connection", "Keep-Alive", "Date", "Server", "Set-Cookie",
        "Alt-Svc", "TE", "Trailer", "Upgrade", "Proxy-Authenticate", "Retry-After", "Cache-Control", "Vary", "ETag",
        "Expires", "Pragma", "Via", "Content-Encoding", "Access-Control-Allow-Origin", "Strict-Transport-Security",
        "X-Content-Type-Options", "X-Request-Id", "Request-Id", "CF-Ray", "CF-Cache-Status", "openai-processing-ms",
        "openai-organization", "openai-version", "openai-project", "x-ratelimit-limit-requests", "x-ratelimit-limit-tokens",
        "x-ratelimit-remaining-requests", "x-ratelimit-remaining-tokens", "x-ratelimit-reset-requests",
        "x-ratelimit-reset-tokens", "anthropic-organization-id", "anthropic-ratelimit-requests-limit",
        "anthropic-ratelimit-requests-remaining", "anthropic-ratelimit-requests-reset", "anthropic-ratelimit-tokens-limit",
        "anthropic-ratelimit-tokens-remaining", "anthropic-ratelimit-tokens-reset", "anthropic-ratelimit-input-tokens-limit",
        "anthropic-ratelimit-input-tokens-remaining", "anthropic-ratelimit-input-tokens-reset",
        "anthropic-ratelimit-output-tokens-limit", "anthropic-ratelimit-output-tokens-remaining",
        "anthropic-ratelimit-output-tokens-reset",
    }.ToDictionary(n => n, StringComparer.OrdinalIgnoreCase);

    private static readonly Dictionary<string, string>.AlternateLookup<ReadOnlySpan<char>> KnownBySpan =
        Known.GetAlternateLookup<ReadOnlySpan<char>>();

    private static readonly string[] KnownValues = ["application/json", "text/event-stream", "text/event-stream; charset=utf-8", "application/json; charset=utf-8", "no-cache"];

    public static string Get(ReadOnlySpan<byte> name)
    {
        if (name.Length <= 64)
        {
            Span<char> chars = stackalloc char[name.Length];
            Encoding.Latin1.GetChars(name, chars);
            if (KnownBySpan.TryGetValue(chars, out var known))
            {
                return known;
            }

            return new string(chars);
        }

        return Encoding.Latin1.GetString(name);
    }

    public static string Value(ReadOnlySpan<byte> value)
    {
        foreach (var known in KnownValues)
        {
            if (value.Length == known.Length && Ascii.Equals(value, known))
            {
                return known;
            }
        }

        return Encoding.Latin1.GetString(value);
    }
}

/// <summary>
/// One connection's header names and values from its last answer, by position: an upstream sends the same headers
/// in the same order answer after answer, so the strings are reused and only the bytes are compared.
/// </summary>
internal sealed class HeaderCache
{
    private const int Slots = 32;
    private readonly byte[]?[] _nameBytes = new byte[Slots][];
    private readonly string[] _names = new string[Slots];
    private readonly byte[]?[] _valueBytes = new byte[Slots][];
    private readonly string[] _values = new string[Slots];

    public string Name(int slot, ReadOnlySpan<byte> bytes) => Get(slot, bytes, _nameBytes, _names, static b => HeaderNames.Get(b));

    public string Value(int slot, ReadOnlySpan<byte> bytes) => Get(slot, bytes, _valueBytes, _values, static b => HeaderNames.Value(b));

    private static string Get(int slot, ReadOnlySpan<byte> bytes, byte[]?[] keys, string[] texts, Func<ReadOnlySpan<byte>, string> decode)
    {
        if (slot >= Slots)
        {
            return decode(bytes);
        }

        if (keys[slot] is { } known && bytes.SequenceEqual(known))
        {
            return texts[slot];
        }

        var text = decode(bytes);
        keys[slot] = bytes.Length <= 256 ? bytes.ToArray() : null;
        texts[slot] = text;
        return text;
    }
}

/// <summary>The answer of one call on an <see cref="Http1Connection"/>.</summary>
internal sealed class Http1Response : UpstreamResponse
{
    private readonly Http1Connection _connection;
    private readonly ResponseHead _head;
    private bool _disposed;

    public Http1Response(Http1Connection connection, ResponseHead head)
    {
        _connection = connection;
        _head = head;
        Status = head.Status;
    }

    public override string? MediaType => _head.MediaType;

    public override long? ContentLength => _head.Framing switch
    {
        BodyFraming.Length => _head.Length,
        BodyFraming.None => 0,
        _ => null,
    };

    public override Stream Body => _connection.BodyFor(this);

    public override IEnumerable<KeyValuePair<string, string>> Headers => _head.Headers;

    internal bool KeepAlive => _head.KeepAlive;

    protected override void Dispose(bool disposing)
    {
        if (disposing && !_disposed)
        {
            _disposed = true;
            _connection.EndOf(this);
        }
    }
}
