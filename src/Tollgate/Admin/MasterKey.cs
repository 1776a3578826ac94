using System.Security.Cryptography;
using System.Text;
using Tollgate.Keys;

namespace Tollgate.Admin;

/// <summary>The admin master key, held only as a hash and compared in constant time.</summary>
internal sealed class MasterKey
{
    private volatile byte[] _hash;

    public MasterKey(string secret) => _hash = SHA256.HashData(Encoding.UTF8.GetBytes(secret));

    public void Replace(string secret) => _hash = SHA256.HashData(Encoding.UTF8.GetBytes(secret));

    public bool Matches(HttpRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var presented = KeyCache.PresentedSecret(request.Headers);
        if (presented.IsEmpty)
        {
            return false;
        }

        Span<byte> digest = stackalloc byte[32];
        var utf8 = Encoding.UTF8.GetBytes(presented.ToArray());
        SHA256.HashData(utf8, digest);
        return CryptographicOperations.FixedTimeEquals(digest, _hash);
    }
}
