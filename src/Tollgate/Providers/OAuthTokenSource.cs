using System.Collections.Concurrent;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Tollgate.Configuration;

namespace Tollgate.Providers;

/// <summary>
/// The access token of one <c>auth.type: oauth</c> provider (SPEC §3), kept fresh with the OAuth 2.0 refresh_token
/// grant (RFC 6749 §6, https://www.rfc-editor.org/rfc/rfc6749#section-6): ahead of its expiry, and after an
/// upstream 401. Refreshed tokens are kept in memory and saved through <see cref="IOAuthTokenStore"/>.
/// </summary>
/// <remarks>
/// <para>
/// Every refresh is single-flight: however many requests find the token due, or hit a 401 with the same token, one
/// POST goes to the token endpoint and all of them get its result. The refresh itself is not cancelled by any one
/// caller giving up (the others still want it); it is bounded by <see cref="RefreshTimeout"/>.
/// </para>
/// <para>
/// At start the configured token's expiry is unknown, so it is used until an upstream rejects it; after the first
/// refresh the endpoint's <c>expires_in</c> drives refreshing <see cref="RefreshMargin"/> ahead of time.
/// </para>
/// <para>
/// A token saved by an earlier run wins over the configured one, unless the operator has since put a different
/// token in the config (a fresh login): the saved tokens remember a fingerprint of the configured token they
/// descend from, see <see cref="OAuthTokens.ConfigFingerprint"/>.
/// </para>
/// <para>
/// No token reaches a log line or an exception message; token endpoint errors are reported by their RFC 6749 §5.2
/// error code, with any token the description might echo redacted.
/// </para>
/// </remarks>
internal sealed partial class OAuthTokenSource
{
    /// <summary>How long before a known expiry the token is refreshed.</summary>
    public static readonly TimeSpan RefreshMargin = TimeSpan.FromMinutes(5);

    /// <summary>The longest one refresh (the POST and reading its answer) may take.</summary>
    public static readonly TimeSpan RefreshTimeout = TimeSpan.FromSeconds(30);

    /// <summary>
    /// After a refresh fails while the current token is still valid, how long to keep using it before trying again,
    /// so a token endpoint that is down is not hit by every request in the margin.
    /// </summary>
    public static readonly TimeSpan RetryAfterFailure = TimeSpan.FromSeconds(30);

    /// <summary>
    /// A token this young that an upstream rejects is not refreshed again: the endpoint just issued it, so a new one
    /// would fare no better, and refreshing on every 401 would hammer the endpoint.
    /// </summary>
    public static readonly TimeSpan MinRefreshInterval = TimeSpan.FromSeconds(10);

    private readonly string _provider;
    private readonly string _configToken;
    private readonly string? _configRefreshToken;
    private readonly Uri? _tokenUrl;
    private readonly string? _clientId;
    private readonly IOAuthTokenStore _store;
    private readonly HttpMessageInvoker _http;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Lock _gate = new();

    private OAuthTokens? _current;
    private Task<OAuthTokens>? _loading;
    private Task<OAuthTokens>? _refreshing;
    private long _noRetryBeforeTicks; // UTC ticks; a long so it can be read and written atomically

    /// <param name="provider">The provider's name: the key in the store and the name in messages.</param>
    /// <param name="accessToken">The configured access token (resolved from its SecretRef).</param>
    /// <param name="refreshToken">The configured refresh token, or null when the token cannot be refreshed.</param>
    /// <param name="tokenUrl">The token endpoint, or null when the token cannot be refreshed.</param>
    /// <param name="clientId">Sent as <c>client_id</c> when set (public clients, RFC 6749 §2.3 and §6).</param>
    /// <param name="store">Where refreshed tokens are kept across restarts.</param>
    /// <param name="http">Sends the token request; not disposed here.</param>
    /// <param name="time">The clock expiries are judged by.</param>
    /// <param name="logger">Gets refresh outcomes, never a token.</param>
    public OAuthTokenSource(
        string provider,
        string accessToken,
        string? refreshToken,
        Uri? tokenUrl,
        string? clientId,
        IOAuthTokenStore store,
        HttpMessageInvoker http,
        TimeProvider time,
        ILogger<OAuthTokenSource> logger)
    {
        ArgumentException.ThrowIfNullOrEmpty(provider);
        ArgumentException.ThrowIfNullOrEmpty(accessToken);
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(http);
        ArgumentNullException.ThrowIfNull(time);
        ArgumentNullException.ThrowIfNull(logger);
        _provider = provider;
        _configToken = accessToken;
        _configRefreshToken = string.IsNullOrEmpty(refreshToken) ? null : refreshToken;
        _tokenUrl = tokenUrl;
        _clientId = string.IsNullOrEmpty(clientId) ? null : clientId;
        _store = store;
        _http = http;
        _time = time;
        _logger = logger;
    }

    /// <summary>
    /// Builds the source for a provider's <c>auth</c> block, resolving its secrets. Returns null with a reason that
    /// names the secret reference, never its value, when a secret does not resolve.
    /// </summary>
    public static OAuthTokenSource? TryCreate(
        string provider,
        AuthConfig auth,
        IOAuthTokenStore store,
        HttpMessageInvoker http,
        TimeProvider time,
        ILogger<OAuthTokenSource> logger,
        out string? problem)
    {
        ArgumentNullException.ThrowIfNull(auth);
        if (auth.Secret is null)
        {
            problem = $"provider {provider} has auth.type oauth but no access token";
            return null;
        }

        var accessToken = auth.Secret.TryResolve(out problem);
        if (accessToken is null)
        {
            return null;
        }

        string? refreshToken = null;
        if (auth.RefreshToken is not null && (refreshToken = auth.RefreshToken.TryResolve(out problem)) is null)
        {
            return null;
        }

        return new OAuthTokenSource(provider, accessToken, refreshToken, auth.TokenUrl, auth.ClientId, store, http, time, logger);
    }

    /// <summary>Whether a refresh token and a token endpoint are configured.</summary>
    public bool CanRefresh => _tokenUrl is not null && (_current?.RefreshToken ?? _configRefreshToken) is not null;

    /// <summary>
    /// The token to send upstream now, refreshed first when it expires within <see cref="RefreshMargin"/>.
    /// </summary>
    /// <exception cref="OAuthRefreshException">The token has expired and could not be refreshed.</exception>
    public async ValueTask<string> GetTokenAsync(CancellationToken cancellationToken)
    {
        var tokens = Volatile.Read(ref _current) ?? await LoadAsync(cancellationToken);
        if (tokens.ExpiresAt is not { } expiresAt || _time.GetUtcNow() < expiresAt - RefreshMargin)
        {
            return tokens.AccessToken;
        }

        var now = _time.GetUtcNow();
        var stillValid = now < expiresAt;
        if (!CanRefresh || (stillValid && now.UtcTicks < Volatile.Read(ref _noRetryBeforeTicks)))
        {
            // Nothing to refresh with, or a refresh just failed: use the token while it lasts, then let the upstream's
            // 401 speak (an expired token is sent rather than no request at all: the upstream's clock decides).
            return tokens.AccessToken;
        }

        try
        {
            return (await RefreshAsync(tokens, cancellationToken)).AccessToken;
        }
        catch (OAuthRefreshException) when (stillValid)
        {
            // Logged by the refresh; the current token is good for a few more minutes.
            return tokens.AccessToken;
        }
    }

    /// <summary>
    /// Call when an upstream answered 401 to <paramref name="rejectedToken"/>. Refreshes unless another caller has
    /// already replaced that token, and says whether a different token is now available: if true, retry the request
    /// once with <see cref="GetTokenAsync"/>'s token; if false, pass the 401 on.
    /// </summary>
    /// <exception cref="OAuthRefreshException">The token endpoint failed or refused the refresh token.</exception>
    public async Task<bool> RefreshAfterUnauthorizedAsync(string rejectedToken, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(rejectedToken);
        var tokens = Volatile.Read(ref _current) ?? await LoadAsync(cancellationToken);
        if (!string.Equals(tokens.AccessToken, rejectedToken, StringComparison.Ordinal))
        {
            return true; // someone else's refresh already replaced it
        }

        if (!CanRefresh || (tokens.ObtainedAt is { } obtainedAt && _time.GetUtcNow() - obtainedAt < MinRefreshInterval))
        {
            return false;
        }

        var refreshed = await RefreshAsync(tokens, cancellationToken);
        return !string.Equals(refreshed.AccessToken, rejectedToken, StringComparison.Ordinal);
    }

    /// <summary>Loads the saved tokens once; every early caller waits on the same load.</summary>
    private Task<OAuthTokens> LoadAsync(CancellationToken cancellationToken)
    {
        Task<OAuthTokens> loading;
        lock (_gate)
        {
            if (_current is { } current)
            {
                return Task.FromResult(current);
            }

            loading = _loading ??= LoadOnceAsync();
        }

        return loading.WaitAsync(cancellationToken);
    }

    private async Task<OAuthTokens> LoadOnceAsync()
    {
        await Task.Yield(); // never run the store call inside the caller's lock
        var fingerprint = FingerprintOf(_configToken);
        var configured = new OAuthTokens(_configToken, _configRefreshToken, ExpiresAt: null, ObtainedAt: null, fingerprint);
        var chosen = configured;
        try
        {
            using var timeout = new CancellationTokenSource(RefreshTimeout, _time);
            var saved = await _store.LoadAsync(_provider, timeout.Token);
            if (saved is not null && string.Equals(saved.ConfigFingerprint, fingerprint, StringComparison.Ordinal))
            {
                // Carry the configured refresh token if an older save lacked one.
                chosen = saved.RefreshToken is null ? saved with { RefreshToken = _configRefreshToken } : saved;
                LogUsingSaved(_logger, _provider, saved.ExpiresAt);
            }
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            LogLoadFailed(_logger, ex, _provider, ex.GetType().Name);
        }

        lock (_gate)
        {
            _current ??= chosen;
            return _current;
        }
    }

    /// <summary>Joins the refresh under way for <paramref name="seen"/>, or starts one.</summary>
    private Task<OAuthTokens> RefreshAsync(OAuthTokens seen, CancellationToken cancellationToken)
    {
        Task<OAuthTokens> refreshing;
        lock (_gate)
        {
            if (!ReferenceEquals(_current, seen) && _current is { } replaced)
            {
                return Task.FromResult(replaced); // refreshed while this caller was deciding to
            }

            if (_refreshing is null || _refreshing.IsCompleted)
            {
                _refreshing = RefreshOnceAsync(seen);
            }

            refreshing = _refreshing;
        }

        return refreshing.WaitAsync(cancellationToken);
    }

    private async Task<OAuthTokens> RefreshOnceAsync(OAuthTokens seen)
    {
        await Task.Yield(); // leave the caller's lock before any I/O
        OAuthTokens refreshed;
        try
        {
            refreshed = await RequestTokensAsync(seen);
        }
        catch (OAuthRefreshException ex)
        {
            Volatile.Write(ref _noRetryBeforeTicks, (_time.GetUtcNow() + RetryAfterFailure).UtcTicks);
            LogRefreshFailed(_logger, _provider, ex.Message);
            throw;
        }

        lock (_gate)
        {
            _current = refreshed;
        }

        LogRefreshed(_logger, _provider, refreshed.ExpiresAt, !string.Equals(refreshed.RefreshToken, seen.RefreshToken, StringComparison.Ordinal));
        try
        {
            using var timeout = new CancellationTokenSource(RefreshTimeout, _time);
            await _store.SaveAsync(_provider, refreshed, timeout.Token);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // The new token is in memory and works; a restart before the next successful save falls back to the
            // older saved or configured token, whose refresh token may have been rotated away.
            LogSaveFailed(_logger, ex, _provider, ex.GetType().Name);
        }

        return refreshed;
    }

    /// <summary>The refresh_token grant, RFC 6749 §6; the answer is read per §5.1 (success) and §5.2 (error).</summary>
    private async Task<OAuthTokens> RequestTokensAsync(OAuthTokens seen)
    {
        var refreshToken = seen.RefreshToken ?? _configRefreshToken;
        if (_tokenUrl is null || refreshToken is null)
        {
            throw new OAuthRefreshException(_provider, "no refresh token and token_url are configured");
        }

        var form = new List<KeyValuePair<string, string>>(3)
        {
            new("grant_type", "refresh_token"),
            new("refresh_token", refreshToken),
        };
        if (_clientId is not null)
        {
            form.Add(new("client_id", _clientId));
        }

        using var request = new HttpRequestMessage(HttpMethod.Post, _tokenUrl) { Content = new FormUrlEncodedContent(form) };
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        using var timeout = new CancellationTokenSource(RefreshTimeout, _time);
        var sentAt = _time.GetUtcNow();
        byte[] body;
        int status;
        try
        {
            using var response = await _http.SendAsync(request, timeout.Token);
            status = (int)response.StatusCode;
            body = await response.Content.ReadAsByteArrayAsync(timeout.Token);
        }
        catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException)
        {
            var reason = ex is OperationCanceledException ? $"no answer within {RefreshTimeout.TotalSeconds:0} s" : ex.GetType().Name;
            throw new OAuthRefreshException(_provider, $"token endpoint {_tokenUrl.GetLeftPart(UriPartial.Path)} unreachable: {reason}");
        }

        if (status is < 200 or > 299)
        {
            throw new OAuthRefreshException(_provider, $"token endpoint answered {status}{DescribeError(body, seen, refreshToken)}");
        }

        return ParseTokens(body, seen, refreshToken, sentAt);
    }

    private OAuthTokens ParseTokens(byte[] body, OAuthTokens seen, string refreshToken, DateTimeOffset sentAt)
    {
        try
        {
            using var doc = JsonDocument.Parse(body);
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object
                || !root.TryGetProperty("access_token", out var access) || access.ValueKind != JsonValueKind.String
                || access.GetString() is not { Length: > 0 } accessToken)
            {
                throw new OAuthRefreshException(_provider, "token endpoint answered without an access_token");
            }

            // expires_in is a number of seconds (§5.1); some servers send it as a string. Judged from when the
            // request was sent, so time spent in flight counts against the token rather than beyond its life.
            DateTimeOffset? expiresAt = null;
            if (root.TryGetProperty("expires_in", out var expiresIn)
                && (expiresIn.ValueKind == JsonValueKind.Number ? expiresIn.TryGetInt64(out var seconds)
                    : expiresIn.ValueKind == JsonValueKind.String && long.TryParse(expiresIn.GetString(), out seconds))
                && seconds > 0)
            {
                expiresAt = sentAt + TimeSpan.FromSeconds(seconds);
            }

            // §6: the server may issue a new refresh token, and then the client must discard the old one.
            var rotated = root.TryGetProperty("refresh_token", out var rt) && rt.ValueKind == JsonValueKind.String
                && rt.GetString() is { Length: > 0 } newRefresh ? newRefresh : null;
            return new OAuthTokens(accessToken, rotated ?? refreshToken, expiresAt, _time.GetUtcNow(), seen.ConfigFingerprint);
        }
        catch (JsonException)
        {
            throw new OAuthRefreshException(_provider, "token endpoint answered with something other than JSON");
        }
    }

    /// <summary>The §5.2 error code and description, with any token of ours the description echoes redacted.</summary>
    private static string DescribeError(byte[] body, OAuthTokens seen, string refreshToken)
    {
        try
        {
            using var doc = JsonDocument.Parse(body);
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("error", out var error) || error.ValueKind != JsonValueKind.String)
            {
                return "";
            }

            var text = new StringBuilder(": ").Append(error.GetString());
            if (root.TryGetProperty("error_description", out var description) && description.ValueKind == JsonValueKind.String)
            {
                var said = description.GetString() ?? "";
                said = said.Length > 200 ? said[..200] : said;
                foreach (var secret in (ReadOnlySpan<string?>)[refreshToken, seen.AccessToken])
                {
                    if (secret is { Length: >= 4 })
                    {
                        said = said.Replace(secret, "[redacted]", StringComparison.Ordinal);
                    }
                }

                text.Append(" (").Append(said).Append(')');
            }

            return text.ToString();
        }
        catch (JsonException)
        {
            return "";
        }
    }

    /// <summary>
    /// Identifies a configured access token without keeping it: the first 16 bytes of its SHA-256, in hex.
    /// See <see cref="OAuthTokens.ConfigFingerprint"/>.
    /// </summary>
    public static string FingerprintOf(string token)
        => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(token)).AsSpan(0, 16));

    [LoggerMessage(EventId = 5101, Level = LogLevel.Information, Message = "OAuth token for provider {Provider} refreshed; expires {ExpiresAt}; refresh token rotated: {Rotated}")]
    private static partial void LogRefreshed(ILogger logger, string provider, DateTimeOffset? expiresAt, bool rotated);

    [LoggerMessage(EventId = 5102, Level = LogLevel.Warning, Message = "OAuth token refresh for provider {Provider} failed: {Reason}")]
    private static partial void LogRefreshFailed(ILogger logger, string provider, string reason);

    [LoggerMessage(EventId = 5103, Level = LogLevel.Warning, Message = "Saving the refreshed OAuth token of provider {Provider} failed ({ErrorType}); it is kept in memory")]
    private static partial void LogSaveFailed(ILogger logger, Exception exception, string provider, string errorType);

    [LoggerMessage(EventId = 5104, Level = LogLevel.Warning, Message = "Loading the saved OAuth token of provider {Provider} failed ({ErrorType}); using the configured token")]
    private static partial void LogLoadFailed(ILogger logger, Exception exception, string provider, string errorType);

    [LoggerMessage(EventId = 5105, Level = LogLevel.Information, Message = "Provider {Provider} uses its saved OAuth token (expires {ExpiresAt}) over the configured one")]
    private static partial void LogUsingSaved(ILogger logger, string provider, DateTimeOffset? expiresAt);
}

/// <summary>
/// The tokens of one OAuth provider as refreshed and saved. <see cref="ToString"/> shows no token.
/// </summary>
/// <param name="AccessToken">The bearer token sent upstream.</param>
/// <param name="RefreshToken">The refresh token to use next (the rotated one, when the endpoint rotated it).</param>
/// <param name="ExpiresAt">When the access token expires; null when unknown (the configured token at start).</param>
/// <param name="ObtainedAt">When the token endpoint issued it; null for the configured token.</param>
/// <param name="ConfigFingerprint">
/// A hash of the configured access token this chain of refreshes started from. A saved token whose fingerprint no
/// longer matches the config is stale: the operator has put a new login in the config since it was saved.
/// </param>
internal sealed record OAuthTokens(
    string AccessToken,
    string? RefreshToken,
    DateTimeOffset? ExpiresAt,
    DateTimeOffset? ObtainedAt,
    string ConfigFingerprint)
{
    public override string ToString() => $"OAuthTokens {{ ExpiresAt = {ExpiresAt}, ObtainedAt = {ObtainedAt} }}";
}

/// <summary>
/// Where an OAuth provider's refreshed tokens are kept across restarts (SPEC §3: "in memory and in the store").
/// </summary>
/// <remarks>
/// Only <see cref="InMemoryOAuthTokenStore"/> exists so far (tests, and single-process runs that accept re-reading
/// the config token after a restart). The store-backed implementation over SQLite/PostgreSQL, with the tokens
/// encrypted at rest, is still to be written; it must not log or expose the tokens through the admin API.
/// </remarks>
internal interface IOAuthTokenStore
{
    /// <summary>Replaces the provider's saved tokens.</summary>
    Task SaveAsync(string provider, OAuthTokens tokens, CancellationToken cancellationToken);

    /// <summary>The provider's saved tokens, or null when none were saved.</summary>
    Task<OAuthTokens?> LoadAsync(string provider, CancellationToken cancellationToken);
}

/// <summary>Keeps tokens for the life of the process.</summary>
internal sealed class InMemoryOAuthTokenStore : IOAuthTokenStore
{
    private readonly ConcurrentDictionary<string, OAuthTokens> _tokens = new(StringComparer.Ordinal);

    public Task SaveAsync(string provider, OAuthTokens tokens, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(provider);
        ArgumentNullException.ThrowIfNull(tokens);
        _tokens[provider] = tokens;
        return Task.CompletedTask;
    }

    public Task<OAuthTokens?> LoadAsync(string provider, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(provider);
        return Task.FromResult(_tokens.TryGetValue(provider, out var tokens) ? tokens : null);
    }
}

/// <summary>
/// An OAuth token refresh failed. The message names the provider and what went wrong (unreachable, the HTTP status,
/// the RFC 6749 §5.2 error code) and never a token, so it may be logged and shown to the operator.
/// </summary>
internal sealed class OAuthRefreshException(string provider, string reason)
    : Exception($"OAuth token refresh for provider {provider} failed: {reason}")
{
    public string Provider { get; } = provider;
}
