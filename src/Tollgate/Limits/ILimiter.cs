namespace Tollgate.Limits;

/// <summary>
/// The admission limits engine (SPEC §5, tiers in §4): budgets with holds, rpm/tpm/max_parallel per key and per
/// tier, and tier daily quotas. <see cref="InMemoryLimiter"/> serves one replica; <see cref="RedisLimiter"/> makes
/// replicas sharing one Redis behave as one. <see cref="LimiterFactory"/> picks.
/// </summary>
internal interface ILimiter : IAsyncDisposable
{
    /// <summary>
    /// Every check for one request, all or nothing: max_parallel, rpm, tpm, the tier's daily request and token
    /// quotas, the key's budget hold and the workspace's budget hold. A refusal records nothing. An admission
    /// takes a parallel slot, an rpm/tpm entry, a daily request and both holds, until <see cref="SettleAsync"/>.
    /// </summary>
    ValueTask<Admission> AdmitAsync(AdmissionRequest request, CancellationToken cancellationToken);

    /// <summary>
    /// Replaces the hold with the actual cost (reporting currency) and the tpm estimate with the actual tokens,
    /// counts the tokens into today's quota, and frees the parallel slot. Call it once the call completes or fails
    /// (with cost 0 when nothing was billed). Idempotent; a no-op for a refused admission.
    /// </summary>
    ValueTask SettleAsync(Admission admitted, decimal actualCost, long actualTokens, CancellationToken cancellationToken);

    /// <summary>Headroom now, for <c>GET /quota</c> and <c>GET /admin/keys/{id}</c>. Changes no limit.</summary>
    ValueTask<QuotaView> GetQuotaAsync(KeyLimits key, TierLimits? tier, CancellationToken cancellationToken);

    /// <summary>Swaps the workspace budgets (config reload); periods and spend carry on.</summary>
    void UpdateWorkspaceBudgets(IReadOnlyDictionary<string, BudgetSpec> budgets);
}
