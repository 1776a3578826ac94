using System.Buffers.Binary;
using System.Text;

namespace Tollgate.Limits;

/// <summary>
/// The little of MessagePack (https://github.com/msgpack/msgpack/blob/master/spec.md) that
/// <see cref="RedisScripts.Batch"/> reads with Redis's bundled <c>cmsgpack</c>: one array of integers, nils and strings.
/// Reusable: <see cref="Reset"/> starts a new message, <see cref="ToArray"/> copies it out.
/// </summary>
internal sealed class MessagePackWriter
{
    private byte[] _buffer = new byte[1024];
    private int _length;

    public int Length => _length;

    public void Reset() => _length = 0;

    public byte[] ToArray() => _buffer.AsSpan(0, _length).ToArray();

    /// <summary>array 32: the count is written up front, so a reader never has to look ahead.</summary>
    public void WriteArrayHeader(int count)
    {
        var span = Reserve(5);
        span[0] = 0xdd;
        BinaryPrimitives.WriteUInt32BigEndian(span[1..], (uint)count);
        _length += 5;
    }

    /// <summary>nil when null: the script reads it as Lua nil.</summary>
    public void Write(long? value)
    {
        if (value is { } v)
        {
            Write(v);
        }
        else
        {
            Reserve(1)[0] = 0xc0;
            _length += 1;
        }
    }

    public void Write(long value)
    {
        if (value >= 0)
        {
            if (value < 128)
            {
                Reserve(1)[0] = (byte)value;
                _length += 1;
            }
            else if (value <= byte.MaxValue)
            {
                var span = Reserve(2);
                span[0] = 0xcc;
                span[1] = (byte)value;
                _length += 2;
            }
            else if (value <= ushort.MaxValue)
            {
                var span = Reserve(3);
                span[0] = 0xcd;
                BinaryPrimitives.WriteUInt16BigEndian(span[1..], (ushort)value);
                _length += 3;
            }
            else if (value <= uint.MaxValue)
            {
                var span = Reserve(5);
                span[0] = 0xce;
                BinaryPrimitives.WriteUInt32BigEndian(span[1..], (uint)value);
                _length += 5;
            }
            else
            {
                var span = Reserve(9);
                span[0] = 0xcf;
                BinaryPrimitives.WriteUInt64BigEndian(span[1..], (ulong)value);
                _length += 9;
            }
        }
        else if (value >= -32)
        {
            Reserve(1)[0] = unchecked((byte)(sbyte)value);
            _length += 1;
        }
        else
        {
            var span = Reserve(9);
            span[0] = 0xd3;
            BinaryPrimitives.WriteInt64BigEndian(span[1..], value);
            _length += 9;
        }
    }

    public void Write(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        var bytes = Encoding.UTF8.GetByteCount(value);
        WriteStringHeader(bytes);
        _length += Encoding.UTF8.GetBytes(value, Reserve(bytes));
    }

    private void WriteStringHeader(int bytes)
    {
        if (bytes < 32)
        {
            Reserve(1)[0] = (byte)(0xa0 | bytes);
            _length += 1;
        }
        else if (bytes <= byte.MaxValue)
        {
            var span = Reserve(2);
            span[0] = 0xd9;
            span[1] = (byte)bytes;
            _length += 2;
        }
        else if (bytes <= ushort.MaxValue)
        {
            var span = Reserve(3);
            span[0] = 0xda;
            BinaryPrimitives.WriteUInt16BigEndian(span[1..], (ushort)bytes);
            _length += 3;
        }
        else
        {
            var span = Reserve(5);
            span[0] = 0xdb;
            BinaryPrimitives.WriteUInt32BigEndian(span[1..], (uint)bytes);
            _length += 5;
        }
    }

    private Span<byte> Reserve(int bytes)
    {
        if (_length + bytes > _buffer.Length)
        {
            Array.Resize(ref _buffer, Math.Max(_buffer.Length * 2, _length + bytes));
        }

        return _buffer.AsSpan(_length, bytes);
    }
}
