using System.Net;
using System.Net.Http.Headers;
using Tollgate.Configuration;

namespace Tollgate.Providers;

/// <summary>
/// One upstream provider, live: its config, its resolved credential, and its own connection pool
/// (an <see cref="HttpMessageInvoker"/> over a <see cref="SocketsHttpHandler"/>; never HttpClient buffering).
/// </summary>
internal sealed class ProviderRuntime : IDisposable
{
    private readonly string? _secret;

    public ProviderRuntime(ProviderConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        Config = config;
        Name = config.Name;
        BaseUrl = config.BaseUrl.ToString().TrimEnd('/');
        if (config.DisabledReason is null && config.Auth.Secret is { } secret)
        {
            _secret = secret.TryResolve(out var problem);
            DisabledReason = problem is null ? null : $"provider {config.Name} is disabled: {problem}";
        }
        else
        {
            DisabledReason = config.DisabledReason is null ? null : $"provider {config.Name} is disabled: {config.DisabledReason}";
        }

        Invoker = new HttpMessageInvoker(new SocketsHttpHandler
        {
            UseProxy = false,
            AllowAutoRedirect = false,
            UseCookies = false,
            AutomaticDecompression = DecompressionMethods.None,
            ConnectTimeout = config.ConnectTimeout,
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(90),
            PooledConnectionLifetime = TimeSpan.FromMinutes(10),
            MaxConnectionsPerServer = int.MaxValue,
            EnableMultipleHttp2Connections = true,
        }, disposeHandler: true);
    }

    public ProviderConfig Config { get; }

    public string Name { get; }

    /// <summary>The base URL without a trailing slash; for openai it includes /v1.</summary>
    public string BaseUrl { get; }

    public string Kind => Config.Kind;

    public bool IsSubscription => Config.Billing == "subscription";

    /// <summary>Why this provider cannot be used (a secret that did not resolve), or null.</summary>
    public string? DisabledReason { get; }

    public HttpMessageInvoker Invoker { get; }

    /// <summary>Sets the upstream credential on the request the way this provider kind expects it.</summary>
    public void ApplyCredential(HttpRequestMessage request, IHeaderDictionary clientHeaders)
    {
        switch (Config.Auth.Type)
        {
            case "api_key" when Kind == "anthropic":
                request.Headers.TryAddWithoutValidation("x-api-key", _secret);
                break;
            case "api_key" when Kind == "gemini":
                request.Headers.TryAddWithoutValidation("x-goog-api-key", _secret);
                break;
            case "api_key" or "bearer" or "oauth":
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", _secret);
                break;
            case "forward":
                // The caller's own upstream credential goes through; its Tollgate key came in x-tollgate-key.
                if (clientHeaders.Authorization is { Count: > 0 } authorization)
                {
                    request.Headers.TryAddWithoutValidation("Authorization", (string?)authorization);
                }
                else if (clientHeaders.TryGetValue("x-api-key", out var apiKey))
                {
                    request.Headers.TryAddWithoutValidation("x-api-key", (string?)apiKey);
                }

                break;
        }
    }

    /// <summary>Removes this provider's own secret from text that came back from upstream (an error may echo it).</summary>
    public string Redact(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return _secret is { Length: >= 4 } secret && text.Contains(secret, StringComparison.Ordinal)
            ? text.Replace(secret, "[redacted]", StringComparison.Ordinal)
            : text;
    }

    public void Dispose() => Invoker.Dispose();
}
