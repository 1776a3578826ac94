using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Tollgate.IntegrationTests.Harness;

namespace Tollgate.IntegrationTests.Replicas;

/// <summary>
/// One Tollgate replica as a child process: <c>dotnet Tollgate.dll --config … --urls http://127.0.0.1:0</c>.
/// Its folder (config and ledger spool) outlives the process, so a restart finds the spool a crash left.
/// </summary>
internal sealed partial class Replica : IAsyncDisposable
{
    private readonly IReadOnlyDictionary<string, string?> _environment;
    private readonly StringBuilder _history = new();
    private ChildProcess? _process;

    public Replica(string name, string directory, string configYaml, IReadOnlyDictionary<string, string?> environment)
    {
        Name = name;
        Directory = directory;
        ConfigPath = Path.Combine(directory, "tollgate.yaml");
        File.WriteAllText(ConfigPath, configYaml.Replace("{dir}", directory, StringComparison.Ordinal));
        _environment = environment;
    }

    public string Name { get; }

    public string Directory { get; }

    public string ConfigPath { get; }

    /// <summary>The current run's root URL; a restart listens on a new port.</summary>
    public Uri BaseUrl { get; private set; } = null!;

    public bool Running => _process is { HasExited: false };

    /// <summary>What every run of this replica printed, for failure messages.</summary>
    public string Output => _history + (_process?.Output ?? string.Empty);

    public async Task StartAsync()
    {
        if (_process is not null)
        {
            await _process.DisposeAsync();
            _history.Append(_process.Output).Append("---- restart ----\n");
        }

        var env = new Dictionary<string, string?>(_environment)
        {
            ["ASPNETCORE_URLS"] = null,
            ["ASPNETCORE_ENVIRONMENT"] = null,
            ["DOTNET_ENVIRONMENT"] = null,
            ["TOLLGATE_CONFIG"] = null,
        };
        _process = ChildProcess.Start($"Tollgate replica {Name}", "dotnet",
            [TestPaths.GatewayDll, "--config", ConfigPath, "--urls", "http://127.0.0.1:0"], env, Directory);
        var match = await _process.WaitForLineAsync(ListeningLine(), TimeSpan.FromSeconds(45));
        BaseUrl = new Uri(match.Groups["url"].Value);
    }

    /// <summary>SIGTERM, then waits for the process to exit by itself (a graceful shutdown drains the ledger).</summary>
    public async Task TerminateAsync(TimeSpan timeout)
    {
        var process = _process ?? throw new InvalidOperationException($"{Name} is not running");
        Signal("TERM", process.Id);
        var deadline = Stopwatch.StartNew();
        while (!process.HasExited)
        {
            if (deadline.Elapsed > timeout)
            {
                throw new TimeoutException($"{Name} did not exit within {timeout.TotalSeconds:0} s of SIGTERM. Output:\n{Output}");
            }

            await Task.Delay(50);
        }
    }

    /// <summary>SIGKILL: no shutdown code runs.</summary>
    public async Task KillAsync()
    {
        var process = _process ?? throw new InvalidOperationException($"{Name} is not running");
        Signal("KILL", process.Id);
        var deadline = Stopwatch.StartNew();
        while (!process.HasExited && deadline.Elapsed < TimeSpan.FromSeconds(10))
        {
            await Task.Delay(20);
        }

        process.HasExited.ShouldBeTrue($"{Name} survived SIGKILL");
    }

    public async ValueTask DisposeAsync()
    {
        if (_process is not null)
        {
            await _process.DisposeAsync();
        }
    }

    private static void Signal(string signal, int pid)
    {
        using var kill = Process.Start(new ProcessStartInfo("kill", ["-" + signal, pid.ToString(CultureInfo.InvariantCulture)]) { UseShellExecute = false })!;
        kill.WaitForExit(5000).ShouldBeTrue("kill did not return");
    }

    [GeneratedRegex(@"Now listening on:?\s*(?<url>http://127\.0\.0\.1:\d+)")]
    private static partial Regex ListeningLine();
}
