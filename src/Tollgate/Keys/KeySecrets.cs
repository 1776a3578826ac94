using System.Security.Cryptography;
using System.Text;

namespace Tollgate.Keys;

/// <summary>Makes and hashes virtual key secrets: <c>tg-</c> plus 40 random base62 characters.</summary>
internal static class KeySecrets
{
    public const string Prefix = "tg-";
    private const int RandomLength = 40;
    private const string Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

    public static string NewSecret() => Prefix + RandomBase62(RandomLength);

    /// <summary>A random base62 string from the OS CSPRNG, without modulo bias.</summary>
    public static string RandomBase62(int length) => RandomNumberGenerator.GetString(Alphabet, length);

    public static byte[] Hash(string secret) => SHA256.HashData(Encoding.UTF8.GetBytes(secret));

    /// <summary>Hashes the secret into a lookup key without allocating.</summary>
    public static KeyHash HashToKey(ReadOnlySpan<char> secret)
    {
        Span<byte> utf8 = stackalloc byte[256];
        if (secret.Length > 128 || !Encoding.UTF8.TryGetBytes(secret, utf8, out var written))
        {
            return default;
        }

        Span<byte> digest = stackalloc byte[32];
        SHA256.HashData(utf8[..written], digest);
        return KeyHash.From(digest);
    }

    /// <summary>First characters for operators to recognise a key by; never enough to use it.</summary>
    public static string Hint(string secret) => secret[..Math.Min(secret.Length, Prefix.Length + 4)] + "…";
}

/// <summary>A SHA-256 digest as a value type, so the cache lookup allocates nothing.</summary>
internal readonly record struct KeyHash(UInt128 High, UInt128 Low)
{
    public static KeyHash From(ReadOnlySpan<byte> digest) =>
        new(System.Buffers.Binary.BinaryPrimitives.ReadUInt128BigEndian(digest[..16]),
            System.Buffers.Binary.BinaryPrimitives.ReadUInt128BigEndian(digest[16..32]));

    public bool IsEmpty => High == UInt128.Zero && Low == UInt128.Zero;
}
