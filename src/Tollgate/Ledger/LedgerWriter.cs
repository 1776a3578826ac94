using Tollgate.Configuration;
using Tollgate.Storage;
using Tollgate.Telemetry;

namespace Tollgate.Ledger;

/// <summary>
/// The ledger's <see cref="SpooledWriter{T}"/>: one row per request, spooled in <c>ledger.spool_path</c> and written
/// with <see cref="IStore.WriteLedgerAsync"/> in batches of up to 1000. Its store outcomes feed <see cref="StoreHealth"/>.
/// </summary>
internal sealed class LedgerWriter : SpooledWriter<LedgerRecord>
{
    private const int MaxBatch = 1000;
    private readonly IStore _store;
    private readonly ILogger<LedgerWriter> _logger;

    public LedgerWriter(IStore store, LedgerConfig config, TimeProvider time, ILogger<LedgerWriter> logger, StoreHealth? health = null)
        : this(store, config, time, logger, health, LedgerSpool.DefaultSegmentBytes)
    {
    }

    internal LedgerWriter(IStore store, LedgerConfig config, TimeProvider time, ILogger<LedgerWriter> logger, StoreHealth? health, long segmentBytes)
        : base(LedgerSpool.Open(Checked(config).SpoolPath, segmentBytes), "Ledger", TimeSpan.FromMilliseconds(config.FlushMs),
            config.QueueCapacity, MaxBatch, time, logger, health)
    {
        _store = store;
        _logger = logger;
    }

    protected override Task WriteAsync(IReadOnlyList<LedgerRecord> rows, CancellationToken cancellationToken) =>
        _store.WriteLedgerAsync(rows, cancellationToken);

    protected override void LogWriteFailed(int count, int attempt, string errorType, string error) =>
        Log.LedgerWriteFailed(_logger, count, attempt, errorType, error);

    protected override void LogRecovered(int count) => Log.LedgerStoreRecovered(_logger, count);

    private static LedgerConfig Checked(LedgerConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return config;
    }
}
