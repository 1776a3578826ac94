using Tollgate.Ledger;

namespace Tollgate.Tests.Ledger;

/// <summary>
/// What every spooled writer must do against a store that can go down: the ledger's and the audit trail's are the one
/// generic <see cref="SpooledWriter{T}"/>, so they share these tests (each in its own class: <see cref="LedgerWriterTests"/>,
/// <see cref="AuditWriterTests"/>), on the real clock with a short flush interval. A writer loses nothing, keeps order,
/// bounds its memory, drains on stop, and after a stop or a crash replays what it spooled, exactly once.
/// </summary>
public abstract class SpooledWriterContract
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    private protected static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>A writer on the fake store with a 20 ms flush; <paramref name="capacity"/> bounds its memory queue.</summary>
    private protected abstract WriterUnderTest Writer(FakeLedgerStore store, string spool, int capacity = 10_000, long? segmentBytes = null);

    /// <summary>A segment size small enough that a few hundred records need several segments.</summary>
    private protected abstract long SmallSegmentBytes { get; }

    /// <summary>The file name prefix of this writer's spool segments.</summary>
    private protected abstract string SegmentPrefix { get; }

    /// <summary>The id of the i-th test record (the harness makes the records).</summary>
    private protected abstract string Id(int i);

    /// <summary>This writer's half of the fake store: how many records it holds, in what order they came, and how often a write was tried.</summary>
    private protected abstract (int Count, IReadOnlyList<string> Order, int Attempts) Stored(FakeLedgerStore store);

    /// <summary>Asserts the store holds the i-th record with every field as it was made.</summary>
    private protected abstract void ShouldBeStoredWhole(FakeLedgerStore store, int i);

    private IEnumerable<string> Ids(int from, int count) => Enumerable.Range(from, count).Select(Id);

    private static async Task Eventually(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + Timeout;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new ShouldAssertException($"timed out waiting until {what}");
            }

            await Task.Delay(10, Ct);
        }
    }

    private long SegmentBytesOnDisk(TempDir dir) => dir.Segments(SegmentPrefix).Sum(f => new FileInfo(f).Length);

    [Fact]
    public async Task Records_reach_the_store_whole_in_order_and_leave_no_spool_behind()
    {
        using var dir = new TempDir();
        var store = new FakeLedgerStore();
        using var writer = Writer(store, dir.Path);
        await writer.StartAsync(Ct).WaitAsync(Timeout, Ct);

        writer.Enqueue(1, 1200);

        await Eventually(() => Stored(store).Count == 1200, "all 1200 records are in the store");
        await Eventually(() => writer.QueueDepth == 0 && writer.SpoolRows == 0, "the queue and the spool are empty");
        await writer.StopAsync(Ct).WaitAsync(Timeout, Ct);
        Stored(store).Order.ShouldBe(Ids(1, 1200));
        ShouldBeStoredWhole(store, 7);
        SegmentBytesOnDisk(dir).ShouldBe(0, "written segments are deleted");
    }

    [Fact]
    public async Task A_store_outage_longer_than_the_queue_loses_nothing_and_keeps_order()
    {
        using var dir = new TempDir();
        var store = new FakeLedgerStore { Down = true };
        using var writer = Writer(store, dir.Path, capacity: 50, segmentBytes: SmallSegmentBytes);
        await writer.StartAsync(Ct).WaitAsync(Timeout, Ct);

        for (var i = 1; i <= 400; i++)
        {
            writer.Enqueue(i, 1);
            if (i % 40 == 0)
            {
                await Task.Delay(25, Ct);
            }
        }

        await Eventually(() => writer.SpoolRows == 400, "every record is spooled");
        // Writers this replaced gave up on a record after a few failed attempts.
        await Eventually(() => Stored(store).Attempts >= 6, "the store was tried more than five times");
        writer.MemoryQueueDepth.ShouldBeLessThanOrEqualTo(50, "the in-memory queue stays bounded");
        dir.Segments(SegmentPrefix).Length.ShouldBeGreaterThan(1);

        store.Down = false;
        await Eventually(() => Stored(store).Count == 400, "the spool drained into the store");
        Stored(store).Order.ShouldBe(Ids(1, 400));

        // Back in memory mode: new records flow straight through.
        writer.Enqueue(401, 1);
        await Eventually(() => Stored(store).Count == 401, "a new record is written");
        await Eventually(() => writer.SpoolRows == 0, "the spool is empty again");
        await writer.StopAsync(Ct).WaitAsync(Timeout, Ct);
        SegmentBytesOnDisk(dir).ShouldBe(0, "written segments are deleted");
    }

    [Fact]
    public async Task Shutdown_drains_the_queue_into_the_store()
    {
        using var dir = new TempDir();
        var store = new FakeLedgerStore();
        using var writer = Writer(store, dir.Path);
        await writer.StartAsync(Ct).WaitAsync(Timeout, Ct);
        writer.Enqueue(1, 500);

        // No wait for a flush: stopping must flush and drain by itself.
        await writer.StopAsync(Ct).WaitAsync(Timeout, Ct);

        Stored(store).Count.ShouldBe(500);
    }

    [Fact]
    public async Task Records_a_stopped_writer_could_not_store_are_written_by_the_next_start()
    {
        using var dir = new TempDir();
        var store = new FakeLedgerStore { Down = true };
        using (var writer = Writer(store, dir.Path))
        {
            await writer.StartAsync(Ct).WaitAsync(Timeout, Ct);
            writer.Enqueue(1, 120);

            using var shutdown = new CancellationTokenSource(TimeSpan.FromMilliseconds(500));
            await writer.StopAsync(shutdown.Token).WaitAsync(Timeout, Ct);
            Stored(store).Count.ShouldBe(0);
        }

        store.Down = false;
        using var next = Writer(store, dir.Path);
        next.SpoolRows.ShouldBe(120);
        next.Enqueue(121, 1);
        await next.StartAsync(Ct).WaitAsync(Timeout, Ct);

        await Eventually(() => Stored(store).Count == 121, "the replayed records and the new one are stored");
        Stored(store).Order.ShouldBe(Ids(1, 121), "replayed records come first");
        await next.StopAsync(Ct).WaitAsync(Timeout, Ct);
    }

    [Fact]
    public async Task A_process_killed_between_spooling_and_storing_replays_each_record_once()
    {
        using var dir = new TempDir();
        var store = new FakeLedgerStore();
        var crashed = Writer(store, dir.Path);
        await crashed.StartAsync(Ct).WaitAsync(Timeout, Ct);
        crashed.Enqueue(1, 30);

        await Eventually(() => Stored(store).Count == 30, "the first records are stored");
        store.Down = true;
        crashed.Enqueue(31, 30);

        await Eventually(() => crashed.SpoolRows == 30 && crashed.Unspooled == 0, "the later records are spooled");

        // A crash: no StopAsync, nothing drained; the spool's lock goes with the process (here: Dispose).
        crashed.Dispose();
        store.Down = false;

        using var next = Writer(store, dir.Path);
        await next.StartAsync(Ct).WaitAsync(Timeout, Ct);
        await Eventually(() => Stored(store).Count == 60, "every record is stored");
        await next.StopAsync(Ct).WaitAsync(Timeout, Ct);
        Stored(store).Order.ShouldBe(Ids(1, 60), "each record once, in order");
    }
}

/// <summary>One writer under test, whatever its record type; it makes the i-th test record itself.</summary>
internal abstract class WriterUnderTest : IDisposable
{
    public abstract long SpoolRows { get; }

    public abstract int QueueDepth { get; }

    public abstract int MemoryQueueDepth { get; }

    public abstract int Unspooled { get; }

    public abstract Task StartAsync(CancellationToken cancellationToken);

    public abstract Task StopAsync(CancellationToken cancellationToken);

    /// <summary>Enqueues test records <paramref name="from"/> to <paramref name="from"/> + <paramref name="count"/> - 1.</summary>
    public abstract void Enqueue(int from, int count);

    public abstract void Dispose();
}

internal sealed class WriterUnderTest<T>(SpooledWriter<T> writer, Func<int, T> record) : WriterUnderTest
    where T : class
{
    public override long SpoolRows => writer.SpoolRows;

    public override int QueueDepth => writer.QueueDepth;

    public override int MemoryQueueDepth => writer.MemoryQueueDepth;

    public override int Unspooled => writer.Unspooled;

    public override Task StartAsync(CancellationToken cancellationToken) => writer.StartAsync(cancellationToken);

    public override Task StopAsync(CancellationToken cancellationToken) => writer.StopAsync(cancellationToken);

    public override void Enqueue(int from, int count)
    {
        for (var i = from; i < from + count; i++)
        {
            writer.Enqueue(record(i));
        }
    }

    public override void Dispose() => writer.Dispose();
}
