using System.Net;
using System.Net.Sockets;

namespace Tollgate.Upstream;

/// <summary>
/// HTTP/1.1 over plain TCP, for <c>http://</c> upstreams (a model server on the same host or network: vLLM,
/// llama.cpp, Ollama, another gateway). It does what the data path needs and no more: a POST with a known length,
/// an answer framed by <c>Content-Length</c>, chunked encoding or the connection's close, and a pool of keep-alive
/// connections. Per call it costs a fraction of <see cref="SocketsHttpHandler"/>'s request and response objects
/// and header collections, which on a small host were a sixth of the gateway's CPU per request.
/// </summary>
/// <remarks>
/// <para>Pooling: idle connections are reused last-in first-out, closed after <c>idleTimeout</c> unused, and
/// checked before reuse once they idled for more than a second (an upstream may close an idle connection at any
/// time). A sweep every 2 s closes the idle connections the upstream has closed, so none waits in CLOSE-WAIT for
/// the idle timeout. A call that fails on a reused connection before a byte of the answer arrived is sent once more on a
/// new connection, as <see cref="SocketsHttpHandler"/> does: the upstream closed the idle connection, so it never
/// read the request.</para>
/// <para>HTTPS upstreams, and any provider set to <c>http_client: system</c>, use <see cref="SystemUpstreamClient"/>.</para>
/// </remarks>
internal sealed class Http1Client : IUpstreamClient
{
    /// <summary>Idle connections kept at most; more are closed when they come back.</summary>
    private const int MaxIdle = 1024;

    private static readonly TimeSpan CheckAfterIdle = TimeSpan.FromSeconds(1);

    /// <summary>
    /// How often idle connections are checked: closed when they idled past the timeout, or when the upstream closed
    /// them (so they do not linger in CLOSE-WAIT until they would have been reused).
    /// </summary>
    private static readonly TimeSpan SweepEvery = TimeSpan.FromSeconds(2);

    private readonly string _host;
    private readonly int _port;
    private readonly IPAddress? _address;
    private readonly TimeSpan _connectTimeout;
    private readonly TimeSpan _idleTimeout;
    private readonly TimeProvider _time;
    private readonly Lock _lock = new();
    private readonly Stack<Http1Connection> _idle = new();
    private readonly ITimer _sweep;
    private bool _disposed;
    private int _opened;

    public Http1Client(Uri baseUrl, TimeSpan connectTimeout, TimeSpan idleTimeout, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(baseUrl);
        ArgumentNullException.ThrowIfNull(time);
        if (baseUrl.Scheme != Uri.UriSchemeHttp)
        {
            throw new ArgumentException("Http1Client speaks plain http only.", nameof(baseUrl));
        }

        _host = baseUrl.IdnHost;
        _port = baseUrl.Port;
        _address = IPAddress.TryParse(_host, out var address) ? address : null;
        _connectTimeout = connectTimeout;
        _idleTimeout = idleTimeout;
        _time = time;
        var every = TimeSpan.FromTicks(Math.Clamp(idleTimeout.Ticks / 2, TimeSpan.TicksPerSecond, SweepEvery.Ticks));
        _sweep = time.CreateTimer(_ => Sweep(), null, every, every);
    }

    /// <summary>Connections opened so far (for tests and diagnostics).</summary>
    public int Opened => Volatile.Read(ref _opened);

    /// <summary>Idle connections in the pool now.</summary>
    public int IdleCount
    {
        get
        {
            lock (_lock)
            {
                return _idle.Count;
            }
        }
    }

    public ValueTask<UpstreamResponse> SendAsync(UpstreamRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        ObjectDisposedException.ThrowIf(_disposed, this);
        return TakeIdle() is { } pooled
            ? pooled.SendAsync(request, reused: true, cancellationToken)
            : SendOnNewConnectionAsync(request, cancellationToken);
    }

    internal async ValueTask<UpstreamResponse> SendOnNewConnectionAsync(UpstreamRequest request, CancellationToken cancellationToken)
    {
        var connection = await ConnectAsync(cancellationToken);
        return await connection.SendAsync(request, reused: false, cancellationToken);
    }

    /// <summary>A connection whose answer was read to its end and that can carry another request.</summary>
    internal void Return(Http1Connection connection)
    {
        connection.IdleSince = _time.GetTimestamp();
        lock (_lock)
        {
            if (!_disposed && _idle.Count < MaxIdle)
            {
                _idle.Push(connection);
                return;
            }
        }

        connection.Dispose();
    }

    private Http1Connection? TakeIdle()
    {
        while (true)
        {
            Http1Connection? connection;
            lock (_lock)
            {
                if (!_idle.TryPop(out connection))
                {
                    return null;
                }
            }

            if (_time.GetElapsedTime(connection.IdleSince) < CheckAfterIdle || StillUsable(connection))
            {
                return connection;
            }

            connection.Dispose();
        }
    }

    /// <summary>An idle connection within the idle timeout whose upstream has not closed it (a poll, a system call).</summary>
    private bool StillUsable(Http1Connection connection) =>
        _time.GetElapsedTime(connection.IdleSince) < _idleTimeout && connection.LooksOpen();

    private async ValueTask<Http1Connection> ConnectAsync(CancellationToken cancellationToken)
    {
        var socket = _address is not null
            ? new Socket(_address.AddressFamily, SocketType.Stream, ProtocolType.Tcp)
            : Socket.OSSupportsIPv6 ? new Socket(SocketType.Stream, ProtocolType.Tcp) : new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.NoDelay = true;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_connectTimeout);
        try
        {
            if (_address is not null)
            {
                await socket.ConnectAsync(new IPEndPoint(_address, _port), timeout.Token);
            }
            else
            {
                await socket.ConnectAsync(_host, _port, timeout.Token);
            }
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException)
        {
            socket.Dispose();
            cancellationToken.ThrowIfCancellationRequested();
            if (ex is OperationCanceledException)
            {
                throw new HttpRequestException(HttpRequestError.ConnectionError,
                    $"no connection within {_connectTimeout.TotalSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture)}s", ex);
            }

            var error = ((SocketException)ex).SocketErrorCode is SocketError.HostNotFound or SocketError.TryAgain or SocketError.NoData
                ? HttpRequestError.NameResolutionError
                : HttpRequestError.ConnectionError;
            throw new HttpRequestException(error, ex.Message, ex);
        }

        Interlocked.Increment(ref _opened);
        return new Http1Connection(this, socket);
    }

    /// <summary>
    /// Closes the idle connections that idled past the idle timeout or that the upstream closed. The check of each
    /// socket (a poll, a system call) runs outside the pool's lock; only connections still idle when the lock is
    /// taken again are removed, so a connection taken for a call meanwhile is left to that call.
    /// </summary>
    private void Sweep()
    {
        Http1Connection[] idle;
        lock (_lock)
        {
            if (_idle.Count == 0)
            {
                return;
            }

            idle = [.. _idle];
        }

        HashSet<Http1Connection>? closing = null;
        foreach (var connection in idle)
        {
            if (!StillUsable(connection))
            {
                (closing ??= []).Add(connection);
            }
        }

        if (closing is null)
        {
            return;
        }

        List<Http1Connection>? removed = null;
        lock (_lock)
        {
            var kept = new List<Http1Connection>(_idle.Count);
            while (_idle.TryPop(out var connection))
            {
                if (closing.Contains(connection))
                {
                    (removed ??= []).Add(connection);
                }
                else
                {
                    kept.Add(connection);
                }
            }

            // kept is newest first: push it back oldest first, so the newest is on top again.
            for (var i = kept.Count - 1; i >= 0; i--)
            {
                _idle.Push(kept[i]);
            }
        }

        removed?.ForEach(c => c.Dispose());
    }

    public void Dispose()
    {
        Http1Connection[] idle;
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            idle = [.. _idle];
            _idle.Clear();
        }

        _sweep.Dispose();
        foreach (var connection in idle)
        {
            connection.Dispose();
        }
    }
}
