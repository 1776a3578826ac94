using Tollgate.Ledger;

namespace Tollgate.Tests.Ledger;

public sealed class LedgerSpoolTests
{
    [Fact]
    public void Appended_rows_read_back_in_order_with_every_field()
    {
        using var dir = new TempDir();
        using var spool = LedgerSpool.Open(dir.Path);
        var rows = Rows.Range(1, 50);

        var ends = spool.Append(rows);

        ends.ShouldBe(ends.Order().ToArray(), "positions grow with every row");
        spool.PendingRows.ShouldBe(50);
        spool.PendingBytes.ShouldBeGreaterThan(0);
        var (read, next) = spool.Read(spool.Start, 1000);
        read.Select(r => r.Row).ShouldBe(rows);
        read.Select(r => r.End).ShouldBe(ends);
        next.ShouldBe(spool.End);
    }

    [Fact]
    public void Read_is_bounded_and_resumes_where_it_stopped()
    {
        using var dir = new TempDir();
        using var spool = LedgerSpool.Open(dir.Path, segmentBytes: 1024);
        spool.Append(Rows.Range(1, 40));

        var (first, next) = spool.Read(spool.Start, 15);
        var (second, _) = spool.Read(next, 1000);

        first.Count.ShouldBe(15);
        first.Concat(second).Select(r => r.Row.RequestId).ShouldBe(Rows.Range(1, 40).Select(r => r.RequestId));
    }

    [Fact]
    public void Rows_left_unacknowledged_are_replayed_by_the_next_open()
    {
        using var dir = new TempDir();
        using (var spool = LedgerSpool.Open(dir.Path))
        {
            var ends = spool.Append(Rows.Range(1, 10));
            spool.Sync();
            spool.Acknowledge(ends[3], 4);
        }

        using var reopened = LedgerSpool.Open(dir.Path);

        // Acknowledgement is per segment: a crash replays the unacknowledged rest of a segment, and the store skips duplicates.
        reopened.ReplayRows.ShouldBe(10);
        var (read, _) = reopened.Read(reopened.Start, 1000);
        read.Select(r => r.Row.RequestId).ShouldBe(Rows.Range(1, 10).Select(r => r.RequestId));
        (reopened.Start < reopened.End).ShouldBeTrue();
    }

    [Fact]
    public void Segments_are_deleted_once_every_row_in_them_is_acknowledged()
    {
        using var dir = new TempDir();
        using var spool = LedgerSpool.Open(dir.Path, segmentBytes: 2048);
        var ends = spool.Append(Rows.Range(1, 100));
        var segments = ends.Select(e => e.Segment).Distinct().Count();
        segments.ShouldBeGreaterThan(3, "small segments roll over");
        dir.Segments().Length.ShouldBe(segments);

        // Everything in the first two segments, and part of the third.
        var third = ends.Select(e => e.Segment).Distinct().ElementAt(2);
        var lastBeforeThird = Array.FindLastIndex(ends, e => e.Segment < third);
        spool.Acknowledge(ends[lastBeforeThird + 1], lastBeforeThird + 2);

        dir.Segments().Length.ShouldBe(segments - 2);
        spool.PendingRows.ShouldBe(100 - (lastBeforeThird + 2));

        spool.Acknowledge(ends[^1], 100 - (lastBeforeThird + 2));

        spool.PendingRows.ShouldBe(0);
        spool.PendingBytes.ShouldBe(0);
        dir.Segments().Length.ShouldBe(1, "only the fresh, empty segment is left");
        new FileInfo(dir.Segments()[0]).Length.ShouldBe(0);
    }

    [Fact]
    public void A_fully_acknowledged_spool_replays_nothing()
    {
        using var dir = new TempDir();
        using (var spool = LedgerSpool.Open(dir.Path))
        {
            var ends = spool.Append(Rows.Range(1, 5));
            spool.Acknowledge(ends[^1], 5);
        }

        dir.Segments().ShouldBeEmpty("an empty segment is removed on close");
        using var reopened = LedgerSpool.Open(dir.Path);
        reopened.ReplayRows.ShouldBe(0);
        reopened.Start.ShouldBe(reopened.End);
    }

    [Fact]
    public void A_torn_tail_is_skipped_and_every_whole_row_before_it_is_kept()
    {
        using var dir = new TempDir();
        using (var spool = LedgerSpool.Open(dir.Path))
        {
            spool.Append(Rows.Range(1, 20));
        }

        // A crash in the middle of a write: the last frame is cut short.
        var segment = dir.Segments().Single();
        using (var file = new FileStream(segment, FileMode.Open))
        {
            file.SetLength(file.Length - 7);
        }

        using var reopened = LedgerSpool.Open(dir.Path);
        reopened.ReplayRows.ShouldBe(19);
        reopened.Append(Rows.Range(100, 3));
        var (read, next) = reopened.Read(reopened.Start, 1000);

        read.Select(r => r.Row.RequestId).ShouldBe(Rows.Range(1, 19).Concat(Rows.Range(100, 3)).Select(r => r.RequestId));
        next.ShouldBe(reopened.End);
    }

    [Fact]
    public void Garbage_after_the_last_row_and_a_bad_checksum_are_tolerated()
    {
        using var dir = new TempDir();
        using (var spool = LedgerSpool.Open(dir.Path, segmentBytes: 1500))
        {
            spool.Append(Rows.Range(1, 30));
        }

        var segments = dir.Segments();
        segments.Length.ShouldBeGreaterThan(2);

        // Flip a payload byte in the first row of the second segment: that segment's rows from there on are lost, nothing else.
        var bytes = File.ReadAllBytes(segments[1]);
        bytes[12] ^= 0x55;
        File.WriteAllBytes(segments[1], bytes);
        File.AppendAllText(segments[^1], "\u0001\u0002garbage that is no frame");

        using var reopened = LedgerSpool.Open(dir.Path, segmentBytes: 1500);
        var (read, next) = reopened.Read(reopened.Start, 1000);
        var ids = read.Select(r => r.Row.RequestId).ToList();

        ids.ShouldBe(ids.Order(StringComparer.Ordinal).ToList(), "order is kept");
        ids.ShouldContain("req_000001");
        ids.ShouldContain("req_000030");
        ids.Count.ShouldBeLessThan(30);
        ids.Count.ShouldBe((int)reopened.ReplayRows);
        next.ShouldBe(reopened.End);

        // The torn segments are deleted once acknowledged, like any other.
        reopened.Acknowledge(next, ids.Count);
        dir.Segments().Length.ShouldBe(1);
    }

    [Fact]
    public void A_second_process_cannot_open_a_spool_in_use()
    {
        using var dir = new TempDir();
        using var spool = LedgerSpool.Open(dir.Path);

        var ex = Should.Throw<IOException>(() => LedgerSpool.Open(dir.Path));
        ex.Message.ShouldContain("in use by another Tollgate process");
    }
}
