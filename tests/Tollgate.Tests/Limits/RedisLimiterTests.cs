using StackExchange.Redis;
using Tollgate.Configuration;
using Tollgate.Limits;

namespace Tollgate.Tests.Limits;

/// <summary>
/// The limiter contract on a real Redis, with two <see cref="RedisLimiter"/>s on two connections: two replicas, with
/// leases off (every admission a script call), and the batching mechanics. <see cref="RedisLeaseTests"/> runs the
/// contract again with leases on. <c>TOLLGATE_TEST_REDIS</c> (<c>host:port</c>) names the server; this class flushes
/// its database and pauses its clients, so the Redis classes share one collection and never run at once.
/// </summary>
[Collection(RedisCollection.Name)]
public sealed class RedisLimiterTests(RedisFixture redis) : LimiterContractTests, IClassFixture<RedisFixture>
{
    private protected override Task<ILimiter[]> CreateReplicasAsync(LimiterOptions options, SettledSpendLoader loader) =>
        Task.FromResult(redis.Replicas(options with { Leases = false }, loader));

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

    [Fact]
    public async Task A_lone_admission_is_sent_at_once_in_a_call_of_its_own()
    {
        var limiter = (RedisLimiter)await LimiterAsync();
        var key = Key(NewKeyId(), rpm: 5);

        // The clock never moves and no timer fires: the call is made before AdmitAsync even returns.
        var pending = limiter.AdmitAsync(new AdmissionRequest(key, null, 0m, 0), Ct).AsTask();
        limiter.Stats.ShouldBe(new RedisLimiter.BatchStats(1, 1, 0));
        (await pending.WaitAsync(Timeout, Ct)).Admitted.ShouldBeTrue();
        limiter.Stats.ShouldBe(new RedisLimiter.BatchStats(1, 1, 0));
    }

    [Fact]
    public async Task Admissions_queued_behind_a_call_in_flight_go_together_in_the_next()
    {
        var limiter = (RedisLimiter)await LimiterAsync();
        var key = Key(NewKeyId(), rpm: 30);

        List<Task<Admission>> queued;
        Task<Admission> first;
        await using (await PauseRedisAsync())
        {
            first = Admit(limiter, key);
            queued = [.. Enumerable.Range(0, 40).Select(_ => Admit(limiter, key))];
            limiter.Stats.ShouldBe(new RedisLimiter.BatchStats(1, 1, 0));
        }

        (await first).Admitted.ShouldBeTrue();
        var outcomes = await Task.WhenAll(queued).WaitAsync(Timeout, Ct);
        limiter.Stats.ShouldBe(new RedisLimiter.BatchStats(2, 41, 0));

        // One call, evaluated in order: exactly the first 29 of the 40 fit the rpm left.
        outcomes.Take(29).ShouldAllBe(o => o.Admitted);
        outcomes.Skip(29).ShouldAllBe(o => o.Refusal == LimitKind.RateLimitRpm);
        (await Quota(limiter, key)).Rpm.ShouldBe(new CounterView(30, 30));
    }

    [Fact]
    public async Task Settlements_wait_for_the_admission_in_flight_then_ride_along_or_go_on_their_own()
    {
        var limiter = (RedisLimiter)await LimiterAsync();
        var id = NewKeyId();
        var key = Key(id, new BudgetSpec(1.00m, "30d", Anchor: Start));
        var earlier = await Admit(limiter, key, 0.10m);
        var another = await Admit(limiter, key, 0.10m);
        var before = limiter.Stats;

        Task firstSettled, secondSettled;
        Task<Admission> inFlight, queued;
        await using (await PauseRedisAsync())
        {
            inFlight = Admit(limiter, key, 0.10m);
            firstSettled = Settle(limiter, earlier, 0.05m, keyId: id); // waits: the admission lane is busy
            queued = Admit(limiter, key, 0.10m);
            limiter.Stats.ShouldBe(before with { Calls = before.Calls + 1, Admissions = before.Admissions + 1 });
        }

        await Task.WhenAll(inFlight, queued, firstSettled).WaitAsync(Timeout, Ct);

        // The settlement rode along with the queued admission: one call for both.
        limiter.Stats.ShouldBe(new RedisLimiter.BatchStats(before.Calls + 2, before.Admissions + 2, before.Settlements + 1));

        // With no admission about, a settlement goes on its own at once.
        secondSettled = Settle(limiter, another, 0.05m, keyId: id);
        await secondSettled.WaitAsync(Timeout, Ct);
        limiter.Stats.ShouldBe(new RedisLimiter.BatchStats(before.Calls + 3, before.Admissions + 2, before.Settlements + 2));
        var view = await Quota(limiter, key);
        view.Budget!.Spend.ShouldBe(0.10m);
        view.Budget.Held.ShouldBe(0.20m);
    }

    [Fact]
    public async Task A_settlement_left_behind_when_admissions_stop_is_still_sent()
    {
        var limiter = (RedisLimiter)await LimiterAsync();
        var id = NewKeyId();
        var key = Key(id, new BudgetSpec(1.00m, "30d", Anchor: Start));
        var earlier = await Admit(limiter, key, 0.10m);

        Task settled;
        Task<Admission> inFlight;
        await using (await PauseRedisAsync())
        {
            inFlight = Admit(limiter, key, 0.10m);
            settled = Settle(limiter, earlier, 0.05m, keyId: id); // no admission comes after it to ride with
        }

        await Task.WhenAll(inFlight, settled).WaitAsync(Timeout, Ct);
        (await Quota(limiter, key)).Budget!.Spend.ShouldBe(0.05m);
    }

    [Fact]
    public async Task Sixty_four_callers_admitting_and_settling_in_a_loop_all_complete_and_balance_out()
    {
        // Lanes go idle and restart thousands of times here, with callers racing them. (A race of that kind, a lane
        // restarted while the loop going idle still read its buffers, once lost batches under the throughput
        // harness; this test exercises the same paths but cannot promise to hit so narrow a window.)
        var replicas = await ReplicasAsync();
        var id = NewKeyId();
        var key = Key(id, new BudgetSpec(1_000m, "30d", Anchor: Start), rpm: 1_000_000, maxParallel: 64);
        var settled = 0L;

        await Task.WhenAll(Enumerable.Range(0, 64).Select(i => Task.Run(async () =>
        {
            for (var round = 0; round < 150; round++)
            {
                var limiter = replicas[(i + round) % 2];
                var admission = await Admit(limiter, key, 0.01m, tokens: 5);
                admission.Admitted.ShouldBeTrue(admission.Message);
                if (round % 7 == 0)
                {
                    await Task.Yield();
                }

                await Settle(limiter, admission, 0.001m, tokens: 3, keyId: id);
                Interlocked.Increment(ref settled);
            }
        }, Ct))).WaitAsync(Timeout, Ct);

        settled.ShouldBe(64 * 150);
        var view = await Quota(replicas[0], key);
        view.InFlight.ShouldBe(0);
        view.Budget!.Held.ShouldBe(0m);
        view.Budget.Spend.ShouldBe(64 * 150 * 0.001m);
        view.Rpm!.Used.ShouldBe(64 * 150);
        view.TokensToday.ShouldBe(64 * 150 * 3);
    }

    [Fact]
    public async Task Many_concurrent_admissions_on_two_replicas_never_overspend_and_refuse_only_for_budget()
    {
        var replicas = await ReplicasAsync();
        var id = NewKeyId();
        var key = Key(id, new BudgetSpec(2.00m, "30d", Anchor: Start), rpm: 100_000);

        var outcomes = await Task.WhenAll(Enumerable.Range(0, 400).Select(i => Task.Run(async () =>
        {
            var limiter = replicas[i % 2];
            var admission = await Admit(limiter, key, 0.01m);
            if (admission.Admitted && i % 3 == 0)
            {
                await Settle(limiter, admission, 0.01m, keyId: id);
            }

            return admission;
        }, Ct))).WaitAsync(Timeout, Ct);

        // Settled or held, every admission keeps its 0.01 against the budget: exactly 200 fit.
        outcomes.Count(o => o.Admitted).ShouldBe(200);
        outcomes.Where(o => !o.Admitted).ShouldAllBe(o => o.Refusal == LimitKind.BudgetExceeded);
        var view = await Quota(replicas[1], key);
        (view.Budget!.Spend + view.Budget.Held).ShouldBe(2.00m);
        view.Rpm!.Used.ShouldBe(200);
        // Each admission went at least once (the first ones again with the spend seed).
        replicas.Cast<RedisLimiter>().Sum(r => r.Stats.Admissions).ShouldBeGreaterThanOrEqualTo(400);
    }

    [Fact]
    public async Task An_admission_that_needs_a_seed_is_retried_without_holding_up_its_batch()
    {
        var limiter = (RedisLimiter)await LimiterAsync();
        var fresh = NewKeyId();
        Ledger.Record(fresh, null, Start.AddMinutes(-5), 0.70m);
        var seededKey = Key(fresh, new BudgetSpec(1.00m, "30d", Anchor: Start.AddDays(-1)));
        var warm = Key(NewKeyId(), new BudgetSpec(1.00m, "30d", Anchor: Start));
        (await Admit(limiter, warm, 0.10m)).Admitted.ShouldBeTrue(); // warm's spend is in Redis now
        var loads = Ledger.Loads;

        Task<Admission>[] batch;
        await using (await PauseRedisAsync())
        {
            var inFlight = Admit(limiter, warm, 0.10m);
            batch = [Admit(limiter, seededKey, 0.10m), Admit(limiter, warm, 0.10m), Admit(limiter, seededKey, 0.10m), Admit(limiter, warm, 0.10m)];
            batch = [inFlight, .. batch];
        }

        var outcomes = await Task.WhenAll(batch).WaitAsync(Timeout, Ct);
        outcomes.ShouldAllBe(o => o.Admitted);

        // Both admissions of the fresh key asked for the seed; the store's 0.70 is in, once.
        var view = await Quota(limiter, seededKey);
        view.Budget!.Spend.ShouldBe(0.70m);
        view.Budget.Held.ShouldBe(0.20m);
        (await Admit(limiter, seededKey, 0.20m)).Refusal.ShouldBe(LimitKind.BudgetExceeded);
        (await Admit(limiter, seededKey, 0.10m)).Admitted.ShouldBeTrue();
        Ledger.Loads.ShouldBeInRange(loads + 1, loads + 2);
        (await Quota(limiter, warm)).Budget!.Held.ShouldBe(0.40m);
    }

    [Fact]
    public async Task A_cancelled_caller_leaves_the_rest_of_its_batch_alone()
    {
        var limiter = (RedisLimiter)await LimiterAsync();
        var key = Key(NewKeyId(), new BudgetSpec(1.00m, "30d", Anchor: Start), maxParallel: 10);
        using var queuedCaller = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        using var sentCaller = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        await Settle(limiter, await Admit(limiter, key, 0m), 0m); // the spend is in Redis: no seed round in the batch
        var sentBefore = limiter.Stats.Admissions;

        Task<Admission> sent, cancelledWhileQueued;
        Task<Admission>[] others;
        await using (await PauseRedisAsync())
        {
            sent = limiter.AdmitAsync(new AdmissionRequest(key, null, 0.10m, 0), sentCaller.Token).AsTask();
            cancelledWhileQueued = limiter.AdmitAsync(new AdmissionRequest(key, null, 0.10m, 0), queuedCaller.Token).AsTask();
            others = [Admit(limiter, key, 0.10m), Admit(limiter, key, 0.10m)];

            // Both callers give up while Redis is still paused: they hear so at once.
            await queuedCaller.CancelAsync();
            await sentCaller.CancelAsync();
            await Should.ThrowAsync<OperationCanceledException>(cancelledWhileQueued.WaitAsync(Timeout, Ct));
            await Should.ThrowAsync<OperationCanceledException>(sent.WaitAsync(Timeout, Ct));
        }

        (await Task.WhenAll(others).WaitAsync(Timeout, Ct)).ShouldAllBe(o => o.Admitted);

        // The queued one never reached Redis; the sent one was admitted by the script and released for its caller.
        limiter.Stats.Admissions.ShouldBe(sentBefore + 3);
        var view = await EventuallyAsync(() => Quota(limiter, key), v => v.InFlight == 2);
        view.RequestsToday.ShouldBe(1 + 3);
        view.Budget!.Held.ShouldBe(0.20m);
        view.Budget.Spend.ShouldBe(0m);
    }

    [Fact]
    public async Task An_error_from_redis_fails_its_whole_batch_and_the_next_batch_works()
    {
        var prefix = "tgtest-" + Guid.NewGuid().ToString("N")[..8];
        var limiter = new RedisLimiter(redis.First, new LimiterOptions { Time = Clock, RedisPrefix = prefix }, Ledger.Loader, ownsConnection: false);
        var broken = Key(NewKeyId(), maxParallel: 5);
        var healthy = Key(NewKeyId(), maxParallel: 5);
        var db = redis.First.GetDatabase();
        await db.HashSetAsync("{" + prefix + ":k:" + broken.KeyId + "}:flights", "not", "a string").WaitAsync(Timeout, Ct);

        Task<Admission>[] batch;
        Task<Admission> inFlight;
        await using (await PauseRedisAsync())
        {
            inFlight = Admit(limiter, healthy);
            batch = [Admit(limiter, healthy), Admit(limiter, broken), Admit(limiter, healthy)];
        }

        (await inFlight).Admitted.ShouldBeTrue();
        foreach (var admission in batch)
        {
            await Should.ThrowAsync<RedisServerException>(admission);
        }

        // Nothing of the failed batch was recorded, and the limiter carries on.
        (await Admit(limiter, healthy)).Admitted.ShouldBeTrue();
        (await Quota(limiter, healthy)).InFlight.ShouldBe(2);
        await limiter.DisposeAsync().AsTask().WaitAsync(Timeout, Ct);
    }

    [Fact]
    public async Task A_settlement_whose_call_fails_is_sent_again_alone_and_lands()
    {
        var prefix = "tgtest-" + Guid.NewGuid().ToString("N")[..8];
        var limiter = new RedisLimiter(redis.First, new LimiterOptions { Time = Clock, RedisPrefix = prefix }, Ledger.Loader, ownsConnection: false);
        var key = Key(NewKeyId(), new BudgetSpec(1.00m, "30d", Anchor: Start), maxParallel: 5);
        var other = Key(NewKeyId(), maxParallel: 5);
        var broken = Key(NewKeyId(), maxParallel: 5);
        await redis.First.GetDatabase().HashSetAsync("{" + prefix + ":k:" + broken.KeyId + "}:flights", "not", "a string").WaitAsync(Timeout, Ct);
        var admitted = await Admit(limiter, key, 0.30m);

        // The settlement rides in the call after the one in flight, with an admission whose key makes the script fail.
        Task<Admission> inFlight, poisoned;
        Task settled;
        await using (await PauseRedisAsync())
        {
            inFlight = Admit(limiter, other);
            poisoned = Admit(limiter, broken);
            settled = limiter.SettleAsync(admitted, 0.20m, 0, Ct).AsTask();
        }

        (await inFlight).Admitted.ShouldBeTrue();
        await Should.ThrowAsync<RedisServerException>(poisoned);
        await EventuallyAsync(() => Task.FromResult(limiter.PendingSettlementRetries), n => n == 1);

        // Nothing of that call is in Redis: the hold and the slot are still taken, no spend yet.
        settled.IsCompleted.ShouldBeFalse();
        var before = await Quota(limiter, key);
        before.Budget!.Spend.ShouldBe(0m);
        before.Budget.Held.ShouldBe(0.30m);
        before.InFlight.ShouldBe(1);

        // Sent again on its own after the first wait (250 ms): the spend lands, the hold and the slot are freed.
        await settled.WaitAsync(Timeout, Ct);
        var after = await Quota(limiter, key);
        after.Budget!.Spend.ShouldBe(0.20m);
        after.Budget.Held.ShouldBe(0m);
        after.InFlight.ShouldBe(0);
        limiter.Stats.SettlementRetries.ShouldBe(1);
        limiter.Stats.SettlementsAbandoned.ShouldBe(0);
        limiter.PendingSettlementRetries.ShouldBe(0);
        await limiter.DisposeAsync().AsTask().WaitAsync(Timeout, Ct);
    }

    [Fact]
    public async Task A_settlement_whose_reply_was_lost_is_not_counted_twice_when_sent_again()
    {
        // A client that gives up on a reply after 500 ms, while Redis (paused) still has the call and runs it later.
        await using var impatient = await RedisFixture.ConnectAsync(redis.Address, asyncTimeoutMs: 500);
        var prefix = "tgtest-" + Guid.NewGuid().ToString("N")[..8];
        var limiter = new RedisLimiter(impatient, new LimiterOptions { Time = Clock, RedisPrefix = prefix }, Ledger.Loader, ownsConnection: false);
        var key = Key(NewKeyId(), new BudgetSpec(1.00m, "30d", Anchor: Start), maxParallel: 5);
        var admitted = await Admit(limiter, key, 0.30m);

        // Paused for up to 10 s: the client notices its timeout on its heartbeat (about a second), well before.
        Task settled;
        await using (await PauseRedisAsync(10_000))
        {
            settled = limiter.SettleAsync(admitted, 0.20m, 0, Ct).AsTask();
            await EventuallyAsync(() => Task.FromResult(limiter.PendingSettlementRetries), n => n == 1);
        }

        // Unpaused, Redis runs the first call after all: the settlement is in, though the replica never heard so.
        // The retry (250 ms later) finds the first call's mark and changes nothing: spent once, not twice.
        await settled.WaitAsync(Timeout, Ct);
        limiter.Stats.SettlementRetries.ShouldBe(1);
        var after = await Quota(limiter, key);
        after.Budget!.Spend.ShouldBe(0.20m);
        after.Budget.Held.ShouldBe(0m);
        after.InFlight.ShouldBe(0);
        await limiter.DisposeAsync().AsTask().WaitAsync(Timeout, Ct);
    }

    [Fact]
    public async Task A_settlement_that_keeps_failing_is_given_up_with_its_error_once_its_retries_are_used_up()
    {
        var prefix = "tgtest-" + Guid.NewGuid().ToString("N")[..8];
        var backoff = new RetryBackoff(TimeSpan.FromMilliseconds(10), TimeSpan.FromMilliseconds(40), TimeSpan.FromMilliseconds(200));
        var limiter = new RedisLimiter(redis.First, new LimiterOptions { Time = Clock, RedisPrefix = prefix, SettlementRetry = backoff }, Ledger.Loader, ownsConnection: false);
        var key = Key(NewKeyId(), maxParallel: 5);
        var admitted = await Admit(limiter, key);

        // The key's flights become something the script cannot read: every call with this settlement fails.
        var flights = "{" + prefix + ":k:" + key.KeyId + "}:flights";
        var db = redis.First.GetDatabase();
        await db.KeyDeleteAsync(flights).WaitAsync(Timeout, Ct);
        await db.HashSetAsync(flights, "not", "a string").WaitAsync(Timeout, Ct);
        var settled = limiter.SettleAsync(admitted, 0m, 0, Ct).AsTask();

        await Should.ThrowAsync<RedisServerException>(settled.WaitAsync(Timeout, Ct));
        limiter.Stats.SettlementRetries.ShouldBe(backoff.Waits().Count());
        limiter.Stats.SettlementsAbandoned.ShouldBe(1);
        limiter.PendingSettlementRetries.ShouldBe(0);
        await limiter.DisposeAsync().AsTask().WaitAsync(Timeout, Ct);
    }

    [Fact]
    public async Task Rate_windows_stay_a_few_hundred_bytes_however_many_admissions()
    {
        var prefix = "tgtest-" + Guid.NewGuid().ToString("N")[..8];
        var limiter = new RedisLimiter(redis.First, new LimiterOptions { Time = Clock, RedisPrefix = prefix }, Ledger.Loader, ownsConnection: false);
        var key = Key(NewKeyId(), rpm: 1_000_000, tpm: 10_000_000);

        for (var second = 0; second < 200; second++)
        {
            await Task.WhenAll(Enumerable.Range(0, 5).Select(_ => Admit(limiter, key, tokens: 10))).WaitAsync(Timeout, Ct);
            Clock.Advance(TimeSpan.FromSeconds(1));
        }

        // 61 per-second counts, the newest second and the total: a few hundred bytes, whatever the rate.
        var db = redis.First.GetDatabase();
        var rpm = "{" + prefix + ":k:" + key.KeyId + "}:rpms";
        (await db.StringLengthAsync(rpm).WaitAsync(Timeout, Ct)).ShouldBeLessThan(400);
        (await db.StringLengthAsync("{" + prefix + ":k:" + key.KeyId + "}:tpms").WaitAsync(Timeout, Ct)).ShouldBeLessThan(400);
        (await db.KeyTimeToLiveAsync(rpm).WaitAsync(Timeout, Ct)).ShouldNotBeNull().ShouldBeLessThanOrEqualTo(TimeSpan.FromSeconds(62));

        // At t = 200 the window is seconds 140 … 200: 60 seconds of 5 admissions.
        var view = await Quota(limiter, key);
        view.Rpm.ShouldBe(new CounterView(1_000_000, 300));
        view.Tpm.ShouldBe(new CounterView(10_000_000, 3000));
        await limiter.DisposeAsync().AsTask().WaitAsync(Timeout, Ct);
    }

    /// <summary>
    /// Holds Redis's writes, scripts included (CLIENT PAUSE WRITE), until disposed, so that the first call of a
    /// limiter on the first connection stays in flight and what comes meanwhile queues behind it. Paused and
    /// resumed from the second connection (a connection's commands wait behind its paused script); the pause ends
    /// by itself after a few seconds if a test fails first.
    /// </summary>
    private async Task<IAsyncDisposable> PauseRedisAsync(int milliseconds = 3000)
    {
        await redis.Second.GetServers()[0].ExecuteAsync("CLIENT", "PAUSE", milliseconds.ToString(System.Globalization.CultureInfo.InvariantCulture), "WRITE").WaitAsync(Timeout, Ct);
        return new Unpause(redis.Second);
    }

    private sealed class Unpause(IConnectionMultiplexer admin) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync() =>
            await admin.GetServers()[0].ExecuteAsync("CLIENT", "UNPAUSE").WaitAsync(Timeout);
    }
}

/// <summary>The test classes that use the shared Redis: one at a time.</summary>
[CollectionDefinition(Name)]
public sealed class RedisCollection
{
    public const string Name = "redis";
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

    /// <summary>Two replicas, one on each connection, sharing a fresh key prefix.</summary>
    internal ILimiter[] Replicas(LimiterOptions options, SettledSpendLoader loader)
    {
        var shared = options with { RedisPrefix = "tgtest-" + Guid.NewGuid().ToString("N")[..8] };
        return
        [
            new RedisLimiter(First, shared, loader, ownsConnection: false),
            new RedisLimiter(Second, shared, loader, ownsConnection: false),
        ];
    }

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

    /// <summary>A connection of its own; <paramref name="asyncTimeoutMs"/> sets how long it waits for a reply.</summary>
    internal static async Task<IConnectionMultiplexer> ConnectAsync(string address, int? asyncTimeoutMs = null)
    {
        var options = RedisConnection.Parse(address);
        options.AllowAdmin = true; // FLUSHDB and SCRIPT FLUSH in tests
        options.AbortOnConnectFail = true;
        if (asyncTimeoutMs is { } ms)
        {
            options.AsyncTimeout = ms;
        }

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
