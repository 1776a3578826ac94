using System.Collections.Concurrent;
using Tollgate.Storage;

namespace Tollgate.Ledger;

/// <summary>
/// Takes rows (ledger rows, audit records) off the request path and gets every one of them into the store.
/// </summary>
/// <remarks>
/// <para><see cref="Enqueue"/> only adds to a list in memory. Every <c>ledger.flush_ms</c> a flush loop
/// appends what came in to the <see cref="Spool{T}"/> (one write and one fsync per interval) and then
/// hands the rows to a bounded in-memory queue. A second loop writes that queue to the store in batches
/// and acknowledges each batch to the spool, which deletes segments once all their rows are stored.</para>
/// <para>When the queue is full (a long store outage) the flush loop stops handing rows over: they stay
/// in the spool only, and the writer reads them back from disk, in order, once it has caught up. Rows an
/// earlier run left in the spool (a crash, or a shutdown that could not reach the store) are read back the
/// same way at start. The store skips ids it has already (request id, audit id), so a replay never double counts.</para>
/// <para>So a store outage loses nothing, a graceful shutdown drains (within the host's shutdown timeout,
/// keeping the rest in the spool), and <c>kill -9</c> loses at most the rows of the last flush interval.</para>
/// </remarks>
internal abstract class SpooledWriter<T> : BackgroundService
    where T : class
{
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly StoreHealth? _health;
    private readonly TimeSpan _flushInterval;
    private readonly int _capacity;
    private readonly int _maxBatch;
    private readonly Spool<T> _spool;
    private readonly string _name;

    private readonly Lock _pendingGate = new();
    private List<T> _pending = [];

    /// <summary>Serialises spool appends with the writer's switch back from disk to memory.</summary>
    private readonly Lock _handoffGate = new();
    private readonly ConcurrentQueue<SpooledRow<T>> _memory = new();
    private int _memoryCount;
    /// <summary>True while rows exist that are in the spool but not in <see cref="_memory"/>: the writer reads them from disk.</summary>
    private bool _diskMode;
    /// <summary>The position after the last row given to the store (writer loop only).</summary>
    private SpoolPosition _cursor;

    private readonly SemaphoreSlim _wake = new(0, 1);
    private CancellationToken _shutdownDeadline = CancellationToken.None;
    private volatile bool _stopping;
    private long _written;
    private long _failedBatches;
    private long _spoolFailures;

    /// <param name="spool">Opened by the caller; this writer owns and disposes it.</param>
    /// <param name="name">What the rows are, for logs ("Ledger", "Audit").</param>
    /// <param name="flushInterval">How often new rows are spooled (<c>ledger.flush_ms</c>).</param>
    /// <param name="capacity">Rows the in-memory queue holds before the writer reads from the spool instead.</param>
    /// <param name="maxBatch">Rows per store write.</param>
    /// <param name="time">The flush timer's and the retry backoff's clock.</param>
    /// <param name="logger">Where the durability events go.</param>
    /// <param name="health">Told of every store write's outcome; null when these writes should not move readiness.</param>
    protected SpooledWriter(Spool<T> spool, string name, TimeSpan flushInterval, int capacity, int maxBatch, TimeProvider time, ILogger logger, StoreHealth? health)
    {
        ArgumentNullException.ThrowIfNull(spool);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBatch, 1);
        _spool = spool;
        _name = name;
        _time = time;
        _logger = logger;
        _health = health;
        _flushInterval = flushInterval;
        _capacity = capacity;
        _maxBatch = maxBatch;
        _cursor = _spool.Start;
        // Segments from an earlier run come first: read them back before anything this run queues.
        _diskMode = _spool.Start < _spool.End;
        if (_spool.ReplayRows > 0)
        {
            LedgerLog.SpoolReplay(_logger, _name, _spool.ReplayRows, _spool.DirectoryPath);
        }
    }

    /// <summary>Writes one batch to the store; throws when the store did not take it.</summary>
    protected abstract Task WriteAsync(IReadOnlyList<T> rows, CancellationToken cancellationToken);

    protected abstract void LogWriteFailed(int count, int attempt, string errorType, string error);

    protected abstract void LogRecovered(int count);

    /// <summary>Rows accepted and not yet written to the store: not yet spooled, or spooled and unacknowledged.</summary>
    public int QueueDepth => (int)Math.Min(int.MaxValue, Unspooled + _spool.PendingRows);

    /// <summary>Spooled rows waiting in the in-memory queue (at most <c>ledger.queue_capacity</c>).</summary>
    public int MemoryQueueDepth => Volatile.Read(ref _memoryCount);

    /// <summary>Rows accepted since the last flush, not yet in the spool.</summary>
    public int Unspooled
    {
        get
        {
            lock (_pendingGate)
            {
                return _pending.Count;
            }
        }
    }

    /// <summary>Spooled rows the store has not acknowledged yet.</summary>
    public long SpoolRows => _spool.PendingRows;

    /// <summary>Bytes of spooled rows the store has not acknowledged yet.</summary>
    public long SpoolBytes => _spool.PendingBytes;

    public long Written => Interlocked.Read(ref _written);

    /// <summary>True while the last write attempt failed.</summary>
    public bool StoreFailing { get; private set; }

    /// <summary>True when the last spool append failed (the disk is full or unwritable): rows wait in memory.</summary>
    public bool SpoolFailing => Interlocked.Read(ref _spoolFailures) > 0;

    /// <summary>Accepts a row without waiting and without I/O; the flush loop spools it within one flush interval.</summary>
    public void Enqueue(T record)
    {
        ArgumentNullException.ThrowIfNull(record);
        lock (_pendingGate)
        {
            _pending.Add(record);
        }
    }

    /// <summary>Appends the rows that came in since the last call to the spool, fsyncs, and queues them for the store.</summary>
    internal void Flush()
    {
        lock (_handoffGate)
        {
            List<T> rows;
            lock (_pendingGate)
            {
                if (_pending.Count == 0)
                {
                    return;
                }

                rows = _pending;
                _pending = new List<T>(Math.Min(rows.Count, 4096));
            }

            SpoolPosition[] ends;
            try
            {
                ends = _spool.Append(rows);
                _spool.Sync();
                Interlocked.Exchange(ref _spoolFailures, 0);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // Keep the rows (in order, ahead of newer ones) and try again next interval.
                lock (_pendingGate)
                {
                    rows.AddRange(_pending);
                    _pending = rows;
                }

                if (Interlocked.Increment(ref _spoolFailures) == 1)
                {
                    LedgerLog.SpoolAppendFailed(_logger, _name, _spool.DirectoryPath, ex.GetType().Name, ex.Message);
                }

                return;
            }

            if (!_diskMode && Volatile.Read(ref _memoryCount) + rows.Count <= _capacity)
            {
                for (var i = 0; i < rows.Count; i++)
                {
                    _memory.Enqueue(new SpooledRow<T>(rows[i], ends[i]));
                }

                Interlocked.Add(ref _memoryCount, rows.Count);
            }
            else if (!_diskMode)
            {
                // The queue is full: these rows and all after them stay in the spool only until the writer catches up.
                _diskMode = true;
                LedgerLog.QueueFull(_logger, _name, _capacity);
            }
        }

        Wake();
    }

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.WhenAll(Task.Run(() => UntilDisposed(FlushLoopAsync, stoppingToken), CancellationToken.None), Task.Run(() => UntilDisposed(WriteLoopAsync, stoppingToken), CancellationToken.None));

    /// <summary>A writer disposed without being stopped (the host gave up waiting) just ends its loops; the spool keeps the rest.</summary>
    private static async Task UntilDisposed(Func<CancellationToken, Task> loop, CancellationToken stoppingToken)
    {
        try
        {
            await loop(stoppingToken);
        }
        catch (ObjectDisposedException)
        {
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        // The server has stopped taking requests by now; what is left to do is flush and drain, until the
        // host's shutdown timeout says stop. Whatever is not written by then is in the spool for the next start.
        _shutdownDeadline = cancellationToken;
        _stopping = true;
        await base.StopAsync(cancellationToken);
        if (ExecuteTask is { IsCanceled: true })
        {
            // Stopped before the loops ever ran (BackgroundService does not start a cancelled ExecuteAsync): drain here.
            await UntilDisposed(WriteLoopAsync, new CancellationToken(canceled: true));
        }

        // Rows that came in while stopping are at least in the spool.
        Flush();
    }

    public override void Dispose()
    {
        base.Dispose();
        _spool.Dispose();
    }

    private async Task FlushLoopAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(_flushInterval, _time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                Flush();
            }
        }
        catch (OperationCanceledException)
        {
        }

        Flush();
    }

    private async Task WriteLoopAsync(CancellationToken stoppingToken)
    {
        while (true)
        {
            var batch = TakeBatch();
            if (batch.Count == 0)
            {
                if (stoppingToken.IsCancellationRequested || _stopping)
                {
                    // Draining: spool whatever arrived last, and finish once nothing is left.
                    Flush();
                    if (_memory.IsEmpty && !Volatile.Read(ref _diskMode) && Unspooled == 0)
                    {
                        LedgerLog.Drained(_logger, _name);
                        return;
                    }

                    if (_shutdownDeadline.IsCancellationRequested || SpoolFailing)
                    {
                        LedgerLog.LeftInSpool(_logger, _name, _spool.PendingRows, _spool.DirectoryPath);
                        return;
                    }

                    await Task.Delay(5, CancellationToken.None);
                    continue;
                }

                try
                {
                    await _wake.WaitAsync(_flushInterval, stoppingToken);
                }
                catch (OperationCanceledException)
                {
                }

                continue;
            }

            if (!await WriteWithRetryAsync(batch, stoppingToken))
            {
                LedgerLog.LeftInSpool(_logger, _name, _spool.PendingRows, _spool.DirectoryPath);
                return;
            }

            _cursor = batch[^1].End;
            _spool.Acknowledge(_cursor, batch.Count);
        }
    }

    /// <summary>The next rows after <see cref="_cursor"/>: from memory, else (in disk mode) from the spool.</summary>
    private List<SpooledRow<T>> TakeBatch()
    {
        var batch = new List<SpooledRow<T>>(Math.Clamp(Volatile.Read(ref _memoryCount), 1, _maxBatch));
        while (batch.Count < _maxBatch && _memory.TryDequeue(out var row))
        {
            batch.Add(row);
        }

        if (batch.Count > 0)
        {
            Interlocked.Add(ref _memoryCount, -batch.Count);
            return batch;
        }

        if (!Volatile.Read(ref _diskMode))
        {
            return batch;
        }

        var (rows, next) = _spool.Read(_cursor, _maxBatch);
        if (rows.Count > 0)
        {
            return rows;
        }

        if (next != _cursor)
        {
            // Only exhausted (or torn) segments were passed: let the spool delete them.
            _cursor = next;
            _spool.Acknowledge(_cursor, 0);
        }

        lock (_handoffGate)
        {
            // Caught up with the spool while no flush could slip in between: rows go through memory again.
            if (_memory.IsEmpty && _cursor >= _spool.End)
            {
                _diskMode = false;
            }
        }

        return rows;
    }

    /// <summary>Writes one batch, retrying with backoff while the store is down. False only when shutdown gave up on it.</summary>
    private async Task<bool> WriteWithRetryAsync(List<SpooledRow<T>> batch, CancellationToken stoppingToken)
    {
        var rows = new T[batch.Count];
        for (var i = 0; i < rows.Length; i++)
        {
            rows[i] = batch[i].Row;
        }

        var delay = TimeSpan.FromMilliseconds(100);
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await WriteAsync(rows, CancellationToken.None);
                Interlocked.Add(ref _written, rows.Length);
                if (StoreFailing)
                {
                    LogRecovered(rows.Length);
                }

                StoreFailing = false;
                _health?.ReportSuccess();
                return true;
            }
            catch (Exception ex)
            {
                StoreFailing = true;
                _health?.ReportFailure();
                Interlocked.Increment(ref _failedBatches);
                if (attempt == 1 || attempt % 20 == 0)
                {
                    LogWriteFailed(rows.Length, attempt, ex.GetType().Name, ex.Message);
                }

                if (_shutdownDeadline.IsCancellationRequested)
                {
                    return false;
                }

                // While running, keep flushing new rows to the spool meanwhile (the flush loop does); once
                // stopping, this loop is the last one alive and must flush them itself.
                if (_stopping)
                {
                    Flush();
                }

                try
                {
                    await Task.Delay(delay, _time, _stopping ? _shutdownDeadline : CancellationToken.None);
                }
                catch (OperationCanceledException)
                {
                    return false;
                }

                delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, 2_000));
            }
        }
    }

    private void Wake()
    {
        try
        {
            if (_wake.CurrentCount == 0)
            {
                _wake.Release();
            }
        }
        catch (SemaphoreFullException)
        {
        }
        catch (ObjectDisposedException)
        {
        }
    }
}
