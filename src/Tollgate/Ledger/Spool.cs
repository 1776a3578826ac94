using System.Buffers;
using System.Buffers.Binary;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace Tollgate.Ledger;

/// <summary>Where a spooled row ends: segment number, then byte offset inside it. Ordered like the log.</summary>
internal readonly record struct SpoolPosition(long Segment, long Offset) : IComparable<SpoolPosition>
{
    public int CompareTo(SpoolPosition other) =>
        Segment != other.Segment ? Segment.CompareTo(other.Segment) : Offset.CompareTo(other.Offset);

    public static bool operator <(SpoolPosition a, SpoolPosition b) => a.CompareTo(b) < 0;

    public static bool operator >(SpoolPosition a, SpoolPosition b) => a.CompareTo(b) > 0;

    public static bool operator <=(SpoolPosition a, SpoolPosition b) => a.CompareTo(b) <= 0;

    public static bool operator >=(SpoolPosition a, SpoolPosition b) => a.CompareTo(b) >= 0;

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Segment}:{Offset}");
}

/// <summary>A row read back from a spool, with the position just after it.</summary>
internal readonly record struct SpooledRow<T>(T Row, SpoolPosition End);

/// <summary>How one kind of row is stored in a <see cref="Spool{T}"/>: its file names and its encoding.</summary>
internal interface ISpoolCodec<T>
    where T : class
{
    /// <summary>Segment file prefix, e.g. <c>ledger-</c>; segments are <c>{prefix}000000000001.spool</c>, ….</summary>
    string Prefix { get; }

    /// <summary>The lock file one process holds while it owns this spool.</summary>
    string LockFile { get; }

    /// <summary>What the rows are, for messages ("ledger", "audit").</summary>
    string Name { get; }

    /// <summary>Writes a row's format-2 body (after the format byte).</summary>
    void Write(SpoolBuffer buffer, T row);

    /// <summary>Reads a format-2 body; throws <see cref="FormatException"/> when it is not one whole row.</summary>
    T Read(ReadOnlySpan<byte> body);

    /// <summary>Format-1 rows (JSON): only spools that earlier versions wrote have them; null otherwise.</summary>
    JsonTypeInfo<T>? Json { get; }
}

/// <summary>
/// An append-only local log (the ledger's, the audit trail's): every row is written here before the store sees it, and a segment
/// is deleted only once the store has acknowledged every row in it. A process that dies leaves its
/// segments behind, and the next start reads them back (<see cref="Start"/>).
/// </summary>
/// <remarks>
/// <para>Layout: <c>ledger-000000000001.spool</c>, <c>…02</c>, … in <c>ledger.spool_path</c> (the prefix is the
/// codec's; audit segments are <c>audit-…</c> beside them), plus a lock file (<c>spool.lock</c> for the ledger) that
/// one process holds while it owns the spool. Each row is a frame: 4 bytes little-endian
/// payload length, 4 bytes checksum of the payload, then the payload, whose first byte names its format:</para>
/// <list type="bullet">
/// <item><c>0x02</c> (written now): the row in the codec's binary encoding (<see cref="LedgerRowCodec"/> for the
/// ledger); the checksum is CRC-32C.</item>
/// <item><c>{</c> (format 1, written by earlier versions, ledger only): the row as UTF-8 JSON; the checksum is CRC-32 (IEEE).</item>
/// </list>
/// <para>Both are read, frame by frame, so segments an older version left behind replay after an upgrade. An older
/// version cannot read format 2: drain the spool (a graceful stop with the store up) before downgrading.</para>
/// <para>A process always starts a fresh segment, so it never appends after another run's torn tail.
/// Reading stops at the first frame that is short, oversized or fails its checksum: that is the torn
/// tail of a crash (or damage), and the rest of that segment is skipped.</para>
/// <para><see cref="Append"/> hands the bytes to the OS (a <c>kill -9</c> does not lose them);
/// <see cref="Sync"/> makes them survive a power cut, and the writer calls it once per flush interval.</para>
/// Thread-safe: one appender and one reader may work at once.
/// </remarks>
internal sealed class Spool<T> : IDisposable
    where T : class
{
    public const long DefaultSegmentBytes = 4 * 1024 * 1024;
    private const int HeaderBytes = 8;
    /// <summary>First payload byte of a format-2 frame: the codec's binary row, CRC-32C.</summary>
    private const byte FormatBinary = 2;
    /// <summary>First payload byte of a format-1 frame (Tollgate before format 2): the row as JSON, CRC-32 (IEEE).</summary>
    private const byte FormatJson = (byte)'{';
    private const int MaxFrameBytes = 16 * 1024 * 1024;
    private const string Suffix = ".spool";

    private readonly Lock _gate = new();
    private readonly ISpoolCodec<T> _codec;
    private readonly string _directory;
    private readonly long _segmentBytes;
    private readonly FileStream _lockFile;
    /// <summary>Every segment on disk, oldest first, with its size in bytes.</summary>
    private readonly SortedDictionary<long, long> _segments = [];
    private readonly SpoolBuffer _buffer = new(64 * 1024);
    private FileStream _active;
    private long _activeSegment;
    private SpoolPosition _acked;
    private long _pendingRows;
    private bool _disposed;

    private Spool(ISpoolCodec<T> codec, string directory, long segmentBytes, FileStream lockFile)
    {
        _codec = codec;
        _directory = directory;
        _segmentBytes = segmentBytes;
        _lockFile = lockFile;
        foreach (var path in Directory.EnumerateFiles(directory, codec.Prefix + "*" + Suffix))
        {
            var name = Path.GetFileName(path);
            if (long.TryParse(name.AsSpan(codec.Prefix.Length, name.Length - codec.Prefix.Length - Suffix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out var segment))
            {
                _segments[segment] = new FileInfo(path).Length;
            }
        }

        // Rows left by an earlier run: counted now, so readiness can say how many wait to be replayed.
        foreach (var (segment, _) in _segments)
        {
            var (rows, _) = Scan(segment, 0, long.MaxValue, maxRows: int.MaxValue, materialise: false);
            _pendingRows += rows.Count;
        }

        ReplayRows = _pendingRows;
        var oldest = _segments.Count > 0 ? _segments.Keys.First() : (long?)null;
        _activeSegment = _segments.Count > 0 ? _segments.Keys.Last() + 1 : 1;
        _active = CreateSegment(_activeSegment);
        Start = new SpoolPosition(oldest ?? _activeSegment, 0);
        _acked = Start;
    }

    /// <summary>The first position not yet acknowledged when the spool was opened: rows before a crash start here.</summary>
    public SpoolPosition Start { get; }

    /// <summary>Rows an earlier run left unwritten (counted at open).</summary>
    public long ReplayRows { get; }

    /// <summary>The position after the last appended row.</summary>
    public SpoolPosition End
    {
        get
        {
            lock (_gate)
            {
                return new SpoolPosition(_activeSegment, _segments[_activeSegment]);
            }
        }
    }

    /// <summary>Rows appended (or replayed) and not yet acknowledged.</summary>
    public long PendingRows => Interlocked.Read(ref _pendingRows);

    /// <summary>Bytes of rows not yet acknowledged.</summary>
    public long PendingBytes
    {
        get
        {
            lock (_gate)
            {
                long bytes = 0;
                foreach (var (segment, size) in _segments)
                {
                    if (segment >= _acked.Segment)
                    {
                        bytes += segment == _acked.Segment ? Math.Max(0, size - _acked.Offset) : size;
                    }
                }

                return bytes;
            }
        }
    }

    /// <summary>Segment files on disk (for tests and diagnostics).</summary>
    public int SegmentCount
    {
        get
        {
            lock (_gate)
            {
                return _segments.Count;
            }
        }
    }

    public string DirectoryPath => _directory;

    /// <summary>
    /// Opens (creating) the spool folder and takes its lock. Throws <see cref="IOException"/> with a
    /// clear message when another process holds it: two replicas must not share one spool.
    /// </summary>
    public static Spool<T> Open(ISpoolCodec<T> codec, string directory, long segmentBytes = DefaultSegmentBytes)
    {
        ArgumentNullException.ThrowIfNull(codec);
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        ArgumentOutOfRangeException.ThrowIfLessThan(segmentBytes, 1);
        directory = Path.GetFullPath(directory);
        Directory.CreateDirectory(directory);
        FileStream lockFile;
        try
        {
            lockFile = new FileStream(Path.Combine(directory, codec.LockFile), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException ex)
        {
            throw new IOException(
                $"the {codec.Name} spool {directory} is in use by another Tollgate process; give each replica its own ledger.spool_path ({ex.Message})", ex);
        }

        try
        {
            return new Spool<T>(codec, directory, segmentBytes, lockFile);
        }
        catch
        {
            lockFile.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Appends rows and hands them to the OS (no fsync: see <see cref="Sync"/>). Returns, for each row,
    /// the position just after it. Rolls to a new segment when the current one is full.
    /// </summary>
    public SpoolPosition[] Append(IReadOnlyList<T> rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        var ends = new SpoolPosition[rows.Count];
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            var size = _segments[_activeSegment];
            _buffer.Clear();
            for (var i = 0; i < rows.Count; i++)
            {
                if (size > 0 && size >= _segmentBytes)
                {
                    WriteBuffer();
                    Roll();
                    size = 0;
                }

                size += Frame(rows[i]);
                ends[i] = new SpoolPosition(_activeSegment, size);
            }

            WriteBuffer();
            Interlocked.Add(ref _pendingRows, rows.Count);
        }

        return ends;
    }

    /// <summary>fsync: the appended rows survive a machine crash, not only a process crash.</summary>
    public void Sync()
    {
        lock (_gate)
        {
            if (!_disposed)
            {
                _active.Flush(flushToDisk: true);
            }
        }
    }

    /// <summary>
    /// Reads up to <paramref name="maxRows"/> rows starting at <paramref name="from"/>, never past <see cref="End"/>.
    /// <c>Next</c> is where the following read starts; it moves past exhausted (and torn) segments even when
    /// no row is returned.
    /// </summary>
    public (List<SpooledRow<T>> Rows, SpoolPosition Next) Read(SpoolPosition from, int maxRows)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxRows, 1);
        var rows = new List<SpooledRow<T>>();
        var position = from;
        while (rows.Count < maxRows)
        {
            long limit;
            long segment;
            lock (_gate)
            {
                ObjectDisposedException.ThrowIf(_disposed, this);
                // The first segment at or after the position that still exists.
                segment = -1;
                foreach (var s in _segments.Keys)
                {
                    if (s >= position.Segment)
                    {
                        segment = s;
                        break;
                    }
                }

                if (segment < 0)
                {
                    break;
                }

                if (segment != position.Segment)
                {
                    position = new SpoolPosition(segment, 0);
                }

                limit = segment == _activeSegment ? _segments[segment] : long.MaxValue;
            }

            var (found, next) = Scan(segment, position.Offset, limit, maxRows - rows.Count, materialise: true);
            rows.AddRange(found);
            position = new SpoolPosition(segment, next);
            if (rows.Count >= maxRows || segment == _activeSegment)
            {
                break;
            }

            // A closed segment is read to its end (or its torn tail): carry on with the next one.
            var following = NextSegmentAfter(segment);
            if (following is null)
            {
                break;
            }

            position = new SpoolPosition(following.Value, 0);
        }

        return (rows, position);
    }

    /// <summary>
    /// The store holds every row up to <paramref name="upTo"/> (<paramref name="rows"/> of them since the
    /// last call). Deletes the segments that are now fully written; when everything is written, the current
    /// segment is closed and deleted too, so a quiet spool holds no files but an empty one.
    /// </summary>
    public void Acknowledge(SpoolPosition upTo, int rows)
    {
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            if (upTo > _acked)
            {
                _acked = upTo;
            }

            Interlocked.Add(ref _pendingRows, -rows);
            if (Interlocked.Read(ref _pendingRows) < 0)
            {
                Interlocked.Exchange(ref _pendingRows, 0);
            }

            var end = new SpoolPosition(_activeSegment, _segments[_activeSegment]);
            if (_acked >= end && end.Offset > 0)
            {
                Roll();
                _acked = new SpoolPosition(_activeSegment, 0);
            }

            foreach (var segment in _segments.Keys.ToList())
            {
                if (segment == _activeSegment)
                {
                    continue;
                }

                var whollyBefore = segment < _acked.Segment || (segment == _acked.Segment && _acked.Offset >= _segments[segment]);
                if (whollyBefore)
                {
                    File.Delete(SegmentPath(segment));
                    _segments.Remove(segment);
                }
            }
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            try
            {
                _active.Flush(flushToDisk: true);
            }
            catch (IOException)
            {
            }

            _active.Dispose();
            if (_segments.TryGetValue(_activeSegment, out var size) && size == 0)
            {
                // Nothing was ever appended to it: leave no empty file behind.
                File.Delete(SegmentPath(_activeSegment));
            }

            _lockFile.Dispose();
        }
    }

    private long? NextSegmentAfter(long segment)
    {
        lock (_gate)
        {
            foreach (var s in _segments.Keys)
            {
                if (s > segment)
                {
                    return s;
                }
            }

            return null;
        }
    }

    /// <summary>Encodes one frame (format 2) into the buffer; returns its size.</summary>
    private int Frame(T row)
    {
        var start = _buffer.Length;
        _buffer.Skip(HeaderBytes);
        _buffer.Byte(FormatBinary);
        _codec.Write(_buffer, row);
        var frame = _buffer.Since(start);
        var payload = frame[HeaderBytes..];
        BinaryPrimitives.WriteInt32LittleEndian(frame, payload.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(frame[4..], Crc32C.Compute(payload));
        return frame.Length;
    }

    /// <summary>
    /// Checks one frame's payload against its checksum, by the format its first byte names. False: a torn or
    /// damaged frame (or one of a format this version does not know), after which nothing in the segment is trusted.
    /// </summary>
    private bool Intact(ReadOnlySpan<byte> payload, uint crc) => payload[0] switch
    {
        FormatBinary => Crc32C.Compute(payload) == crc,
        FormatJson when _codec.Json is not null => Crc32.Compute(payload) == crc,
        _ => false,
    };

    /// <summary>The row in an intact frame; null when it does not decode (it is skipped, and reading goes on).</summary>
    private T? Decode(ReadOnlySpan<byte> payload)
    {
        try
        {
            return payload[0] == FormatBinary
                ? _codec.Read(payload[1..])
                : JsonSerializer.Deserialize(payload, _codec.Json!);
        }
        catch (Exception ex) when (ex is FormatException or JsonException)
        {
            return null;
        }
    }

    private void WriteBuffer()
    {
        if (_buffer.Length == 0)
        {
            return;
        }

        _active.Write(_buffer.Written);
        _segments[_activeSegment] += _buffer.Length;
        _buffer.Clear();
    }

    /// <summary>Closes the current segment (synced) and starts the next one.</summary>
    private void Roll()
    {
        _active.Flush(flushToDisk: true);
        _active.Dispose();
        _activeSegment++;
        _active = CreateSegment(_activeSegment);
    }

    private FileStream CreateSegment(long segment)
    {
        // bufferSize 0: every Append is one write(2), so a killed process has already handed its rows to the OS.
        var stream = new FileStream(SegmentPath(segment), FileMode.CreateNew, FileAccess.Write, FileShare.Read | FileShare.Delete, bufferSize: 0);
        _segments[segment] = 0;
        return stream;
    }

    private string SegmentPath(long segment) =>
        Path.Combine(_directory, _codec.Prefix + segment.ToString("D12", CultureInfo.InvariantCulture) + Suffix);

    /// <summary>Reads frames of one segment from <paramref name="offset"/> up to <paramref name="limit"/> bytes; stops at a torn frame.</summary>
    private (List<SpooledRow<T>> Rows, long Next) Scan(long segment, long offset, long limit, int maxRows, bool materialise)
    {
        var rows = new List<SpooledRow<T>>();
        FileStream stream;
        try
        {
            stream = new FileStream(SegmentPath(segment), FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, bufferSize: 64 * 1024);
        }
        catch (FileNotFoundException)
        {
            return (rows, offset);
        }

        // In a closed segment a bad frame is a torn tail (or damage): nothing after it can be trusted, so the
        // read jumps to the segment's end. The segment being written is read only up to End, where every
        // frame is whole; there a bad frame would mean live data, so the read stays put.
        var closed = limit == long.MaxValue;
        using (stream)
        {
            var end = Math.Min(limit, stream.Length);
            stream.Seek(offset, SeekOrigin.Begin);
            Span<byte> header = stackalloc byte[HeaderBytes];
            byte[]? payload = null;
            try
            {
                while (rows.Count < maxRows && offset + HeaderBytes <= end)
                {
                    stream.ReadExactly(header);
                    var length = BinaryPrimitives.ReadInt32LittleEndian(header);
                    var crc = BinaryPrimitives.ReadUInt32LittleEndian(header[4..]);
                    if (length <= 0 || length > MaxFrameBytes || offset + HeaderBytes + length > end)
                    {
                        return (rows, closed ? end : offset);
                    }

                    if (payload is null || payload.Length < length)
                    {
                        if (payload is not null)
                        {
                            ArrayPool<byte>.Shared.Return(payload);
                        }

                        payload = ArrayPool<byte>.Shared.Rent(length);
                    }

                    stream.ReadExactly(payload.AsSpan(0, length));
                    if (!Intact(payload.AsSpan(0, length), crc))
                    {
                        return (rows, closed ? end : offset);
                    }

                    offset += HeaderBytes + length;
                    if (!materialise)
                    {
                        rows.Add(default);
                        continue;
                    }

                    var row = Decode(payload.AsSpan(0, length));
                    if (row is not null)
                    {
                        rows.Add(new SpooledRow<T>(row, new SpoolPosition(segment, offset)));
                    }
                }
            }
            finally
            {
                if (payload is not null)
                {
                    ArrayPool<byte>.Shared.Return(payload);
                }
            }
        }

        return (rows, offset);
    }
}
