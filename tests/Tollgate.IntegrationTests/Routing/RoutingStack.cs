using System.Globalization;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Tollgate.IntegrationTests.Harness;
using Tollgate.IntegrationTests.Routing;

[assembly: AssemblyFixture(typeof(RoutingStack))]

namespace Tollgate.IntegrationTests.Routing;

/// <summary>
/// The routing tests' own gateway: tiers, data-class policies and one model group per failure, kept apart from
/// <see cref="GatewayStack"/>'s config because a data-class policy turns the detectors on for every request.
/// Besides the usual aimock it runs two that fail every call on purpose (<c>--chaos-ratelimit 1</c>,
/// <c>--chaos-drop 1</c>). Every group has its own upstream model names, since cooldowns are kept per
/// <c>provider/model</c> and one test's failure must not change what another sees.
/// </summary>
public sealed class RoutingStack : IAsyncLifetime
{
    /// <summary>The prompt every serving fixture of <c>routing.json</c> answers ("routed answer").</summary>
    public const string Prompt = "RT_ROUTE please route this request";

    /// <summary>The upstream statuses after which the next deployment is tried (SPEC §4), 401 aside (a real bad key).</summary>
    public static readonly int[] RetryableStatuses = [408, 409, 500, 502, 503, 504, 529, 403];

    /// <summary>The caller's-fault statuses that go back at once.</summary>
    public static readonly int[] ClientStatuses = [400, 404, 422];

    private Aimock? _chaos429;
    private Aimock? _chaosDrop;
    private GatewayStack? _stack;
    private readonly HttpClient _plain = new() { Timeout = TimeSpan.FromSeconds(30) };

    /// <summary>The gateway (with its normal aimock) configured by <see cref="ConfigYaml"/>.</summary>
    public GatewayStack Stack => _stack ?? throw new InvalidOperationException("The routing stack has not started.");

    public async ValueTask InitializeAsync()
    {
        var ratelimit = Aimock.StartAsync(extraArgs: ["--chaos-ratelimit", "1"]);
        var drop = Aimock.StartAsync(extraArgs: ["--chaos-drop", "1"]);
        try
        {
            _chaos429 = await ratelimit;
            _chaosDrop = await drop;
        }
        catch
        {
            await DisposeStartedAsync(ratelimit);
            await DisposeStartedAsync(drop);
            throw;
        }

        var chaos429 = _chaos429.OpenAiBaseUrl;
        var chaosDrop = _chaosDrop.OpenAiBaseUrl;
        _stack = new GatewayStack((aimock, closedPort) => ConfigYaml(aimock, chaos429, chaosDrop, closedPort));
        await _stack.InitializeAsync();
    }

    public async ValueTask DisposeAsync()
    {
        _plain.Dispose();
        if (_stack is not null)
        {
            await _stack.DisposeAsync();
        }

        if (_chaos429 is not null)
        {
            await _chaos429.DisposeAsync();
        }

        if (_chaosDrop is not null)
        {
            await _chaosDrop.DisposeAsync();
        }
    }

    /// <summary>
    /// How many requests for <paramref name="upstreamModel"/> the main aimock has received, from its request journal
    /// (<c>GET /__aimock/journal</c>): the proof that a refused or short-circuited request never went upstream.
    /// </summary>
    public async Task<int> UpstreamCallsAsync(string upstreamModel, CancellationToken cancellationToken)
    {
        // The journal sits behind the same AIMOCK_API_KEYS check as the model routes.
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(Stack.Upstream.BaseUrl, "/__aimock/journal"));
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", Stack.UpstreamKey);
        using var response = await _plain.SendAsync(request, cancellationToken);
        response.EnsureSuccessStatusCode();
        var journal = await response.Content.ReadFromJsonAsync<JsonElement>(cancellationToken);
        journal.ValueKind.ShouldBe(JsonValueKind.Array, $"aimock's journal should be a JSON array: {journal}");
        return journal.EnumerateArray().Count(entry =>
            entry.TryGetProperty("body", out var body) && body.ValueKind == JsonValueKind.Object
            && body.TryGetProperty("model", out var model) && model.ValueKind == JsonValueKind.String
            && model.GetString() == upstreamModel);
    }

    /// <summary>The gateway's Prometheus exposition, as a scraper reads it (no credential).</summary>
    public async Task<string> MetricsAsync(CancellationToken cancellationToken)
    {
        using var response = await _plain.GetAsync(new Uri(Stack.Gateway.BaseUrl, "/metrics"), cancellationToken);
        var text = await response.Content.ReadAsStringAsync(cancellationToken);
        response.IsSuccessStatusCode.ShouldBeTrue($"GET /metrics answered {(int)response.StatusCode}: {text}");
        return text;
    }

    /// <summary>Mints a key with a unique alias and whatever else the test needs (tier, data_classes, …).</summary>
    public Task<MintedKey> MintAsync(string aliasPrefix, CancellationToken cancellationToken, string? tier = null, string[]? dataClasses = null)
    {
        var alias = $"{aliasPrefix}-{GatewayStack.RandomToken()[..8]}";
        var body = new Dictionary<string, object> { ["alias"] = alias };
        if (tier is not null)
        {
            body["tier"] = tier;
        }

        if (dataClasses is not null)
        {
            body["data_classes"] = dataClasses;
        }

        return Stack.MintKeyAsync(body, cancellationToken);
    }

    /// <summary>POSTs a one-message chat completion; <paramref name="headers"/> are added to the request.</summary>
    internal Task<RawAnswer> ChatAsync(string key, string model, CancellationToken cancellationToken, string prompt = Prompt, params (string Name, string Value)[] headers)
    {
        var request = GatewayStack.DataRequest(HttpMethod.Post, "/v1/chat/completions", key, RawCall.Chat(model, prompt));
        foreach (var (name, value) in headers)
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }

        return Stack.Http.AnswerAsync(request, cancellationToken);
    }

    private static async Task DisposeStartedAsync(Task<Aimock> start)
    {
        try
        {
            await (await start).DisposeAsync();
        }
        catch (Exception)
        {
            // It failed to start; the other start's failure is the one being reported.
        }
    }

    private static string ConfigYaml(Uri aimock, Uri chaos429, Uri chaosDrop, int closedPort)
    {
        var models = new StringBuilder();
        void Group(string name, string family, string deployments, string? extra = null) =>
            models.Append(CultureInfo.InvariantCulture, $"  {name}: {{ family: {family}, deployments: [ {deployments} ]{extra} }}\n");
        static string D(string provider, string model) => $"{{ provider: {provider}, model: {model}, price: {{ input: 1, output: 2 }} }}";

        foreach (var status in RetryableStatuses)
        {
            Group($"rt-status-{status}", "gpt", $"{D("mock", $"rt-status-{status}-down")}, {D("mock", $"rt-status-{status}-up")}");
        }

        foreach (var status in ClientStatuses)
        {
            Group($"rt-client-{status}", "gpt", $"{D("mock", $"rt-client-{status}-a")}, {D("mock", $"rt-client-{status}-b")}");
        }

        Group("rt-401", "gpt", $"{D("mock-wrongkey", "rt-401-a")}, {D("mock", "rt-401-b")}");
        Group("rt-drop", "gpt", $"{D("chaos-drop", "rt-drop-a")}, {D("mock", "rt-drop-b")}");
        Group("rt-chaos429", "gpt", D("chaos-429", "rt-chaos429-a"));
        Group("rt-chaos429-next", "gpt", $"{D("chaos-429", "rt-chaos429-x")}, {D("mock", "rt-chaos429-y")}");
        Group("rt-429-reset", "gpt", D("mock", "rt-429-reset-a"));
        Group("rt-probe", "gpt", $"{D("mock", "rt-probe-a")}, {D("mock", "rt-probe-b")}");
        Group("rt-allcool", "gpt", $"{D("mock", "rt-allcool-a")}, {D("mock", "rt-allcool-b")}");
        Group("rt-stream-fb", "gpt", $"{D("mock", "rt-stream-fb-a")}, {D("mock", "rt-stream-fb-b")}");
        Group("rt-xf-qwen", "qwen", D("mock", "rt-xf-qwen-down"), ", fallback: [ rt-xf-claude ]");
        Group("rt-xf-claude", "claude", D("mock", "rt-xf-claude-up"));
        Group("rt-sf-primary", "gpt", D("mock", "rt-sf-primary-down"));
        Group("rt-sf-sibling", "gpt", D("mock", "rt-sf-sibling-up"));
        Group("rt-cut-anthropic", "gpt", D("mock", "rt-cut-anthropic"));
        Group("rt-tier-small", "qwen", D("mock", "rt-tier-small-up"));
        Group("rt-tier-big", "claude", D("mock", "rt-tier-big-up"));
        Group("rt-sens", "gpt", $"{D("mock", "rt-sens-public")}, {D("mock-private", "rt-sens-private")}");
        Group("rt-sens-public-only", "gpt", D("mock", "rt-sens-only-public"));
        Group("rt-metrics", "gpt", $"{D("mock", "rt-metrics-down")}, {D("mock", "rt-metrics-up")}");
        Group("rt-priority", "gpt", "{ provider: mock, model: rt-prio-late, priority: 2 }, { provider: mock, model: rt-prio-early, priority: 1 }");
        Group("rt-balanced", "gpt", "{ provider: mock, model: rt-bal-a, priority: 1 }, { provider: mock-private, model: rt-bal-b, priority: 1 }, { provider: mock, model: rt-bal-last, priority: 2 }");
        Group("rt-admin-health", "gpt", $"{D("mock", "rt-admin-health-down")}, {D("mock", "rt-admin-health-up")}");

        return $$"""
            server: { master_key: env:TOLLGATE_MASTER_KEY }
            store: { kind: sqlite, path: "{dir}/tollgate.db" }
            reporting: { currency: USD }
            ledger: { flush_ms: 50 }
            audit: { bodies: full }
            providers:
              mock: { kind: openai, base_url: "{{aimock}}", auth: { type: api_key, key: env:MOCK_UPSTREAM_KEY } }
              mock-private: { kind: openai, base_url: "{{aimock}}", retention: none, auth: { type: api_key, key: env:MOCK_UPSTREAM_KEY } }
              mock-wrongkey: { kind: openai, base_url: "{{aimock}}", auth: { type: api_key, key: env:MOCK_WRONG_KEY } }
              chaos-429: { kind: openai, base_url: "{{chaos429}}", auth: { type: api_key, key: env:MOCK_UPSTREAM_KEY } }
              chaos-drop: { kind: openai, base_url: "{{chaosDrop}}", auth: { type: api_key, key: env:MOCK_UPSTREAM_KEY } }
              dead: { kind: openai, base_url: "http://127.0.0.1:{{closedPort}}/v1", auth: { type: api_key, key: env:MOCK_UPSTREAM_KEY } }
            models:
            {{models}}
            tiers:
              rt-remap: { models: [ rt-tier-small ], remap: { rt-tier-big: rt-tier-small } }
              rt-quota: { daily_requests: 2, models: [ rt-tier-small ] }
              rt-open: { }
            data_classes:
              pii: { allow_providers: [ mock-private ] }
              financial: { allow_providers: [ mock-private ] }
              secret: { allow_providers: [ ] }
              legal: { allow_providers: [ ] }
            """;
    }
}
