using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Tollgate.IntegrationTests.Harness;

namespace Tollgate.IntegrationTests.Replicas;

/// <summary>
/// Two replicas on a PostgreSQL cluster of this class's own (so stopping it disturbs no other test) and
/// Redis database 12. ledger.flush_ms is 200, the default.
/// </summary>
public sealed class DurabilityFixture : IAsyncLifetime
{
    public const int FlushMs = 200;

    internal PrivatePostgres Postgres { get; private set; } = null!;

    internal ReplicaSet Set { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        var redis = Environment.GetEnvironmentVariable("TOLLGATE_TEST_REDIS");
        if (string.IsNullOrWhiteSpace(redis))
        {
            throw new InvalidOperationException("TOLLGATE_TEST_REDIS must be set; run ./test.sh, which starts Redis.");
        }

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(150));
        Postgres = await PrivatePostgres.StartAsync().WaitAsync(timeout.Token);
        var store = await Postgres.CreateDatabaseAsync().WaitAsync(timeout.Token);
        Set = await ReplicaSet.StartAsync(store, redis + ",defaultDatabase=12", count: 2, FlushMs, timeout.Token);
    }

    public async ValueTask DisposeAsync()
    {
        if (Set is not null)
        {
            await Set.DisposeAsync();
        }

        if (Postgres is not null)
        {
            await Postgres.DisposeAsync();
        }
    }
}

public sealed class LedgerDurabilityTests(DurabilityFixture fixture) : IClassFixture<DurabilityFixture>
{
    private ReplicaSet Set => fixture.Set;

    private PrivatePostgres Postgres => fixture.Postgres;

    [Fact]
    public async Task With_postgres_stopped_cached_keys_are_served_and_the_ledger_catches_up_after_restart()
    {
        using var deadline = Deadline.After(90);
        await EnsureRunningAsync(deadline.Token);
        var (id, secret) = await Set.MintKeyAsync(Set[0], new { alias = "outage" }, deadline.Token);
        await WarmUpAsync(secret, deadline.Token);

        await Postgres.StopServerAsync().WaitAsync(TimeSpan.FromSeconds(40), deadline.Token);
        List<ChatAnswer> during;
        JsonElement readiness;
        try
        {
            during = [];
            for (var i = 0; i < 30; i++)
            {
                during.Add(await Set.ChatAsync(Set[i % 2], secret, deadline.Token));
            }

            readiness = await ReadinessAsync(Set[0], deadline.Token);
        }
        finally
        {
            await Postgres.StartServerAsync().WaitAsync(TimeSpan.FromSeconds(40), deadline.Token);
        }

        during.ShouldAllBe(a => a.Status == HttpStatusCode.OK, "serve_cached: the cached key is served while the store is down\n" +
            string.Join("\n", during.Select(a => $"{(int)a.Status} {a.Body}")));
        readiness.GetProperty("store").GetBoolean().ShouldBeFalse($"readiness says the store is unreachable: {readiness}");
        readiness.GetProperty("status").GetString().ShouldBe("degraded");

        var expected = during.Select(a => a.RequestId!).ToHashSet();
        var ids = await Set.WaitForLedgerAsync(id, got => expected.IsSubsetOf(got), TimeSpan.FromSeconds(30), deadline.Token);
        expected.Except(ids).ShouldBeEmpty($"every request made during the outage has its ledger row once PostgreSQL is back\n{Set.Outputs()}");
    }

    [Fact]
    public async Task Sigterm_during_load_leaves_no_served_request_without_its_ledger_row()
    {
        using var deadline = Deadline.After(90);
        await EnsureRunningAsync(deadline.Token);
        var (id, secret) = await Set.MintKeyAsync(Set[0], new { alias = "sigterm" }, deadline.Token);
        await WarmUpAsync(secret, deadline.Token);
        var target = Set[0];

        var (served, stop) = StartLoad(target, secret, workers: 8, deadline.Token);
        await Task.Delay(1500, deadline.Token);
        await target.TerminateAsync(TimeSpan.FromSeconds(40)).WaitAsync(deadline.Token);
        await stop();
        var before = served.Count;
        TestContext.Current.TestOutputHelper?.WriteLine($"SIGTERM: {before} served before exit");
        before.ShouldBeGreaterThan(10, "the load was running when SIGTERM came");

        await target.StartAsync().WaitAsync(TimeSpan.FromSeconds(60), deadline.Token);
        var expected = served.Select(a => a.RequestId!).ToHashSet();
        var ids = await Set.WaitForLedgerAsync(id, got => expected.IsSubsetOf(got), TimeSpan.FromSeconds(20), deadline.Token);
        expected.Except(ids).ShouldBeEmpty($"every 200 the clients got has its ledger row\n{target.Output}");
        target.Output.ShouldContain("Ledger drained", Case.Sensitive, "the graceful shutdown drained the queue before exit");
    }

    [Fact]
    public async Task Kill_9_with_the_store_down_replays_the_spool_and_loses_at_most_the_last_flush_interval()
    {
        using var deadline = Deadline.After(120);
        await EnsureRunningAsync(deadline.Token);
        var (id, secret) = await Set.MintKeyAsync(Set[0], new { alias = "kill9" }, deadline.Token);
        await WarmUpAsync(secret, deadline.Token);
        var target = Set[1];

        // With PostgreSQL down every row can only be in the spool when the process dies.
        await Postgres.StopServerAsync().WaitAsync(TimeSpan.FromSeconds(40), deadline.Token);
        DateTimeOffset killedAt;
        ConcurrentBag<ChatAnswer> served;
        long spooledBeforeKill;
        try
        {
            Func<Task> stop;
            (served, stop) = StartLoad(target, secret, workers: 6, deadline.Token);
            await Task.Delay(2000, deadline.Token);
            spooledBeforeKill = (await ReadinessAsync(target, deadline.Token)).GetProperty("spool_rows").GetInt64();
            await Task.Delay(300, deadline.Token);
            killedAt = DateTimeOffset.UtcNow;
            await target.KillAsync().WaitAsync(deadline.Token);
            await stop();
        }
        finally
        {
            await Postgres.StartServerAsync().WaitAsync(TimeSpan.FromSeconds(40), deadline.Token);
        }

        spooledBeforeKill.ShouldBeGreaterThan(0, "readiness counted spooled rows while the store was down");
        served.Count.ShouldBeGreaterThan(10);

        await target.StartAsync().WaitAsync(TimeSpan.FromSeconds(60), deadline.Token);
        var expected = served.Select(a => a.RequestId!).ToHashSet();
        // Some rows may be lost by design, so wait for the replayed spool to drain rather than for every id.
        var drained = Stopwatch.StartNew();
        while ((await ReadinessAsync(target, deadline.Token)).GetProperty("queue_depth").GetInt32() > 0)
        {
            drained.Elapsed.ShouldBeLessThan(TimeSpan.FromSeconds(20), $"the replayed spool did not drain\n{target.Output}");
            await Task.Delay(100, deadline.Token);
        }

        var ids = await Set.LedgerIdsAsync(id, deadline.Token);
        target.Output.ShouldContain("from an earlier run", Case.Sensitive, "the restarted replica replayed its spool");

        var lost = served.Where(a => !ids.Contains(a.RequestId!)).ToList();
        // Only rows not yet flushed to the spool may be lost: answers from the last flush interval before the
        // kill (plus slack for the clock reading and a busy machine). Everything older must be there.
        var window = TimeSpan.FromMilliseconds(DurabilityFixture.FlushMs + 400);
        lost.Where(a => a.CompletedAt < killedAt - window).ShouldBeEmpty(
            $"rows older than one flush interval before the kill were lost: {lost.Count} lost of {served.Count}\n{target.Output}");
        var lastInterval = served.Count(a => a.CompletedAt >= killedAt - window);
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"kill -9: {served.Count} served, {spooledBeforeKill} spooled at the readiness probe, {lost.Count} lost, {lastInterval} answered in the last {window.TotalMilliseconds} ms");
        lost.Count.ShouldBeLessThanOrEqualTo(lastInterval);
        (ids.Count(expected.Contains) + lost.Count).ShouldBe(expected.Count);
    }

    /// <summary>A replica left stopped by an earlier failed test is started again.</summary>
    private async Task EnsureRunningAsync(CancellationToken cancellationToken)
    {
        foreach (var replica in Set.Replicas.Where(r => !r.Running))
        {
            await replica.StartAsync().WaitAsync(TimeSpan.FromSeconds(60), cancellationToken);
        }
    }

    /// <summary>Both replicas know the key and serve it (the minting replica at once, the other after the fan-out).</summary>
    private async Task WarmUpAsync(string secret, CancellationToken cancellationToken)
    {
        foreach (var replica in Set.Replicas)
        {
            var clock = Stopwatch.StartNew();
            while (true)
            {
                var answer = await Set.ChatAsync(replica, secret, cancellationToken);
                if (answer.Status == HttpStatusCode.OK)
                {
                    break;
                }

                clock.Elapsed.ShouldBeLessThan(TimeSpan.FromSeconds(5), $"replica {replica.Name} never served the new key: {answer.Body}");
                await Task.Delay(50, cancellationToken);
            }
        }
    }

    private async Task<JsonElement> ReadinessAsync(Replica replica, CancellationToken cancellationToken)
    {
        using var response = await Set.Http.GetAsync(new Uri(replica.BaseUrl, "/health/readiness"), cancellationToken);
        var text = await response.Content.ReadAsStringAsync(cancellationToken);
        using var json = JsonDocument.Parse(text);
        return json.RootElement.Clone();
    }

    /// <summary>
    /// <paramref name="workers"/> loops calling <paramref name="replica"/> until stopped or until it stops
    /// answering. Returns the 200 answers (filled as they come) and a function that stops the loops.
    /// </summary>
    private (ConcurrentBag<ChatAnswer> Served, Func<Task> Stop) StartLoad(Replica replica, string secret, int workers, CancellationToken cancellationToken)
    {
        var served = new ConcurrentBag<ChatAnswer>();
        var stopping = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var baseUrl = replica.BaseUrl;
        var loops = Enumerable.Range(0, workers).Select(_ => Task.Run(async () =>
        {
            while (!stopping.IsCancellationRequested)
            {
                try
                {
                    var answer = await Set.ChatAsync(replica, secret, stopping.Token);
                    if (answer.Status == HttpStatusCode.OK)
                    {
                        served.Add(answer);
                    }
                }
                catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException or IOException)
                {
                    // The replica is going away: these calls got no 200.
                    if (replica.BaseUrl != baseUrl || !replica.Running)
                    {
                        return;
                    }

                    await Task.Delay(20, CancellationToken.None);
                }
            }
        }, CancellationToken.None)).ToArray();

        return (served, async () =>
        {
            await stopping.CancelAsync();
            await Task.WhenAll(loops).WaitAsync(TimeSpan.FromSeconds(30), CancellationToken.None);
            stopping.Dispose();
        });
    }
}
