using System.Text.RegularExpressions;

namespace Tollgate.IntegrationTests.Harness;

/// <summary>
/// The upstream emulator, <c>@copilotkit/aimock</c>, on a loopback port it picks itself (<c>-p 0</c>) and
/// reports on stdout. It serves the JSON fixtures in <c>tests/fixtures/aimock</c>.
/// </summary>
internal sealed partial class Aimock : IAsyncDisposable
{
    private readonly ChildProcess _process;

    private Aimock(ChildProcess process, Uri baseUrl)
    {
        _process = process;
        BaseUrl = baseUrl;
    }

    /// <summary>The server root, e.g. <c>http://127.0.0.1:41234</c>; the OpenAI surface is under <c>/v1</c>.</summary>
    public Uri BaseUrl { get; }

    /// <summary>The OpenAI base URL, written the way OpenAI SDKs take it (with <c>/v1</c>).</summary>
    public Uri OpenAiBaseUrl => new(BaseUrl, "/v1");

    public string Output => _process.Output;

    /// <param name="acceptedApiKeys">When set, aimock answers 401 to any other credential (AIMOCK_API_KEYS).</param>
    /// <param name="extraArgs">More command-line flags, e.g. <c>--chaos-ratelimit 1</c> for an upstream that always fails.</param>
    public static async Task<Aimock> StartAsync(string? acceptedApiKeys = null, string? fixturesDir = null, IReadOnlyList<string>? extraArgs = null)
    {
        var env = new Dictionary<string, string?> { ["AIMOCK_API_KEYS"] = acceptedApiKeys };
        var process = ChildProcess.Start(
            "aimock",
            TestPaths.ToolBin("llmock"),
            ["-p", "0", "-h", "127.0.0.1", "-f", fixturesDir ?? TestPaths.FixturesDir, "--validate-on-load", .. extraArgs ?? []],
            env);
        try
        {
            var match = await process.WaitForLineAsync(ListeningLine(), TimeSpan.FromSeconds(20)).ConfigureAwait(false);
            return new Aimock(process, new Uri(match.Groups["url"].Value));
        }
        catch
        {
            await process.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public ValueTask DisposeAsync() => _process.DisposeAsync();

    [GeneratedRegex(@"listening on (?<url>http://127\.0\.0\.1:\d+)")]
    private static partial Regex ListeningLine();
}
