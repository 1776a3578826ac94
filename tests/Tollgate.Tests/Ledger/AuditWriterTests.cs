using Microsoft.Extensions.Logging.Abstractions;
using Tollgate.Configuration;
using Tollgate.Ledger;
using Tollgate.Storage;

namespace Tollgate.Tests.Ledger;

/// <summary>
/// Per-request audit records are as durable as ledger rows (SPEC §6): the shared contract
/// (<see cref="SpooledWriterContract"/>) on audit records, and the audit spool's own format.
/// </summary>
public sealed class AuditWriterTests : SpooledWriterContract
{
    private protected override WriterUnderTest Writer(FakeLedgerStore store, string spool, int capacity = 10_000, long? segmentBytes = null) =>
        new WriterUnderTest<AuditRecord>(
            new AuditWriter(store, new LedgerConfig { FlushMs = 20, SpoolPath = spool }, TimeProvider.System, NullLogger<AuditWriter>.Instance,
                segmentBytes ?? AuditSpool.DefaultSegmentBytes, capacity),
            Rows.Audit);

    private protected override long SmallSegmentBytes => 8192;

    private protected override string SegmentPrefix => "audit-";

    private protected override string Id(int i) => Rows.Audit(i).Id;

    private protected override (int Count, IReadOnlyList<string> Order, int Attempts) Stored(FakeLedgerStore store) =>
        (store.AuditCount, store.AuditOrder, Volatile.Read(ref store.AuditAttempts));

    private protected override void ShouldBeStoredWhole(FakeLedgerStore store, int i) => store.Audit(Id(i)).ShouldBe(Rows.Audit(i));

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
