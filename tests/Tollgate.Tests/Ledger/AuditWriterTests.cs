using Microsoft.Extensions.Logging.Abstractions;
using Tollgate.Configuration;
using Tollgate.Ledger;
using Tollgate.Storage;

namespace Tollgate.Tests.Ledger;

/// <summary>Per-request audit records are as durable as ledger rows: spooled, replayed, drained (SPEC §6).</summary>
public sealed class AuditWriterTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static AuditWriter Writer(FakeLedgerStore store, string spool, int capacity = 10_000, long segmentBytes = AuditSpool.DefaultSegmentBytes) =>
        new(store, new LedgerConfig { FlushMs = 20, SpoolPath = spool }, TimeProvider.System, NullLogger<AuditWriter>.Instance, segmentBytes, capacity);

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
    public async Task Records_reach_the_store_whole_and_leave_no_spool_behind()
    {
        using var dir = new TempDir();
        var store = new FakeLedgerStore();
        using var writer = Writer(store, dir.Path);
        await writer.StartAsync(Ct).WaitAsync(Timeout, Ct);

        foreach (var record in Rows.Audits(1, 1200))
        {
            writer.Enqueue(record);
        }

        await Eventually(() => store.AuditCount == 1200, "all 1200 records are in the store");
        await Eventually(() => writer.SpoolRows == 0, "the spool is empty");
        await writer.StopAsync(Ct).WaitAsync(Timeout, Ct);
        store.AuditOrder.ShouldBe(Rows.Audits(1, 1200).Select(r => r.Id));
        store.Audit("aud_req_000007").ShouldBe(Rows.Audit(7));
        dir.Segments("audit-").Sum(f => new FileInfo(f).Length).ShouldBe(0);
    }

    [Fact]
    public async Task A_store_outage_longer_than_the_queue_drops_nothing()
    {
        // The writer this replaces dropped records when its queue was full or after five failed attempts.
        using var dir = new TempDir();
        var store = new FakeLedgerStore { Down = true };
        using var writer = Writer(store, dir.Path, capacity: 50, segmentBytes: 8192);
        await writer.StartAsync(Ct).WaitAsync(Timeout, Ct);

        for (var i = 1; i <= 300; i++)
        {
            writer.Enqueue(Rows.Audit(i));
            if (i % 30 == 0)
            {
                await Task.Delay(25, Ct);
            }
        }

        await Eventually(() => writer.SpoolRows == 300, "every record is spooled");
        await Eventually(() => store.AuditAttempts >= 6, "the store was tried more than five times");
        writer.MemoryQueueDepth.ShouldBeLessThanOrEqualTo(50);

        store.Down = false;
        await Eventually(() => store.AuditCount == 300, "the spool drained into the store");
        store.AuditOrder.ShouldBe(Rows.Audits(1, 300).Select(r => r.Id));
        await writer.StopAsync(Ct).WaitAsync(Timeout, Ct);
    }

    [Fact]
    public async Task Shutdown_drains_and_what_it_cannot_store_is_written_by_the_next_start()
    {
        using var dir = new TempDir();
        var store = new FakeLedgerStore();
        using (var writer = Writer(store, dir.Path))
        {
            await writer.StartAsync(Ct).WaitAsync(Timeout, Ct);
            writer.Enqueue(Rows.Audit(1));
            await writer.StopAsync(Ct).WaitAsync(Timeout, Ct);
            store.AuditCount.ShouldBe(1, "a stop with the store up drains without waiting for a flush");
        }

        store.Down = true;
        using (var writer = Writer(store, dir.Path))
        {
            await writer.StartAsync(Ct).WaitAsync(Timeout, Ct);
            foreach (var record in Rows.Audits(2, 99))
            {
                writer.Enqueue(record);
            }

            using var shutdown = new CancellationTokenSource(TimeSpan.FromMilliseconds(500));
            await writer.StopAsync(shutdown.Token).WaitAsync(Timeout, Ct);
        }

        store.AuditCount.ShouldBe(1);
        store.Down = false;
        using var next = Writer(store, dir.Path);
        next.SpoolRows.ShouldBe(99);
        next.Enqueue(Rows.Audit(101));
        await next.StartAsync(Ct).WaitAsync(Timeout, Ct);

        await Eventually(() => store.AuditCount == 101, "the replayed records and the new one are stored");
        store.AuditOrder.ShouldBe(Rows.Audits(1, 101).Select(r => r.Id), "replayed records come first");
        await next.StopAsync(Ct).WaitAsync(Timeout, Ct);
    }

    [Fact]
    public async Task A_process_killed_after_spooling_replays_its_records_once()
    {
        using var dir = new TempDir();
        var store = new FakeLedgerStore();
        var crashed = Writer(store, dir.Path);
        await crashed.StartAsync(Ct).WaitAsync(Timeout, Ct);
        foreach (var record in Rows.Audits(1, 20))
        {
            crashed.Enqueue(record);
        }

        await Eventually(() => store.AuditCount == 20, "the first records are stored");
        store.Down = true;
        foreach (var record in Rows.Audits(21, 20))
        {
            crashed.Enqueue(record);
        }

        await Eventually(() => crashed.SpoolRows == 20 && crashed.Unspooled == 0, "the later records are spooled");
        crashed.Dispose();
        store.Down = false;

        using var next = Writer(store, dir.Path);
        await next.StartAsync(Ct).WaitAsync(Timeout, Ct);
        await Eventually(() => store.AuditCount == 40, "every record is stored once");
        await next.StopAsync(Ct).WaitAsync(Timeout, Ct);
        store.AuditOrder.ShouldBe(Rows.Audits(1, 40).Select(r => r.Id));
    }

    [Fact]
    public void The_audit_spool_lives_beside_the_ledger_spool_and_is_locked_on_its_own()
    {
        using var dir = new TempDir();
        using var ledger = LedgerSpool.Open(dir.Path);
        using var audit = AuditSpool.Open(dir.Path);
        ledger.Append(Rows.Range(1, 3));
        audit.Append(Rows.Audits(1, 2));

        ledger.Read(ledger.Start, 100).Rows.Count.ShouldBe(3);
        audit.Read(audit.Start, 100).Rows.Select(r => r.Row).ShouldBe(Rows.Audits(1, 2));
        dir.Segments("ledger-").Length.ShouldBe(1);
        dir.Segments("audit-").Length.ShouldBe(1);
        Should.Throw<IOException>(() => AuditSpool.Open(dir.Path)).Message.ShouldContain("audit spool");
    }

    [Fact]
    public void Every_audit_field_survives_the_spool_and_a_flipped_bit_is_caught()
    {
        using var dir = new TempDir();
        var records = new[]
        {
            Rows.Audit(1) with { Time = new DateTimeOffset(2025, 1, 2, 3, 4, 5, TimeSpan.FromHours(2)).AddTicks(7) },
            new AuditRecord { Id = "aud_min", Time = DateTimeOffset.UnixEpoch, Actor = "", Action = "request" },
            Rows.Audit(3) with { DetailsJson = string.Concat(Enumerable.Repeat("日本語 ", 20_000)) },
        };

        SpoolPosition[] ends;
        using (var spool = AuditSpool.Open(dir.Path))
        {
            ends = spool.Append(records);
            var read = spool.Read(spool.Start, 100).Rows;
            read.Select(r => r.Row).ShouldBe(records);
            read[0].Row.Time.Offset.ShouldBe(TimeSpan.FromHours(2));
        }

        var path = dir.Segments("audit-").Single();
        var bytes = File.ReadAllBytes(path);
        bytes[ends[0].Offset + 20] ^= 0x10;
        File.WriteAllBytes(path, bytes);
        using var reopened = AuditSpool.Open(dir.Path);
        reopened.ReplayRows.ShouldBe(1, "the damaged record and the rest of its segment are dropped, the one before kept");
    }
}
