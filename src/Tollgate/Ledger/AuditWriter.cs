using System.Threading.Channels;
using Tollgate.Storage;

namespace Tollgate.Ledger;

/// <summary>
/// Writes per-request audit records (the redacted prompt and response of <c>audit.bodies: full</c>) off the
/// request path: a bounded queue drained in batches. Unlike the ledger these rows are not spooled; when the
/// queue is full a record is dropped and counted, so a slow store never holds a request back.
/// </summary>
internal sealed partial class AuditWriter(IStore store, TimeProvider time, ILogger<AuditWriter> logger) : BackgroundService
{
    private const int Capacity = 10_000;
    private const int MaxBatch = 500;
    private readonly Channel<AuditRecord> _channel = Channel.CreateBounded<AuditRecord>(new BoundedChannelOptions(Capacity)
    {
        SingleReader = true,
        FullMode = BoundedChannelFullMode.DropWrite,
    });

    private long _dropped;

    public long Dropped => Interlocked.Read(ref _dropped);

    public void Enqueue(AuditRecord record)
    {
        if (!_channel.Writer.TryWrite(record))
        {
            Interlocked.Increment(ref _dropped);
        }
    }

    public override Task StopAsync(CancellationToken cancellationToken)
    {
        _channel.Writer.TryComplete();
        return base.StopAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var batch = new List<AuditRecord>(MaxBatch);
        var reader = _channel.Reader;
        while (await reader.WaitToReadAsync(CancellationToken.None))
        {
            while (batch.Count < MaxBatch && reader.TryRead(out var record))
            {
                batch.Add(record);
            }

            for (var attempt = 1; ; attempt++)
            {
                try
                {
                    await store.WriteAuditAsync(batch, CancellationToken.None);
                    break;
                }
                catch (Exception ex) when (attempt < 5)
                {
                    LogRetry(logger, batch.Count, attempt, ex.GetType().Name);
                    await Task.Delay(TimeSpan.FromMilliseconds(250 * attempt), time, CancellationToken.None);
                }
                catch (Exception ex)
                {
                    LogDropped(logger, batch.Count, ex.GetType().Name);
                    Interlocked.Add(ref _dropped, batch.Count);
                    break;
                }
            }

            batch.Clear();
        }
    }

    [LoggerMessage(6001, LogLevel.Warning, "Audit write of {Count} records failed (attempt {Attempt}): {ErrorType}")]
    private static partial void LogRetry(ILogger logger, int count, int attempt, string errorType);

    [LoggerMessage(6002, LogLevel.Error, "Audit gave up on {Count} request records after repeated store failures ({ErrorType})")]
    private static partial void LogDropped(ILogger logger, int count, string errorType);
}
