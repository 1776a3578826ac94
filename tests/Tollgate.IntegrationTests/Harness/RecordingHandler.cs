using System.Net;
using System.Text;

namespace Tollgate.IntegrationTests.Harness;

/// <summary>
/// Remembers every response the suite's .NET clients see from the gateway (status, headers and the body
/// bytes as they are read), so the secret-leak test can search them. The body is teed while the caller
/// reads it, so streaming is not buffered and a cut stream still fails the way it would without us.
/// </summary>
internal sealed class RecordingHandler(Action<RecordedExchange> sink) : DelegatingHandler(new SocketsHttpHandler
{
    PooledConnectionLifetime = TimeSpan.FromMinutes(1),
    ConnectTimeout = TimeSpan.FromSeconds(10),
})
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var response = await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
        var exchange = new RecordedExchange(request.Method, request.RequestUri, response.StatusCode, DescribeHeaders(response));
        sink(exchange);
        var original = response.Content;
        var inner = await original.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        var teed = new StreamContent(new TeeStream(inner, exchange));
        foreach (var header in original.Headers)
        {
            teed.Headers.TryAddWithoutValidation(header.Key, header.Value);
        }

        response.Content = teed;
        return response;
    }

    private static string DescribeHeaders(HttpResponseMessage response)
    {
        var text = new StringBuilder();
        foreach (var header in response.Headers.Concat(response.Content.Headers))
        {
            text.Append(header.Key).Append(": ").AppendJoin(", ", header.Value).Append('\n');
        }

        return text.ToString();
    }

    private sealed class TeeStream(Stream inner, RecordedExchange exchange) : Stream
    {
        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position
        {
            get => throw new NotSupportedException();
            set => throw new NotSupportedException();
        }

        public override int Read(byte[] buffer, int offset, int count)
        {
            var read = inner.Read(buffer, offset, count);
            exchange.Append(buffer.AsSpan(offset, read));
            return read;
        }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            var read = await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
            exchange.Append(buffer.Span[..read]);
            return read;
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
            }

            base.Dispose(disposing);
        }
    }
}

/// <summary>One response seen by a .NET client of the gateway.</summary>
internal sealed class RecordedExchange(HttpMethod method, Uri? uri, HttpStatusCode status, string headers)
{
    private readonly MemoryStream _body = new();

    public HttpMethod Method { get; } = method;

    public Uri? Uri { get; } = uri;

    public HttpStatusCode Status { get; } = status;

    /// <summary>Response and content headers, one <c>name: value</c> per line.</summary>
    public string Headers { get; } = headers;

    /// <summary>The body bytes read so far, as UTF-8.</summary>
    public string Body
    {
        get
        {
            lock (_body)
            {
                return Encoding.UTF8.GetString(_body.GetBuffer(), 0, (int)_body.Length);
            }
        }
    }

    public void Append(ReadOnlySpan<byte> bytes)
    {
        lock (_body)
        {
            _body.Write(bytes);
        }
    }

    public override string ToString() => $"{Method} {Uri} → {(int)Status}";
}
