using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Tollgate.Configuration;

namespace Tollgate.Tests.Configuration;

public sealed class ConfigMonitorTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(5);

    private const string Good = """
        server: { admin: false }
        providers:
          local: { kind: openai, base_url: http://127.0.0.1:4010/v1, auth: { type: none } }
        models:
          gpt-4o-mini:
            deployments: [ { provider: local, model: gpt-4o-mini } ]
        """;

    private const string GoodEdited = """
        server: { admin: false }
        providers:
          local: { kind: openai, base_url: http://127.0.0.1:4010/v1, auth: { type: none } }
        models:
          gpt-4o-mini:
            deployments: [ { provider: local, model: gpt-4o-mini } ]
          text-embedding-3-small:
            deployments: [ { provider: local, model: text-embedding-3-small } ]
        """;

    private const string Bad = """
        server: { admin: false }
        providers:
          local: { kind: openai, base_ulr: http://127.0.0.1:4010/v1, auth: { type: none } }
        models:
          gpt-4o-mini:
            deployments: [ { provider: local, model: gpt-4o-mini } ]
        """;

    private readonly DirectoryInfo _folder = Directory.CreateTempSubdirectory("tollgate-monitor-");
    private readonly RecordingLogger _logger = new();

    private string ConfigPath => Path.Combine(_folder.FullName, "tollgate.yaml");

    public void Dispose() => _folder.Delete(recursive: true);

    private ConfigMonitor Start()
    {
        File.WriteAllText(ConfigPath, Good);
        return new ConfigMonitor(ConfigLoader.Load(ConfigPath), _logger);
    }

    private static async Task<bool> Eventually(Func<bool> condition)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < Timeout)
        {
            if (condition())
            {
                return true;
            }

            await Task.Delay(50, TestContext.Current.CancellationToken);
        }

        return condition();
    }

    [Fact]
    public async Task Good_edit_to_the_file_is_picked_up_and_raises_Changed()
    {
        using var monitor = Start();
        var changed = new TaskCompletionSource<TollgateConfig>(TaskCreationOptions.RunContinuationsAsynchronously);
        monitor.Changed += c => changed.TrySetResult(c);

        await File.WriteAllTextAsync(ConfigPath, GoodEdited, TestContext.Current.CancellationToken);

        (await Eventually(() => monitor.Current.Models.ContainsKey("text-embedding-3-small"))).ShouldBeTrue();
        var raised = await changed.Task.WaitAsync(Timeout, TestContext.Current.CancellationToken);
        raised.ShouldBeSameAs(monitor.Current);
    }

    [Fact]
    public async Task Edit_that_replaces_the_file_by_rename_is_picked_up()
    {
        using var monitor = Start();

        // What vim, VS Code and atomic writers do: write elsewhere, then rename over the original.
        var temp = Path.Combine(_folder.FullName, ".tollgate.yaml.tmp");
        await File.WriteAllTextAsync(temp, GoodEdited, TestContext.Current.CancellationToken);
        File.Move(temp, ConfigPath, overwrite: true);

        (await Eventually(() => monitor.Current.Models.ContainsKey("text-embedding-3-small"))).ShouldBeTrue();
    }

    [Fact]
    public async Task Bad_edit_keeps_the_old_config_logs_why_and_TryReload_reports_the_errors()
    {
        using var monitor = Start();
        var before = monitor.Current;

        await File.WriteAllTextAsync(ConfigPath, Bad, TestContext.Current.CancellationToken);

        // The watcher's attempt is refused and logged (event 1001) with the path and line of the problem.
        (await Eventually(() => _logger.Entries.Any(e => e.EventId == 1001))).ShouldBeTrue();
        var logged = _logger.Entries.First(e => e.EventId == 1001);
        logged.Level.ShouldBe(LogLevel.Error);
        logged.Message.ShouldContain("tollgate.yaml:3: providers.local.base_ulr: unknown key 'base_ulr'; did you mean 'base_url'?");
        monitor.Current.ShouldBeSameAs(before);

        var result = monitor.TryReload();

        result.Success.ShouldBeFalse();
        result.Config.ShouldBeSameAs(before);
        var error = result.Errors.ShouldHaveSingleItem();
        error.Path.ShouldBe("providers.local.base_ulr");
        error.Line.ShouldBe(3);
        monitor.Current.ShouldBeSameAs(before);
    }

    [Fact]
    public async Task TryReload_swaps_in_a_good_file_and_returns_its_warnings()
    {
        using var monitor = Start();
        var raised = 0;
        monitor.Changed += _ => Interlocked.Increment(ref raised);
        await File.WriteAllTextAsync(ConfigPath, GoodEdited + "\ntiers: { free: { models: [nope] } }\n", TestContext.Current.CancellationToken);

        var result = monitor.TryReload();

        result.Success.ShouldBeTrue();
        result.Errors.ShouldBeEmpty();
        result.Config.ShouldBeSameAs(monitor.Current);
        monitor.Current.Models.Count.ShouldBe(2);
        result.Warnings.ShouldHaveSingleItem().ShouldContain("tiers.free.models[0]");
        raised.ShouldBeGreaterThanOrEqualTo(1);
    }

    [Fact]
    public void A_throwing_subscriber_does_not_stop_the_others()
    {
        using var monitor = Start();
        TollgateConfig? seen = null;
        monitor.Changed += _ => throw new InvalidOperationException("subscriber bug");
        monitor.Changed += c => seen = c;
        File.WriteAllText(ConfigPath, GoodEdited);

        monitor.TryReload().Success.ShouldBeTrue();

        seen.ShouldBeSameAs(monitor.Current);
        _logger.Entries.ShouldContain(e => e.EventId == 1005);
    }

    [Fact]
    public void Deleted_file_keeps_the_old_config_and_TryReload_says_why()
    {
        using var monitor = Start();
        var before = monitor.Current;
        File.Delete(ConfigPath);

        var result = monitor.TryReload();

        result.Success.ShouldBeFalse();
        result.Errors.ShouldHaveSingleItem().Message.ShouldContain("does not exist");
        monitor.Current.ShouldBeSameAs(before);
    }

    [Fact]
    public void Config_not_loaded_from_a_file_cannot_be_reloaded()
    {
        var config = ConfigLoader.Parse(Good, ConfigPath) with { SourcePath = null };
        using var monitor = new ConfigMonitor(config, _logger);

        monitor.TryReload().Success.ShouldBeFalse();
        monitor.Current.ShouldBeSameAs(config);
    }

    private sealed class RecordingLogger : ILogger<ConfigMonitor>
    {
        public ConcurrentQueue<(int EventId, LogLevel Level, string Message)> Entries { get; } = new();

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Entries.Enqueue((eventId.Id, logLevel, formatter(state, exception)));
    }
}
