using System.Collections.Concurrent;
using System.Security.Cryptography;
using Microsoft.Extensions.Primitives;
using Tollgate.Storage;

namespace Tollgate.Keys;

/// <summary>
/// Every key in memory, indexed by the SHA-256 of its secret (and of the previous secret during a
/// rotation grace period). The request path authenticates here and never touches the store.
/// </summary>
internal sealed class KeyCache
{
    private readonly TimeProvider _time;
    private ConcurrentDictionary<KeyHash, KeyEntry> _byHash = new();
    private ConcurrentDictionary<string, KeyEntry> _byId = new(StringComparer.Ordinal);

    // Secrets that authenticated, and their digest. SHA-256 through the platform's OpenSSL costs more than a
    // microsecond a call (most of it the call, not the hashing); the same few keys arrive on every request, and a
    // string lookup is a small fraction of that. Only secrets that matched a key get in, so probing with random
    // keys cannot fill it; it is emptied on every key change and capped, so a revoked secret does not stay in
    // memory. Lookups hash with the framework's per-process randomised string hash, so timing says nothing
    // about the secrets in it.
    private const int MemoCapacity = 4096;
    private readonly ConcurrentDictionary<string, KeyHash> _memo = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, KeyHash>.AlternateLookup<ReadOnlySpan<char>> _memoBySpan;

    public KeyCache(TimeProvider time)
    {
        _time = time;
        _memoBySpan = _memo.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    public int Count => _byId.Count;

    /// <summary>Replaces the whole cache, e.g. from a periodic refresh from the store.</summary>
    public void Load(IEnumerable<VirtualKeyRecord> records)
    {
        var byHash = new ConcurrentDictionary<KeyHash, KeyEntry>();
        var byId = new ConcurrentDictionary<string, KeyEntry>(StringComparer.Ordinal);
        foreach (var record in records)
        {
            Index(byHash, byId, new KeyEntry(record));
        }

        _byHash = byHash;
        _byId = byId;
        _memo.Clear();
    }

    /// <summary>Adds or replaces one key (after a mint, rotate, update or revoke).</summary>
    public void Upsert(VirtualKeyRecord record)
    {
        if (_byId.TryGetValue(record.Id, out var old))
        {
            _byHash.TryRemove(KeyHash.From(old.Record.SecretHash), out _);
            if (old.Record.PreviousSecretHash is { } previous)
            {
                _byHash.TryRemove(KeyHash.From(previous), out _);
            }
        }

        Index(_byHash, _byId, new KeyEntry(record));
        _memo.Clear();
    }

    public KeyEntry? FindById(string id) => _byId.GetValueOrDefault(id);

    /// <summary>Finds the usable key for a presented secret, or null.</summary>
    public KeyEntry? Authenticate(ReadOnlySpan<char> secret)
    {
        if (!secret.StartsWith(KeySecrets.Prefix, StringComparison.Ordinal))
        {
            return null;
        }

        var remembered = _memoBySpan.TryGetValue(secret, out var hash);
        if (!remembered)
        {
            hash = KeySecrets.HashToKey(secret);
        }

        var entry = Find(hash, out var current);
        if (current && !remembered)
        {
            Remember(secret, hash);
        }
        else if (!current && remembered)
        {
            // Its key changed after it was remembered (a change racing this secret's first use): forget it.
            _memoBySpan.TryRemove(secret, out _);
        }

        return entry;
    }

    /// <summary>The usable key with this digest; <paramref name="current"/> when it is the key's current secret.</summary>
    private KeyEntry? Find(KeyHash hash, out bool current)
    {
        current = false;
        if (hash.IsEmpty || !_byHash.TryGetValue(hash, out var entry))
        {
            return null;
        }

        var now = _time.GetUtcNow();
        if (!entry.IsUsableAt(now))
        {
            return null;
        }

        // The dictionary matched on the digest; compare again in constant time, and check the grace period
        // when it was the previous secret that matched.
        Span<byte> digest = stackalloc byte[32];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt128BigEndian(digest[..16], hash.High);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt128BigEndian(digest[16..], hash.Low);
        if (CryptographicOperations.FixedTimeEquals(digest, entry.Record.SecretHash))
        {
            current = true;
            return entry;
        }

        return entry.Record.PreviousSecretHash is { } previous
            && CryptographicOperations.FixedTimeEquals(digest, previous)
            && entry.Record.PreviousSecretExpiresAt > now
            ? entry
            : null;
    }

    /// <summary>The number of secrets remembered with their digest (for tests).</summary>
    internal int RememberedCount => _memo.Count;

    private void Remember(ReadOnlySpan<char> secret, KeyHash hash)
    {
        if (_memo.Count >= MemoCapacity)
        {
            _memo.Clear();
        }

        _memoBySpan.TryAdd(secret, hash);
    }

    /// <summary>The presented key: <c>x-tollgate-key</c>, then <c>Authorization: Bearer</c>, then <c>x-api-key</c>.</summary>
    public static ReadOnlySpan<char> PresentedSecret(IHeaderDictionary headers)
    {
        if (headers.TryGetValue("x-tollgate-key", out var tollgateKey) && !StringValues.IsNullOrEmpty(tollgateKey))
        {
            return tollgateKey.ToString().AsSpan().Trim();
        }

        var authorization = headers.Authorization;
        if (!StringValues.IsNullOrEmpty(authorization))
        {
            var value = authorization.ToString().AsSpan().Trim();
            if (value.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
            {
                return value[7..].Trim();
            }
        }

        return headers.TryGetValue("x-api-key", out var apiKey) ? apiKey.ToString().AsSpan().Trim() : default;
    }

    private static void Index(ConcurrentDictionary<KeyHash, KeyEntry> byHash, ConcurrentDictionary<string, KeyEntry> byId, KeyEntry entry)
    {
        byId[entry.Id] = entry;
        byHash[KeyHash.From(entry.Record.SecretHash)] = entry;
        if (entry.Record.PreviousSecretHash is { } previous)
        {
            byHash[KeyHash.From(previous)] = entry;
        }
    }
}
