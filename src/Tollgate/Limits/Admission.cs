namespace Tollgate.Limits;

/// <summary>
/// The outcome of <see cref="ILimiter.AdmitAsync"/>. When admitted it carries the <see cref="Hold"/> that
/// <see cref="ILimiter.SettleAsync"/> must be given exactly once (later calls are no-ops); when refused, the
/// limit, a message naming it and its value, and when to retry.
/// </summary>
internal sealed class Admission
{
    private Admission(HoldHandle? hold, LimitKind? refusal, string? message, TimeSpan? retryAfter)
    {
        Hold = hold;
        Refusal = refusal;
        Message = message;
        RetryAfter = retryAfter;
    }

    public bool Admitted => Refusal is null;

    /// <summary>Null when admitted.</summary>
    public LimitKind? Refusal { get; }

    /// <summary>Names the limit and its value, e.g. "rpm limit of 10 requests per minute (key) reached".</summary>
    public string? Message { get; }

    /// <summary>
    /// When a retry can succeed: rpm/tpm when the window frees room, budgets when the period resets, daily quotas
    /// at the next UTC midnight, max_parallel a one-second hint. Null only for a budget with no period (never resets).
    /// </summary>
    public TimeSpan? RetryAfter { get; }

    /// <summary>Opaque: what settlement needs. Null when refused.</summary>
    public HoldHandle? Hold { get; }

    /// <summary>The key's settled spend this period has reached its soft limit.</summary>
    public bool KeySoftLimitCrossed { get; private init; }

    /// <summary>This admission is the first to see the key past its soft limit this period (fires once per period, across replicas).</summary>
    public bool KeySoftLimitAlertFired { get; private init; }

    public bool WorkspaceSoftLimitCrossed { get; private init; }

    public bool WorkspaceSoftLimitAlertFired { get; private init; }

    /// <summary>Add <c>x-tollgate-budget-warning</c> to the response.</summary>
    public bool SoftLimitCrossed => KeySoftLimitCrossed || WorkspaceSoftLimitCrossed;

    /// <summary>Emit the soft-limit alert event (once per key or workspace per period).</summary>
    public bool SoftLimitAlertFired => KeySoftLimitAlertFired || WorkspaceSoftLimitAlertFired;

    internal static Admission Admit(HoldHandle hold, bool keyCrossed, bool keyAlert, bool workspaceCrossed, bool workspaceAlert) =>
        new(hold, null, null, null)
        {
            KeySoftLimitCrossed = keyCrossed,
            KeySoftLimitAlertFired = keyAlert,
            WorkspaceSoftLimitCrossed = workspaceCrossed,
            WorkspaceSoftLimitAlertFired = workspaceAlert,
        };

    internal static Admission Refuse(LimitKind kind, string message, TimeSpan? retryAfter) =>
        new(null, kind, message, retryAfter is { } r && r < TimeSpan.Zero ? TimeSpan.Zero : retryAfter);
}

/// <summary>What one admitted request holds: its id and the period/day labels its counters were taken in.</summary>
internal sealed class HoldHandle
{
    private int _settled;

    internal HoldHandle(string id, string keyId, string? workspace, string keyPeriod, string? workspacePeriod, string day, DateTimeOffset dayEnd, long holdNanos, long tpmTokens, long rateSecond, long expiresMs)
    {
        Id = id;
        KeyId = keyId;
        Workspace = workspace;
        KeyPeriod = keyPeriod;
        WorkspacePeriod = workspacePeriod;
        Day = day;
        DayEnd = dayEnd;
        HoldNanos = holdNanos;
        TpmTokens = tpmTokens;
        RateSecond = rateSecond;
        ExpiresMs = expiresMs;
    }

    /// <summary>Unique across replicas; fine to log.</summary>
    public string Id { get; }

    internal string KeyId { get; }

    /// <summary>The workspace whose budget holds part of this request, or null.</summary>
    internal string? Workspace { get; }

    /// <summary>The key's budget period label (<see cref="BudgetWindow.NoBudget"/> when the key has no budget).</summary>
    internal string KeyPeriod { get; }

    internal string? WorkspacePeriod { get; }

    /// <summary>UTC day of admission, yyyyMMdd: daily token counts settle into it.</summary>
    internal string Day { get; }

    internal DateTimeOffset DayEnd { get; }

    /// <summary>What the hold reserved (<see cref="Nanos"/>): against the workspace budget, and the key's when it has one.</summary>
    internal long HoldNanos { get; }

    /// <summary>The tokens tpm counted for this admission, or -1 when no tpm limit applied.</summary>
    internal long TpmTokens { get; }

    /// <summary>The rate window's bucket (Unix second) the admission counted in: settlement corrects tpm there.</summary>
    internal long RateSecond { get; }

    /// <summary>When the hold expires unsettled (Unix ms, a whole <see cref="AdmissionPlan.FlightGrain"/>): its flight group in Redis.</summary>
    internal long ExpiresMs { get; }

    /// <summary>The replica-local lease this admission was taken from (<see cref="RedisLimiter"/>), or null.</summary>
    internal RedisLease? Lease { get; init; }

    /// <summary>True for the first caller only: makes settlement idempotent.</summary>
    internal bool TryClaimSettlement() => Interlocked.Exchange(ref _settled, 1) == 0;
}

/// <summary>A budget now: spend settled this period, holds outstanding, and when it resets.</summary>
internal sealed record BudgetView(decimal MaxBudget, decimal Spend, decimal Held, DateTimeOffset? ResetsAt, decimal? SoftLimit)
{
    public decimal Remaining => Math.Max(0m, MaxBudget - Spend - Held);

    public bool SoftLimitCrossed => SoftLimit is { } soft && Spend >= soft;
}

/// <summary>A counted limit now: <paramref name="Used"/> of <paramref name="Limit"/>.</summary>
internal sealed record CounterView(long Limit, long Used)
{
    public long Remaining => Math.Max(0, Limit - Used);
}

/// <summary>
/// The read-only view behind <c>GET /quota</c> and <c>GET /admin/keys/{id}</c>. A part is null when its limit is
/// not set. Requests and tokens today are always counted (<see cref="RequestsToday"/>, <see cref="TokensToday"/>).
/// </summary>
internal sealed record QuotaView
{
    public required string KeyId { get; init; }
    public BudgetView? Budget { get; init; }
    public string? Workspace { get; init; }
    public BudgetView? WorkspaceBudget { get; init; }
    public long RequestsToday { get; init; }
    public long TokensToday { get; init; }
    public CounterView? DailyRequests { get; init; }
    public CounterView? DailyTokens { get; init; }
    /// <summary>Next UTC midnight: when the daily quotas reset.</summary>
    public DateTimeOffset DailyResetsAt { get; init; }
    /// <summary>Requests counted in the rate window now (this second and the 60 before, <see cref="RateWindow"/>) against the effective rpm.</summary>
    public CounterView? Rpm { get; init; }
    /// <summary>Tokens counted in the rate window now (estimates for requests in flight, actuals once settled) against the effective tpm.</summary>
    public CounterView? Tpm { get; init; }
    public long InFlight { get; init; }
    public CounterView? Parallel { get; init; }
}
