using Tollgate.Storage;

namespace Tollgate.Keys;

/// <summary>What happened to a key, as replicas tell each other.</summary>
internal enum KeyChangeKind
{
    Minted,
    Updated,
    Rotated,
    Revoked,
}

/// <summary>Tells the other replicas that a key changed (Redis pub/sub, or nothing without Redis).</summary>
internal interface IKeyChangePublisher
{
    Task PublishAsync(string keyId, KeyChangeKind kind, CancellationToken cancellationToken);
}

/// <summary>Without Redis there is no fan-out: other replicas see changes at their next periodic refresh.</summary>
internal sealed class NoKeyChangePublisher : IKeyChangePublisher
{
    public static readonly NoKeyChangePublisher Instance = new();

    public Task PublishAsync(string keyId, KeyChangeKind kind, CancellationToken cancellationToken) => Task.CompletedTask;
}

/// <summary>
/// The one way into the <see cref="KeyCache"/> for key changes: single-key changes (an admin action here, or a
/// change another replica announced) and the periodic full refresh. It remembers recent single-key changes,
/// so a full refresh whose read began before a change cannot put the old state back (a revoked key
/// coming back to life for one refresh interval).
/// </summary>
internal sealed class KeyChanges
{
    private static readonly TimeSpan Remember = TimeSpan.FromMinutes(1);
    private readonly Lock _gate = new();
    private readonly KeyCache _cache;
    private readonly IKeyChangePublisher _publisher;
    private readonly TimeProvider _time;
    private readonly ILogger<KeyChanges> _logger;
    private readonly List<(long Sequence, DateTimeOffset At, VirtualKeyRecord Record)> _recent = [];
    private long _sequence;

    public KeyChanges(KeyCache cache, IKeyChangePublisher publisher, TimeProvider time, ILogger<KeyChanges> logger)
    {
        _cache = cache;
        _publisher = publisher;
        _time = time;
        _logger = logger;
    }

    public KeyCache Cache => _cache;

    /// <summary>A point in the change sequence; take it before reading the full key list.</summary>
    public long Mark()
    {
        lock (_gate)
        {
            return _sequence;
        }
    }

    /// <summary>Puts one key's new state into the cache.</summary>
    public void Apply(VirtualKeyRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        lock (_gate)
        {
            _cache.Upsert(record);
            var now = _time.GetUtcNow();
            _recent.Add((++_sequence, now, record));
            _recent.RemoveAll(r => now - r.At > Remember);
        }
    }

    /// <summary>Replaces the cache with a full list read after <paramref name="mark"/>, keeping single-key changes applied since then.</summary>
    public void ApplyRefresh(IReadOnlyList<VirtualKeyRecord> records, long mark)
    {
        ArgumentNullException.ThrowIfNull(records);
        lock (_gate)
        {
            var newer = new Dictionary<string, VirtualKeyRecord>(StringComparer.Ordinal);
            foreach (var (sequence, _, record) in _recent)
            {
                if (sequence > mark)
                {
                    newer[record.Id] = record;
                }
            }

            if (newer.Count == 0)
            {
                _cache.Load(records);
                return;
            }

            var merged = new List<VirtualKeyRecord>(records.Count + newer.Count);
            foreach (var record in records)
            {
                merged.Add(newer.Remove(record.Id, out var changed) ? changed : record);
            }

            merged.AddRange(newer.Values);
            _cache.Load(merged);
        }
    }

    /// <summary>
    /// Tells the other replicas that the key changed; call it once the store holds the change. A failed
    /// announcement is logged, not thrown: their periodic refresh catches up.
    /// </summary>
    public async Task PublishAsync(string keyId, KeyChangeKind kind)
    {
        try
        {
            await _publisher.PublishAsync(keyId, kind, CancellationToken.None);
        }
        catch (Exception ex)
        {
            KeysLog.PublishFailed(_logger, keyId, ex.GetType().Name);
        }
    }
}

/// <summary>Key fan-out events (6100s).</summary>
internal static partial class KeysLog
{
    [LoggerMessage(6101, LogLevel.Warning, "Could not announce the change of key {KeyId} to other replicas ({ErrorType}); they pick it up at their next refresh")]
    public static partial void PublishFailed(ILogger logger, string keyId, string errorType);

    [LoggerMessage(6102, LogLevel.Warning, "Could not reload key {KeyId} after a change announced by another replica ({ErrorType}); the periodic refresh retries")]
    public static partial void ReloadFailed(ILogger logger, string keyId, string errorType);

    [LoggerMessage(6103, LogLevel.Information, "Listening for key changes from other replicas on Redis channel {Channel}")]
    public static partial void Subscribed(ILogger logger, string channel);
}
