using System.Globalization;
using Tollgate.Ledger;
using Tollgate.Storage;

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
    public void Every_field_survives_the_binary_format_exactly()
    {
        using var dir = new TempDir();
        using var spool = LedgerSpool.Open(dir.Path);
        var rows = new[]
        {
            Rows.Full("req_full"),
            // Long strings take a multi-byte length prefix; a 100k-character one grows the frame buffer.
            Rows.Full("req_long") with
            {
                AttemptsJson = new string('x', 43),
                UserAgent = string.Concat(Enumerable.Repeat("日本", 70)),
                Fallback = string.Concat(Enumerable.Repeat("é✓", 50_000)),
                Time = new DateTimeOffset(2024, 2, 29, 23, 59, 59, 999, TimeSpan.FromHours(-8)).AddTicks(1234),
            },
            Rows.Full("req_edges") with
            {
                KeyId = "", KeyAlias = null, ErrorType = "",
                Status = -1, InputTokens = long.MaxValue, OutputTokens = long.MinValue, CacheReadTokens = -1,
                Cost = decimal.MaxValue, NotionalCost = -0.000000000000000000000000001m,
                LatencyMs = double.NaN, TtftMs = 0, Streamed = false,
            },
            Rows.Full("req_nulls") with { TtftMs = null, Cost = 0.100m, NotionalCost = 0m, Currency = null, DataClasses = null },
        };

        spool.Append(rows);
        var (read, _) = spool.Read(spool.Start, 1000);

        read.Select(r => r.Row).ShouldBe(rows);
        for (var i = 0; i < rows.Length; i++)
        {
            read[i].Row.Time.Offset.ShouldBe(rows[i].Time.Offset, "the offset is kept, not only the instant");
            read[i].Row.Time.Ticks.ShouldBe(rows[i].Time.Ticks);
            Money(read[i].Row.Cost).ShouldBe(Money(rows[i].Cost), "the decimal's scale is kept");
            Money(read[i].Row.NotionalCost).ShouldBe(Money(rows[i].NotionalCost));
        }
    }

    [Fact]
    public void Segments_in_the_json_format_of_earlier_versions_replay_after_an_upgrade()
    {
        using var dir = new TempDir();
        File.WriteAllBytes(System.IO.Path.Combine(dir.Path, "ledger-000000000001.spool"), Convert.FromBase64String(LegacySegment));

        using var spool = LedgerSpool.Open(dir.Path);
        spool.ReplayRows.ShouldBe(3);
        var fresh = spool.Append(Rows.Range(1, 2));
        var (read, next) = spool.Read(spool.Start, 1000);

        read.Select(r => r.Row).ShouldBe([.. LegacyRows, .. Rows.Range(1, 2)], "old rows first, then this run's, in the new format");
        Money(read[0].Row.Cost).ShouldBe("0.10");
        read[0].Row.Time.Offset.ShouldBe(TimeSpan.FromMinutes(330));
        next.ShouldBe(spool.End);
        next.ShouldBe(fresh[^1]);

        spool.Acknowledge(next, read.Count);
        dir.Segments().Length.ShouldBe(1, "the old segment is deleted once written, like any other");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_flipped_bit_anywhere_in_a_frame_is_caught_by_its_checksum(bool legacy)
    {
        using var dir = new TempDir();
        var path = System.IO.Path.Combine(dir.Path, "ledger-000000000001.spool");
        long start, end;
        if (legacy)
        {
            File.WriteAllBytes(path, Convert.FromBase64String(LegacySegment));
            using var probe = LedgerSpool.Open(dir.Path);
            var (legacyRows, _) = probe.Read(probe.Start, 1000);
            (start, end) = (legacyRows[0].End.Offset, legacyRows[1].End.Offset);
        }
        else
        {
            using var spool = LedgerSpool.Open(dir.Path);
            var ends = spool.Append([Rows.Full("req_a"), Rows.Full("req_b"), Rows.Full("req_c")]);
            (start, end) = (ends[0].Offset, ends[1].Offset);
        }

        var original = File.ReadAllBytes(path);
        for (var i = start; i < end; i++)
        {
            var damaged = (byte[])original.Clone();
            damaged[i] ^= (byte)(1 << (int)(i % 8));
            File.WriteAllBytes(path, damaged);

            using var reopened = LedgerSpool.Open(dir.Path);
            var (read, _) = reopened.Read(reopened.Start, 1000);

            // The damaged frame and what follows it in its segment are dropped; the row before it is kept.
            reopened.ReplayRows.ShouldBe(1, $"byte {i - start} of the frame");
            read.Count.ShouldBe(1, $"byte {i - start} of the frame");
        }
    }

    [Fact]
    public void A_second_process_cannot_open_a_spool_in_use()
    {
        using var dir = new TempDir();
        using var spool = LedgerSpool.Open(dir.Path);

        var ex = Should.Throw<IOException>(() => LedgerSpool.Open(dir.Path));
        ex.Message.ShouldContain("in use by another Tollgate process");
    }

    private static string Money(decimal value) => value.ToString(CultureInfo.InvariantCulture);

    /// <summary>What <see cref="LegacySegment"/> holds.</summary>
    private static readonly LedgerRecord[] LegacyRows =
    [
        Rows.Full("req_legacy_full") with
        {
            Time = new DateTimeOffset(2025, 11, 2, 9, 30, 15, 123, TimeSpan.FromMinutes(330)),
            KeyId = "key_1",
            KeyAlias = "café ✓ 日本",
            Cost = 0.10m,
        },
        new() { RequestId = "req_legacy_minimal", Time = new DateTimeOffset(2025, 11, 2, 4, 0, 0, TimeSpan.Zero) },
        new()
        {
            RequestId = "req_legacy_empty",
            Time = new DateTimeOffset(2025, 11, 2, 4, 0, 1, TimeSpan.Zero),
            KeyId = "",
            UserAgent = "",
            Status = 429,
            ErrorType = "rate_limited",
            Cost = -0.5m,
            TtftMs = 0,
        },
    ];

    /// <summary>
    /// A segment written by the spool's first format (JSON rows, CRC-32), as the version before format 2 wrote it
    /// for <see cref="LegacyRows"/>: kept byte for byte, so replay after an upgrade stays tested.
    /// </summary>
    private const string LegacySegment =
        "kgMAAOl73bd7IlJlcXVlc3RJZCI6InJlcV9sZWdhY3lfZnVsbCIsIlRpbWUiOiIyMDI1LTExLTAyVDA5OjMwOjE1LjEyMyswNTozMCIsIktleUlkIjoia2V5" +
        "XzEiLCJLZXlBbGlhcyI6ImNhZlx1MDBFOSBcdTI3MTMgXHU2NUU1XHU2NzJDIiwiV29ya3NwYWNlIjoicmVzZWFyY2giLCJUaWVyIjoicHJvIiwiRW5kcG9p" +
        "bnQiOiJhbnRocm9waWMubWVzc2FnZXMiLCJNb2RlbFJlcXVlc3RlZCI6InNvbm5ldCIsIk1vZGVsR3JvdXAiOiJjbGF1ZGUtc29ubmV0IiwiQXR0ZW1wdHNK" +
        "c29uIjoiW3tcdTAwMjJkZXBsb3ltZW50XHUwMDIyOlx1MDAyMmFudGhyb3BpYy9jbGF1ZGUtc29ubmV0LTRcdTAwMjIsXHUwMDIyc3RhdHVzXHUwMDIyOjUy" +
        "OSxcdTAwMjJsYXRlbmN5X21zXHUwMDIyOjEyLjUsXHUwMDIyZXJyb3JcdTAwMjI6XHUwMDIyb3ZlcmxvYWRlZFx1MDAyMn1dIiwiRGVwbG95bWVudCI6ImJl" +
        "ZHJvY2svY2xhdWRlLXNvbm5ldC00IiwiUHJvdmlkZXIiOiJiZWRyb2NrIiwiRmFsbGJhY2siOiJhbnRocm9waWMvY2xhdWRlLXNvbm5ldC00IC1cdTAwM0Ug" +
        "YmVkcm9jay9jbGF1ZGUtc29ubmV0LTQiLCJTdGF0dXMiOjIwMCwiRXJyb3JUeXBlIjoibm9uZSIsIklucHV0VG9rZW5zIjoxMjM0NTY3ODkwMTIsIk91dHB1" +
        "dFRva2VucyI6MiwiQ2FjaGVSZWFkVG9rZW5zIjozLCJDYWNoZVdyaXRlVG9rZW5zIjo0LCJSZWFzb25pbmdUb2tlbnMiOjUsIkNvc3QiOjAuMTAsIk5vdGlv" +
        "bmFsQ29zdCI6MS4yMzQ1Njc4OSwiQ3VycmVuY3kiOiJBVUQiLCJMYXRlbmN5TXMiOjEyMzQuNTY3OCwiVHRmdE1zIjowLjMwMDAwMDAwMDAwMDAwMDA0LCJT" +
        "dHJlYW1lZCI6dHJ1ZSwiVXNlckFnZW50IjoiY2xhdWRlLWNsaS8yLjAgKGV4dGVybmFsLCBjbGkpIiwiU2Vzc2lvbklkIjoic2Vzcy0xIiwiRGF0YUNsYXNz" +
        "ZXMiOiJwdWJsaWMsaW50ZXJuYWwifQMCAACDOi0aeyJSZXF1ZXN0SWQiOiJyZXFfbGVnYWN5X21pbmltYWwiLCJUaW1lIjoiMjAyNS0xMS0wMlQwNDowMDow" +
        "MCswMDowMCIsIktleUlkIjpudWxsLCJLZXlBbGlhcyI6bnVsbCwiV29ya3NwYWNlIjpudWxsLCJUaWVyIjpudWxsLCJFbmRwb2ludCI6bnVsbCwiTW9kZWxS" +
        "ZXF1ZXN0ZWQiOm51bGwsIk1vZGVsR3JvdXAiOm51bGwsIkF0dGVtcHRzSnNvbiI6bnVsbCwiRGVwbG95bWVudCI6bnVsbCwiUHJvdmlkZXIiOm51bGwsIkZh" +
        "bGxiYWNrIjpudWxsLCJTdGF0dXMiOjAsIkVycm9yVHlwZSI6bnVsbCwiSW5wdXRUb2tlbnMiOjAsIk91dHB1dFRva2VucyI6MCwiQ2FjaGVSZWFkVG9rZW5z" +
        "IjowLCJDYWNoZVdyaXRlVG9rZW5zIjowLCJSZWFzb25pbmdUb2tlbnMiOjAsIkNvc3QiOjAsIk5vdGlvbmFsQ29zdCI6MCwiQ3VycmVuY3kiOm51bGwsIkxh" +
        "dGVuY3lNcyI6MCwiVHRmdE1zIjpudWxsLCJTdHJlYW1lZCI6ZmFsc2UsIlVzZXJBZ2VudCI6bnVsbCwiU2Vzc2lvbklkIjpudWxsLCJEYXRhQ2xhc3NlcyI6" +
        "bnVsbH0JAgAAlR5Db3siUmVxdWVzdElkIjoicmVxX2xlZ2FjeV9lbXB0eSIsIlRpbWUiOiIyMDI1LTExLTAyVDA0OjAwOjAxKzAwOjAwIiwiS2V5SWQiOiIi" +
        "LCJLZXlBbGlhcyI6bnVsbCwiV29ya3NwYWNlIjpudWxsLCJUaWVyIjpudWxsLCJFbmRwb2ludCI6bnVsbCwiTW9kZWxSZXF1ZXN0ZWQiOm51bGwsIk1vZGVs" +
        "R3JvdXAiOm51bGwsIkF0dGVtcHRzSnNvbiI6bnVsbCwiRGVwbG95bWVudCI6bnVsbCwiUHJvdmlkZXIiOm51bGwsIkZhbGxiYWNrIjpudWxsLCJTdGF0dXMi" +
        "OjQyOSwiRXJyb3JUeXBlIjoicmF0ZV9saW1pdGVkIiwiSW5wdXRUb2tlbnMiOjAsIk91dHB1dFRva2VucyI6MCwiQ2FjaGVSZWFkVG9rZW5zIjowLCJDYWNo" +
        "ZVdyaXRlVG9rZW5zIjowLCJSZWFzb25pbmdUb2tlbnMiOjAsIkNvc3QiOi0wLjUsIk5vdGlvbmFsQ29zdCI6MCwiQ3VycmVuY3kiOm51bGwsIkxhdGVuY3lN" +
        "cyI6MCwiVHRmdE1zIjowLCJTdHJlYW1lZCI6ZmFsc2UsIlVzZXJBZ2VudCI6IiIsIlNlc3Npb25JZCI6bnVsbCwiRGF0YUNsYXNzZXMiOm51bGx9";
}
