using System.Collections.Concurrent;
using System.Globalization;

namespace Tollgate.Limits;

/// <summary>
/// Limits for a single replica. Each key's counters sit behind one lock, and each workspace's behind another
/// (always taken key first, then workspace, so two locks never deadlock); an admission decides and records
/// under both, so it is exact however many requests race. Replicas do not share this state: run
/// <see cref="RedisLimiter"/> for more than one.
/// </summary>
internal sealed class InMemoryLimiter : ILimiter
{
    private readonly ConcurrentDictionary<string, KeyState> _keys = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, BudgetState> _workspaces = new(StringComparer.Ordinal);
    private readonly SettledSpendLoader _loader;
    private readonly string _instance = Guid.NewGuid().ToString("N")[..12];
    private LimiterOptions _options;
    private long _sequence;

    public InMemoryLimiter(LimiterOptions options, SettledSpendLoader settledSpendLoader)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(settledSpendLoader);
        _options = options;
        _loader = settledSpendLoader;
    }

    public void UpdateWorkspaceBudgets(IReadOnlyDictionary<string, BudgetSpec> budgets)
    {
        ArgumentNullException.ThrowIfNull(budgets);
        Volatile.Write(ref _options, _options with { WorkspaceBudgets = budgets });
    }

    public async ValueTask<Admission> AdmitAsync(AdmissionRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var options = Volatile.Read(ref _options);
        var holdId = string.Create(CultureInfo.InvariantCulture, $"{_instance}-{Interlocked.Increment(ref _sequence)}");
        while (true)
        {
            // A fresh plan each round: if another request moved a budget into a newer period, this one follows.
            var plan = AdmissionPlan.Create(request, options, options.Time.GetUtcNow(), holdId);
            var key = _keys.GetOrAdd(plan.KeyId, static _ => new KeyState());
            var workspace = plan.WorkspaceBudget is { } w ? _workspaces.GetOrAdd(w.Owner, static _ => new BudgetState()) : null;
            await SeedAsync(key, plan.KeyBudget, BudgetScope.Key, plan.Now, cancellationToken);
            if (workspace is not null)
            {
                await SeedAsync(workspace, plan.WorkspaceBudget, BudgetScope.Workspace, plan.Now, cancellationToken);
            }

            lock (key.Gate)
            {
                if (workspace is null)
                {
                    if (Decide(plan, key, null) is { } admission)
                    {
                        return admission;
                    }
                }
                else
                {
                    lock (workspace.Gate)
                    {
                        if (Decide(plan, key, workspace) is { } admission)
                        {
                            return admission;
                        }
                    }
                }
            }
        }
    }

    public ValueTask SettleAsync(Admission admitted, decimal actualCost, long actualTokens, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(admitted);
        if (admitted.Hold is not { } hold || !hold.TryClaimSettlement())
        {
            return ValueTask.CompletedTask;
        }

        var cost = Nanos.Round(actualCost);
        var tokens = Math.Max(0, actualTokens);
        if (_keys.TryGetValue(hold.KeyId, out var key))
        {
            var nowMs = Volatile.Read(ref _options).Time.GetUtcNow().ToUnixTimeMilliseconds();
            lock (key.Gate)
            {
                key.Release(hold.Id, hold.KeyPeriod, cost);
                if (hold.TpmTokens >= 0)
                {
                    // The estimate counted in the admission's bucket becomes the actual, while that bucket counts.
                    key.Tpm.Adjust(hold.RateSecond, tokens - hold.TpmTokens, nowMs);
                }

                if (key.Day == hold.Day)
                {
                    key.TokensToday += tokens;
                }
            }
        }

        if (hold.Workspace is { } name && _workspaces.TryGetValue(name, out var workspace))
        {
            lock (workspace.Gate)
            {
                workspace.Release(hold.Id, hold.WorkspacePeriod!, cost);
            }
        }

        return ValueTask.CompletedTask;
    }

    public async ValueTask<QuotaView> GetQuotaAsync(KeyLimits key, TierLimits? tier, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(key);
        var options = Volatile.Read(ref _options);
        var plan = AdmissionPlan.Create(new AdmissionRequest(key, tier, 0m, 0), options, options.Time.GetUtcNow(), "");
        var state = _keys.GetOrAdd(key.KeyId, static _ => new KeyState());
        var workspace = plan.WorkspaceBudget is { } w ? _workspaces.GetOrAdd(w.Owner, static _ => new BudgetState()) : null;
        await SeedAsync(state, plan.KeyBudget, BudgetScope.Key, plan.Now, cancellationToken);
        if (workspace is not null)
        {
            await SeedAsync(workspace, plan.WorkspaceBudget, BudgetScope.Workspace, plan.Now, cancellationToken);
        }

        var now = plan.NowMs;
        long inFlight, rpmUsed, tpmUsed, requests, tokens;
        BudgetView? budget;
        lock (state.Gate)
        {
            inFlight = state.Flights.Values.Count(f => f.ExpiresMs > now);
            rpmUsed = state.Rpm.Used(now);
            tpmUsed = state.Tpm.Used(now);
            var today = state.Day == plan.Day;
            requests = today ? state.RequestsToday : 0;
            tokens = today ? state.TokensToday : 0;
            budget = state.View(plan.KeyBudget, now);
        }

        BudgetView? workspaceBudget = null;
        if (workspace is not null)
        {
            lock (workspace.Gate)
            {
                workspaceBudget = workspace.View(plan.WorkspaceBudget, now);
            }
        }

        return QuotaViews.Build(plan, budget, workspaceBudget, requests, tokens, rpmUsed, tpmUsed, inFlight);
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    /// <summary>
    /// Loads the settled spend of a period this limiter has no state for. A newer plan replaces the state; a stale
    /// one (older clock reading) does not, so two racing admissions never flip a budget back a period.
    /// </summary>
    private async Task SeedAsync(BudgetState state, BudgetWindow? window, BudgetScope scope, DateTimeOffset now, CancellationToken cancellationToken)
    {
        if (window is null)
        {
            return;
        }

        lock (state.Gate)
        {
            if (state.Label == window.Label)
            {
                return;
            }
        }

        var (from, to) = window.LoadRange;
        var spend = await _loader(scope, window.Owner, from, to, cancellationToken);
        lock (state.Gate)
        {
            if (state.Label != window.Label && now >= state.SeededAt)
            {
                state.Label = window.Label;
                state.SeededAt = now;
                state.Spend = Nanos.Round(spend);
                state.Held = 0;
                state.SoftAlerted = false;
            }
        }
    }

    /// <summary>Under the locks: null when a budget's state is for another period (seed again), else the decision.</summary>
    private static Admission? Decide(AdmissionPlan plan, KeyState key, BudgetState? workspace)
    {
        if ((plan.KeyBudget is { } kb && key.Label != kb.Label)
            || (workspace is not null && workspace.Label != plan.WorkspaceBudget!.Label))
        {
            return null;
        }

        var now = plan.NowMs;
        key.PruneFlights(now);
        workspace?.PruneFlights(now);

        if (plan.Parallel is { } parallel && key.Flights.Count >= parallel.Value)
        {
            return plan.RefuseParallel(key.Flights.Count);
        }

        if (plan.Rpm is { } rpm)
        {
            var count = key.Rpm.Used(now);
            if (count >= rpm.Value)
            {
                // A slot frees when enough of the oldest buckets have left the window.
                return plan.RefuseRpm(count, key.Rpm.RetryAfter(count - rpm.Value + 1, now));
            }
        }

        if (plan.Tpm is { } tpm)
        {
            var used = key.Tpm.Used(now);
            if (used + plan.Tokens > tpm.Value)
            {
                return plan.RefuseTpm(used, key.Tpm.RetryAfter(used + plan.Tokens - tpm.Value, now));
            }
        }

        if (key.Day != plan.Day)
        {
            key.Day = plan.Day;
            key.RequestsToday = 0;
            key.TokensToday = 0;
        }

        if (plan.DailyRequests is { } dailyRequests && key.RequestsToday >= dailyRequests)
        {
            return plan.RefuseDailyRequests(key.RequestsToday);
        }

        if (plan.DailyTokens is { } dailyTokens && key.TokensToday >= dailyTokens)
        {
            return plan.RefuseDailyTokens(key.TokensToday);
        }

        if (plan.KeyBudget is { } keyBudget && key.Spend + key.Held + plan.HoldNanos > keyBudget.Max)
        {
            return plan.RefuseBudget(workspace: false, key.Spend, key.Held);
        }

        if (plan.WorkspaceBudget is { } wsBudget && workspace!.Spend + workspace.Held + plan.HoldNanos > wsBudget.Max)
        {
            return plan.RefuseBudget(workspace: true, workspace.Spend, workspace.Held);
        }

        // Admitted: record everything.
        var expires = plan.HoldExpires.ToUnixTimeMilliseconds();
        var keyHold = plan.KeyBudget is null ? 0 : plan.HoldNanos;
        key.Flights[plan.HoldId] = new Flight(expires, plan.KeyPeriod, keyHold);
        key.Held += keyHold;
        if (plan.Rpm is not null)
        {
            key.Rpm.Add(now, 1);
        }

        if (plan.Tpm is not null)
        {
            key.Tpm.Add(now, plan.Tokens);
        }

        key.RequestsToday++;
        if (workspace is not null)
        {
            workspace.Flights[plan.HoldId] = new Flight(expires, plan.WorkspaceBudget!.Label, plan.HoldNanos);
            workspace.Held += plan.HoldNanos;
        }

        var (keyCrossed, keyAlert) = key.SoftCheck(plan.KeyBudget);
        var (wsCrossed, wsAlert) = workspace is null ? (false, false) : workspace.SoftCheck(plan.WorkspaceBudget);
        return Admission.Admit(plan.Handle(), keyCrossed, keyAlert, wsCrossed, wsAlert);
    }

    private sealed record Flight(long ExpiresMs, string Label, long Hold);

    /// <summary>A budget's current period, and the holds placed against it.</summary>
    private class BudgetState
    {
        public Lock Gate { get; } = new();
        public string? Label { get; set; }
        public DateTimeOffset SeededAt { get; set; } = DateTimeOffset.MinValue;
        public long Spend { get; set; }
        public long Held { get; set; }
        public bool SoftAlerted { get; set; }
        public Dictionary<string, Flight> Flights { get; } = new(StringComparer.Ordinal);

        /// <summary>Forgets holds past their TTL (their request never settled).</summary>
        public void PruneFlights(long nowMs)
        {
            foreach (var (id, flight) in Flights)
            {
                if (flight.ExpiresMs <= nowMs)
                {
                    Flights.Remove(id);
                    if (flight.Label == Label)
                    {
                        Held -= flight.Hold;
                    }
                }
            }
        }

        /// <summary>Settlement: frees the hold (if it has not expired) and adds the cost to the period it was taken in.</summary>
        public void Release(string id, string period, long cost)
        {
            if (Flights.Remove(id, out var flight) && flight.Label == Label)
            {
                Held -= flight.Hold;
            }

            if (period == Label)
            {
                Spend += cost;
            }
        }

        public (bool Crossed, bool Alert) SoftCheck(BudgetWindow? window)
        {
            if (window?.Soft is not { } soft || Spend < soft)
            {
                return (false, false);
            }

            var alert = !SoftAlerted;
            SoftAlerted = true;
            return (true, alert);
        }

        public BudgetView? View(BudgetWindow? window, long nowMs)
        {
            if (window is null)
            {
                return null;
            }

            var held = Flights.Values.Where(f => f.ExpiresMs > nowMs && f.Label == window.Label).Sum(f => f.Hold);
            var spend = Label == window.Label ? Spend : 0;
            return QuotaViews.Budget(window, spend, held);
        }
    }

    private sealed class KeyState : BudgetState
    {
        /// <summary>Admissions per second (only while the key has an rpm limit).</summary>
        public RateWindow Rpm { get; } = new();

        /// <summary>Tokens per second: estimates at admission, actuals once settled (only with a tpm limit).</summary>
        public RateWindow Tpm { get; } = new();
        public string? Day { get; set; }
        public long RequestsToday { get; set; }
        public long TokensToday { get; set; }
    }
}
