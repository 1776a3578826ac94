using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Npgsql;
using Tollgate.IntegrationTests.Harness;

namespace Tollgate.IntegrationTests.Replicas;

/// <summary>
/// Two replicas on one PostgreSQL database (fresh, on the suite's cluster) and one Redis database
/// (number 11, this class's own): budgets, rate limits and revocation hold across them.
/// </summary>
public sealed class TwoReplicasFixture : IAsyncLifetime
{
    internal ReplicaSet Set { get; private set; } = null!;

    private string? _database;
    private string? _admin;

    public async ValueTask InitializeAsync()
    {
        _admin = Environment.GetEnvironmentVariable("TOLLGATE_TEST_PG");
        var redis = Environment.GetEnvironmentVariable("TOLLGATE_TEST_REDIS");
        if (string.IsNullOrWhiteSpace(_admin) || string.IsNullOrWhiteSpace(redis))
        {
            throw new InvalidOperationException("TOLLGATE_TEST_PG and TOLLGATE_TEST_REDIS must be set; run ./test.sh, which starts PostgreSQL and Redis.");
        }

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        _database = "tg_replicas_" + Guid.NewGuid().ToString("N")[..12];
        await using (var connection = new NpgsqlConnection(_admin))
        {
            await connection.OpenAsync(timeout.Token);
            await using var create = new NpgsqlCommand($"CREATE DATABASE {_database}", connection);
            await create.ExecuteNonQueryAsync(timeout.Token);
        }

        var store = new NpgsqlConnectionStringBuilder(_admin) { Database = _database }.ConnectionString;
        Set = await ReplicaSet.StartAsync(store, redis + ",defaultDatabase=11", count: 2, flushMs: 100, timeout.Token);
    }

    public async ValueTask DisposeAsync()
    {
        if (Set is not null)
        {
            await Set.DisposeAsync();
        }

        if (_database is not null && _admin is not null)
        {
            try
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                await using var connection = new NpgsqlConnection(_admin);
                await connection.OpenAsync(timeout.Token);
                await using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS {_database} WITH (FORCE)", connection);
                await drop.ExecuteNonQueryAsync(timeout.Token);
            }
            catch (NpgsqlException)
            {
            }
        }
    }
}

public sealed class ReplicaLimitTests(TwoReplicasFixture fixture) : IClassFixture<TwoReplicasFixture>
{
    private ReplicaSet Set => fixture.Set;

    [Fact]
    public async Task Forty_concurrent_requests_over_two_replicas_never_overspend_a_small_budget()
    {
        using var deadline = Deadline.After(60);
        const decimal budget = 0.25m;
        var (id, secret) = await Set.MintKeyAsync(Set[0], new { alias = "budget-race", max_budget = budget, budget_period = "30d" }, deadline.Token);

        var answers = await Task.WhenAll(Enumerable.Range(0, 40).Select(i => Set.ChatAsync(Set[i % 2], secret, deadline.Token)));

        var served = answers.Count(a => a.Status == HttpStatusCode.OK);
        var refused = answers.Where(a => a.Status != HttpStatusCode.OK).ToList();
        foreach (var refusal in refused)
        {
            refusal.Status.ShouldBe(HttpStatusCode.TooManyRequests, refusal.Body);
            refusal.ErrorType.ShouldBe("budget_exceeded", refusal.Body);
        }

        served.ShouldBeGreaterThan(0, "some requests fit in the budget");
        refused.ShouldNotBeEmpty("40 calls at 0.03 each cannot all fit in 0.25");

        // Every request (served or refused) has its ledger row; then spend is the sum of the served rows.
        var ledgerRows = await WaitForRowsAsync(id, 40, deadline.Token);
        var costs = ledgerRows.Select(r => r.GetProperty("cost").GetDecimal()).ToList();
        var sum = costs.Sum();
        sum.ShouldBeLessThanOrEqualTo(budget, $"settled spend {sum} over budget {budget}");
        sum.ShouldBe(served * 0.03m, "each served call costs 10 + 20 tokens at 1000 USD/M");

        var key = await Set.AdminGetAsync(Set[1], $"/admin/keys/{id}", deadline.Token);
        key.GetProperty("spend").GetDecimal().ShouldBe(sum, $"the key's spend equals the sum of its ledger rows: {key}");
    }

    [Fact]
    public async Task A_key_far_from_its_limits_is_served_from_leases_and_its_quota_settles_to_the_ledger_within_seconds()
    {
        // rpm and a budget far above what 60 calls use: both replicas admit from leases (the default), not a Redis
        // call each. Nothing is refused; once the leases' second is over, Redis holds exactly what the ledger has, and
        // both replicas' GET /quota say so (spend from Redis, not the ledger: GET /admin/keys/{id} sums the ledger).
        using var deadline = Deadline.After(60);
        var (id, secret) = await Set.MintKeyAsync(Set[0], new { alias = "far-from-limits", rpm = 100_000, max_budget = 1000, budget_period = "30d" }, deadline.Token);
        (await EventuallyAsync(() => Set.ChatAsync(Set[1], secret, deadline.Token), a => a.Status == HttpStatusCode.OK, TimeSpan.FromSeconds(3)))
            .Status.ShouldBe(HttpStatusCode.OK);

        var answers = await Task.WhenAll(Enumerable.Range(0, 60).Select(i => Set.ChatAsync(Set[i % 2], secret, deadline.Token)));
        answers.ShouldAllBe(a => a.Status == HttpStatusCode.OK);

        var rows = await WaitForRowsAsync(id, 61, deadline.Token);
        var sum = rows.Sum(r => r.GetProperty("cost").GetDecimal());
        sum.ShouldBe(61 * 0.03m);
        foreach (var replica in new[] { Set[0], Set[1] })
        {
            var clock = Stopwatch.StartNew();
            JsonElement quota;
            do
            {
                quota = await Set.QuotaAsync(replica, secret, deadline.Token);
                if (quota.GetProperty("spend").GetDecimal() == sum && quota.GetProperty("held").GetDecimal() == 0m)
                {
                    break;
                }

                await Task.Delay(50, deadline.Token);
            }
            while (clock.Elapsed < TimeSpan.FromSeconds(5));

            quota.GetProperty("spend").GetDecimal().ShouldBe(sum, $"spend in Redis reaches the ledger's within seconds on {replica.Name}: {quota}");
            quota.GetProperty("held").GetDecimal().ShouldBe(0m, quota.ToString());
            quota.GetProperty("rpm").GetProperty("used").GetInt64().ShouldBe(61, quota.ToString());
            quota.GetProperty("requests_today").GetInt64().ShouldBe(61, quota.ToString());
        }

        // And the leases did the admitting: on both replicas, most of the 61 without a Redis call each.
        var fromLeases = new List<double>();
        foreach (var replica in new[] { Set[0], Set[1] })
        {
            fromLeases.Add(await Set.MetricAsync(replica, "gateway_limiter_lease_admissions_total", deadline.Token));
        }

        fromLeases.ShouldAllBe(n => n > 0);
        fromLeases.Sum().ShouldBeGreaterThan(30);

        // Redis answered every call: no settlement had to be sent again, none was given up.
        foreach (var replica in new[] { Set[0], Set[1] })
        {
            (await Set.MetricAsync(replica, "gateway_limiter_settlement_retries_total", deadline.Token)).ShouldBe(0);
            (await Set.MetricAsync(replica, "gateway_limiter_settlements_abandoned_total", deadline.Token)).ShouldBe(0);
        }
    }

    [Fact]
    public async Task Rpm_10_lets_exactly_10_of_20_requests_through_alternating_replicas()
    {
        using var deadline = Deadline.After(60);
        var (_, secret) = await Set.MintKeyAsync(Set[1], new { alias = "rpm-ten", rpm = 10 }, deadline.Token);

        var answers = new List<ChatAnswer>();
        for (var i = 0; i < 20; i++)
        {
            answers.Add(await Set.ChatAsync(Set[i % 2], secret, deadline.Token));
        }

        answers.Count(a => a.Status == HttpStatusCode.OK).ShouldBe(10, string.Join("\n", answers.Select(a => $"{(int)a.Status} {a.Body}")));
        answers.Take(10).ShouldAllBe(a => a.Status == HttpStatusCode.OK);
        foreach (var refusal in answers.Skip(10))
        {
            refusal.Status.ShouldBe(HttpStatusCode.TooManyRequests, refusal.Body);
            refusal.Body.ShouldContain("rpm");
        }
    }

    [Fact]
    public async Task A_key_revoked_on_one_replica_is_refused_by_the_other_within_a_second()
    {
        using var deadline = Deadline.After(60);
        var (id, secret) = await Set.MintKeyAsync(Set[0], new { alias = "revoke-me" }, deadline.Token);

        // The other replica learns of the new key through the fan-out too.
        (await EventuallyAsync(() => Set.ChatAsync(Set[1], secret, deadline.Token), a => a.Status == HttpStatusCode.OK, TimeSpan.FromSeconds(1)))
            .Status.ShouldBe(HttpStatusCode.OK, "a key minted on replica a works on replica b within a second");

        await Set.RevokeKeyAsync(Set[0], id, deadline.Token);
        var revokedAt = Stopwatch.StartNew();
        var answer = await EventuallyAsync(() => Set.ChatAsync(Set[1], secret, deadline.Token), a => a.Status == HttpStatusCode.Unauthorized, TimeSpan.FromSeconds(3));
        var took = revokedAt.Elapsed;

        answer.Status.ShouldBe(HttpStatusCode.Unauthorized, answer.Body);
        took.ShouldBeLessThan(TimeSpan.FromSeconds(1), "revocation reaches the other replica within a second");
        (await Set.ChatAsync(Set[0], secret, deadline.Token)).Status.ShouldBe(HttpStatusCode.Unauthorized);
    }

    private async Task<List<JsonElement>> WaitForRowsAsync(string keyId, int count, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var page = await Set.AdminGetAsync(Set[0], $"/admin/requests?key={Uri.EscapeDataString(keyId)}&limit=1000", cancellationToken);
            var rows = page.EnumerateArray().ToList();
            if (rows.Count >= count)
            {
                return rows;
            }

            if (clock.Elapsed > TimeSpan.FromSeconds(15))
            {
                throw new ShouldAssertException($"only {rows.Count} of {count} ledger rows for {keyId} after 15 s: {page}");
            }

            await Task.Delay(100, cancellationToken);
        }
    }

    private static async Task<ChatAnswer> EventuallyAsync(Func<Task<ChatAnswer>> call, Func<ChatAnswer, bool> done, TimeSpan within)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var answer = await call();
            if (done(answer) || clock.Elapsed > within)
            {
                return answer;
            }

            await Task.Delay(20);
        }
    }
}
