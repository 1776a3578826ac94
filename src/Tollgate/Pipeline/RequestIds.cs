using System.Globalization;
using System.Security.Cryptography;

namespace Tollgate.Pipeline;

/// <summary>
/// Request ids that sort by time and are unique across replicas without a random draw per request:
/// <c>req_</c> + milliseconds since the epoch (12 hex) + this process's random tag (8 base62) + a counter (hex).
/// </summary>
internal static class RequestIds
{
    private static readonly string ProcessTag = RandomNumberGenerator.GetString("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", 8);
    private static long _counter;

    public static string Next(DateTimeOffset now)
    {
        var sequence = Interlocked.Increment(ref _counter);
        return string.Create(CultureInfo.InvariantCulture, $"req_{now.ToUnixTimeMilliseconds():x12}{ProcessTag}{sequence:x}");
    }
}
