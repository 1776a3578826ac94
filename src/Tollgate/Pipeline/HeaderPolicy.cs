using System.Net.Http.Headers;
using System.Collections.Frozen;

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
    public static void CopyRequestHeaders(IHeaderDictionary from, HttpRequestMessage to, bool dropAnthropic = false)
    {
        foreach (var (name, values) in from)
        {
            if (RequestDenied.Contains(name) || name.StartsWith("x-tollgate-", StringComparison.OrdinalIgnoreCase)
                || name.StartsWith(':') || (dropAnthropic && name.StartsWith("anthropic-", StringComparison.OrdinalIgnoreCase)))
            {
                continue;
            }

            var added = values.Count == 1
                ? to.Headers.TryAddWithoutValidation(name, (string?)values)
                : to.Headers.TryAddWithoutValidation(name, (IEnumerable<string?>)values);
            if (!added)
            {
                to.Content?.Headers.TryAddWithoutValidation(name, (IEnumerable<string?>)values);
            }
        }
    }

    public static void CopyResponseHeaders(HttpResponseMessage from, HttpResponse to)
    {
        // NonValidated: the values as the upstream sent them, without parsing them into typed headers first.
        Copy(from.Headers.NonValidated, to.Headers);
        Copy(from.Content.Headers.NonValidated, to.Headers);
    }

    private static void Copy(HttpHeadersNonValidated from, IHeaderDictionary to)
    {
        foreach (var (name, values) in from)
        {
            if (ResponseDenied.Contains(name))
            {
                continue;
            }

            if (values.Count == 1)
            {
                to[name] = values.ToString();
            }
            else
            {
                var all = new string[values.Count];
                var i = 0;
                foreach (var value in values)
                {
                    all[i++] = value;
                }

                to[name] = all;
            }
        }
    }
}
