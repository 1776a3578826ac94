using Tollgate.Limits;

namespace Tollgate.Tests.Limits;

/// <summary>
/// The limiter contract again on a real Redis with leases on (the default), and what leases themselves promise: a
/// key far from its limits costs Redis one call per lease instead of per request, nothing is overspent or over-counted,
/// what a replica's leases hold is corrected in its own views, and a lease's unused part is back in Redis as soon as
/// its second is over (the sweep runs on a real 100 ms timer against the test's hand-moved clock).
/// </summary>
[Collection(RedisCollection.Name)]
public sealed class RedisLeaseTests(RedisFixture redis) : LimiterContractTests, IClassFixture<RedisFixture>
{
    private protected override Task<ILimiter[]> CreateReplicasAsync(LimiterOptions options, SettledSpendLoader loader) =>
        Task.FromResult(redis.Replicas(options with { Leases = true }, loader));

    [Fact]
    public async Task A_key_far_from_its_limits_is_admitted_from_leases_with_one_redis_call_per_lease()
    {
        var replicas = await ReplicasAsync();
        var limiter = (RedisLimiter)replicas[0];
        var id = NewKeyId();
        var key = Key(id, new BudgetSpec(1_000m, "30d", Anchor: Start), rpm: 100_000);

        await HundredFromLeasesAsync(limiter, key, hold: 0.01m, cost: 0.004m, tokens: 7, keyId: id);
        limiter.Stats.Calls.ShouldBeLessThan(20);

        // This replica's view is exact while its lease is open: Redis holds the lease, the view what its requests did.
        var own = await Quota(limiter, key);
        own.Rpm.ShouldBe(new CounterView(100_000, 100));
        own.RequestsToday.ShouldBe(100);
        own.TokensToday.ShouldBe(700);
        own.InFlight.ShouldBe(0);
        own.Budget!.Spend.ShouldBe(0.4m);
        own.Budget.Held.ShouldBe(0m);

        // Once the second is over the sweep closes the lease, and the other replica sees the same.
        Clock.Advance(TimeSpan.FromSeconds(1));
        var other = await EventuallyAsync(() => Quota(replicas[1], key), v => v.Budget!.Held == 0m && v.Budget.Spend == 0.4m);
        other.Rpm.ShouldBe(new CounterView(100_000, 100));
        other.RequestsToday.ShouldBe(100);
        other.TokensToday.ShouldBe(700);
        other.InFlight.ShouldBe(0);
    }

    [Fact]
    public async Task A_key_with_rpm_and_no_budget_is_not_held_back_by_what_its_requests_cost()
    {
        var replicas = await ReplicasAsync();
        var limiter = (RedisLimiter)replicas[0];
        var key = Key(NewKeyId(), rpm: 100_000);

        // No budget: the hold estimate is 0, the actual cost is not, and neither limits a lease.
        await HundredFromLeasesAsync(limiter, key, hold: 0m, cost: 0.01m, tokens: 3, keyId: null);
        (await Quota(replicas[0], key)).Rpm.ShouldBe(new CounterView(100_000, 100));
    }

    [Fact]
    public async Task Near_a_limit_there_is_no_lease_and_every_admission_is_exact()
    {
        var replicas = await ReplicasAsync();
        var rpmKey = Key(NewKeyId(), rpm: 50); // a lease of 8 needs 8 × 8 = 64 free
        var budgetKey = Key(NewKeyId(), new BudgetSpec(0.50m, "30d", Anchor: Start)); // 8 × 8 × 0.01 = 0.64 > 0.50

        var rpmOutcomes = await Task.WhenAll(Enumerable.Range(0, 80).Select(i => Admit(replicas[i % 2], rpmKey))).WaitAsync(Timeout, Ct);
        var budgetOutcomes = await Task.WhenAll(Enumerable.Range(0, 80).Select(i => Admit(replicas[i % 2], budgetKey, 0.01m))).WaitAsync(Timeout, Ct);

        rpmOutcomes.Count(o => o.Admitted).ShouldBe(50);
        budgetOutcomes.Count(o => o.Admitted).ShouldBe(50);
        replicas.Cast<RedisLimiter>().Sum(r => r.LeaseStats.Granted).ShouldBe(0);
    }

    [Fact]
    public async Task Leases_never_overspend_or_overcount_and_the_books_balance_after_they_close()
    {
        var replicas = await ReplicasAsync();
        var id = NewKeyId();
        // 3000 requests of hold 0.01 against a budget of 20 and an rpm of 2500: leases while far away, one by one near.
        var key = Key(id, new BudgetSpec(20m, "30d", Anchor: Start), rpm: 2_500);
        var spent = 0L; // thousandths

        var outcomes = await Task.WhenAll(Enumerable.Range(0, 3000).Select(i => Task.Run(async () =>
        {
            var limiter = replicas[i % 2];
            var admission = await Admit(limiter, key, 0.01m);
            if (admission.Admitted)
            {
                var cost = (i % 10 + 1) / 1000m; // 0.001 … 0.010, never above the hold
                await Settle(limiter, admission, cost, tokens: 1, keyId: id);
                Interlocked.Add(ref spent, (long)(cost * 1000));
            }

            return admission;
        }, Ct))).WaitAsync(Timeout, Ct);

        var admitted = outcomes.Count(o => o.Admitted);
        replicas.Cast<RedisLimiter>().Sum(r => r.LeaseStats.Granted).ShouldBeGreaterThan(0);
        admitted.ShouldBeLessThanOrEqualTo(2_500);
        outcomes.Where(o => !o.Admitted).ShouldAllBe(o => o.Refusal == LimitKind.RateLimitRpm || o.Refusal == LimitKind.BudgetExceeded);

        // Leases close when their second is over: then Redis alone has the exact books.
        Clock.Advance(TimeSpan.FromSeconds(1));
        var view = await EventuallyAsync(() => Quota(replicas[1], key), v => v.Budget!.Held == 0m && v.Budget.Spend == spent / 1000m);
        view.Budget!.Spend.ShouldBeLessThanOrEqualTo(20m);
        view.Rpm.ShouldBe(new CounterView(2_500, admitted));
        view.RequestsToday.ShouldBe(admitted);
        view.TokensToday.ShouldBe(admitted);
    }

    [Fact]
    public async Task A_lease_whose_second_is_over_shrinks_to_its_requests_in_flight_at_once()
    {
        var replicas = await ReplicasAsync();
        var limiter = (RedisLimiter)replicas[0];
        var id = NewKeyId();
        var key = Key(id, new BudgetSpec(100m, "30d", Anchor: Start), rpm: 10_000);

        var streaming = await Admit(limiter, key, 0.30m);
        var done = await Admit(limiter, key, 0.30m);
        await Settle(limiter, done, 0.10m, keyId: id);
        limiter.LeaseStats.Admissions.ShouldBe(2);

        // The lease reserved 8 requests and 8 × 0.30 in Redis; the other replica sees that until the second is over.
        (await Quota(replicas[1], key)).Rpm!.Used.ShouldBe(8);

        Clock.Advance(TimeSpan.FromSeconds(1));
        var shrunk = await EventuallyAsync(() => Quota(replicas[1], key), v => v.Rpm!.Used == 2);
        shrunk.Budget!.Held.ShouldBe(0.30m);
        shrunk.Budget.Spend.ShouldBe(0.10m);
        shrunk.InFlight.ShouldBe(1);

        // The request still in flight settles later, on its own replica: the lease closes with it.
        await Settle(limiter, streaming, 0.20m, keyId: id);
        var closed = await Quota(replicas[1], key);
        closed.Budget!.Held.ShouldBe(0m);
        closed.Budget.Spend.ShouldBe(0.30m);
        closed.InFlight.ShouldBe(0);
        closed.Rpm!.Used.ShouldBe(2);
    }

    [Fact]
    public async Task Disposing_a_replica_hands_its_leases_back()
    {
        var replicas = await ReplicasAsync();
        var id = NewKeyId();
        var key = Key(id, new BudgetSpec(100m, "30d", Anchor: Start), rpm: 10_000);
        var admission = await Admit(replicas[0], key, 0.30m);
        await Settle(replicas[0], admission, 0.25m, keyId: id);

        await replicas[0].DisposeAsync().AsTask().WaitAsync(Timeout, Ct);

        var view = await Quota(replicas[1], key);
        view.Budget!.Spend.ShouldBe(0.25m);
        view.Budget.Held.ShouldBe(0m);
        view.Rpm!.Used.ShouldBe(1);
    }

    [Fact]
    public async Task A_closing_report_waits_for_the_shrinking_report_before_it_that_is_sent_again()
    {
        var prefix = "tgtest-" + Guid.NewGuid().ToString("N")[..8];
        var limiter = new RedisLimiter(redis.First, new LimiterOptions { Time = Clock, RedisPrefix = prefix }, Ledger.Loader, ownsConnection: false);
        var id = NewKeyId();
        var key = Key(id, new BudgetSpec(100m, "30d", Anchor: Start), rpm: 10_000);
        var inFlight = await Admit(limiter, key, 0.30m);
        limiter.LeaseStats.Granted.ShouldBe(1);

        // The key's flights become unreadable, so the shrinking report the sweep sends once the second is over fails.
        var db = redis.First.GetDatabase();
        var flights = "{" + prefix + ":k:" + id + "}:flights";
        var saved = await db.StringGetAsync(flights).WaitAsync(Timeout, Ct);
        var ttl = await db.KeyTimeToLiveAsync(flights).WaitAsync(Timeout, Ct);
        await db.KeyDeleteAsync(flights).WaitAsync(Timeout, Ct);
        await db.HashSetAsync(flights, "not", "a string").WaitAsync(Timeout, Ct);
        Clock.Advance(TimeSpan.FromSeconds(1));
        await EventuallyAsync(() => Task.FromResult(limiter.PendingSettlementRetries), n => n == 1);

        // Readable again, and the lease's last request settles at once: its closing report must not overtake the
        // shrink (it would remove the flight group, and the shrink's release would never land).
        await db.KeyDeleteAsync(flights).WaitAsync(Timeout, Ct);
        await db.StringSetAsync(flights, saved, ttl).WaitAsync(Timeout, Ct);
        await Settle(limiter, inFlight, 0.25m, keyId: id);

        var view = await EventuallyAsync(() => Quota(limiter, key), v => v.Budget!.Spend == 0.25m);
        view.Budget!.Held.ShouldBe(0m);
        limiter.PendingSettlementRetries.ShouldBe(0);
        limiter.Stats.SettlementsAbandoned.ShouldBe(0);
        await limiter.DisposeAsync().AsTask().WaitAsync(Timeout, Ct);
    }

    [Fact]
    public async Task A_key_unused_for_a_minute_loses_its_lease_slot_and_gets_a_new_one_when_it_comes_back()
    {
        var replicas = await ReplicasAsync();
        var limiter = (RedisLimiter)replicas[0];
        var id = NewKeyId();
        var key = Key(id, new BudgetSpec(100m, "30d", Anchor: Start), rpm: 10_000);
        await Settle(limiter, await Admit(limiter, key, 0.30m), 0.25m, keyId: id);
        limiter.LeaseSlots.ShouldBe(1);

        // The sweep (every 100 ms) retires the lease once its second is over; the slot stays while the key is recent.
        Clock.Advance(TimeSpan.FromSeconds(2));
        await EventuallyAsync(() => Quota(replicas[1], key), v => v.Budget!.Spend == 0.25m);
        await Task.Delay(300, Ct);
        limiter.LeaseSlots.ShouldBe(1);

        Clock.Advance(RedisLimiter.IdleSlot);
        await EventuallyAsync(() => Task.FromResult(limiter.LeaseSlots), n => n == 0);

        // Back again: a new slot, a new lease, and the books still balance.
        await Settle(limiter, await Admit(limiter, key, 0.30m), 0.25m, keyId: id);
        limiter.LeaseSlots.ShouldBe(1);
        limiter.LeaseStats.Granted.ShouldBe(2);
        limiter.LeaseStats.Admissions.ShouldBe(2);
        await replicas[0].DisposeAsync().AsTask().WaitAsync(Timeout, Ct);
        var view = await Quota(replicas[1], key);
        view.Budget!.Spend.ShouldBe(0.50m);
        view.Budget.Held.ShouldBe(0m);
    }

    /// <summary>
    /// 100 admissions on one replica, each settled before the next: all taken from leases of 8, 16, 32 and 64 (each
    /// doubles once used up), so 4 or 5 leases in all.
    /// </summary>
    private async Task HundredFromLeasesAsync(RedisLimiter limiter, KeyLimits key, decimal hold, decimal cost, long tokens, string? keyId)
    {
        for (var i = 0; i < 100; i++)
        {
            var admission = await Admit(limiter, key, hold);
            admission.Admitted.ShouldBeTrue(admission.Message);
            await Settle(limiter, admission, cost, tokens, keyId);
        }

        limiter.LeaseStats.Admissions.ShouldBe(100);
        limiter.LeaseStats.Granted.ShouldBeInRange(4, 5);
    }

    [Fact]
    public async Task Leases_turn_off_per_replica()
    {
        var prefix = "tgtest-" + Guid.NewGuid().ToString("N")[..8];
        var limiter = new RedisLimiter(redis.First, new LimiterOptions { Time = Clock, RedisPrefix = prefix, Leases = false }, Ledger.Loader, ownsConnection: false);
        var key = Key(NewKeyId(), new BudgetSpec(100m, "30d", Anchor: Start), rpm: 10_000);
        for (var i = 0; i < 5; i++)
        {
            (await Admit(limiter, key, 0.01m)).Admitted.ShouldBeTrue();
        }

        limiter.LeaseStats.ShouldBe((0L, 0L));
        limiter.Stats.Admissions.ShouldBe(6); // the first twice: once more with the spend seed
        await limiter.DisposeAsync().AsTask().WaitAsync(Timeout, Ct);
    }
}
