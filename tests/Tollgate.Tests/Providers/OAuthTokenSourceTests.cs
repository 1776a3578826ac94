using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Tollgate.Configuration;
using Tollgate.Providers;

namespace Tollgate.Tests.Providers;

public sealed class OAuthTokenSourceTests : IAsyncLifetime
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private const string Provider = "claude-max";
    private const string ConfigToken = "sk-ant-oat01-configured-access-token";
    private const string ConfigRefresh = "sk-ant-ort01-configured-refresh-token";

    private readonly ManualTimeProvider _clock = new(new DateTimeOffset(2026, 1, 5, 9, 0, 0, TimeSpan.Zero));
    private readonly InMemoryOAuthTokenStore _store = new();
    private readonly RecordingLogger _logger = new();
    private readonly HttpMessageInvoker _http = new(new SocketsHttpHandler { UseProxy = false });
    private FakeTokenEndpoint _endpoint = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync() => _endpoint = await FakeTokenEndpoint.StartAsync(ConfigRefresh, Ct).WaitAsync(Timeout, Ct);

    public async ValueTask DisposeAsync()
    {
        await _endpoint.DisposeAsync().AsTask().WaitAsync(Timeout);
        _http.Dispose();

        // Whatever a test did, no token reached a log line.
        foreach (var line in _logger.Entries)
        {
            line.ShouldNotContain("configured-access-token");
            line.ShouldNotContain("refresh-token");
            line.ShouldNotContain("access-");
            line.ShouldNotContain("rt-rotated");
        }
    }

    private OAuthTokenSource NewSource(string accessToken = ConfigToken, Uri? tokenUrl = null)
        => new(Provider, accessToken, ConfigRefresh, tokenUrl ?? _endpoint.TokenUrl, "tollgate-test-client", _store, _http, _clock, _logger);

    private static async Task<string> TokenOf(OAuthTokenSource source) => await source.GetTokenAsync(Ct).AsTask().WaitAsync(Timeout, Ct);

    private static Task<bool> Unauthorized(OAuthTokenSource source, string rejected)
        => source.RefreshAfterUnauthorizedAsync(rejected, Ct).WaitAsync(Timeout, Ct);

    [Fact]
    public async Task Configured_token_of_unknown_expiry_is_used_without_refreshing()
    {
        var source = NewSource();

        (await TokenOf(source)).ShouldBe(ConfigToken);
        _clock.Advance(TimeSpan.FromDays(30));
        (await TokenOf(source)).ShouldBe(ConfigToken);

        _endpoint.Calls.ShouldBe(0);
    }

    [Fact]
    public async Task Token_is_refreshed_five_minutes_ahead_of_its_expiry()
    {
        var source = NewSource();
        (await Unauthorized(source, ConfigToken)).ShouldBeTrue(); // access-1, expires in an hour
        (await TokenOf(source)).ShouldBe("access-1");

        _clock.Advance(TimeSpan.FromMinutes(54));
        (await TokenOf(source)).ShouldBe("access-1");
        _endpoint.Calls.ShouldBe(1);

        _clock.Advance(TimeSpan.FromMinutes(1) + TimeSpan.FromSeconds(1)); // 4 min 59 s left
        (await TokenOf(source)).ShouldBe("access-2");
        _endpoint.Calls.ShouldBe(2);
        (await TokenOf(source)).ShouldBe("access-2");
        _endpoint.Calls.ShouldBe(2);
    }

    [Fact]
    public async Task Token_request_is_the_rfc_6749_refresh_token_grant()
    {
        var source = NewSource();
        await Unauthorized(source, ConfigToken);

        var form = _endpoint.Requests.ShouldHaveSingleItem();
        form["grant_type"].ShouldBe("refresh_token");
        form["refresh_token"].ShouldBe(ConfigRefresh);
        form["client_id"].ShouldBe("tollgate-test-client");
    }

    [Fact]
    public async Task Twenty_concurrent_callers_of_a_due_token_share_one_refresh()
    {
        await _store.SaveAsync(Provider, new OAuthTokens("saved-access", ConfigRefresh, _clock.GetUtcNow().AddMinutes(2),
            _clock.GetUtcNow().AddMinutes(-58), OAuthTokenSource.FingerprintOf(ConfigToken)), Ct).WaitAsync(Timeout, Ct);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _endpoint.Hold = release.Task;
        var source = NewSource();

        using var start = new ManualResetEventSlim();
        var callers = Enumerable.Range(0, 20).Select(_ => Task.Run(async () =>
        {
            start.Wait(Ct);
            return await source.GetTokenAsync(Ct);
        }, Ct)).ToArray();
        start.Set();
        await _endpoint.FirstRequest.WaitAsync(Timeout, Ct);
        await Task.Delay(200, Ct); // let the other callers pile up behind the refresh under way
        release.SetResult();

        var tokens = await Task.WhenAll(callers).WaitAsync(Timeout, Ct);
        tokens.ShouldAllBe(t => t == "access-1");
        _endpoint.Calls.ShouldBe(1);
    }

    [Fact]
    public async Task Twenty_concurrent_401s_for_the_same_token_share_one_refresh()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _endpoint.Hold = release.Task;
        var source = NewSource();
        (await TokenOf(source)).ShouldBe(ConfigToken);

        var callers = Enumerable.Range(0, 20).Select(_ => Task.Run(() => source.RefreshAfterUnauthorizedAsync(ConfigToken, Ct), Ct)).ToArray();
        await _endpoint.FirstRequest.WaitAsync(Timeout, Ct);
        await Task.Delay(200, Ct);
        release.SetResult();

        (await Task.WhenAll(callers).WaitAsync(Timeout, Ct)).ShouldAllBe(retry => retry);
        _endpoint.Calls.ShouldBe(1);
        (await TokenOf(source)).ShouldBe("access-1");
    }

    [Fact]
    public async Task A_401_refreshes_once_and_the_same_rejected_token_does_not_refresh_again()
    {
        var source = NewSource();

        (await Unauthorized(source, ConfigToken)).ShouldBeTrue();
        (await TokenOf(source)).ShouldBe("access-1");
        (await Unauthorized(source, ConfigToken)).ShouldBeTrue(); // a straggler with the old token: just retry
        _endpoint.Calls.ShouldBe(1);

        // The brand-new token rejected at once: another refresh would fare no better, so the 401 stands.
        (await Unauthorized(source, "access-1")).ShouldBeFalse();
        _endpoint.Calls.ShouldBe(1);

        _clock.Advance(OAuthTokenSource.MinRefreshInterval);
        (await Unauthorized(source, "access-1")).ShouldBeTrue();
        (await TokenOf(source)).ShouldBe("access-2");
        _endpoint.Calls.ShouldBe(2);
    }

    [Fact]
    public async Task Rotated_refresh_token_is_kept_used_next_and_saved()
    {
        _endpoint.RotateRefreshTokens = true;
        var source = NewSource();

        (await Unauthorized(source, ConfigToken)).ShouldBeTrue();
        var saved = (await _store.LoadAsync(Provider, Ct).WaitAsync(Timeout, Ct)).ShouldNotBeNull();
        saved.AccessToken.ShouldBe("access-1");
        saved.RefreshToken.ShouldBe("rt-rotated-1");
        saved.ExpiresAt.ShouldBe(_clock.GetUtcNow().AddHours(1));

        _clock.Advance(TimeSpan.FromMinutes(56));
        (await TokenOf(source)).ShouldBe("access-2"); // the endpoint refuses the configured refresh token by now

        _endpoint.Requests[1]["refresh_token"].ShouldBe("rt-rotated-1");
        saved = (await _store.LoadAsync(Provider, Ct).WaitAsync(Timeout, Ct)).ShouldNotBeNull();
        saved.RefreshToken.ShouldBe("rt-rotated-2");
        saved.ToString().ShouldNotContain("rt-rotated");
        saved.ToString().ShouldNotContain("access-");
    }

    [Fact]
    public async Task Saved_token_wins_at_start_unless_the_configured_token_changed()
    {
        _endpoint.RotateRefreshTokens = true;
        await Unauthorized(NewSource(), ConfigToken); // a previous run refreshed and saved access-1

        var restarted = NewSource();
        (await TokenOf(restarted)).ShouldBe("access-1");
        _clock.Advance(TimeSpan.FromMinutes(56));
        (await TokenOf(restarted)).ShouldBe("access-2"); // with the saved, rotated refresh token
        _endpoint.Calls.ShouldBe(2);

        var relogged = NewSource("sk-ant-oat01-new-login-access-token");
        (await TokenOf(relogged)).ShouldBe("sk-ant-oat01-new-login-access-token");
    }

    [Fact]
    public async Task Refused_refresh_surfaces_the_oauth_error_without_any_token()
    {
        _endpoint.Failure = (HttpStatusCode.BadRequest,
            $$"""{"error":"invalid_grant","error_description":"refresh token {{ConfigRefresh}} was revoked"}""");
        var source = NewSource();

        var error = await Should.ThrowAsync<OAuthRefreshException>(() => Unauthorized(source, ConfigToken));

        error.Provider.ShouldBe(Provider);
        error.Message.ShouldContain(Provider);
        error.Message.ShouldContain("400");
        error.Message.ShouldContain("invalid_grant");
        error.Message.ShouldNotContain(ConfigRefresh);
        error.Message.ShouldNotContain(ConfigToken);
        _logger.Entries.ShouldContain(l => l.Contains("invalid_grant"));
    }

    [Fact]
    public async Task Unreachable_token_endpoint_is_reported_by_name_without_any_token()
    {
        var source = NewSource(tokenUrl: new Uri($"http://127.0.0.1:{ClosedPort()}/oauth/token"));

        var error = await Should.ThrowAsync<OAuthRefreshException>(() => Unauthorized(source, ConfigToken));

        error.Message.ShouldContain("unreachable");
        error.Message.ShouldNotContain(ConfigRefresh);
        error.Message.ShouldNotContain(ConfigToken);
    }

    [Fact]
    public async Task Failed_refresh_keeps_a_still_valid_token_but_an_expired_one_throws()
    {
        await _store.SaveAsync(Provider, new OAuthTokens("saved-access", ConfigRefresh, _clock.GetUtcNow().AddMinutes(2),
            _clock.GetUtcNow().AddMinutes(-58), OAuthTokenSource.FingerprintOf(ConfigToken)), Ct).WaitAsync(Timeout, Ct);
        _endpoint.Failure = (HttpStatusCode.ServiceUnavailable, "{}");
        var source = NewSource();

        (await TokenOf(source)).ShouldBe("saved-access"); // refresh failed; two minutes left
        (await TokenOf(source)).ShouldBe("saved-access"); // and it is not retried on every call
        _endpoint.Calls.ShouldBe(1);

        _clock.Advance(TimeSpan.FromMinutes(3));
        var error = await Should.ThrowAsync<OAuthRefreshException>(() => source.GetTokenAsync(Ct).AsTask().WaitAsync(Timeout, Ct));
        error.Message.ShouldContain("503");
        error.Message.ShouldNotContain("saved-access");
    }

    [Fact]
    public async Task Without_a_refresh_token_a_401_is_not_retried()
    {
        var source = new OAuthTokenSource(Provider, ConfigToken, refreshToken: null, tokenUrl: null, clientId: null, _store, _http, _clock, _logger);

        source.CanRefresh.ShouldBeFalse();
        (await Unauthorized(source, ConfigToken)).ShouldBeFalse();
        _endpoint.Calls.ShouldBe(0);
    }

    [Fact]
    public async Task Created_from_config_it_resolves_both_secret_references()
    {
        var name = "TOLLGATE_TEST_OAUTH_" + Guid.NewGuid().ToString("N");
        Environment.SetEnvironmentVariable(name + "_ACCESS", ConfigToken);
        Environment.SetEnvironmentVariable(name + "_REFRESH", ConfigRefresh);
        try
        {
            SecretRef.TryParse($"env:{name}_ACCESS", out var access).ShouldBeTrue();
            SecretRef.TryParse($"env:{name}_REFRESH", out var refresh).ShouldBeTrue();
            SecretRef.TryParse($"env:{name}_MISSING", out var missing).ShouldBeTrue();
            var auth = new AuthConfig { Type = "oauth", Secret = access, RefreshToken = refresh, TokenUrl = _endpoint.TokenUrl, ClientId = "c" };

            var source = OAuthTokenSource.TryCreate(Provider, auth, _store, _http, _clock, _logger, out var problem).ShouldNotBeNull();
            problem.ShouldBeNull();
            (await Unauthorized(source, ConfigToken)).ShouldBeTrue();
            _endpoint.Requests.ShouldHaveSingleItem()["refresh_token"].ShouldBe(ConfigRefresh);

            OAuthTokenSource.TryCreate(Provider, auth with { RefreshToken = missing }, _store, _http, _clock, _logger, out problem).ShouldBeNull();
            problem.ShouldNotBeNull().ShouldContain("_MISSING");
        }
        finally
        {
            Environment.SetEnvironmentVariable(name + "_ACCESS", null);
            Environment.SetEnvironmentVariable(name + "_REFRESH", null);
        }
    }

    private static int ClosedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port; // closed again when disposed
    }

    private sealed class RecordingLogger : ILogger<OAuthTokenSource>
    {
        private readonly ConcurrentQueue<string> _entries = new();

        public IEnumerable<string> Entries => _entries;

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            => _entries.Enqueue(formatter(state, exception) + (exception is null ? "" : " " + exception));
    }
}
