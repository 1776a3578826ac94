using System.Net;
using Tollgate.Configuration;
using Tollgate.Upstream;

namespace Tollgate.Providers;

/// <summary>
/// One upstream provider, live: its config, its resolved credential, and its own connection pool
/// (an <see cref="HttpMessageInvoker"/> over a <see cref="SocketsHttpHandler"/>; never HttpClient buffering).
/// </summary>
internal sealed class ProviderRuntime : IDisposable
{
    private const int MaxCachedUris = 64;

    /// <summary>An upstream connection unused this long is closed.</summary>
    private static readonly TimeSpan PooledIdleTimeout = TimeSpan.FromSeconds(90);
    private readonly string? _secret;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, Uri> _uris = new(StringComparer.Ordinal);

    public ProviderRuntime(ProviderConfig config, ProviderServices? services = null)
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
            PooledConnectionIdleTimeout = PooledIdleTimeout,
            PooledConnectionLifetime = TimeSpan.FromMinutes(10),
            MaxConnectionsPerServer = int.MaxValue,
            EnableMultipleHttp2Connections = true,
        }, disposeHandler: true);
        Client = config.BaseUrl.Scheme == Uri.UriSchemeHttp && config.HttpClient == "auto"
            ? new Http1Client(config.BaseUrl, config.ConnectTimeout, PooledIdleTimeout, services?.Time ?? TimeProvider.System)
            : new SystemUpstreamClient(Invoker);

        if (DisabledReason is null && config.Auth.Type == "oauth" && config.Auth.TokenUrl is not null && services is not null)
        {
            TokenSource = OAuthTokenSource.TryCreate(config.Name, config.Auth, services.TokenStore, Invoker, services.Time,
                services.Loggers.CreateLogger<OAuthTokenSource>(), out var problem);
            if (TokenSource is null)
            {
                DisabledReason = $"provider {config.Name} is disabled: {problem}";
            }
        }
    }

    /// <summary>For a refreshable subscription credential: where the current access token comes from.</summary>
    public OAuthTokenSource? TokenSource { get; }

    public ProviderConfig Config { get; }

    public string Name { get; }

    /// <summary>The base URL without a trailing slash; for openai it includes /v1.</summary>
    public string BaseUrl { get; }

    /// <summary>
    /// <see cref="BaseUrl"/> plus <paramref name="pathAndQuery"/> as a parsed <see cref="Uri"/>, cached: the same few
    /// upstream paths are called on every request, and parsing a URI per call costs CPU and allocations. The cache is
    /// bounded, so arbitrary client query strings cannot grow it.
    /// </summary>
    public Uri UpstreamUri(string pathAndQuery)
    {
        if (_uris.TryGetValue(pathAndQuery, out var cached))
        {
            return cached;
        }

        var uri = new Uri(BaseUrl + pathAndQuery, UriKind.Absolute);
        if (_uris.Count < MaxCachedUris)
        {
            _uris.TryAdd(pathAndQuery, uri);
        }

        return uri;
    }

    public string Kind => Config.Kind;

    public bool IsSubscription => Config.Billing == "subscription";

    /// <summary>Why this provider cannot be used (a secret that did not resolve), or null.</summary>
    public string? DisabledReason { get; private set; }

    /// <summary>The provider's own pool over .NET's handler: HTTPS calls and the OAuth token refresh.</summary>
    public HttpMessageInvoker Invoker { get; }

    /// <summary>What the data path sends this provider's calls through.</summary>
    public IUpstreamClient Client { get; }

    /// <summary>The beta a subscription (OAuth) credential needs on Anthropic.</summary>
    public const string OAuthBeta = "oauth-2025-04-20";

    /// <summary>The Messages API version sent when the client named none (a translated request).</summary>
    public const string DefaultAnthropicVersion = "2023-06-01";

    /// <summary>
    /// Sets the upstream credential the way this provider kind expects it. Returns the bearer token sent when it
    /// came from a refreshable OAuth source (so a 401 can ask for a refresh of exactly that token), else null.
    /// </summary>
    public async ValueTask<string?> ApplyCredentialAsync(UpstreamRequest request, IHeaderDictionary clientHeaders, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(clientHeaders);
        if (Kind == "anthropic")
        {
            PrepareAnthropicHeaders(request);
        }

        if (TokenSource is not null)
        {
            var token = await TokenSource.GetTokenAsync(cancellationToken);
            request.Set("Authorization", "Bearer " + token);
            return token;
        }

        ApplyStaticCredential(request, clientHeaders);
        return null;
    }

    private void ApplyStaticCredential(UpstreamRequest request, IHeaderDictionary clientHeaders)
    {
        switch (Config.Auth.Type)
        {
            case "api_key" when Kind == "anthropic":
                request.Set("x-api-key", _secret!);
                break;
            case "api_key" when Kind == "gemini":
                request.Set("x-goog-api-key", _secret!);
                break;
            case "api_key" or "bearer" or "oauth":
                request.Set("Authorization", "Bearer " + _secret);
                break;
            case "forward":
                // The caller's own upstream credential goes through; its Tollgate key came in x-tollgate-key.
                if (clientHeaders.Authorization is { Count: > 0 } authorization)
                {
                    request.Set("Authorization", authorization.ToString());
                }
                else if (clientHeaders.TryGetValue("x-api-key", out var apiKey))
                {
                    request.Set("x-api-key", apiKey.ToString());
                }

                break;
        }
    }

    /// <summary>
    /// <c>anthropic-beta</c> goes upstream as the client sent it, less the betas this provider rejects,
    /// plus the OAuth beta when the credential is a subscription token. <c>anthropic-version</c> is kept,
    /// or defaulted when absent.
    /// </summary>
    private void PrepareAnthropicHeaders(UpstreamRequest request)
    {
        var needsOAuth = Config.Auth.Type == "oauth";
        if (request.TryGet("anthropic-beta", out var values) && (needsOAuth || Config.RejectBetas.Count > 0))
        {
            var betas = values
                .SelectMany(v => (v ?? string.Empty).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                .Where(b => !Config.RejectBetas.Contains(b, StringComparer.Ordinal))
                .ToList();
            if (needsOAuth && !betas.Contains(OAuthBeta, StringComparer.Ordinal))
            {
                betas.Add(OAuthBeta);
            }

            request.Remove("anthropic-beta");
            if (betas.Count > 0)
            {
                request.Set("anthropic-beta", string.Join(',', betas));
            }
        }
        else if (needsOAuth)
        {
            request.Set("anthropic-beta", OAuthBeta);
        }

        if (!request.Contains("anthropic-version"))
        {
            request.Set("anthropic-version", DefaultAnthropicVersion);
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

    public void Dispose()
    {
        Client.Dispose();
        Invoker.Dispose();
    }
}
