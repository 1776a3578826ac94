using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Tollgate.Tests.Providers;

/// <summary>
/// An OAuth 2.0 token endpoint on a real Kestrel listener at 127.0.0.1, written from RFC 6749 itself: it accepts the
/// refresh_token grant (§6) as an application/x-www-form-urlencoded POST, answers success per §5.1 (JSON with
/// access_token, token_type, expires_in, an optional new refresh_token, and Cache-Control: no-store) and errors per
/// §5.2 (400 with an <c>error</c> code). Like a real authorization server it accepts only the refresh token it issued
/// last when it rotates them, so a client that forgets the rotated token is refused with invalid_grant.
/// </summary>
internal sealed class FakeTokenEndpoint : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly Lock _gate = new();
    private readonly List<IReadOnlyDictionary<string, string>> _requests = [];
    private readonly TaskCompletionSource _firstRequest = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _issued;
    private string _validRefreshToken;

    private FakeTokenEndpoint(WebApplication app, string refreshToken)
    {
        _app = app;
        _validRefreshToken = refreshToken;
    }

    /// <summary>Seconds sent as expires_in; null leaves it out.</summary>
    public int? ExpiresIn { get; set; } = 3600;

    /// <summary>Whether each answer carries a new refresh token (rt-rotated-1, -2, ...).</summary>
    public bool RotateRefreshTokens { get; set; }

    /// <summary>When set, every request gets this status and body instead of tokens.</summary>
    public (HttpStatusCode Status, string Body)? Failure { get; set; }

    /// <summary>When set, answers wait for it: lets a test pile callers up behind one refresh.</summary>
    public Task? Hold { get; set; }

    public Uri TokenUrl { get; private set; } = null!;

    /// <summary>How many token requests arrived.</summary>
    public int Calls
    {
        get
        {
            lock (_gate)
            {
                return _requests.Count;
            }
        }
    }

    /// <summary>The form fields of each request, in order.</summary>
    public IReadOnlyList<IReadOnlyDictionary<string, string>> Requests
    {
        get
        {
            lock (_gate)
            {
                return [.. _requests];
            }
        }
    }

    /// <summary>Completes when the first request has arrived (before it is answered).</summary>
    public Task FirstRequest => _firstRequest.Task;

    public static async Task<FakeTokenEndpoint> StartAsync(string validRefreshToken, CancellationToken cancellationToken)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        var endpoint = new FakeTokenEndpoint(app, validRefreshToken);
        app.MapPost("/oauth/token", endpoint.HandleAsync);
        await app.StartAsync(cancellationToken);
        var address = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First();
        endpoint.TokenUrl = new Uri($"{address}/oauth/token");
        return endpoint;
    }

    private async Task HandleAsync(HttpContext http)
    {
        var form = await http.Request.ReadFormAsync(http.RequestAborted);
        var fields = form.ToDictionary(f => f.Key, f => f.Value.ToString(), StringComparer.Ordinal);
        lock (_gate)
        {
            _requests.Add(fields);
        }

        _firstRequest.TrySetResult();
        if (Hold is { } hold)
        {
            await hold.WaitAsync(TimeSpan.FromSeconds(30), http.RequestAborted);
        }

        // §5.1 and §5.2 both require these on every token response.
        http.Response.Headers.CacheControl = "no-store";
        http.Response.Headers.Pragma = "no-cache";
        http.Response.ContentType = "application/json;charset=UTF-8";

        if (Failure is { } failure)
        {
            http.Response.StatusCode = (int)failure.Status;
            await http.Response.WriteAsync(failure.Body, http.RequestAborted);
            return;
        }

        if (fields.GetValueOrDefault("grant_type") != "refresh_token")
        {
            await ErrorAsync(http, "unsupported_grant_type");
            return;
        }

        string access;
        string? newRefresh = null;
        lock (_gate)
        {
            if (fields.GetValueOrDefault("refresh_token") != _validRefreshToken)
            {
                access = "";
            }
            else
            {
                _issued++;
                access = $"access-{_issued}";
                if (RotateRefreshTokens)
                {
                    newRefresh = _validRefreshToken = $"rt-rotated-{_issued}";
                }
            }
        }

        if (access.Length == 0)
        {
            await ErrorAsync(http, "invalid_grant");
            return;
        }

        var body = new Dictionary<string, object> { ["access_token"] = access, ["token_type"] = "Bearer" };
        if (ExpiresIn is { } expiresIn)
        {
            body["expires_in"] = expiresIn;
        }

        if (newRefresh is not null)
        {
            body["refresh_token"] = newRefresh;
        }

        await http.Response.WriteAsync(JsonSerializer.Serialize(body), http.RequestAborted);
    }

    private static Task ErrorAsync(HttpContext http, string error)
    {
        http.Response.StatusCode = StatusCodes.Status400BadRequest;
        return http.Response.WriteAsync(JsonSerializer.Serialize(new { error }), http.RequestAborted);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
