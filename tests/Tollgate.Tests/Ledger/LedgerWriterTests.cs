using Microsoft.Extensions.Logging.Abstractions;
using Tollgate.Configuration;
using Tollgate.Ledger;

namespace Tollgate.Tests.Ledger;

/// <summary>The spooled writer against a fake store that can go down, on the real clock with a short flush interval.</summary>
public sealed class LedgerWriterTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static LedgerWriter Writer(FakeLedgerStore store, string spool, int capacity = 100_000, long segmentBytes = LedgerSpool.DefaultSegmentBytes) =>
        new(store, new LedgerConfig { FlushMs = 20, QueueCapacity = capacity, SpoolPath = spool }, TimeProvider.System,
            NullLogger<LedgerWriter>.Instance, health: null, segmentBytes);

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

    [Fact]
    public async Task Rows_reach_the_store_and_leave_no_spool_behind()
    {
        using var dir = new TempDir();
        var store = new FakeLedgerStore();
        using var writer = Writer(store, dir.Path);
        await writer.StartAsync(Ct).WaitAsync(Timeout, Ct);

        foreach (var row in Rows.Range(1, 300))
        {
            writer.Enqueue(row);
        }

        await Eventually(() => store.Count == 300, "all 300 rows are in the store");
        await Eventually(() => writer.QueueDepth == 0 && writer.SpoolRows == 0, "the queue and the spool are empty");
        await writer.StopAsync(Ct).WaitAsync(Timeout, Ct);
        store.Order.ShouldBe(Rows.Range(1, 300).Select(r => r.RequestId));
    }

    [Fact]
    public async Task A_store_outage_longer_than_the_queue_loses_nothing_and_keeps_order()
    {
        using var dir = new TempDir();
        var store = new FakeLedgerStore { Down = true };
        using var writer = Writer(store, dir.Path, capacity: 50, segmentBytes: 4096);
        await writer.StartAsync(Ct).WaitAsync(Timeout, Ct);

        for (var i = 1; i <= 400; i++)
        {
            writer.Enqueue(Rows.Row(i));
            if (i % 40 == 0)
            {
                await Task.Delay(25, Ct);
            }
        }

        await Eventually(() => writer.SpoolRows == 400, "every row is spooled");
        writer.MemoryQueueDepth.ShouldBeLessThanOrEqualTo(50, "the in-memory queue stays bounded");
        Directory.GetFiles(dir.Path, "ledger-*.spool").Length.ShouldBeGreaterThan(1);

        store.Down = false;
        await Eventually(() => store.Count == 400, "the spool drained into the store");
        store.Order.ShouldBe(Rows.Range(1, 400).Select(r => r.RequestId));

        // Back in memory mode: new rows flow straight through.
        writer.Enqueue(Rows.Row(401));
        await Eventually(() => store.Count == 401, "a new row is written");
        await Eventually(() => writer.SpoolRows == 0, "the spool is empty again");
        await writer.StopAsync(Ct).WaitAsync(Timeout, Ct);
        Directory.GetFiles(dir.Path, "ledger-*.spool").Sum(f => new FileInfo(f).Length).ShouldBe(0, "written segments are deleted");
    }

    [Fact]
    public async Task Shutdown_drains_the_queue_into_the_store()
    {
        using var dir = new TempDir();
        var store = new FakeLedgerStore();
        using var writer = Writer(store, dir.Path);
        await writer.StartAsync(Ct).WaitAsync(Timeout, Ct);
        foreach (var row in Rows.Range(1, 500))
        {
            writer.Enqueue(row);
        }

        // No wait for a flush: stopping must flush and drain by itself.
        await writer.StopAsync(Ct).WaitAsync(Timeout, Ct);

        store.Count.ShouldBe(500);
    }

    [Fact]
    public async Task Rows_a_stopped_writer_could_not_store_are_written_by_the_next_start()
    {
        using var dir = new TempDir();
        var store = new FakeLedgerStore { Down = true };
        using (var writer = Writer(store, dir.Path))
        {
            await writer.StartAsync(Ct).WaitAsync(Timeout, Ct);
            foreach (var row in Rows.Range(1, 120))
            {
                writer.Enqueue(row);
            }

            using var shutdown = new CancellationTokenSource(TimeSpan.FromMilliseconds(500));
            await writer.StopAsync(shutdown.Token).WaitAsync(Timeout, Ct);
            store.Count.ShouldBe(0);
        }

        store.Down = false;
        using var next = Writer(store, dir.Path);
        next.SpoolRows.ShouldBe(120);
        next.Enqueue(Rows.Row(121));
        await next.StartAsync(Ct).WaitAsync(Timeout, Ct);

        await Eventually(() => store.Count == 121, "the replayed rows and the new one are stored");
        store.Order.ShouldBe(Rows.Range(1, 121).Select(r => r.RequestId), "replayed rows come first");
        await next.StopAsync(Ct).WaitAsync(Timeout, Ct);
    }

    [Fact]
    public async Task A_process_killed_between_spooling_and_storing_replays_without_duplicates()
    {
        using var dir = new TempDir();
        var store = new FakeLedgerStore();
        var crashed = Writer(store, dir.Path);
        await crashed.StartAsync(Ct).WaitAsync(Timeout, Ct);
        foreach (var row in Rows.Range(1, 30))
        {
            crashed.Enqueue(row);
        }

        await Eventually(() => store.Count == 30, "the first rows are stored");
        store.Down = true;
        foreach (var row in Rows.Range(31, 30))
        {
            crashed.Enqueue(row);
        }

        await Eventually(() => crashed.SpoolRows == 30 && crashed.Unspooled == 0, "the later rows are spooled");

        // A crash: no StopAsync, nothing drained; the spool's lock goes with the process (here: Dispose).
        crashed.Dispose();
        store.Down = false;

        using var next = Writer(store, dir.Path);
        await next.StartAsync(Ct).WaitAsync(Timeout, Ct);
        await Eventually(() => store.Count == 60, "every row is stored once");
        await next.StopAsync(Ct).WaitAsync(Timeout, Ct);
        store.Ids.Count.ShouldBe(60);
    }
}
