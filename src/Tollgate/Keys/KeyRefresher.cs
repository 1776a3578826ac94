using Tollgate.Storage;
using Tollgate.Telemetry;

namespace Tollgate.Keys;

/// <summary>
/// Reloads every key from the store every two seconds: the backstop behind the Redis fan-out
/// (<see cref="KeyChangeSubscriber"/>), and the only way changes travel between replicas without Redis.
/// When the store is down the cache keeps serving what it has.
/// </summary>
internal sealed class KeyRefresher(IStore store, KeyChanges changes, TimeProvider time, ILogger<KeyRefresher> logger) : BackgroundService
{
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(2);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Interval, time);
        while (await NextTickAsync(timer, stoppingToken))
        {
            try
            {
                var mark = changes.Mark();
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
                timeout.CancelAfter(TimeSpan.FromSeconds(10));
                changes.ApplyRefresh(await store.ListKeysAsync(timeout.Token), mark);
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                Log.KeyRefreshFailed(logger, ex.GetType().Name);
            }
        }
    }

    /// <summary>False when the host stops (or never got going) rather than an exception that would stop the host noisily.</summary>
    private static async ValueTask<bool> NextTickAsync(PeriodicTimer timer, CancellationToken stoppingToken)
    {
        try
        {
            return await timer.WaitForNextTickAsync(stoppingToken);
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }
}
