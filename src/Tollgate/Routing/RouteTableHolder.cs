using Tollgate.Configuration;

namespace Tollgate.Routing;

/// <summary>The live <see cref="RouteTable"/>. A reload builds a new one and swaps it in; requests in flight keep theirs.</summary>
internal sealed class RouteTableHolder : IDisposable
{
    private volatile RouteTable _current;

    public RouteTableHolder(TollgateConfig config) => _current = new RouteTable(config);

    public RouteTable Current => _current;

    public void Apply(TollgateConfig config)
    {
        var old = _current;
        var next = new RouteTable(config, old.Providers);
        _current = next;
        // Old pools may still carry requests in flight; let them finish before closing the sockets.
        _ = Task.Delay(TimeSpan.FromMinutes(5)).ContinueWith(_ => old.DisposeUnshared(next), TaskScheduler.Default);
    }

    public void Dispose() => _current.Dispose();
}
