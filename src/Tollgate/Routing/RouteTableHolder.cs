using Tollgate.Configuration;
using Tollgate.Providers;

namespace Tollgate.Routing;

/// <summary>The live <see cref="RouteTable"/>. A reload builds a new one and swaps it in; requests in flight keep theirs.</summary>
internal sealed class RouteTableHolder : IDisposable
{
    private volatile RouteTable _current;

    public RouteTableHolder(TollgateConfig config, HealthRegistry health, ProviderServices? services = null) =>
        _current = new RouteTable(config, health, services: services);

    public RouteTable Current => _current;

    public void Apply(TollgateConfig config)
    {
        var old = _current;
        var next = new RouteTable(config, old.Health, old.Providers, old.Services);
        _current = next;
        // Old pools may still carry requests in flight; let them finish before closing the sockets.
        _ = Task.Delay(TimeSpan.FromMinutes(5)).ContinueWith(_ => old.DisposeUnshared(next), TaskScheduler.Default);
    }

    public void Dispose() => _current.Dispose();
}
