using System.Globalization;

namespace Tollgate.Limits;

/// <summary>
/// Money as integer billionths of the reporting currency, so both limiters (and Redis, whose Lua numbers are
/// doubles) count exactly. Budgets round down, holds up, actual costs to the nearest. Amounts are capped at
/// <see cref="MaxMoney"/> per key or workspace per period, below 2^53 billionths.
/// </summary>
internal static class Nanos
{
    public const decimal MaxMoney = 9_000_000m;
    private const decimal Scale = 1_000_000_000m;

    public static long Floor(decimal money) => (long)decimal.Floor(Clamp(money) * Scale);

    public static long Ceiling(decimal money) => (long)decimal.Ceiling(Clamp(money) * Scale);

    public static long Round(decimal money) => (long)decimal.Round(Clamp(money) * Scale, MidpointRounding.AwayFromZero);

    public static decimal ToMoney(long nanos) => nanos / Scale;

    private static decimal Clamp(decimal money) => Math.Clamp(money, -MaxMoney, MaxMoney);
}

/// <summary>One budget's current period: its window, label and limits in <see cref="Nanos"/>.</summary>
internal sealed record BudgetWindow(string Owner, BudgetSpec Spec, DateTimeOffset Start, DateTimeOffset? End, string Label, long Max, long? Soft)
{
    /// <summary>The period label of a key with no budget.</summary>
    public const string NoBudget = "-";

    /// <summary>How long period state is kept after the period ends, for late settlements.</summary>
    private static readonly TimeSpan Slack = TimeSpan.FromHours(1);

    /// <summary>No-period budgets keep their spend this long before it is reloaded from the store.</summary>
    private static readonly TimeSpan OpenEndedTtl = TimeSpan.FromDays(30);

    private static readonly DateTimeOffset FarFuture = new(9999, 1, 1, 0, 0, 0, TimeSpan.Zero);

    public static BudgetWindow For(string owner, BudgetSpec spec, DateTimeOffset now)
    {
        var window = BudgetPeriod.Current(spec.Period, spec.Anchor, now);
        var start = window?.Start ?? DateTimeOffset.UnixEpoch;
        // The period name is part of the label: changing 7d to 30d must not carry the 7d window's spend over.
        var label = window is null ? "all" : string.Create(CultureInfo.InvariantCulture, $"{spec.Period}@{start.ToUnixTimeMilliseconds()}");
        return new BudgetWindow(owner, spec, start, window?.End, label, Nanos.Floor(spec.MaxBudget), spec.SoftThreshold is { } s ? Nanos.Floor(s) : null);
    }

    /// <summary>The range the spend loader sums.</summary>
    public (DateTimeOffset From, DateTimeOffset To) LoadRange => (Start, End ?? FarFuture);

    /// <summary>How long the period's state must live from <paramref name="now"/> (Redis TTLs).</summary>
    public TimeSpan StateTtl(DateTimeOffset now, TimeSpan holdTtl) =>
        End is { } end ? end - now + holdTtl + Slack : OpenEndedTtl;
}

/// <summary>A rate or parallel limit with where it came from: the key or its tier (the smaller of the two wins).</summary>
internal readonly record struct EffectiveLimit(long Value, string Source)
{
    public static EffectiveLimit? Smaller(int? key, int? tier, string? tierName) => (key, tier) switch
    {
        (null, null) => null,
        ({ } k, null) => new EffectiveLimit(k, "key"),
        (null, { } t) => new EffectiveLimit(t, $"tier '{tierName}'"),
        ({ } k, { } t) => k <= t ? new EffectiveLimit(k, "key") : new EffectiveLimit(t, $"tier '{tierName}'"),
    };
}

/// <summary>
/// Everything one admission decides on, computed once from the request and the clock so that
/// <see cref="InMemoryLimiter"/> and <see cref="RedisLimiter"/> apply the same limits and word the same refusals.
/// </summary>
internal sealed class AdmissionPlan
{
    /// <summary>
    /// rpm and tpm are counted in per-second buckets (<see cref="RateWindow"/>): an admission counts for the rest of
    /// its second plus 60 s, so no 60-second span ever holds more than the limit.
    /// </summary>
    public static readonly TimeSpan Window = TimeSpan.FromMinutes(1);

    /// <summary>
    /// Holds expire at the end of the minute their TTL runs out in: in Redis, requests in flight are kept in groups
    /// per minute of expiry (one group released at a time), and both limiters round the same way.
    /// </summary>
    public static readonly TimeSpan FlightGrain = TimeSpan.FromMinutes(1);

    /// <summary>max_parallel has no knowable free time; this is the hint.</summary>
    public static readonly TimeSpan ParallelRetry = TimeSpan.FromSeconds(1);

    private readonly string _currency;

    private AdmissionPlan(string currency) => _currency = currency;

    public required DateTimeOffset Now { get; init; }
    public long NowMs => Now.ToUnixTimeMilliseconds();
    public required string HoldId { get; init; }
    public required string KeyId { get; init; }
    public string? TierName { get; init; }
    public EffectiveLimit? Rpm { get; init; }
    public EffectiveLimit? Tpm { get; init; }
    public EffectiveLimit? Parallel { get; init; }
    public long? DailyRequests { get; init; }
    public long? DailyTokens { get; init; }
    public required string Day { get; init; }
    public required DateTimeOffset DayEnd { get; init; }
    public BudgetWindow? KeyBudget { get; init; }
    public BudgetWindow? WorkspaceBudget { get; init; }
    public long HoldNanos { get; init; }
    /// <summary>Tokens tpm reserves: the estimate, capped at tpm so a large request can pass an empty window.</summary>
    public long Tokens { get; init; }
    public DateTimeOffset HoldExpires { get; init; }

    public string KeyPeriod => KeyBudget?.Label ?? BudgetWindow.NoBudget;

    public static AdmissionPlan Create(AdmissionRequest request, LimiterOptions options, DateTimeOffset now, string holdId)
    {
        ArgumentNullException.ThrowIfNull(request);
        var key = request.Key;
        var tier = request.Tier;
        var tpm = EffectiveLimit.Smaller(key.Tpm, tier?.Tpm, tier?.Name);
        var workspaceSpec = key.Workspace is { } ws && options.WorkspaceBudgets.TryGetValue(ws, out var spec) ? spec : null;
        var utc = now.ToUniversalTime();
        var dayStart = new DateTimeOffset(utc.Year, utc.Month, utc.Day, 0, 0, 0, TimeSpan.Zero);
        var tokens = Math.Max(0, request.EstimatedTokens);
        return new AdmissionPlan(options.Currency)
        {
            Now = now,
            HoldId = holdId,
            KeyId = key.KeyId,
            TierName = tier?.Name,
            Rpm = EffectiveLimit.Smaller(key.Rpm, tier?.Rpm, tier?.Name),
            Tpm = tpm,
            Parallel = EffectiveLimit.Smaller(key.MaxParallel, tier?.MaxParallel, tier?.Name),
            DailyRequests = tier?.DailyRequests,
            DailyTokens = tier?.DailyTokens,
            Day = DayLabel(dayStart),
            DayEnd = dayStart.AddDays(1),
            KeyBudget = key.Budget is { } b ? BudgetWindow.For(key.KeyId, b, now) : null,
            WorkspaceBudget = workspaceSpec is null ? null : BudgetWindow.For(key.Workspace!, workspaceSpec, now),
            HoldNanos = Nanos.Ceiling(Math.Max(0m, request.Hold)),
            Tokens = tpm is { } t ? Math.Min(tokens, t.Value) : tokens,
            HoldExpires = ExpiryOf(now, options.HoldTtl),
        };
    }

    /// <summary>The same plan holding <paramref name="holdNanos"/> under another id: a lease for many requests of this one's shape.</summary>
    public AdmissionPlan WithHold(long holdNanos, string holdId) => new(_currency)
    {
        Now = Now,
        HoldId = holdId,
        KeyId = KeyId,
        TierName = TierName,
        Rpm = Rpm,
        Tpm = Tpm,
        Parallel = Parallel,
        DailyRequests = DailyRequests,
        DailyTokens = DailyTokens,
        Day = Day,
        DayEnd = DayEnd,
        KeyBudget = KeyBudget,
        WorkspaceBudget = WorkspaceBudget,
        HoldNanos = holdNanos,
        Tokens = Tokens,
        HoldExpires = HoldExpires,
    };

    /// <summary>now + ttl, rounded up to a whole <see cref="FlightGrain"/> (Unix ms).</summary>
    public static DateTimeOffset ExpiryOf(DateTimeOffset now, TimeSpan ttl)
    {
        var grain = (long)FlightGrain.TotalMilliseconds;
        var ms = now.ToUnixTimeMilliseconds() + (long)Math.Ceiling(ttl.TotalMilliseconds);
        return DateTimeOffset.FromUnixTimeMilliseconds((ms + grain - 1) / grain * grain);
    }

    public static string DayLabel(DateTimeOffset dayStart) => dayStart.ToString("yyyyMMdd", CultureInfo.InvariantCulture);

    /// <summary>What settlement needs; <paramref name="lease"/> when admitted from a replica's lease.</summary>
    public HoldHandle Handle(RedisLease? lease = null) =>
        new(HoldId, KeyId, WorkspaceBudget?.Owner, KeyPeriod, WorkspaceBudget?.Label, Day, DayEnd, HoldNanos, Tpm is null ? -1 : Tokens, RateWindow.SecondOf(NowMs), HoldExpires.ToUnixTimeMilliseconds())
        {
            Lease = lease,
        };

    public Admission RefuseParallel(long inFlight) => Admission.Refuse(
        LimitKind.MaxParallel,
        Invariant($"max_parallel limit of {Parallel!.Value.Value} ({Parallel.Value.Source}) reached: {inFlight} requests of key '{KeyId}' in flight"),
        ParallelRetry);

    public Admission RefuseRpm(long inWindow, TimeSpan retryAfter) => Admission.Refuse(
        LimitKind.RateLimitRpm,
        Invariant($"rpm limit of {Rpm!.Value.Value} requests per minute ({Rpm.Value.Source}) reached: {inWindow} requests of key '{KeyId}' in the last 60 s (counted by whole seconds)"),
        retryAfter);

    public Admission RefuseTpm(long inWindow, TimeSpan retryAfter) => Admission.Refuse(
        LimitKind.RateLimitTpm,
        Invariant($"tpm limit of {Tpm!.Value.Value} tokens per minute ({Tpm.Value.Source}) reached: {inWindow} tokens of key '{KeyId}' in the last 60 s (counted by whole seconds), this request needs {Tokens}"),
        retryAfter);

    public Admission RefuseDailyRequests(long used) => Admission.Refuse(
        LimitKind.DailyRequestQuota,
        Invariant($"daily request quota of tier '{TierName}' ({DailyRequests} requests) exhausted: {used} used today; resets at {DayEnd:yyyy-MM-ddTHH:mm:ssZ}"),
        DayEnd - Now);

    public Admission RefuseDailyTokens(long used) => Admission.Refuse(
        LimitKind.DailyTokenQuota,
        Invariant($"daily token quota of tier '{TierName}' ({DailyTokens} tokens) exhausted: {used} used today; resets at {DayEnd:yyyy-MM-ddTHH:mm:ssZ}"),
        DayEnd - Now);

    public Admission RefuseBudget(bool workspace, long spend, long held)
    {
        var budget = workspace ? WorkspaceBudget! : KeyBudget!;
        var who = workspace ? $"workspace '{budget.Owner}'" : $"key '{budget.Owner}'";
        var period = budget.Spec.Period is null ? "with no reset" : $"per {budget.Spec.Period}";
        var resets = budget.End is { } end ? Invariant($"; resets at {end:yyyy-MM-ddTHH:mm:ssZ}") : "";
        return Admission.Refuse(
            workspace ? LimitKind.WorkspaceBudgetExceeded : LimitKind.BudgetExceeded,
            Invariant($"{who} budget exceeded: max_budget {Money(budget.Max)} {_currency} {period}; spent {Money(spend)}, held {Money(held)}, this request holds {Money(HoldNanos)}{resets}"),
            budget.End - Now);
    }

    private static string Money(long nanos) => Nanos.ToMoney(nanos).ToString("0.######", CultureInfo.InvariantCulture);

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
