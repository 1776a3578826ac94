using StackExchange.Redis;
using Tollgate.Configuration;
using Tollgate.Limits;

namespace Tollgate.Tests.Limits;

/// <summary>
/// The limiter contract on a real Redis, with two <see cref="RedisLimiter"/>s on two connections: two replicas.
/// <c>TOLLGATE_TEST_REDIS</c> (<c>host:port</c>) names the server; this class flushes its database.
/// </summary>
public sealed class RedisLimiterTests(RedisFixture redis) : LimiterContractTests, IClassFixture<RedisFixture>
{
    private protected override Task<ILimiter[]> CreateReplicasAsync(LimiterOptions options, SettledSpendLoader loader)
    {
        var prefix = "tgtest-" + Guid.NewGuid().ToString("N")[..8];
        return Task.FromResult<ILimiter[]>(
        [
            new RedisLimiter(redis.First, options with { RedisPrefix = prefix }, loader, ownsConnection: false),
            new RedisLimiter(redis.Second, options with { RedisPrefix = prefix }, loader, ownsConnection: false),
        ]);
    }

    [Fact]
    public async Task A_flushed_redis_rebuilds_spend_from_the_store()
    {
        var replicas = await ReplicasAsync();
        var id = NewKeyId();
        var key = Key(id, new BudgetSpec(1.00m, "30d", Anchor: Start));

        for (var i = 0; i < 2; i++)
        {
            var admission = await Admit(replicas[i], key, 0.30m);
            admission.Admitted.ShouldBeTrue();
            await Settle(replicas[i], admission, 0.30m, keyId: id);
        }

        var loadsBefore = Ledger.Loads;
        await redis.First.GetServers()[0].FlushDatabaseAsync().WaitAsync(Timeout, Ct);

        // Settled 0.60 comes back from the ledger: a 0.50 hold no longer fits, a 0.40 one does.
        var refused = await Admit(replicas[1], key, 0.50m);
        refused.Refusal.ShouldBe(LimitKind.BudgetExceeded);
        Ledger.Loads.ShouldBe(loadsBefore + 1);
        (await Admit(replicas[0], key, 0.40m)).Admitted.ShouldBeTrue();
        Ledger.Loads.ShouldBe(loadsBefore + 1);

        var view = await Quota(replicas[1], key);
        view.Budget!.Spend.ShouldBe(0.60m);
        view.Budget.Held.ShouldBe(0.40m);
    }

    [Fact]
    public async Task Scripts_survive_a_script_cache_flush()
    {
        var limiter = await LimiterAsync();
        var key = Key(NewKeyId(), rpm: 5);
        (await Admit(limiter, key)).Admitted.ShouldBeTrue();

        await redis.First.GetServers()[0].ScriptFlushAsync().WaitAsync(Timeout, Ct);

        (await Admit(limiter, key)).Admitted.ShouldBeTrue();
        (await Quota(limiter, key)).Rpm.ShouldBe(new CounterView(5, 2));
    }

    [Fact]
    public async Task Factory_connects_to_a_configured_redis()
    {
        var config = new RedisConfig();
        var limiter = await LimiterFactory.CreateAsync(config, redis.Address, new LimiterOptions { Time = Clock, RedisPrefix = "tgtest-" + Guid.NewGuid().ToString("N")[..8] }, Ledger.Loader, Ct)
            .WaitAsync(Timeout, Ct);
        try
        {
            limiter.ShouldBeOfType<RedisLimiter>();
            (await Admit(limiter, Key(NewKeyId(), rpm: 1))).Admitted.ShouldBeTrue();
        }
        finally
        {
            await limiter.DisposeAsync().AsTask().WaitAsync(Timeout, Ct);
        }
    }
}

public sealed class RedisFixture : IAsyncLifetime
{
    internal const string EnvironmentVariable = "TOLLGATE_TEST_REDIS";
    internal const string Missing = "TOLLGATE_TEST_REDIS is not set (host:port of a real redis-server); run the README test command, which starts Redis";
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    internal string Address { get; private set; } = "";

    /// <summary>Two connections: two replicas.</summary>
    internal IConnectionMultiplexer First { get; private set; } = null!;

    internal IConnectionMultiplexer Second { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        var address = Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (string.IsNullOrWhiteSpace(address))
        {
            // Fail, never skip: a green run must mean the Redis limiter was tested.
            throw new InvalidOperationException(Missing);
        }

        Address = address;
        First = await ConnectAsync(address);
        Second = await ConnectAsync(address);
    }

    public async ValueTask DisposeAsync()
    {
        if (First is not null)
        {
            await First.DisposeAsync().AsTask().WaitAsync(Timeout);
        }

        if (Second is not null)
        {
            await Second.DisposeAsync().AsTask().WaitAsync(Timeout);
        }
    }

    private static async Task<IConnectionMultiplexer> ConnectAsync(string address)
    {
        var options = RedisConnection.Parse(address);
        options.AllowAdmin = true; // FLUSHDB and SCRIPT FLUSH in tests
        options.AbortOnConnectFail = true;
        try
        {
            return await ConnectionMultiplexer.ConnectAsync(options).WaitAsync(Timeout);
        }
        catch (RedisConnectionException e)
        {
            throw new InvalidOperationException($"{EnvironmentVariable}={address}: cannot connect to Redis: {e.Message}", e);
        }
    }
}
