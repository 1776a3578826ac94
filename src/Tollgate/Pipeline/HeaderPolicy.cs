using System.Collections.Frozen;
using Tollgate.Upstream;

namespace Tollgate.Pipeline;

/// <summary>Which headers cross the gateway, in each direction.</summary>
internal static class HeaderPolicy
{
    /// <summary>Client headers never sent upstream: hop-by-hop, the client's credentials, and what the gateway sets itself.</summary>
    private static readonly FrozenSet<string> RequestDenied = new[]
    {
        "host", "authorization", "x-api-key", "x-goog-api-key", "content-length", "content-type", "connection", "keep-alive",
        "transfer-encoding", "te", "trailer", "upgrade", "proxy-authorization", "proxy-connection", "accept-encoding",
        "cookie", "expect", "openai-organization", "openai-project", "forwarded", "x-forwarded-for", "x-forwarded-host",
        "x-forwarded-proto", "x-real-ip",
    }.ToFrozenSet(StringComparer.OrdinalIgnoreCase);

    /// <summary>Upstream headers not relayed: hop-by-hop, and framing the gateway sets itself.</summary>
    private static readonly FrozenSet<string> ResponseDenied = new[]
    {
        "connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-authenticate",
        "content-length", "set-cookie", "alt-svc", "server", "date",
    }.ToFrozenSet(StringComparer.OrdinalIgnoreCase);

    /// <param name="from">The client's headers.</param>
    /// <param name="to">The upstream request.</param>
    /// <param name="dropAnthropic">Leave out <c>anthropic-*</c> headers (a translated request to a provider that is not Anthropic).</param>
    public static void CopyRequestHeaders(IHeaderDictionary from, UpstreamRequest to, bool dropAnthropic = false)
    {
        foreach (var (name, values) in from)
        {
            if (RequestDenied.Contains(name) || name.StartsWith("x-tollgate-", StringComparison.OrdinalIgnoreCase)
                || name.StartsWith(':') || (dropAnthropic && name.StartsWith("anthropic-", StringComparison.OrdinalIgnoreCase)))
            {
                continue;
            }

            to.Add(name, values);
        }
    }

    /// <summary>Whether an upstream response header stays on the gateway's side (framing, hop-by-hop, cookies).</summary>
    public static bool IsResponseDenied(string name) => ResponseDenied.Contains(name);

    /// <summary>
    /// Relays the upstream's end-to-end headers. A repeated header keeps all its values. The gateway's own
    /// <c>x-tollgate-*</c> headers are never taken from upstream (an upstream that is itself a Tollgate has its own).
    /// </summary>
    public static void CopyResponseHeaders(UpstreamResponse from, HttpResponse to)
    {
        var headers = to.Headers;
        foreach (var (name, value) in from.Headers)
        {
            if (ResponseDenied.Contains(name) || name.StartsWith("x-tollgate-", StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            headers.Append(name, value);
        }
    }
}
