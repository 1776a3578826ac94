using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace Tollgate.Storage.Postgres;

/// <summary>
/// Encodes ledger rows as PostgreSQL's binary COPY stream (<c>COPY … FROM STDIN (FORMAT BINARY)</c>), to be sent
/// through Npgsql's raw copy stream: one pass over each record into a pooled buffer, no per-value calls into the
/// driver. The column order is <see cref="SqlStore.LedgerColumns"/>; the wire types are the ledger table's
/// (text, int8, int4, numeric, float8, bool).
/// </summary>
/// <remarks>
/// <para>Npgsql's <c>NpgsqlBinaryImporter</c> writes the same bytes, but resolves a converter and runs an async
/// state machine for each of a row's 29 values, which cost several microseconds of gateway CPU per row.</para>
/// <para>Format (PostgreSQL docs, "COPY", Binary Format): the 11-byte signature, an int32 flags field and an int32
/// header-extension length; then per row an int16 field count and, per field, an int32 byte length (-1 for NULL)
/// and the value in the type's binary send format, big-endian; then an int16 -1 trailer.</para>
/// Not thread-safe; <see cref="Dispose"/> returns the buffer to the pool.
/// </remarks>
internal sealed class PostgresLedgerCopy : IDisposable
{
    public const string Command = $"COPY ledger_staging ({SqlStore.LedgerColumns}) FROM STDIN (FORMAT BINARY)";

    /// <summary>COPY straight into the ledger: the usual case, a batch with no request id the ledger already has.</summary>
    public const string DirectCommand = $"COPY ledger ({SqlStore.LedgerColumns}) FROM STDIN (FORMAT BINARY)";

    /// <summary>Hand the buffer to the stream once it holds this much.</summary>
    public const int FlushBytes = 60 * 1024;

    private const short Columns = 29;
    private const short NumericPositive = 0x0000;
    private const short NumericNegative = 0x4000;

    /// <summary><c>PGCOPY\n\377\r\n\0</c>.</summary>
    private static ReadOnlySpan<byte> Signature => [(byte)'P', (byte)'G', (byte)'C', (byte)'O', (byte)'P', (byte)'Y', (byte)'\n', 0xFF, (byte)'\r', (byte)'\n', 0];

    private byte[] _bytes = ArrayPool<byte>.Shared.Rent(FlushBytes + (16 * 1024));
    private int _length;

    public ReadOnlyMemory<byte> Written => _bytes.AsMemory(0, _length);

    public int Length => _length;

    public void Clear() => _length = 0;

    /// <summary>The stream header: written once, before the first row.</summary>
    public void Header()
    {
        Reserve(Signature.Length + 8);
        Signature.CopyTo(_bytes.AsSpan(_length));
        _length += Signature.Length;
        Int32(0); // flags: no OIDs
        Int32(0); // no header extension
    }

    /// <summary>The end-of-data marker: written once, after the last row.</summary>
    public void Trailer() => Int16(-1);

    public void Row(LedgerRecord row)
    {
        ArgumentNullException.ThrowIfNull(row);
        Int16(Columns);
        Text(row.RequestId);
        Int8(row.Time.ToUnixTimeMilliseconds());
        Text(row.KeyId);
        Text(row.KeyAlias);
        Text(row.Workspace);
        Text(row.Tier);
        Text(row.Endpoint);
        Text(row.ModelRequested);
        Text(row.ModelGroup);
        Text(row.AttemptsJson);
        Text(row.Deployment);
        Text(row.Provider);
        Text(row.Fallback);
        Int4(row.Status);
        Text(row.ErrorType);
        Int8(row.InputTokens);
        Int8(row.OutputTokens);
        Int8(row.CacheReadTokens);
        Int8(row.CacheWriteTokens);
        Int8(row.ReasoningTokens);
        Numeric(row.Cost);
        Numeric(row.NotionalCost);
        Text(row.Currency);
        Float8(row.LatencyMs);
        if (row.TtftMs is { } ttft)
        {
            Float8(ttft);
        }
        else
        {
            Null();
        }

        Reserve(5);
        Int32(1);
        _bytes[_length++] = row.Streamed ? (byte)1 : (byte)0;
        Text(row.UserAgent);
        Text(row.SessionId);
        Text(row.DataClasses);
    }

    public void Dispose()
    {
        var bytes = _bytes;
        _bytes = [];
        _length = 0;
        if (bytes.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(bytes);
        }
    }

    /// <summary>
    /// A decimal in numeric's binary form: int16 digit count, int16 weight (of the first digit, in powers of
    /// 10000), int16 sign, int16 display scale, then base-10000 digits, most significant first, without leading
    /// or trailing zero digits. The display scale is the decimal's own, so 0.10 is stored as 0.10.
    /// </summary>
    internal void Numeric(decimal value)
    {
        Span<int> parts = stackalloc int[4];
        decimal.GetBits(value, parts);
        var scale = (parts[3] >> 16) & 0xFF;
        var negative = parts[3] < 0;
        var mantissa = ((UInt128)(uint)parts[2] << 64) | ((UInt128)(uint)parts[1] << 32) | (uint)parts[0];

        // Align the decimal point to a base-10000 digit boundary: at most ×1000 on a 96-bit mantissa, no overflow.
        var pad = (4 - (scale % 4)) % 4;
        for (var i = 0; i < pad; i++)
        {
            mantissa *= 10;
        }

        var fractionDigits = (scale + pad) / 4;

        // Base-10000 digits, least significant first. A 106-bit number has at most 9 of them.
        Span<short> digits = stackalloc short[10];
        var count = 0;
        while (mantissa != 0)
        {
            if (mantissa <= ulong.MaxValue)
            {
                var small = (ulong)mantissa;
                while (small != 0)
                {
                    digits[count++] = (short)(small % 10000);
                    small /= 10000;
                }

                break;
            }

            digits[count++] = (short)(ushort)(mantissa % 10000);
            mantissa /= 10000;
        }

        var low = 0;
        while (low < count && digits[low] == 0)
        {
            low++;
        }

        var ndigits = count - low;
        var weight = ndigits == 0 ? 0 : count - 1 - fractionDigits;
        Reserve(4 + 8 + (2 * ndigits));
        Int32(8 + (2 * ndigits));
        Int16((short)ndigits);
        Int16((short)weight);
        Int16(ndigits == 0 || !negative ? NumericPositive : NumericNegative);
        Int16((short)scale);
        for (var i = count - 1; i >= low; i--)
        {
            Int16(digits[i]);
        }
    }

    private void Text(string? value)
    {
        if (value is null)
        {
            Null();
            return;
        }

        // Reserve the worst case, transcode, then fill in the length: one pass over the string.
        Reserve(4 + (3 * value.Length));
        var written = Encoding.UTF8.GetBytes(value, _bytes.AsSpan(_length + 4));
        BinaryPrimitives.WriteInt32BigEndian(_bytes.AsSpan(_length), written);
        _length += 4 + written;
    }

    private void Int8(long value)
    {
        Reserve(12);
        Int32(8);
        BinaryPrimitives.WriteInt64BigEndian(_bytes.AsSpan(_length), value);
        _length += 8;
    }

    private void Int4(int value)
    {
        Reserve(8);
        Int32(4);
        Int32(value);
    }

    private void Float8(double value)
    {
        Reserve(12);
        Int32(8);
        BinaryPrimitives.WriteDoubleBigEndian(_bytes.AsSpan(_length), value);
        _length += 8;
    }

    private void Null()
    {
        Reserve(4);
        Int32(-1);
    }

    private void Int32(int value)
    {
        Reserve(4);
        BinaryPrimitives.WriteInt32BigEndian(_bytes.AsSpan(_length), value);
        _length += 4;
    }

    private void Int16(short value)
    {
        Reserve(2);
        BinaryPrimitives.WriteInt16BigEndian(_bytes.AsSpan(_length), value);
        _length += 2;
    }

    private void Reserve(int count)
    {
        if (_length + count > _bytes.Length)
        {
            var larger = ArrayPool<byte>.Shared.Rent(Math.Max(_length + count, _bytes.Length * 2));
            _bytes.AsSpan(0, _length).CopyTo(larger);
            ArrayPool<byte>.Shared.Return(_bytes);
            _bytes = larger;
        }
    }
}
