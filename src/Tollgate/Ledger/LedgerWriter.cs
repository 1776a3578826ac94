using System.Threading.Channels;
using Tollgate.Storage;
using Tollgate.Telemetry;

namespace Tollgate.Ledger;

/// <summary>
/// Takes ledger rows off the request path: a bounded channel, drained in batches by one background
/// writer every <c>ledger.flush_ms</c>. A failed batch is kept and retried with backoff, so a store
/// outage delays rows rather than losing them. On shutdown the queue is drained before exit.
/// </summary>
internal sealed class LedgerWriter : BackgroundService
{
    private const int MaxBatch = 1000;
    private readonly Channel<LedgerRecord> _channel;
    private readonly IStore _store;
    private readonly ILogger<LedgerWriter> _logger;
    private readonly TimeProvider _time;
    private readonly TimeSpan _flushInterval;
    private long _written;
    private long _failedBatches;

    public LedgerWriter(IStore store, Configuration.LedgerConfig config, TimeProvider time, ILogger<LedgerWriter> logger)
    {
        ArgumentNullException.ThrowIfNull(config);
        _store = store;
        _time = time;
        _logger = logger;
        _flushInterval = TimeSpan.FromMilliseconds(config.FlushMs);
        _channel = Channel.CreateBounded<LedgerRecord>(new BoundedChannelOptions(config.QueueCapacity)
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.Wait,
        });
    }

    /// <summary>Rows waiting to be written.</summary>
    public int QueueDepth => _channel.Reader.Count;

    public long Written => Interlocked.Read(ref _written);

    /// <summary>True while the last write attempt failed.</summary>
    public bool StoreFailing { get; private set; }

    /// <summary>Queues a row without waiting; when the queue is full the row waits for room instead of being dropped.</summary>
    public void Enqueue(LedgerRecord record)
    {
        if (!_channel.Writer.TryWrite(record))
        {
            _ = _channel.Writer.WriteAsync(record).AsTask();
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var batch = new List<LedgerRecord>(MaxBatch);
        var reader = _channel.Reader;
        try
        {
            while (await reader.WaitToReadAsync(CancellationToken.None))
            {
                while (batch.Count < MaxBatch && reader.TryRead(out var row))
                {
                    batch.Add(row);
                }

                await WriteWithRetryAsync(batch, stoppingToken);
                batch.Clear();
                if (!stoppingToken.IsCancellationRequested && reader.Count < MaxBatch)
                {
                    try
                    {
                        await Task.Delay(_flushInterval, _time, stoppingToken);
                    }
                    catch (OperationCanceledException)
                    {
                        // Shutting down: keep draining without pauses until the writer is completed.
                    }
                }
            }
        }
        finally
        {
            if (batch.Count > 0)
            {
                await WriteWithRetryAsync(batch, CancellationToken.None);
            }
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        _channel.Writer.TryComplete();
        await base.StopAsync(cancellationToken);
    }

    private async Task WriteWithRetryAsync(List<LedgerRecord> batch, CancellationToken stoppingToken)
    {
        var delay = TimeSpan.FromMilliseconds(250);
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await _store.WriteLedgerAsync(batch, CancellationToken.None);
                Interlocked.Add(ref _written, batch.Count);
                if (StoreFailing)
                {
                    Log.LedgerStoreRecovered(_logger, batch.Count);
                }

                StoreFailing = false;
                return;
            }
            catch (Exception ex)
            {
                StoreFailing = true;
                Interlocked.Increment(ref _failedBatches);
                Log.LedgerWriteFailed(_logger, batch.Count, attempt, ex.GetType().Name, ex.Message);
                if (stoppingToken.IsCancellationRequested && attempt >= 5)
                {
                    // Shutdown cannot wait for ever; the spool (when configured) keeps these rows.
                    Log.LedgerRowsAbandoned(_logger, batch.Count);
                    return;
                }

                try
                {
                    await Task.Delay(delay, _time, stoppingToken.IsCancellationRequested ? CancellationToken.None : stoppingToken);
                }
                catch (OperationCanceledException)
                {
                }

                delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, 10_000));
            }
        }
    }
}
