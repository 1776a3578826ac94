using Tollgate.Configuration;
using Tollgate.Storage;

namespace Tollgate.Ledger;

/// <summary>
/// Writes per-request audit records (the redacted prompt and response of <c>audit.bodies: full</c>) off the request
/// path, as durably as ledger rows (SPEC §6): a <see cref="SpooledWriter{T}"/> over the audit spool beside the
/// ledger's, flushed every <c>ledger.flush_ms</c>, written with <see cref="IStore.WriteAuditAsync"/> in batches of up
/// to 500, replayed at start and drained at shutdown. The store skips audit ids it has, so a replay is harmless.
/// </summary>
/// <remarks>
/// Admin actions do not come this way: they are written to the store inside the admin request itself, which fails
/// when the store does.
/// </remarks>
internal sealed class AuditWriter : SpooledWriter<AuditRecord>
{
    /// <summary>Records held in memory between spool and store; beyond it they are read back from the spool.
    /// Smaller than the ledger's: an audit record carries whole (truncated) bodies.</summary>
    private const int Capacity = 10_000;
    private const int MaxBatch = 500;
    private readonly IStore _store;
    private readonly ILogger<AuditWriter> _logger;

    public AuditWriter(IStore store, LedgerConfig config, TimeProvider time, ILogger<AuditWriter> logger)
        : this(store, config, time, logger, AuditSpool.DefaultSegmentBytes)
    {
    }

    internal AuditWriter(IStore store, LedgerConfig config, TimeProvider time, ILogger<AuditWriter> logger, long segmentBytes, int capacity = Capacity)
        : base(AuditSpool.Open(Checked(config).SpoolPath, segmentBytes), "Audit", TimeSpan.FromMilliseconds(config.FlushMs),
            capacity, MaxBatch, time, logger, health: null)
    {
        _store = store;
        _logger = logger;
    }

    protected override Task WriteAsync(IReadOnlyList<AuditRecord> rows, CancellationToken cancellationToken) =>
        _store.WriteAuditAsync(rows, cancellationToken);

    protected override void LogWriteFailed(int count, int attempt, string errorType, string error) =>
        LedgerLog.AuditWriteFailed(_logger, count, attempt, errorType, error);

    protected override void LogRecovered(int count) => LedgerLog.AuditStoreRecovered(_logger, count);

    private static LedgerConfig Checked(LedgerConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return config;
    }
}
