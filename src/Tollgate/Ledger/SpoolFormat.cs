using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Text;

namespace Tollgate.Ledger;

/// <summary>
/// A growable byte buffer that spool frames are encoded into: a frame header is reserved first and filled in once
/// the payload is written, so a row is encoded once, in place, with no copy.
/// </summary>
internal sealed class SpoolBuffer
{
    private byte[] _bytes;

    public SpoolBuffer(int capacity) => _bytes = new byte[capacity];

    public int Length { get; private set; }

    public ReadOnlySpan<byte> Written => _bytes.AsSpan(0, Length);

    public void Clear() => Length = 0;

    /// <summary>The written bytes from <paramref name="start"/> on, writable (to fill in a reserved header).</summary>
    public Span<byte> Since(int start) => _bytes.AsSpan(start, Length - start);

    public void Skip(int count)
    {
        Reserve(count);
        Length += count;
    }

    public void Byte(byte value)
    {
        Reserve(1);
        _bytes[Length++] = value;
    }

    public void Int16(short value)
    {
        Reserve(2);
        BinaryPrimitives.WriteInt16LittleEndian(_bytes.AsSpan(Length), value);
        Length += 2;
    }

    public void Int64(long value)
    {
        Reserve(8);
        BinaryPrimitives.WriteInt64LittleEndian(_bytes.AsSpan(Length), value);
        Length += 8;
    }

    public void Double(double value) => Int64(BitConverter.DoubleToInt64Bits(value));

    /// <summary>UTC ticks, then the offset in minutes: the instant and the offset it was taken in.</summary>
    public void Time(DateTimeOffset value)
    {
        Int64(value.UtcTicks);
        Int16((short)value.TotalOffsetMinutes);
    }

    /// <summary>The decimal's four parts as they are (so its scale survives: 0.10 stays 0.10).</summary>
    public void Decimal(decimal value)
    {
        Reserve(16);
        var parts = _bytes.AsSpan(Length, 16);
        Span<int> bits = stackalloc int[4];
        decimal.GetBits(value, bits);
        for (var i = 0; i < 4; i++)
        {
            BinaryPrimitives.WriteInt32LittleEndian(parts[(4 * i)..], bits[i]);
        }

        Length += 16;
    }

    /// <summary>Unsigned LEB128: 7 bits a byte, low first.</summary>
    public void VarUInt(ulong value)
    {
        Reserve(10);
        while (value >= 0x80)
        {
            _bytes[Length++] = (byte)(value | 0x80);
            value >>= 7;
        }

        _bytes[Length++] = (byte)value;
    }

    /// <summary>Zig-zag, so small negative numbers stay short too.</summary>
    public void VarInt(long value) => VarUInt((ulong)((value << 1) ^ (value >> 63)));

    /// <summary>A string as <c>VarUInt(UTF-8 length + 1)</c> then its UTF-8 bytes; a lone 0 is null, so null and "" differ.</summary>
    public void String(string? value)
    {
        if (value is null)
        {
            Byte(0);
            return;
        }

        // Up to 42 chars is at most 126 UTF-8 bytes: a one-byte prefix, written after transcoding in one pass.
        if (value.Length <= 42)
        {
            Reserve(1 + (3 * value.Length));
            var written = Encoding.UTF8.GetBytes(value, _bytes.AsSpan(Length + 1));
            _bytes[Length] = (byte)(written + 1);
            Length += 1 + written;
            return;
        }

        var length = Encoding.UTF8.GetByteCount(value);
        VarUInt((ulong)length + 1);
        Reserve(length);
        Length += Encoding.UTF8.GetBytes(value, _bytes.AsSpan(Length));
    }

    private void Reserve(int count)
    {
        if (Length + count > _bytes.Length)
        {
            Grow(count);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void Grow(int count) => Array.Resize(ref _bytes, Math.Max(Length + count, _bytes.Length * 2));
}

/// <summary>Reads what <see cref="SpoolBuffer"/> wrote. Any overrun or malformed value throws <see cref="FormatException"/>.</summary>
internal ref struct SpoolReader(ReadOnlySpan<byte> data)
{
    private readonly ReadOnlySpan<byte> _data = data;
    private int _position;

    public readonly bool AtEnd => _position == _data.Length;

    public byte Byte()
    {
        Need(1);
        return _data[_position++];
    }

    public bool Boolean() => Byte() switch
    {
        0 => false,
        1 => true,
        _ => throw new FormatException("A spooled boolean is neither 0 nor 1."),
    };

    public short Int16()
    {
        Need(2);
        var value = BinaryPrimitives.ReadInt16LittleEndian(_data[_position..]);
        _position += 2;
        return value;
    }

    public long Int64()
    {
        Need(8);
        var value = BinaryPrimitives.ReadInt64LittleEndian(_data[_position..]);
        _position += 8;
        return value;
    }

    public double Double() => BitConverter.Int64BitsToDouble(Int64());

    public DateTimeOffset Time()
    {
        var ticks = Int64();
        var offset = Int16();
        try
        {
            return new DateTimeOffset(ticks, TimeSpan.Zero).ToOffset(TimeSpan.FromMinutes(offset));
        }
        catch (ArgumentException ex)
        {
            throw new FormatException("A spooled time is out of range.", ex);
        }
    }

    public decimal Decimal()
    {
        Need(16);
        Span<int> bits = stackalloc int[4];
        for (var i = 0; i < 4; i++)
        {
            bits[i] = BinaryPrimitives.ReadInt32LittleEndian(_data[(_position + (4 * i))..]);
        }

        _position += 16;
        try
        {
            return new decimal(bits);
        }
        catch (ArgumentException ex)
        {
            throw new FormatException("A spooled decimal is malformed.", ex);
        }
    }

    public ulong VarUInt()
    {
        ulong value = 0;
        for (var shift = 0; shift < 64; shift += 7)
        {
            var b = Byte();
            value |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80)
            {
                return value;
            }
        }

        throw new FormatException("A spooled integer is too long.");
    }

    public long VarInt()
    {
        var raw = VarUInt();
        return (long)(raw >> 1) ^ -(long)(raw & 1);
    }

    public int VarInt32()
    {
        var value = VarInt();
        return value is >= int.MinValue and <= int.MaxValue ? (int)value : throw new FormatException("A spooled int32 is out of range.");
    }

    public string? String()
    {
        var prefix = VarUInt();
        if (prefix == 0)
        {
            return null;
        }

        var length = prefix - 1;
        if (length > (ulong)(_data.Length - _position))
        {
            throw new FormatException("A spooled string runs past its frame.");
        }

        var value = Encoding.UTF8.GetString(_data.Slice(_position, (int)length));
        _position += (int)length;
        return value;
    }

    public string RequiredString() => String() ?? throw new FormatException("A required spooled string is null.");

    private readonly void Need(int count)
    {
        if (_data.Length - _position < count)
        {
            throw new FormatException("A spooled value runs past its frame.");
        }
    }
}

/// <summary>
/// CRC-32C (Castagnoli), the checksum of current spool frames: the CPU's CRC32 instruction where there is one
/// (SSE 4.2, ARMv8), the runtime's table otherwise, both through <see cref="BitOperations.Crc32C(uint, ulong)"/>.
/// </summary>
internal static class Crc32C
{
    public static uint Compute(ReadOnlySpan<byte> data)
    {
        var crc = 0xFFFFFFFFu;
        while (data.Length >= 8)
        {
            crc = BitOperations.Crc32C(crc, BinaryPrimitives.ReadUInt64LittleEndian(data));
            data = data[8..];
        }

        if (data.Length >= 4)
        {
            crc = BitOperations.Crc32C(crc, BinaryPrimitives.ReadUInt32LittleEndian(data));
            data = data[4..];
        }

        foreach (var b in data)
        {
            crc = BitOperations.Crc32C(crc, b);
        }

        return ~crc;
    }
}

/// <summary>
/// CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320): the checksum of the first spool format, kept to read
/// segments an older Tollgate left behind.
/// </summary>
internal static class Crc32
{
    private static readonly uint[] Table = BuildTable();

    public static uint Compute(ReadOnlySpan<byte> data)
    {
        var crc = 0xFFFFFFFFu;
        foreach (var b in data)
        {
            crc = Table[(crc ^ b) & 0xFF] ^ (crc >> 8);
        }

        return ~crc;
    }

    private static uint[] BuildTable()
    {
        var table = new uint[256];
        for (var n = 0u; n < 256; n++)
        {
            var c = n;
            for (var k = 0; k < 8; k++)
            {
                c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            }

            table[n] = c;
        }

        return table;
    }
}
