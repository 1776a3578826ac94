using Tollgate.Configuration;
using Tollgate.Storage;

namespace Tollgate.Limits;

/// <summary>Which limit refused a request. <see cref="LimitKinds.WireName"/> gives the 429's error type.</summary>
internal enum LimitKind
{
    BudgetExceeded,
    RateLimitRpm,
    RateLimitTpm,
    MaxParallel,
    DailyRequestQuota,
    DailyTokenQuota,
    WorkspaceBudgetExceeded,
}

internal static class LimitKinds
{
    /// <summary>The error type in the 429 body (SPEC §5: <c>budget_exceeded</c>, …).</summary>
    public static string WireName(this LimitKind kind) => kind switch
    {
        LimitKind.BudgetExceeded => "budget_exceeded",
        LimitKind.RateLimitRpm => "rate_limit_rpm",
        LimitKind.RateLimitTpm => "rate_limit_tpm",
        LimitKind.MaxParallel => "max_parallel",
        LimitKind.DailyRequestQuota => "daily_request_quota",
        LimitKind.DailyTokenQuota => "daily_token_quota",
        LimitKind.WorkspaceBudgetExceeded => "workspace_budget_exceeded",
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };
}

/// <summary>Whose spend a <see cref="SettledSpendLoader"/> is asked for.</summary>
internal enum BudgetScope
{
    Key,
    Workspace,
}

/// <summary>
/// Settled spend (ledger cost, reporting currency) of a key or a workspace in [from, to). The limiter calls it
/// only when it holds no spend for the current period (first use, a new period, a Redis restart or flush).
/// <see cref="SpendLoaders.FromStore"/> builds one over <see cref="IStore"/>.
/// </summary>
internal delegate Task<decimal> SettledSpendLoader(BudgetScope scope, string id, DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken);

/// <summary>
/// A budget: <paramref name="MaxBudget"/> in the reporting currency per <paramref name="Period"/>
/// (<see cref="BudgetPeriod"/>; null = never resets), windows anchored at <paramref name="Anchor"/> for the
/// fixed-length periods, and an optional soft limit: a fraction of max_budget when ≤ 1, else an amount.
/// </summary>
internal sealed record BudgetSpec(decimal MaxBudget, string? Period = null, decimal? SoftLimit = null, DateTimeOffset Anchor = default)
{
    /// <summary>The soft limit as an amount, or null when there is none.</summary>
    public decimal? SoftThreshold => SoftLimit switch
    {
        null => null,
        <= 1m and >= 0m => MaxBudget * SoftLimit.Value,
        var amount => amount,
    };
}

/// <summary>The limits of one virtual key, as its record says.</summary>
internal sealed record KeyLimits(string KeyId, string? Workspace, BudgetSpec? Budget, int? Rpm, int? Tpm, int? MaxParallel)
{
    public static KeyLimits From(VirtualKeyRecord key)
    {
        ArgumentNullException.ThrowIfNull(key);
        var budget = key.MaxBudget is { } max ? new BudgetSpec(max, key.BudgetPeriod, key.SoftLimit, key.CreatedAt) : null;
        return new KeyLimits(key.Id, key.Workspace, budget, key.Rpm, key.Tpm, key.MaxParallel);
    }
}

/// <summary>
/// A tier's limits (SPEC §4). They apply to each key of the tier on its own (a tier is a consumer's plan:
/// "free: 10 requests a day" means 10 per key), so they share the key's counters; where key and tier both set
/// rpm, tpm or max_parallel the smaller wins.
/// </summary>
internal sealed record TierLimits(string Name, long? DailyRequests = null, long? DailyTokens = null, int? Rpm = null, int? Tpm = null, int? MaxParallel = null)
{
    public static TierLimits From(TierConfig tier)
    {
        ArgumentNullException.ThrowIfNull(tier);
        return new TierLimits(tier.Name, tier.DailyRequests, tier.DailyTokens, tier.Rpm, tier.Tpm, tier.MaxParallel);
    }
}

/// <summary>
/// One request to admit. <paramref name="Hold"/> is the worst-case cost in the reporting currency
/// (<see cref="HoldEstimator"/>); <paramref name="EstimatedTokens"/> is what tpm reserves until settlement
/// (<see cref="HoldEstimate.RateLimitTokens"/>).
/// </summary>
internal sealed record AdmissionRequest(KeyLimits Key, TierLimits? Tier, decimal Hold, long EstimatedTokens);

internal sealed record LimiterOptions
{
    /// <summary>Workspace budgets by workspace name. Keys whose workspace is absent here have no workspace budget.</summary>
    public IReadOnlyDictionary<string, BudgetSpec> WorkspaceBudgets { get; init; } = new Dictionary<string, BudgetSpec>();

    /// <summary>
    /// How long an unsettled hold (and its max_parallel slot) lives. A replica that dies mid-request never settles;
    /// its holds expire after this instead of blocking the budget forever. Longer than the longest request.
    /// </summary>
    public TimeSpan HoldTtl { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>Reporting currency code, for messages.</summary>
    public string Currency { get; init; } = "USD";

    /// <summary>Prefix of every Redis key.</summary>
    public string RedisPrefix { get; init; } = "tg";

    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>
    /// Redis only: a replica may take a lease (many requests' worth of rpm and budget, at most a second) for a key
    /// far from its limits and admit from it locally. Off: every admission is a Redis call.
    /// </summary>
    public bool Leases { get; init; } = true;

    /// <summary>Redis only: how settlements of a call that failed are sent again (<see cref="RetryBackoff"/>).</summary>
    public RetryBackoff SettlementRetry { get; init; } = RetryBackoff.Settlements;
}

/// <summary>
/// Waits of <see cref="First"/>, doubling up to <see cref="Last"/>, for as many tries as fit in <see cref="For"/>.
/// </summary>
internal sealed record RetryBackoff(TimeSpan First, TimeSpan Last, TimeSpan For)
{
    /// <summary>A minute: a Redis restart or failover, with time to spare.</summary>
    public static RetryBackoff Settlements { get; } = new(TimeSpan.FromMilliseconds(250), TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(60));

    /// <summary>The waits before each try, in order; their sum is at least <see cref="For"/>.</summary>
    public IEnumerable<TimeSpan> Waits()
    {
        var wait = First;
        var total = TimeSpan.Zero;
        while (total < For)
        {
            yield return wait;
            total += wait;
            wait = TimeSpan.FromTicks(Math.Min(wait.Ticks * 2, Last.Ticks));
        }
    }
}
