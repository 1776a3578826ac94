using Microsoft.Extensions.Logging.Abstractions;
using Tollgate.Configuration;
using Tollgate.Ledger;
using Tollgate.Storage;

namespace Tollgate.Tests.Ledger;

/// <summary>The ledger's spooled writer: the shared contract (<see cref="SpooledWriterContract"/>) on ledger rows.</summary>
public sealed class LedgerWriterTests : SpooledWriterContract
{
    private protected override WriterUnderTest Writer(FakeLedgerStore store, string spool, int capacity = 10_000, long? segmentBytes = null) =>
        new WriterUnderTest<LedgerRecord>(
            new LedgerWriter(store, new LedgerConfig { FlushMs = 20, QueueCapacity = capacity, SpoolPath = spool }, TimeProvider.System,
                NullLogger<LedgerWriter>.Instance, health: null, segmentBytes ?? LedgerSpool.DefaultSegmentBytes),
            Rows.Row);

    private protected override long SmallSegmentBytes => 4096;

    private protected override string SegmentPrefix => "ledger-";

    private protected override string Id(int i) => Rows.Row(i).RequestId;

    private protected override (int Count, IReadOnlyList<string> Order, int Attempts) Stored(FakeLedgerStore store) =>
        (store.Count, store.Order, Volatile.Read(ref store.Attempts));

    private protected override void ShouldBeStoredWhole(FakeLedgerStore store, int i) => store.Row(Id(i)).ShouldBe(Rows.Row(i));
}
