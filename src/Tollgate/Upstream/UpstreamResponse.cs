namespace Tollgate.Upstream;

/// <summary>
/// An upstream's answer: status, headers, and a body to read once. Disposing it releases the connection (back to
/// its pool when the body was read to its end and the connection can carry another request).
/// </summary>
internal abstract class UpstreamResponse : IDisposable
{
    public int Status { get; protected init; }

    /// <summary>The media type of <c>Content-Type</c>, lower case, without parameters; null when absent.</summary>
    public abstract string? MediaType { get; }

    /// <summary>The declared body length, when the upstream declared one.</summary>
    public abstract long? ContentLength { get; }

    /// <summary>The body. Reads end (return 0) at the body's end; a body cut short throws an <see cref="IOException"/>.</summary>
    public abstract Stream Body { get; }

    /// <summary>The end-to-end headers (no framing, no hop-by-hop ones), as name and value, in the order received.</summary>
    public abstract IEnumerable<KeyValuePair<string, string>> Headers { get; }

    /// <summary>The first value of a header, or null.</summary>
    public string? Header(string name)
    {
        foreach (var (key, value) in Headers)
        {
            if (string.Equals(key, name, StringComparison.OrdinalIgnoreCase))
            {
                return value;
            }
        }

        return null;
    }

    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    protected abstract void Dispose(bool disposing);
}

/// <summary>Sends <see cref="UpstreamRequest"/>s to one provider over its own connection pool.</summary>
internal interface IUpstreamClient : IDisposable
{
    /// <summary>
    /// Sends the request and returns once the status line and headers are in. Fails with an
    /// <see cref="HttpRequestException"/> (its <see cref="HttpRequestException.HttpRequestError"/> says why) when no
    /// answer came, or with an <see cref="OperationCanceledException"/> when <paramref name="cancellationToken"/> fired.
    /// </summary>
    ValueTask<UpstreamResponse> SendAsync(UpstreamRequest request, CancellationToken cancellationToken);
}
