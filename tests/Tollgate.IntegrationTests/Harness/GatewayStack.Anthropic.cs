using System.Net.Http.Headers;
using Anthropic;

namespace Tollgate.IntegrationTests.Harness;

/// <summary>
/// The Anthropic, Gemini and OAuth part of the shared stack: providers of kind anthropic and gemini on aimock, and
/// providers on <see cref="FakeAnthropic"/> (the in-process upstream that records what it received) with an API key
/// and <c>reject_betas</c>, with a subscription OAuth token, and with <c>auth: forward</c>. Kept in its own file and
/// spliced into the YAML at the top of <c>providers:</c> and <c>models:</c>, so other additions to the config do not
/// collide with it. Every name here starts with <c>anth-</c>.
/// </summary>
public sealed partial class GatewayStack
{
    /// <summary>The beta <c>anth-fake</c> is configured to reject (<c>reject_betas</c>).</summary>
    public const string RejectedBeta = "tollgate-rejected-beta-2099-01-01";

    /// <summary>The upstream model name aimock matches for the cut Anthropic stream.</summary>
    public const string CutStreamUpstreamModel = "anth-err-mid-stream";

    /// <summary>The upstream model name aimock matches for the cut chat-completions stream (translated to the Anthropic surface).</summary>
    public const string CutTranslatedStreamUpstreamModel = "anth-err-mid-stream-openai";

    /// <summary>What <c>anth-fake</c> sends as its <c>x-api-key</c>.</summary>
    public string FakeAnthropicKey { get; } = "sk-ant-fake-" + RandomToken();

    /// <summary>The subscription access token <c>anth-fake-oauth</c> holds.</summary>
    public string OAuthUpstreamToken { get; } = "sk-ant-oat01-" + RandomToken();

    internal FakeAnthropicUpstream FakeAnthropic { get; private set; } = null!;

    /// <summary>The official Anthropic .NET SDK (NuGet <c>Anthropic</c>) pointed at the gateway root, through the recording handler.</summary>
    internal AnthropicClient AnthropicSdkClient(string key) => new()
    {
        ApiKey = key,
        BaseUrl = Gateway.BaseUrl.ToString().TrimEnd('/'),
        HttpClient = new HttpClient(new RecordingHandler(_exchanges.Enqueue)),
        MaxRetries = 0,
        Timeout = TimeSpan.FromSeconds(60),
    };

    /// <summary>A raw Anthropic-surface request: <c>x-api-key</c>, <c>anthropic-version</c>, and the body bytes exactly as given.</summary>
    public static HttpRequestMessage AnthropicRequest(string path, string? key, string rawJson, string? beta = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path)
        {
            Content = new StringContent(rawJson, new MediaTypeHeaderValue("application/json")),
        };
        if (key is not null)
        {
            request.Headers.TryAddWithoutValidation("x-api-key", key);
        }

        request.Headers.TryAddWithoutValidation("anthropic-version", "2023-06-01");
        if (beta is not null)
        {
            request.Headers.TryAddWithoutValidation("anthropic-beta", beta);
        }

        return request;
    }

    private async Task StartAnthropicUpstreamsAsync() => FakeAnthropic = await FakeAnthropicUpstream.StartAsync();

    private async Task StopAnthropicUpstreamsAsync()
    {
        if (FakeAnthropic is not null)
        {
            await FakeAnthropic.DisposeAsync();
        }
    }

    private Dictionary<string, string?> WithAnthropicSecrets(Dictionary<string, string?> environment)
    {
        environment["ANTH_FAKE_KEY"] = FakeAnthropicKey;
        environment["ANTH_OAUTH_TOKEN"] = OAuthUpstreamToken;
        return environment;
    }

    /// <summary>Splices the anth-* providers and model groups in at the top of the two maps.</summary>
    private string WithAnthropicConfig(string yaml)
    {
        var aimock = Upstream.BaseUrl.ToString().TrimEnd('/');
        var fake = FakeAnthropic.BaseUrl.ToString().TrimEnd('/');
        var providers = $$"""
              anth-aimock: { kind: anthropic, base_url: "{{aimock}}", auth: { type: api_key, key: env:MOCK_UPSTREAM_KEY } }
              anth-aimock-gemini: { kind: gemini, base_url: "{{aimock}}", auth: { type: api_key, key: env:MOCK_UPSTREAM_KEY } }
              anth-fake: { kind: anthropic, base_url: "{{fake}}/apikey", reject_betas: [ {{RejectedBeta}} ], auth: { type: api_key, key: env:ANTH_FAKE_KEY } }
              anth-fake-oauth: { kind: anthropic, base_url: "{{fake}}/oauth", billing: subscription, auth: { type: oauth, token: env:ANTH_OAUTH_TOKEN } }
              anth-fake-forward: { kind: anthropic, base_url: "{{fake}}/forward", auth: { type: forward } }

            """;
        var models = $$"""
              anth-claude: { family: claude, deployments: [ { provider: anth-aimock, model: claude-sonnet-4-5, price: { input: 3, output: 15 } } ] }
              anth-qwen: { family: qwen, deployments: [ { provider: mock, model: qwen3-coder, price: { input: 0.4, output: 1.6 } } ] }
              anth-gemini: { family: gemini, deployments: [ { provider: anth-aimock-gemini, model: gemini-2.5-flash, price: { input: 0.3, output: 2.5 } } ] }
              anth-fake: { family: claude, deployments: [ { provider: anth-fake, model: claude-fake-upstream, price: { input: 3, output: 15 } } ] }
              anth-oauth: { family: claude, deployments: [ { provider: anth-fake-oauth, model: claude-fake-oauth, price: { input: 3, output: 15 } } ] }
              anth-forward: { family: claude, deployments: [ { provider: anth-fake-forward, model: claude-fake-forward, price: { input: 3, output: 15 } } ] }
              anth-cut: { family: claude, deployments: [ { provider: anth-aimock, model: {{CutStreamUpstreamModel}}, price: { input: 1, output: 1 } } ] }
              anth-cut-translated: { family: gpt, deployments: [ { provider: mock, model: {{CutTranslatedStreamUpstreamModel}}, price: { input: 1, output: 1 } } ] }

            """;
        return Splice(Splice(yaml, "\nproviders:\n", providers), "\nmodels:\n", models);
    }

    private static string Splice(string yaml, string section, string lines)
    {
        var at = yaml.IndexOf(section, StringComparison.Ordinal);
        if (at < 0)
        {
            throw new InvalidOperationException($"The gateway config has no '{section.Trim()}' section to add the anth-* entries to.");
        }

        return yaml.Insert(at + section.Length, lines);
    }
}
