namespace Tollgate.Limits;

/// <summary>Builds <see cref="QuotaView"/>s the same way for both limiters.</summary>
internal static class QuotaViews
{
    public static BudgetView Budget(BudgetWindow window, long spendNanos, long heldNanos) =>
        new(Nanos.ToMoney(window.Max), Nanos.ToMoney(spendNanos), Nanos.ToMoney(heldNanos), window.End, window.Soft is { } s ? Nanos.ToMoney(s) : null);

    public static QuotaView Build(AdmissionPlan plan, BudgetView? budget, BudgetView? workspaceBudget, long requestsToday, long tokensToday, long rpmUsed, long tpmUsed, long inFlight) => new()
    {
        KeyId = plan.KeyId,
        Budget = budget,
        Workspace = plan.WorkspaceBudget?.Owner,
        WorkspaceBudget = workspaceBudget,
        RequestsToday = requestsToday,
        TokensToday = tokensToday,
        DailyRequests = plan.DailyRequests is { } r ? new CounterView(r, requestsToday) : null,
        DailyTokens = plan.DailyTokens is { } t ? new CounterView(t, tokensToday) : null,
        DailyResetsAt = plan.DayEnd,
        Rpm = plan.Rpm is { } rpm ? new CounterView(rpm.Value, rpmUsed) : null,
        Tpm = plan.Tpm is { } tpm ? new CounterView(tpm.Value, tpmUsed) : null,
        InFlight = inFlight,
        Parallel = plan.Parallel is { } p ? new CounterView(p.Value, inFlight) : null,
    };
}
