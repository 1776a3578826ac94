using Tollgate.Limits;

namespace Tollgate.Tests.Limits;

/// <summary>
/// The behaviour both limiters must share. Each test gets two "replicas": for Redis two limiters on two
/// connections to one server, in memory the same limiter twice. Time is a <see cref="ManualTimeProvider"/>.
/// </summary>
public abstract class LimiterContractTests : IAsyncDisposable
{
    protected static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    protected static readonly DateTimeOffset Start = new(2026, 11, 3, 10, 30, 0, TimeSpan.Zero);
    private readonly List<ILimiter> _created = [];

    private protected ManualTimeProvider Clock { get; } = new(Start);

    private protected FakeLedger Ledger { get; } = new();

    protected static CancellationToken Ct => TestContext.Current.CancellationToken;

    private protected abstract Task<ILimiter[]> CreateReplicasAsync(LimiterOptions options, SettledSpendLoader loader);

    private protected async Task<ILimiter[]> ReplicasAsync(IReadOnlyDictionary<string, BudgetSpec>? workspaces = null)
    {
        var options = new LimiterOptions
        {
            Time = Clock,
            Currency = "AUD",
            WorkspaceBudgets = workspaces ?? new Dictionary<string, BudgetSpec>(),
        };
        var replicas = await CreateReplicasAsync(options, Ledger.Loader).WaitAsync(Timeout, Ct);
        _created.AddRange(replicas.Distinct());
        return replicas;
    }

    private protected async Task<ILimiter> LimiterAsync(IReadOnlyDictionary<string, BudgetSpec>? workspaces = null) =>
        (await ReplicasAsync(workspaces))[0];

    public async ValueTask DisposeAsync()
    {
        foreach (var limiter in _created)
        {
            await limiter.DisposeAsync().AsTask().WaitAsync(Timeout);
        }

        GC.SuppressFinalize(this);
    }

    private protected static string NewKeyId() => "key-" + Guid.NewGuid().ToString("N")[..10];

    private protected static KeyLimits Key(string id, BudgetSpec? budget = null, int? rpm = null, int? tpm = null, int? maxParallel = null, string? workspace = null) =>
        new(id, workspace, budget, rpm, tpm, maxParallel);

    private protected static Task<Admission> Admit(ILimiter limiter, KeyLimits key, decimal hold = 0m, long tokens = 0, TierLimits? tier = null) =>
        limiter.AdmitAsync(new AdmissionRequest(key, tier, hold, tokens), Ct).AsTask().WaitAsync(Timeout, Ct);

    /// <summary>Settles and writes the ledger row, as accounting does.</summary>
    private protected Task Settle(ILimiter limiter, Admission admission, decimal cost, long tokens = 0, string? keyId = null, string? workspace = null)
    {
        if (admission.Hold is { } hold && keyId is not null)
        {
            Ledger.Record(keyId, workspace, Clock.GetUtcNow(), cost);
        }

        return limiter.SettleAsync(admission, cost, tokens, Ct).AsTask().WaitAsync(Timeout, Ct);
    }

    /// <summary>Reads until <paramref name="done"/> holds (a real-time deadline: what is awaited runs on real timers or threads).</summary>
    private protected static async Task<T> EventuallyAsync<T>(Func<Task<T>> read, Func<T, bool> done)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        deadline.CancelAfter(Timeout);
        while (true)
        {
            var value = await read();
            if (done(value))
            {
                return value;
            }

            await Task.Delay(10, deadline.Token);
        }
    }

    private protected static Task<QuotaView> Quota(ILimiter limiter, KeyLimits key, TierLimits? tier = null) =>
        limiter.GetQuotaAsync(key, tier, Ct).AsTask().WaitAsync(Timeout, Ct);

    [Fact]
    public async Task Hold_that_does_not_fit_is_refused_and_settlement_returns_the_unused_part()
    {
        var limiter = await LimiterAsync();
        var id = NewKeyId();
        var key = Key(id, new BudgetSpec(1.00m, "30d", Anchor: Start));

        var first = await Admit(limiter, key, 0.40m);
        var second = await Admit(limiter, key, 0.40m);
        var third = await Admit(limiter, key, 0.40m);

        first.Admitted.ShouldBeTrue();
        second.Admitted.ShouldBeTrue();
        third.Admitted.ShouldBeFalse();
        third.Refusal.ShouldBe(LimitKind.BudgetExceeded);
        third.Refusal!.Value.WireName().ShouldBe("budget_exceeded");
        third.Message.ShouldNotBeNull().ShouldContain("max_budget 1 AUD per 30d");
        third.RetryAfter.ShouldBe(TimeSpan.FromDays(30));

        await Settle(limiter, first, 0.10m, keyId: id);
        var view = await Quota(limiter, key);
        view.Budget.ShouldNotBeNull().Spend.ShouldBe(0.10m);
        view.Budget.Held.ShouldBe(0.40m);
        view.Budget.Remaining.ShouldBe(0.50m);
        view.Budget.ResetsAt.ShouldBe(Start.AddDays(30));

        (await Admit(limiter, key, 0.40m)).Admitted.ShouldBeTrue();
        (await Admit(limiter, key, 0.40m)).Refusal.ShouldBe(LimitKind.BudgetExceeded);
    }

    [Fact]
    public async Task Spend_is_seeded_from_the_store_on_first_use()
    {
        var limiter = await LimiterAsync();
        var id = NewKeyId();
        Ledger.Record(id, null, Start.AddMinutes(-10), 0.90m); // the current 1d window began 30 minutes ago
        Ledger.Record(id, null, Start.AddDays(-2), 5m); // an earlier period: not counted
        var key = Key(id, new BudgetSpec(1.00m, "1d", Anchor: Start.AddDays(-10).AddMinutes(-30)));

        (await Admit(limiter, key, 0.20m)).Refusal.ShouldBe(LimitKind.BudgetExceeded);
        (await Admit(limiter, key, 0.10m)).Admitted.ShouldBeTrue();
        (await Quota(limiter, key)).Budget.ShouldNotBeNull().Spend.ShouldBe(0.90m);
    }

    [Fact]
    public async Task Budget_resets_at_the_period_boundary()
    {
        var limiter = await LimiterAsync();
        var id = NewKeyId();
        var key = Key(id, new BudgetSpec(1.00m, "1d", Anchor: Start));

        var spent = await Admit(limiter, key, 0.60m);
        await Settle(limiter, spent, 0.60m, keyId: id);
        var refused = await Admit(limiter, key, 0.60m);
        refused.Refusal.ShouldBe(LimitKind.BudgetExceeded);
        refused.RetryAfter.ShouldBe(TimeSpan.FromDays(1));

        Clock.Advance(TimeSpan.FromHours(23));
        (await Admit(limiter, key, 0.60m)).RetryAfter.ShouldBe(TimeSpan.FromHours(1));

        Clock.Advance(TimeSpan.FromHours(1));
        (await Admit(limiter, key, 0.60m)).Admitted.ShouldBeTrue();
        var view = await Quota(limiter, key);
        view.Budget.ShouldNotBeNull().Spend.ShouldBe(0m);
        view.Budget.ResetsAt.ShouldBe(Start.AddDays(2));
    }

    [Fact]
    public async Task Soft_limit_warns_past_the_line_and_alerts_once_per_period_across_replicas()
    {
        var replicas = await ReplicasAsync();
        var id = NewKeyId();
        var key = Key(id, new BudgetSpec(10m, "7d", SoftLimit: 0.5m, Anchor: Start));
        var crossed = new List<bool>();
        var alerts = new List<bool>();

        for (var i = 0; i < 5; i++)
        {
            var admission = await Admit(replicas[i % 2], key, 2m);
            admission.Admitted.ShouldBeTrue();
            crossed.Add(admission.SoftLimitCrossed);
            alerts.Add(admission.SoftLimitAlertFired);
            await Settle(replicas[(i + 1) % 2], admission, 2m, keyId: id);
        }

        // Spend before each admission: 0, 2, 4, 6, 8; the soft limit is 5.
        crossed.ShouldBe([false, false, false, true, true]);
        alerts.ShouldBe([false, false, false, true, false]);

        Clock.Advance(TimeSpan.FromDays(7));
        var fresh = await Admit(replicas[0], key, 2m);
        fresh.SoftLimitCrossed.ShouldBeFalse();
        await Settle(replicas[0], fresh, 6m, keyId: id);
        var again = await Admit(replicas[1], key, 2m);
        again.KeySoftLimitCrossed.ShouldBeTrue();
        again.KeySoftLimitAlertFired.ShouldBeTrue();
        (await Admit(replicas[0], key, 0m)).SoftLimitAlertFired.ShouldBeFalse();
    }

    [Fact]
    public async Task Rpm_counts_each_admission_for_the_rest_of_its_second_plus_60_s_with_an_exact_retry_after()
    {
        var limiter = await LimiterAsync();
        var key = Key(NewKeyId(), rpm: 3);

        (await Admit(limiter, key)).Admitted.ShouldBeTrue();          // t = 0 (the start of a second)
        Clock.Advance(TimeSpan.FromSeconds(10));
        (await Admit(limiter, key)).Admitted.ShouldBeTrue();          // t = 10
        Clock.Advance(TimeSpan.FromSeconds(10));
        (await Admit(limiter, key)).Admitted.ShouldBeTrue();          // t = 20
        Clock.Advance(TimeSpan.FromSeconds(10));
        var refused = await Admit(limiter, key);                      // t = 30
        refused.Refusal.ShouldBe(LimitKind.RateLimitRpm);
        refused.RetryAfter.ShouldBe(TimeSpan.FromSeconds(31));         // the bucket of second 0 leaves at t = 61
        refused.Message.ShouldNotBeNull().ShouldContain("rpm limit of 3 requests per minute (key) reached: 3 requests");

        Clock.Advance(TimeSpan.FromSeconds(30.999));
        (await Admit(limiter, key)).Refusal.ShouldBe(LimitKind.RateLimitRpm);
        Clock.Advance(TimeSpan.FromMilliseconds(1));                   // t = 61: the first admission left
        (await Admit(limiter, key)).Admitted.ShouldBeTrue();
        var next = await Admit(limiter, key);
        next.RetryAfter.ShouldBe(TimeSpan.FromSeconds(10));
        (await Quota(limiter, key)).Rpm.ShouldBe(new CounterView(3, 3));
    }

    [Fact]
    public async Task An_admission_late_in_its_second_counts_until_60_s_after_that_second_ends()
    {
        var limiter = await LimiterAsync();
        var key = Key(NewKeyId(), rpm: 1);

        Clock.Advance(TimeSpan.FromMilliseconds(900));
        (await Admit(limiter, key)).Admitted.ShouldBeTrue();          // t = 0.9, bucket [0, 1)
        Clock.Advance(TimeSpan.FromSeconds(60));
        var refused = await Admit(limiter, key);                      // t = 60.9: 60 s later, still counted
        refused.Refusal.ShouldBe(LimitKind.RateLimitRpm);
        refused.RetryAfter.ShouldBe(TimeSpan.FromMilliseconds(100));
        (await Quota(limiter, key)).Rpm.ShouldBe(new CounterView(1, 1));

        Clock.Advance(TimeSpan.FromMilliseconds(100));                 // t = 61
        (await Quota(limiter, key)).Rpm.ShouldBe(new CounterView(1, 0));
        (await Admit(limiter, key)).Admitted.ShouldBeTrue();
    }

    [Fact]
    public async Task No_60_second_span_ever_holds_more_than_the_rpm_and_every_retry_after_is_honest()
    {
        var replicas = await ReplicasAsync();
        var key = Key(NewKeyId(), rpm: 7);
        var admitted = new List<DateTimeOffset>();
        var random = new Random(20261103);

        for (var step = 0; step < 400; step++)
        {
            Clock.Advance(TimeSpan.FromMilliseconds(random.Next(0, 1500)));
            var admission = await Admit(replicas[step % 2], key);
            if (admission.Admitted)
            {
                admitted.Add(Clock.GetUtcNow());
                continue;
            }

            admission.Refusal.ShouldBe(LimitKind.RateLimitRpm);
            if (step % 5 == 0)
            {
                // Honest: a millisecond short of the retry-after is still too early; at it, a slot is free.
                var wait = admission.RetryAfter!.Value;
                if (wait > TimeSpan.FromMilliseconds(1))
                {
                    Clock.Advance(wait - TimeSpan.FromMilliseconds(1));
                    (await Admit(replicas[(step + 1) % 2], key)).Refusal.ShouldBe(LimitKind.RateLimitRpm);
                    Clock.Advance(TimeSpan.FromMilliseconds(1));
                }
                else
                {
                    Clock.Advance(wait);
                }

                (await Admit(replicas[step % 2], key)).Admitted.ShouldBeTrue();
                admitted.Add(Clock.GetUtcNow());
            }
        }

        admitted.Count.ShouldBeGreaterThan(40);
        foreach (var end in admitted)
        {
            admitted.Count(t => t > end - TimeSpan.FromSeconds(60) && t <= end).ShouldBeLessThanOrEqualTo(7);
        }
    }

    [Fact]
    public async Task Tpm_reserves_the_estimate_and_settlement_corrects_it()
    {
        var limiter = await LimiterAsync();
        var key = Key(NewKeyId(), tpm: 1000);

        var first = await Admit(limiter, key, tokens: 600);
        first.Admitted.ShouldBeTrue();
        Clock.Advance(TimeSpan.FromSeconds(15));
        var refused = await Admit(limiter, key, tokens: 600);
        refused.Refusal.ShouldBe(LimitKind.RateLimitTpm);
        refused.RetryAfter.ShouldBe(TimeSpan.FromSeconds(46));
        refused.Message.ShouldNotBeNull().ShouldContain("600 tokens of key");

        await Settle(limiter, first, 0m, tokens: 100);
        (await Admit(limiter, key, tokens: 600)).Admitted.ShouldBeTrue();
        (await Quota(limiter, key)).Tpm.ShouldBe(new CounterView(1000, 700));

        // A request bigger than the whole limit still passes an empty window rather than never.
        var small = Key(NewKeyId(), tpm: 100);
        (await Admit(limiter, small, tokens: 5000)).Admitted.ShouldBeTrue();
        (await Admit(limiter, small, tokens: 1)).Refusal.ShouldBe(LimitKind.RateLimitTpm);
    }

    [Fact]
    public async Task Tpm_settlement_replaces_the_estimate_in_the_bucket_it_was_counted_in()
    {
        var replicas = await ReplicasAsync();
        var key = Key(NewKeyId(), tpm: 1000);

        Clock.Advance(TimeSpan.FromMilliseconds(500));
        var early = await Admit(replicas[0], key, tokens: 600);       // bucket of second 0
        Clock.Advance(TimeSpan.FromSeconds(30));
        var late = await Admit(replicas[1], key, tokens: 300);        // bucket of second 30
        early.Admitted.ShouldBeTrue();
        late.Admitted.ShouldBeTrue();
        (await Quota(replicas[0], key)).Tpm.ShouldBe(new CounterView(1000, 900));

        await Settle(replicas[1], early, 0m, tokens: 100);
        (await Quota(replicas[0], key)).Tpm.ShouldBe(new CounterView(1000, 400));

        // Second 0 leaves at t = 61 with its (corrected) 100 tokens; second 30 at t = 91.
        Clock.Advance(TimeSpan.FromSeconds(30.5));                    // t = 61
        (await Quota(replicas[1], key)).Tpm.ShouldBe(new CounterView(1000, 300));
        var refused = await Admit(replicas[0], key, tokens: 800);
        refused.Refusal.ShouldBe(LimitKind.RateLimitTpm);
        refused.RetryAfter.ShouldBe(TimeSpan.FromSeconds(30));

        // A settlement after its bucket left the window changes nothing.
        Clock.Advance(TimeSpan.FromSeconds(30));                      // t = 91
        await Settle(replicas[0], late, 0m, tokens: 900);
        (await Quota(replicas[1], key)).Tpm.ShouldBe(new CounterView(1000, 0));
        (await Admit(replicas[1], key, tokens: 1000)).Admitted.ShouldBeTrue();
    }

    [Fact]
    public async Task Daily_request_quota_resets_at_utc_midnight()
    {
        var limiter = await LimiterAsync();
        var key = Key(NewKeyId());
        var tier = new TierLimits("free", DailyRequests: 2);

        (await Admit(limiter, key, tier: tier)).Admitted.ShouldBeTrue();
        (await Admit(limiter, key, tier: tier)).Admitted.ShouldBeTrue();
        var refused = await Admit(limiter, key, tier: tier);
        refused.Refusal.ShouldBe(LimitKind.DailyRequestQuota);
        refused.RetryAfter.ShouldBe(TimeSpan.FromHours(13.5));
        refused.Message.ShouldNotBeNull().ShouldContain("daily request quota of tier 'free' (2 requests) exhausted");

        var view = await Quota(limiter, key, tier);
        view.DailyRequests.ShouldBe(new CounterView(2, 2));
        view.DailyRequests!.Remaining.ShouldBe(0);
        view.DailyResetsAt.ShouldBe(new DateTimeOffset(2026, 11, 4, 0, 0, 0, TimeSpan.Zero));

        Clock.Advance(TimeSpan.FromHours(13.5) - TimeSpan.FromMilliseconds(1));
        (await Admit(limiter, key, tier: tier)).Refusal.ShouldBe(LimitKind.DailyRequestQuota);
        Clock.Advance(TimeSpan.FromMilliseconds(1));
        (await Admit(limiter, key, tier: tier)).Admitted.ShouldBeTrue();
        (await Quota(limiter, key, tier)).DailyRequests!.Remaining.ShouldBe(1);
    }

    [Fact]
    public async Task Daily_token_quota_counts_settled_tokens()
    {
        var limiter = await LimiterAsync();
        var key = Key(NewKeyId());
        var tier = new TierLimits("pro", DailyTokens: 100);

        var first = await Admit(limiter, key, tokens: 50, tier: tier);
        (await Admit(limiter, key, tokens: 50, tier: tier)).Admitted.ShouldBeTrue(); // in flight tokens are not yet used
        await Settle(limiter, first, 0m, tokens: 150);
        var refused = await Admit(limiter, key, tier: tier);
        refused.Refusal.ShouldBe(LimitKind.DailyTokenQuota);
        refused.Refusal!.Value.WireName().ShouldBe("daily_token_quota");
        refused.RetryAfter.ShouldBe(TimeSpan.FromHours(13.5));
        (await Quota(limiter, key, tier)).DailyTokens.ShouldBe(new CounterView(100, 150));
    }

    [Fact]
    public async Task Max_parallel_slot_is_freed_by_settlement()
    {
        var limiter = await LimiterAsync();
        var key = Key(NewKeyId(), maxParallel: 2);
        var tier = new TierLimits("pro", MaxParallel: 5);

        var first = await Admit(limiter, key, tier: tier);
        (await Admit(limiter, key, tier: tier)).Admitted.ShouldBeTrue();
        var refused = await Admit(limiter, key, tier: tier);
        refused.Refusal.ShouldBe(LimitKind.MaxParallel);
        refused.RetryAfter.ShouldBe(TimeSpan.FromSeconds(1));
        refused.Message.ShouldNotBeNull().ShouldContain("max_parallel limit of 2 (key)");
        (await Quota(limiter, key, tier)).Parallel.ShouldBe(new CounterView(2, 2));

        await Settle(limiter, first, 0m);
        (await Admit(limiter, key, tier: tier)).Admitted.ShouldBeTrue();
    }

    [Fact]
    public async Task The_smaller_of_key_and_tier_limits_wins_and_is_named()
    {
        var limiter = await LimiterAsync();
        var key = Key(NewKeyId(), rpm: 10);
        var tier = new TierLimits("free", Rpm: 1);

        (await Admit(limiter, key, tier: tier)).Admitted.ShouldBeTrue();
        var refused = await Admit(limiter, key, tier: tier);
        refused.Refusal.ShouldBe(LimitKind.RateLimitRpm);
        refused.Message.ShouldNotBeNull().ShouldContain("rpm limit of 1 requests per minute (tier 'free')");
    }

    [Fact]
    public async Task A_refusal_records_nothing()
    {
        var limiter = await LimiterAsync();
        var key = Key(NewKeyId(), new BudgetSpec(1m, "30d", Anchor: Start), rpm: 1);

        (await Admit(limiter, key, 2m)).Refusal.ShouldBe(LimitKind.BudgetExceeded);
        (await Admit(limiter, key, 0.5m)).Admitted.ShouldBeTrue();
        var view = await Quota(limiter, key);
        view.RequestsToday.ShouldBe(1);
        view.Budget!.Held.ShouldBe(0.5m);
    }

    [Fact]
    public async Task Settlement_is_idempotent()
    {
        var replicas = await ReplicasAsync();
        var id = NewKeyId();
        var key = Key(id, new BudgetSpec(1m, "30d", Anchor: Start), maxParallel: 1);

        var admission = await Admit(replicas[0], key, 0.5m);
        await Settle(replicas[0], admission, 0.3m);
        await Settle(replicas[0], admission, 0.3m);
        await Settle(replicas[1], admission, 0.3m);

        var view = await Quota(replicas[1], key);
        view.Budget!.Spend.ShouldBe(0.3m);
        view.Budget.Held.ShouldBe(0m);
        view.InFlight.ShouldBe(0);
    }

    [Fact]
    public async Task Unsettled_holds_expire_after_the_hold_ttl()
    {
        var limiter = await LimiterAsync();
        var key = Key(NewKeyId(), new BudgetSpec(1m, "30d", Anchor: Start), maxParallel: 1);

        var lost = await Admit(limiter, key, 1m);
        lost.Admitted.ShouldBeTrue();
        Clock.Advance(TimeSpan.FromMinutes(10) - TimeSpan.FromMilliseconds(1));
        (await Admit(limiter, key, 0.1m)).Refusal.ShouldBe(LimitKind.MaxParallel);
        Clock.Advance(TimeSpan.FromMilliseconds(1));
        var later = await Admit(limiter, key, 0.5m);
        later.Admitted.ShouldBeTrue();

        // A settlement that arrives after its hold expired still counts what was spent.
        await Settle(limiter, lost, 0.25m);
        var view = await Quota(limiter, key);
        view.Budget!.Spend.ShouldBe(0.25m);
        view.Budget.Held.ShouldBe(0.5m);
    }

    [Fact]
    public async Task An_unsettled_hold_expires_at_the_end_of_the_minute_its_ttl_runs_out_in()
    {
        var replicas = await ReplicasAsync();
        var key = Key(NewKeyId(), new BudgetSpec(1m, "30d", Anchor: Start), maxParallel: 1);

        Clock.Advance(TimeSpan.FromSeconds(30));
        (await Admit(replicas[0], key, 1m)).Admitted.ShouldBeTrue();   // TTL runs out at 10 min 30 s
        Clock.Advance(TimeSpan.FromMinutes(10));
        (await Admit(replicas[1], key, 0m)).Refusal.ShouldBe(LimitKind.MaxParallel);
        Clock.Advance(TimeSpan.FromSeconds(30) - TimeSpan.FromMilliseconds(1));
        (await Quota(replicas[1], key)).InFlight.ShouldBe(1);
        (await Admit(replicas[1], key, 0m)).Refusal.ShouldBe(LimitKind.MaxParallel);
        Clock.Advance(TimeSpan.FromMilliseconds(1));                  // 11 min: the end of that minute
        (await Quota(replicas[0], key)).InFlight.ShouldBe(0);
        var next = await Admit(replicas[0], key, 1m);
        next.Admitted.ShouldBeTrue();
        (await Quota(replicas[1], key)).Budget!.Held.ShouldBe(1m);
    }

    [Fact]
    public async Task Workspace_budget_is_shared_by_its_keys()
    {
        var workspace = "ws-" + Guid.NewGuid().ToString("N")[..8];
        var replicas = await ReplicasAsync(new Dictionary<string, BudgetSpec> { [workspace] = new(1m, "calendar_month", SoftLimit: 0.5m) });
        var a = Key(NewKeyId(), workspace: workspace);
        var b = Key(NewKeyId(), new BudgetSpec(5m, "30d", Anchor: Start), workspace: workspace);

        var first = await Admit(replicas[0], a, 0.6m);
        first.Admitted.ShouldBeTrue();
        var refused = await Admit(replicas[1], b, 0.6m);
        refused.Refusal.ShouldBe(LimitKind.WorkspaceBudgetExceeded);
        refused.Refusal!.Value.WireName().ShouldBe("workspace_budget_exceeded");
        refused.Message.ShouldNotBeNull().ShouldContain($"workspace '{workspace}' budget exceeded");
        refused.RetryAfter.ShouldBe(new DateTimeOffset(2026, 12, 1, 0, 0, 0, TimeSpan.Zero) - Start);

        await Settle(replicas[0], first, 0.55m, keyId: a.KeyId, workspace: workspace);
        var second = await Admit(replicas[1], b, 0.4m);
        second.Admitted.ShouldBeTrue();
        second.WorkspaceSoftLimitCrossed.ShouldBeTrue();
        second.WorkspaceSoftLimitAlertFired.ShouldBeTrue();
        second.KeySoftLimitCrossed.ShouldBeFalse();

        var view = await Quota(replicas[0], b);
        view.Workspace.ShouldBe(workspace);
        view.WorkspaceBudget.ShouldNotBeNull().Spend.ShouldBe(0.55m);
        view.WorkspaceBudget.Held.ShouldBe(0.4m);
        view.Budget.ShouldNotBeNull().Held.ShouldBe(0.4m);
    }

    [Fact]
    public async Task Forty_concurrent_admissions_never_overspend_a_small_budget()
    {
        var replicas = await ReplicasAsync();
        var id = NewKeyId();
        var key = Key(id, new BudgetSpec(1.00m, "30d", Anchor: Start));
        var settled = 0L;

        var outcomes = await Task.WhenAll(Enumerable.Range(0, 40).Select(i => Task.Run(async () =>
        {
            var limiter = replicas[i % replicas.Length];
            var admission = await Admit(limiter, key, 0.10m);
            if (admission.Admitted)
            {
                await Task.Yield();
                // Worst case: every admitted request costs its whole hold.
                await Settle(limiter, admission, 0.10m, keyId: id);
                Interlocked.Add(ref settled, 10);
            }

            return admission;
        }, Ct))).WaitAsync(Timeout, Ct);

        outcomes.Count(o => o.Admitted).ShouldBe(10);
        outcomes.Where(o => !o.Admitted).ShouldAllBe(o => o.Refusal == LimitKind.BudgetExceeded);
        (settled / 100m).ShouldBeLessThanOrEqualTo(1.00m);
        var view = await Quota(replicas[1], key);
        view.Budget!.Spend.ShouldBe(1.00m);
        view.Budget.Held.ShouldBe(0m);
    }

    [Fact]
    public async Task Concurrent_admissions_that_settle_below_their_hold_still_never_overspend()
    {
        var replicas = await ReplicasAsync();
        var id = NewKeyId();
        var key = Key(id, new BudgetSpec(2.00m, "30d", Anchor: Start));
        var spent = 0L; // in thousandths

        await Task.WhenAll(Enumerable.Range(0, 40).Select(i => Task.Run(async () =>
        {
            for (var round = 0; round < 5; round++)
            {
                var limiter = replicas[(i + round) % replicas.Length];
                var admission = await Admit(limiter, key, 0.25m);
                if (!admission.Admitted)
                {
                    admission.Refusal.ShouldBe(LimitKind.BudgetExceeded);
                    continue;
                }

                var cost = (((i * 7) + round) % 25 + 1) / 100m; // 0.01 … 0.25, never above the hold
                await Settle(limiter, admission, cost, keyId: id);
                Interlocked.Add(ref spent, (long)(cost * 1000));
            }
        }, Ct))).WaitAsync(Timeout, Ct);

        var view = await Quota(replicas[0], key);
        view.Budget!.Spend.ShouldBe(spent / 1000m);
        view.Budget.Spend.ShouldBeLessThanOrEqualTo(2.00m);
        view.Budget.Held.ShouldBe(0m);
    }

    [Fact]
    public async Task Rpm_10_lets_exactly_10_of_20_through_across_replicas()
    {
        var replicas = await ReplicasAsync();
        var key = Key(NewKeyId(), rpm: 10);

        var outcomes = await Task.WhenAll(Enumerable.Range(0, 20).Select(i =>
            Task.Run(() => Admit(replicas[i % replicas.Length], key), Ct))).WaitAsync(Timeout, Ct);

        outcomes.Count(o => o.Admitted).ShouldBe(10);
        outcomes.Where(o => !o.Admitted).ShouldAllBe(o => o.Refusal == LimitKind.RateLimitRpm);
    }

    [Fact]
    public async Task Max_parallel_3_never_has_more_than_3_in_flight()
    {
        var replicas = await ReplicasAsync();
        var key = Key(NewKeyId(), maxParallel: 3);
        var inFlight = 0;
        var peak = 0;
        var admitted = 0;
        var refusals = new System.Collections.Concurrent.ConcurrentBag<LimitKind>();

        await Task.WhenAll(Enumerable.Range(0, 12).Select(i => Task.Run(async () =>
        {
            for (var round = 0; round < 10; round++)
            {
                var limiter = replicas[(i + round) % replicas.Length];
                var admission = await Admit(limiter, key);
                if (!admission.Admitted)
                {
                    refusals.Add(admission.Refusal!.Value);
                    await Task.Delay(1, Ct);
                    continue;
                }

                Interlocked.Increment(ref admitted);
                var now = Interlocked.Increment(ref inFlight);
                InterlockedMax(ref peak, now);
                await Task.Delay(3, Ct);
                Interlocked.Decrement(ref inFlight);
                await Settle(limiter, admission, 0m);
            }
        }, Ct))).WaitAsync(Timeout, Ct);

        peak.ShouldBeLessThanOrEqualTo(3);
        admitted.ShouldBeGreaterThanOrEqualTo(3);
        refusals.ShouldNotBeEmpty();
        refusals.ShouldAllBe(k => k == LimitKind.MaxParallel);
        (await Quota(replicas[0], key)).InFlight.ShouldBe(0);
    }

    private static void InterlockedMax(ref int target, int value)
    {
        var current = Volatile.Read(ref target);
        while (value > current)
        {
            var seen = Interlocked.CompareExchange(ref target, value, current);
            if (seen == current)
            {
                return;
            }

            current = seen;
        }
    }
}
