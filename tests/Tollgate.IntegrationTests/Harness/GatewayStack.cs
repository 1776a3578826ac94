using System.ClientModel;
using System.ClientModel.Primitives;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text.Json;
using OpenAI;
using Tollgate.IntegrationTests.Harness;

[assembly: AssemblyFixture(typeof(GatewayStack))]

namespace Tollgate.IntegrationTests.Harness;

/// <summary>
/// One aimock and one gateway for the whole assembly: starting them costs seconds, and every test works
/// with its own virtual key and, where a failure could put a deployment into cooldown, its own model group.
/// </summary>
public sealed partial class GatewayStack : IAsyncLifetime
{
    /// <summary>USD per million tokens, and the FX rate to the reporting currency (AUD), as configured below.</summary>
    public const decimal ChatInputPrice = 0.15m;
    public const decimal ChatOutputPrice = 0.6m;
    public const decimal UsdToAud = 1.5m;
    public const long MaxBodyBytes = 1_048_576;

    private readonly ConcurrentQueue<RecordedExchange> _exchanges = new();
    private readonly Func<Uri, int, string> _configYaml;
    private readonly ConcurrentBag<string> _issuedSecrets = [];
    private HttpClient? _http;

    public GatewayStack()
        : this(ConfigYaml)
    {
        _withAnthropic = true;
    }

    /// <summary>
    /// A stack with a configuration of its own (the routing tests' tiers, data classes and failing groups).
    /// <paramref name="configYaml"/> gets aimock's OpenAI base URL and a loopback port nothing listens on.
    /// </summary>
    internal GatewayStack(Func<Uri, int, string> configYaml)
    {
        _configYaml = configYaml;
        _withAnthropic = false;
    }

    private readonly bool _withAnthropic;

    public string MasterKey { get; } = "mk-" + RandomToken();

    /// <summary>The credential aimock accepts; the gateway holds it as provider <c>mock</c>'s key.</summary>
    public string UpstreamKey { get; } = "sk-upstream-" + RandomToken();

    /// <summary>A credential aimock rejects; provider <c>mock-wrongkey</c> holds it.</summary>
    public string WrongUpstreamKey { get; } = "sk-wrong-" + RandomToken();

    internal Aimock Upstream { get; private set; } = null!;

    internal Gateway Gateway { get; private set; } = null!;

    /// <summary>A client for the gateway root that records every response (see <see cref="Exchanges"/>). Sends no credential by itself.</summary>
    public HttpClient Http => _http ?? throw new InvalidOperationException("The gateway stack has not started.");

    /// <summary>Every response the .NET clients of this stack have seen so far.</summary>
    internal IReadOnlyCollection<RecordedExchange> Exchanges => _exchanges;

    /// <summary>Every virtual key secret minted or rotated through <see cref="MintKeyAsync"/> and <see cref="RotateKeyAsync"/>.</summary>
    public IReadOnlyCollection<string> IssuedSecrets => _issuedSecrets;

    public async ValueTask InitializeAsync()
    {
        // aimock accepts only the provider key, so a gateway that forwarded the caller's virtual key upstream
        // would fail every served call with 401.
        Upstream = await Aimock.StartAsync(acceptedApiKeys: UpstreamKey);
        try
        {
            // Only the shared default stack carries the Anthropic-surface providers and groups; stacks with a config
            // of their own (the routing tests') get exactly that config.
            var yaml = _configYaml(Upstream.OpenAiBaseUrl, ClosedLoopbackPort());
            if (_withAnthropic)
            {
                await StartAnthropicUpstreamsAsync();
                yaml = WithAnthropicConfig(yaml);
            }

            Gateway = await Gateway.StartAsync(yaml, WithAnthropicSecrets(new Dictionary<string, string?>
            {
                ["TOLLGATE_MASTER_KEY"] = MasterKey,
                ["MOCK_UPSTREAM_KEY"] = UpstreamKey,
                ["MOCK_WRONG_KEY"] = WrongUpstreamKey,
            }));
        }
        catch
        {
            await StopAnthropicUpstreamsAsync();
            await Upstream.DisposeAsync();
            throw;
        }

        _http = new HttpClient(new RecordingHandler(_exchanges.Enqueue)) { BaseAddress = Gateway.BaseUrl, Timeout = TimeSpan.FromSeconds(60) };
    }

    public async ValueTask DisposeAsync()
    {
        _http?.Dispose();
        if (Gateway is not null)
        {
            await Gateway.DisposeAsync();
        }

        if (Upstream is not null)
        {
            await Upstream.DisposeAsync();
        }

        await StopAnthropicUpstreamsAsync();
    }

    /// <summary>The gateway's configuration: one provider per behaviour, one model group per failure a test provokes.</summary>
    private static string ConfigYaml(Uri aimock, int closedPort) => $$"""
        server: { master_key: env:TOLLGATE_MASTER_KEY, max_body_bytes: {{MaxBodyBytes}} }
        store: { kind: sqlite, path: "{dir}/tollgate.db" }
        reporting: { currency: AUD, fx: { USD: {{UsdToAud}} } }
        ledger: { flush_ms: 50 }
        providers:
          mock: { kind: openai, base_url: "{{aimock}}", auth: { type: api_key, key: env:MOCK_UPSTREAM_KEY } }
          mock-wrongkey: { kind: openai, base_url: "{{aimock}}", auth: { type: api_key, key: env:MOCK_WRONG_KEY } }
          dead: { kind: openai, base_url: "http://127.0.0.1:{{closedPort}}/v1", auth: { type: api_key, key: env:MOCK_UPSTREAM_KEY } }
          mock-impatient: { kind: openai, base_url: "{{aimock}}", activity_timeout: 1s, auth: { type: api_key, key: env:MOCK_UPSTREAM_KEY } }
          mock-system: { kind: openai, base_url: "{{aimock}}", http_client: system, auth: { type: api_key, key: env:MOCK_UPSTREAM_KEY } }
        models:
          gpt-4o-mini: { family: gpt, deployments: [ { provider: mock, model: gpt-4o-mini, price: { input: {{ChatInputPrice}}, output: {{ChatOutputPrice}} } } ] }
          gpt-4o-mini-system: { family: gpt, deployments: [ { provider: mock-system, model: gpt-4o-mini, price: { input: {{ChatInputPrice}}, output: {{ChatOutputPrice}} } } ] }
          gpt-4o: { family: gpt, deployments: [ { provider: mock, model: gpt-4o, price: { input: 2.5, output: 10 } } ] }
          text-embedding-3-small: { family: gpt, deployments: [ { provider: mock, model: text-embedding-3-small, price: { input: 0.02, output: 0 } } ] }
          err-upstream-500: { family: gpt, deployments: [ { provider: mock, model: err-upstream-500, price: { input: 1, output: 1 } } ] }
          err-upstream-429: { family: gpt, deployments: [ { provider: mock, model: err-upstream-429, price: { input: 1, output: 1 } } ] }
          err-bad-credential: { family: gpt, deployments: [ { provider: mock-wrongkey, model: gpt-4o-mini, price: { input: 1, output: 1 } } ] }
          err-mid-stream: { family: gpt, deployments: [ { provider: mock, model: err-mid-stream, price: { input: 1, output: 1 } } ] }
          err-mid-stream-responses: { family: gpt, deployments: [ { provider: mock, model: err-mid-stream-responses, price: { input: 1, output: 1 } } ] }
          err-upstream-silent: { family: gpt, deployments: [ { provider: mock-impatient, model: err-upstream-silent, price: { input: 1, output: 1 } } ] }
          fallback-connect: { family: gpt, deployments: [ { provider: dead, model: gpt-4o-mini, price: { input: 1, output: 1 } }, { provider: mock, model: gpt-4o-mini, price: { input: 1, output: 1 } } ] }
          fallback-5xx: { family: gpt, deployments: [ { provider: mock, model: err-fallback-500, price: { input: 1, output: 1 } }, { provider: mock, model: gpt-4o-mini, price: { input: 1, output: 1 } } ] }
          leak-upstream-500: { family: gpt, deployments: [ { provider: mock, model: leak-upstream-500, price: { input: 1, output: 1 } } ] }
          leak-bad-credential: { family: gpt, deployments: [ { provider: mock-wrongkey, model: leak-probe, price: { input: 1, output: 1 } } ] }
        """;

    /// <summary>Mints a virtual key with the master key. The secret is remembered for the secret-leak test.</summary>
    public async Task<MintedKey> MintKeyAsync(object body, CancellationToken cancellationToken)
    {
        using var response = await Http.SendAsync(AdminRequest(HttpMethod.Post, "/admin/keys", body), cancellationToken);
        var text = await response.Content.ReadAsStringAsync(cancellationToken);
        response.StatusCode.ShouldBe(HttpStatusCode.Created, $"POST /admin/keys answered {(int)response.StatusCode}: {text}");
        using var json = JsonDocument.Parse(text);
        var minted = new MintedKey(
            json.RootElement.GetProperty("id").GetString()!,
            json.RootElement.GetProperty("key").GetString()!,
            json.RootElement.Clone());
        _issuedSecrets.Add(minted.Secret);
        return minted;
    }

    /// <summary>Mints a key with an alias unique to the calling test, allowed only <paramref name="models"/> when given.</summary>
    public Task<MintedKey> MintKeyAsync(string aliasPrefix, CancellationToken cancellationToken, params string[] models)
    {
        var alias = $"{aliasPrefix}-{RandomToken()[..8]}";
        object body = models.Length == 0 ? new { alias } : new { alias, models };
        return MintKeyAsync(body, cancellationToken);
    }

    /// <summary>Rotates a key; returns the new secret (remembered for the secret-leak test) and the response body.</summary>
    public async Task<MintedKey> RotateKeyAsync(string id, CancellationToken cancellationToken)
    {
        using var response = await Http.SendAsync(AdminRequest(HttpMethod.Post, $"/admin/keys/{id}/rotate"), cancellationToken);
        var text = await response.Content.ReadAsStringAsync(cancellationToken);
        response.IsSuccessStatusCode.ShouldBeTrue($"POST /admin/keys/{id}/rotate answered {(int)response.StatusCode}: {text}");
        using var json = JsonDocument.Parse(text);
        var secret = json.RootElement.GetProperty("key").GetString()!;
        _issuedSecrets.Add(secret);
        return new MintedKey(id, secret, json.RootElement.Clone());
    }

    /// <summary>An admin API request carrying the master key.</summary>
    public HttpRequestMessage AdminRequest(HttpMethod method, string path, object? body = null)
    {
        var request = new HttpRequestMessage(method, path);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", MasterKey);
        if (body is not null)
        {
            request.Content = JsonContent.Create(body);
        }

        return request;
    }

    /// <summary>GETs an admin path and parses the JSON answer, failing with the body on a non-2xx status.</summary>
    public async Task<JsonElement> AdminGetAsync(string path, CancellationToken cancellationToken)
    {
        using var response = await Http.SendAsync(AdminRequest(HttpMethod.Get, path), cancellationToken);
        var text = await response.Content.ReadAsStringAsync(cancellationToken);
        response.IsSuccessStatusCode.ShouldBeTrue($"GET {path} answered {(int)response.StatusCode}: {text}");
        using var json = JsonDocument.Parse(text);
        return json.RootElement.Clone();
    }

    /// <summary>A data-plane request with the virtual key as <c>Authorization: Bearer</c>.</summary>
    public static HttpRequestMessage DataRequest(HttpMethod method, string path, string? key, object? body = null)
    {
        var request = new HttpRequestMessage(method, path);
        if (key is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        }

        if (body is not null)
        {
            request.Content = JsonContent.Create(body);
        }

        return request;
    }

    /// <summary>
    /// Polls <c>GET /admin/requests?key=</c> until the ledger row with <paramref name="requestId"/> is there
    /// (rows are written off the request path, every flush_ms).
    /// </summary>
    public async Task<JsonElement> WaitForLedgerRowAsync(string keyId, string requestId, CancellationToken cancellationToken)
    {
        var rows = await WaitForLedgerRowsAsync(keyId, rows => rows.Any(r => RequestIdOf(r) == requestId), cancellationToken);
        return rows.First(r => RequestIdOf(r) == requestId);
    }

    /// <summary>Polls the key's ledger rows (newest first) until <paramref name="done"/> holds, for up to 10 s.</summary>
    public async Task<IReadOnlyList<JsonElement>> WaitForLedgerRowsAsync(
        string keyId, Func<IReadOnlyList<JsonElement>, bool> done, CancellationToken cancellationToken)
    {
        var deadline = DateTimeOffset.UtcNow.AddSeconds(10);
        IReadOnlyList<JsonElement> rows = [];
        while (true)
        {
            var page = await AdminGetAsync($"/admin/requests?key={Uri.EscapeDataString(keyId)}&limit=100", cancellationToken);
            page.ValueKind.ShouldBe(JsonValueKind.Array, $"/admin/requests must answer a JSON array, got: {page}");
            rows = [.. page.EnumerateArray()];
            if (done(rows))
            {
                return rows;
            }

            if (DateTimeOffset.UtcNow > deadline)
            {
                throw new ShouldAssertException(
                    $"The ledger rows for key {keyId} did not reach the expected state within 10 s. Rows now: {page}");
            }

            await Task.Delay(100, cancellationToken);
        }
    }

    /// <summary>The official OpenAI .NET SDK pointed at the gateway, through the recording handler.</summary>
    public OpenAIClient SdkClient(string key) => SdkClient(key, out _);

    /// <summary>As <see cref="SdkClient(string)"/>, also handing back the responses this client alone has seen (for their headers).</summary>
    internal OpenAIClient SdkClient(string key, out IReadOnlyCollection<RecordedExchange> seen)
    {
        var mine = new ConcurrentQueue<RecordedExchange>();
        seen = mine;
        return SdkClientFor(Gateway.OpenAiBaseUrl, key, exchange =>
        {
            _exchanges.Enqueue(exchange);
            mine.Enqueue(exchange);
        });
    }

    /// <summary>The same SDK pointed straight at aimock, to compare against. Its traffic is not recorded.</summary>
    public OpenAIClient DirectUpstreamSdkClient() => SdkClientFor(Upstream.OpenAiBaseUrl, UpstreamKey, _ => { });

    private static OpenAIClient SdkClientFor(Uri endpoint, string key, Action<RecordedExchange> sink) => new(new ApiKeyCredential(key), new OpenAIClientOptions
    {
        Endpoint = endpoint,
        Transport = new HttpClientPipelineTransport(new HttpClient(new RecordingHandler(sink))),
        RetryPolicy = new ClientRetryPolicy(maxRetries: 0),
        NetworkTimeout = TimeSpan.FromSeconds(60),
    });

    private static string? RequestIdOf(JsonElement row) =>
        row.TryGetProperty("request_id", out var id) ? id.GetString() : null;

    internal static string RandomToken() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));

    private static int ClosedLoopbackPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}

/// <summary>A freshly minted (or rotated) virtual key: its id, the secret, and the whole admin answer.</summary>
public sealed record MintedKey(string Id, string Secret, JsonElement Record)
{
    public string Alias => Record.TryGetProperty("alias", out var alias) ? alias.GetString() ?? string.Empty : string.Empty;
}
