using Tollgate.Pipeline;
using Tollgate.Routing;
using Tollgate.Storage;

namespace Tollgate.Ledger;

/// <summary>
/// Whether the store answers, as the ledger writer's batches and a cheap periodic ping see it, and what the
/// data plane does about it (<c>server.on_store_down</c>): <c>serve_cached</c> keeps serving from the key
/// cache while the ledger spools; <c>strict</c> answers 500 until the store is back.
/// </summary>
internal sealed class StoreHealth
{
    /// <summary>What the data plane answers in strict mode while the store is down.</summary>
    public static readonly GatewayError Refusal = new(GatewayErrorKind.Internal,
        "The gateway's database is unreachable and this gateway runs with server.on_store_down: strict, so it serves no requests until the database is back. Retry shortly.");

    private readonly Func<bool> _strict;
    private readonly TimeProvider _time;
    private long _downSinceTicks;

    public StoreHealth(RouteTableHolder routes, TimeProvider time)
        : this(() => routes.Current.Config.Server.OnStoreDown == "strict", time)
    {
    }

    internal StoreHealth(Func<bool> strict, TimeProvider time)
    {
        _strict = strict;
        _time = time;
    }

    /// <summary>False from the first failed write or ping until the next success.</summary>
    public bool Reachable => Interlocked.Read(ref _downSinceTicks) == 0;

    /// <summary>When the store was first seen down, or null while it answers.</summary>
    public DateTimeOffset? DownSince => Interlocked.Read(ref _downSinceTicks) is var ticks and not 0 ? new DateTimeOffset(ticks, TimeSpan.Zero) : null;

    public bool Strict => _strict();

    /// <summary>True when the data plane must refuse with <see cref="Refusal"/>: strict mode and the store down.</summary>
    public bool RefuseRequests => !Reachable && _strict();

    public void ReportSuccess() => Interlocked.Exchange(ref _downSinceTicks, 0);

    public void ReportFailure() => Interlocked.CompareExchange(ref _downSinceTicks, _time.GetUtcNow().UtcTicks, 0);
}

/// <summary>Pings the store every second (with a short timeout), so <see cref="StoreHealth"/> notices an outage even when no ledger row is due.</summary>
internal sealed class StoreHealthMonitor(IStore store, StoreHealth health, TimeProvider time) : BackgroundService
{
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan PingTimeout = TimeSpan.FromSeconds(2);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Interval, time);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
            timeout.CancelAfter(PingTimeout);
            bool up;
            try
            {
                up = await store.PingAsync(timeout.Token);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
            {
                up = false;
            }

            if (up)
            {
                health.ReportSuccess();
            }
            else
            {
                health.ReportFailure();
            }
        }
    }
}
