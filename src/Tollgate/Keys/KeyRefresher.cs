using Tollgate.Storage;
using Tollgate.Telemetry;

namespace Tollgate.Keys;

/// <summary>
/// Reloads every key from the store every few seconds, so a key minted, changed or revoked on another
/// replica reaches this one. When the store is down the cache keeps serving what it has.
/// </summary>
internal sealed class KeyRefresher(IStore store, KeyCache cache, TimeProvider time, ILogger<KeyRefresher> logger) : BackgroundService
{
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(5);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Interval, time);
        while (await NextTickAsync(timer, stoppingToken))
        {
            try
            {
                cache.Load(await store.ListKeysAsync(stoppingToken));
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
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
