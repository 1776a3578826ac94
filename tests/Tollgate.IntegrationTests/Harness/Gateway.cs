using System.Text.RegularExpressions;

namespace Tollgate.IntegrationTests.Harness;

/// <summary>
/// The real gateway, <c>dotnet Tollgate.dll --config … --urls http://127.0.0.1:0</c>, in its own temporary
/// folder (config, SQLite file, spool). Its stdout and stderr are kept whole for the secret-leak test.
/// </summary>
internal sealed partial class Gateway : IAsyncDisposable
{
    private readonly ChildProcess _process;

    private Gateway(ChildProcess process, Uri baseUrl, string directory)
    {
        _process = process;
        BaseUrl = baseUrl;
        Directory = directory;
    }

    /// <summary>The server root, e.g. <c>http://127.0.0.1:40123</c>.</summary>
    public Uri BaseUrl { get; }

    /// <summary>The OpenAI base URL, with <c>/v1</c>, as SDKs take it.</summary>
    public Uri OpenAiBaseUrl => new(BaseUrl, "/v1");

    /// <summary>The temporary folder holding the config file and the store.</summary>
    public string Directory { get; }

    /// <summary>Everything the gateway has printed so far (stdout and stderr).</summary>
    public string Output => _process.Output;

    public bool HasExited => _process.HasExited;

    /// <param name="configYaml">The whole tollgate.yaml; <c>{dir}</c> is replaced by the gateway's temporary folder.</param>
    /// <param name="environment">Environment variables: the master key and every provider secret.</param>
    public static async Task<Gateway> StartAsync(string configYaml, IReadOnlyDictionary<string, string?> environment)
    {
        var directory = System.IO.Directory.CreateTempSubdirectory("tollgate-it-").FullName;
        var configPath = Path.Combine(directory, "tollgate.yaml");
        await File.WriteAllTextAsync(configPath, configYaml.Replace("{dir}", directory, StringComparison.Ordinal))
            .WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);

        var env = new Dictionary<string, string?>(environment)
        {
            // The parent's settings must not leak into the gateway under test.
            ["ASPNETCORE_URLS"] = null,
            ["ASPNETCORE_ENVIRONMENT"] = null,
            ["DOTNET_ENVIRONMENT"] = null,
            ["TOLLGATE_CONFIG"] = null,
        };
        var process = ChildProcess.Start(
            "Tollgate gateway",
            "dotnet",
            [TestPaths.GatewayDll, "--config", configPath, "--urls", "http://127.0.0.1:0"],
            env,
            directory);
        try
        {
            var match = await process.WaitForLineAsync(ListeningLine(), TimeSpan.FromSeconds(30)).ConfigureAwait(false);
            return new Gateway(process, new Uri(match.Groups["url"].Value), directory);
        }
        catch
        {
            await process.DisposeAsync().ConfigureAwait(false);
            TryDelete(directory);
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _process.DisposeAsync().ConfigureAwait(false);
        TryDelete(Directory);
    }

    private static void TryDelete(string directory)
    {
        try
        {
            System.IO.Directory.Delete(directory, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    [GeneratedRegex(@"Now listening on:?\s*(?<url>http://127\.0\.0\.1:\d+)")]
    private static partial Regex ListeningLine();
}
