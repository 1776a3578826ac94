using System.Globalization;
using Tollgate.Configuration;
using Tollgate.Limits;
using Tollgate.Pricing;
using Tollgate.Routing;
using Tollgate.Telemetry;
using Tollgate.Translation;

namespace Tollgate.Pipeline;

/// <summary>
/// Admission against budgets, rate limits and tier quotas: a hold for the request's worst-case cost before
/// dispatch, settled to the actual cost afterwards. Keys and tiers with no limits skip the limiter entirely.
/// </summary>
internal sealed class LimitsGate(ILimiter limiter, ILogger<LimitsGate> logger)
{
    public ILimiter Limiter => limiter;

    /// <summary>Null admission when nothing limits this key; a refusal comes back as a 429 error.</summary>
    public async ValueTask<(Admission? Admission, GatewayError? Error)> AdmitAsync(GatewayContext ctx, RouteTable table, long bodyBytes, long? maxTokens, CancellationToken cancellationToken)
    {
        var key = ctx.Key!.Record;
        var tier = key.Tier is { } tierName && table.Config.Tiers.TryGetValue(tierName, out var tierConfig) ? tierConfig : null;
        if (!IsLimited(key, tier) && (key.Workspace is null || !table.Config.Workspaces.ContainsKey(key.Workspace)))
        {
            return (null, null);
        }

        var (price, model) = CostliestCandidate(table, ctx.Group!);
        var estimate = HoldEstimator.EstimateFromBody(bodyBytes, maxTokens, price, table.Currency, ModelLimits.MaxOutputTokens(model));
        var request = new AdmissionRequest(KeyLimits.From(key), tier is null ? null : TierLimits.From(tier), estimate.Cost, estimate.RateLimitTokens);
        var admission = await limiter.AdmitAsync(request, cancellationToken);
        if (admission.Refusal is { } refusal)
        {
            int? retryAfter = admission.RetryAfter is { } wait ? (int)Math.Ceiling(Math.Max(1, wait.TotalSeconds)) : null;
            return (admission, new GatewayError(GatewayErrorKind.LimitExceeded, admission.Message ?? refusal.WireName(), RetryAfterSeconds: retryAfter, LimitType: refusal.WireName()));
        }

        if (admission.SoftLimitCrossed)
        {
            ctx.Http.Response.Headers["x-tollgate-budget-warning"] = "spend has passed the soft limit of this key's budget";
        }

        if (admission.SoftLimitAlertFired)
        {
            // The alert event: once per key (or workspace) per budget period, across replicas.
            Log.BudgetSoftLimitCrossed(logger, key.Id, key.Alias ?? string.Empty, key.Workspace ?? string.Empty);
        }

        return (admission, null);
    }

    /// <summary>Settles the hold to what the call cost. Never throws: a failed settlement expires with the hold's TTL.</summary>
    public async Task SettleAsync(Admission admission, GatewayContext ctx)
    {
        try
        {
            await limiter.SettleAsync(admission, ctx.Cost, ctx.Usage.TotalTokens, CancellationToken.None);
        }
        catch (Exception ex)
        {
            Log.SettleFailed(logger, ctx.RequestId, ex.GetType().Name);
        }
    }

    private static bool IsLimited(Storage.VirtualKeyRecord key, TierConfig? tier) =>
        key.MaxBudget is not null || key.Rpm is not null || key.Tpm is not null || key.MaxParallel is not null
        || (tier is not null && (tier.DailyRequests is not null || tier.DailyTokens is not null || tier.Rpm is not null || tier.Tpm is not null || tier.MaxParallel is not null));

    /// <summary>The hold assumes the dearest deployment that could serve, fallbacks included.</summary>
    private static (ModelPrice? Price, string Model) CostliestCandidate(RouteTable table, ModelGroup group)
    {
        ModelPrice? best = null;
        var model = group.Deployments.Count > 0 ? group.Deployments[0].Model : group.Name;
        foreach (var candidate in group.Fallback.Select(f => table.Groups.GetValueOrDefault(f)).Prepend(group))
        {
            foreach (var deployment in candidate?.Deployments ?? [])
            {
                if (deployment.Price is { } price && (best is null || price.Output + price.Input > best.Output + best.Input))
                {
                    best = price;
                    model = deployment.Model;
                }
            }
        }

        return (best, model);
    }

    public static string Describe(decimal amount) => amount.ToString("0.######", CultureInfo.InvariantCulture);
}
