using Tollgate.Configuration;
using Tollgate.Limits;
using Tollgate.Storage;

namespace Tollgate.Tests.Limits;

public sealed class LimitTypesTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public void Soft_limit_is_a_fraction_up_to_one_and_an_amount_above()
    {
        new BudgetSpec(20m, SoftLimit: 0.8m).SoftThreshold.ShouldBe(16m);
        new BudgetSpec(20m, SoftLimit: 15m).SoftThreshold.ShouldBe(15m);
        new BudgetSpec(20m).SoftThreshold.ShouldBeNull();
    }

    [Fact]
    public void Key_limits_come_from_the_key_record_with_windows_anchored_at_creation()
    {
        var created = new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero);
        var record = new VirtualKeyRecord
        {
            Id = "k1", Workspace = "acme", CreatedAt = created, SecretHash = new byte[32],
            MaxBudget = 50m, BudgetPeriod = "7d", SoftLimit = 0.9m, Rpm = 60, Tpm = 1000, MaxParallel = 4,
        };

        KeyLimits.From(record).ShouldBe(new KeyLimits("k1", "acme", new BudgetSpec(50m, "7d", 0.9m, created), 60, 1000, 4));
        KeyLimits.From(record with { MaxBudget = null }).Budget.ShouldBeNull();
    }

    [Fact]
    public void Every_limit_kind_has_its_wire_name()
    {
        Enum.GetValues<LimitKind>().Select(k => k.WireName()).ShouldBe(
        [
            "budget_exceeded", "rate_limit_rpm", "rate_limit_tpm", "max_parallel",
            "daily_request_quota", "daily_token_quota", "workspace_budget_exceeded",
        ]);
    }

    [Fact]
    public void Nanos_round_budgets_down_holds_up_and_costs_to_nearest()
    {
        Nanos.Floor(0.0000000019m).ShouldBe(1);
        Nanos.Ceiling(0.0000000011m).ShouldBe(2);
        Nanos.Round(0.0000000015m).ShouldBe(2);
        Nanos.ToMoney(1_500_000_000).ShouldBe(1.5m);
        Nanos.Floor(1e12m).ShouldBe(9_000_000_000_000_000);
    }

    [Fact]
    public void Redis_connection_takes_host_port_and_uris()
    {
        var plain = RedisConnection.Parse("127.0.0.1:6390");
        plain.EndPoints.Single().ToString().ShouldBe("127.0.0.1:6390");
        plain.AbortOnConnectFail.ShouldBeFalse();

        var uri = RedisConnection.Parse("rediss://app:s%40cret@redis.internal:6380/2");
        uri.Ssl.ShouldBeTrue();
        uri.User.ShouldBe("app");
        uri.Password.ShouldBe("s@cret");
        uri.DefaultDatabase.ShouldBe(2);
        uri.EndPoints.Single().ToString().ShouldBe("Unspecified/redis.internal:6380");

        var bare = RedisConnection.Parse("redis://:pw@localhost");
        bare.Password.ShouldBe("pw");
        bare.User.ShouldBeNull();
        bare.EndPoints.Single().ToString().ShouldBe("Unspecified/localhost:6379");
    }

    [Fact]
    public async Task Factory_uses_memory_without_redis_and_refuses_an_unresolved_redis()
    {
        var options = new LimiterOptions();
        SettledSpendLoader loader = (_, _, _, _, _) => Task.FromResult(0m);
        var timeout = TimeSpan.FromSeconds(30);

        var limiter = await LimiterFactory.CreateAsync(null, null, options, loader, Ct).WaitAsync(timeout, Ct);
        limiter.ShouldBeOfType<InMemoryLimiter>();
        await limiter.DisposeAsync().AsTask().WaitAsync(timeout, Ct);

        var error = await Should.ThrowAsync<InvalidOperationException>(
            LimiterFactory.CreateAsync(new RedisConfig(), " ", options, loader, Ct).WaitAsync(timeout, Ct));
        error.Message.ShouldContain("redis.connection");
    }

    [Fact]
    public void Settlement_retries_double_their_wait_up_to_five_seconds_for_a_minute()
    {
        var waits = RetryBackoff.Settlements.Waits().Select(w => w.TotalMilliseconds).ToArray();
        waits[..6].ShouldBe([250, 500, 1000, 2000, 4000, 5000]);
        waits[6..].ShouldAllBe(w => w == 5000);
        waits.Sum().ShouldBeGreaterThanOrEqualTo(60_000);
        (waits.Sum() - waits[^1]).ShouldBeLessThan(60_000);
    }
}
