using System.Globalization;
using StackExchange.Redis;

namespace Tollgate.Limits;

/// <summary>
/// Limits shared by every replica on one Redis. Each admission is one Lua script (<see cref="RedisScripts.Admit"/>)
/// and each settlement another, so checks and records are atomic across replicas.
/// <para>Key layout (prefix <c>tg</c>; <c>ID</c> the key id, <c>WS</c> the workspace):</para>
/// <list type="bullet">
/// <item><c>{tg:k:ID}:fl</c> hash hold id → "period|hold" and <c>{tg:k:ID}:exp</c> zset hold id → expiry: the key's requests in flight (max_parallel) and their holds; TTL = the longer of hold TTL and the period's.</item>
/// <item><c>{tg:k:ID}:spend:P</c> settled spend of period P (seeded from the store), <c>:held:P</c> holds outstanding, <c>:soft:P</c> set once the soft-limit alert fired; TTL = to the period's end plus slack.</item>
/// <item><c>{tg:k:ID}:rpm</c> zset of admissions by time; <c>:tpm</c> zset and <c>:tpmv</c> hash of tokens per admission; TTL 60 s.</item>
/// <item><c>{tg:k:ID}:dreq:yyyyMMdd</c>, <c>:dtok:yyyyMMdd</c> the tier's daily request and token counts; TTL to UTC midnight plus slack.</item>
/// <item><c>{tg:w:WS}:fl</c>, <c>:exp</c>, <c>:spend:P</c>, <c>:held:P</c>, <c>:soft:P</c> the same for a workspace budget.</item>
/// </list>
/// <para>
/// The target is a single Redis node (or a primary with replicas). A key's own keys share one hash tag, but an
/// admission of a key in a budgeted workspace also touches the workspace's slot, which Redis Cluster refuses in
/// one script (CROSSSLOT): cluster mode works only for keys without a workspace budget.
/// </para>
/// <para>
/// Consistency with the store, the source of truth: a period's spend is seeded from the ledger the first time
/// Redis lacks it (first use, new period, Redis restart or flush). Ledger rows still queued in a replica at that
/// moment (≤ one flush interval) are missed, and holds in flight at a flush are forgotten, so right after a flush
/// a budget can be overspent by at most those requests. Settlements whose period spend is absent are not added
/// (the ledger has them; the next seed counts them). Daily quota counters are not in the ledger's shape and
/// restart from zero after a flush. Run Redis with <c>maxmemory-policy noeviction</c> (or a volatile-* policy):
/// an evicted counter is a wrong limit. Times come from each replica's <see cref="TimeProvider"/>: keep clocks in sync.
/// </para>
/// </summary>
internal sealed class RedisLimiter : ILimiter
{
    private static readonly TimeSpan DaySlack = TimeSpan.FromHours(1);
    private readonly IConnectionMultiplexer _connection;
    private readonly bool _ownsConnection;
    private readonly SettledSpendLoader _loader;
    private readonly string _instance = Guid.NewGuid().ToString("N")[..12];
    private LimiterOptions _options;
    private long _sequence;

    public RedisLimiter(IConnectionMultiplexer connection, LimiterOptions options, SettledSpendLoader settledSpendLoader, bool ownsConnection)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(settledSpendLoader);
        _connection = connection;
        _options = options;
        _loader = settledSpendLoader;
        _ownsConnection = ownsConnection;
    }

    private IDatabase Db => _connection.GetDatabase();

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
        var plan = AdmissionPlan.Create(request, options, options.Time.GetUtcNow(), holdId);
        var names = new Names(options.RedisPrefix, plan.KeyId, plan.WorkspaceBudget?.Owner);
        var ws = plan.WorkspaceBudget;
        RedisKey[] keys =
        [
            names.Key("fl"), names.Key("exp"), names.Key("rpm"), names.Key("tpm"), names.Key("tpmv"),
            names.Key("spend:" + plan.KeyPeriod), names.Key("held:" + plan.KeyPeriod), names.Key("soft:" + plan.KeyPeriod),
            names.Key("dreq:" + plan.Day), names.Key("dtok:" + plan.Day),
            names.Workspace("fl"), names.Workspace("exp"), names.Workspace("spend:" + ws?.Label),
            names.Workspace("held:" + ws?.Label), names.Workspace("soft:" + ws?.Label),
        ];
        var args = new RedisValue[]
        {
            plan.NowMs, holdId, plan.HoldExpires.ToUnixTimeMilliseconds(), Ms(FlightTtl(plan, options)),
            plan.Parallel?.Value ?? -1, plan.Rpm?.Value ?? -1, plan.Tpm?.Value ?? -1, plan.Tokens,
            plan.DailyRequests ?? -1, plan.DailyTokens ?? -1, Ms(plan.DayEnd - plan.Now + DaySlack),
            plan.KeyBudget?.Max ?? -1, plan.KeyBudget?.Soft ?? -1, plan.KeyBudget is null ? 0 : plan.HoldNanos, plan.KeyPeriod,
            Ms(plan.KeyBudget?.StateTtl(plan.Now, options.HoldTtl) ?? TimeSpan.FromMinutes(1)), "",
            ws?.Max ?? -1, ws?.Soft ?? -1, plan.HoldNanos, ws?.Label ?? BudgetWindow.NoBudget,
            Ms(ws?.StateTtl(plan.Now, options.HoldTtl) ?? TimeSpan.FromMinutes(1)), "",
            Ms(AdmissionPlan.Window),
        };

        for (var attempt = 0; ; attempt++)
        {
            var result = (RedisResult[])(await EvalAsync(RedisScripts.Admit, keys, args, cancellationToken))!;
            var code = (long)result[0];
            if (code == 0)
            {
                return Admission.Admit(plan.Handle(), (long)result[1] == 1, (long)result[2] == 1, (long)result[3] == 1, (long)result[4] == 1);
            }

            if (code == 1)
            {
                var retry = TimeSpan.FromMilliseconds((long)result[2]);
                var a = (long)result[3];
                return (LimitKind)(int)(long)result[1] switch
                {
                    LimitKind.MaxParallel => plan.RefuseParallel(a),
                    LimitKind.RateLimitRpm => plan.RefuseRpm(a, retry),
                    LimitKind.RateLimitTpm => plan.RefuseTpm(a, retry),
                    LimitKind.DailyRequestQuota => plan.RefuseDailyRequests(a),
                    LimitKind.DailyTokenQuota => plan.RefuseDailyTokens(a),
                    LimitKind.BudgetExceeded => plan.RefuseBudget(workspace: false, a, (long)result[4]),
                    LimitKind.WorkspaceBudgetExceeded => plan.RefuseBudget(workspace: true, a, (long)result[4]),
                    var other => throw new InvalidOperationException($"admit script returned unknown limit {other}"),
                };
            }

            if (attempt >= 3)
            {
                throw new InvalidOperationException("admit script kept asking for spend seeds");
            }

            // A budget with no spend in Redis: load it from the store and run again; SET NX keeps the first seed.
            if ((long)result[1] == 1)
            {
                args[16] = await SeedAsync(BudgetScope.Key, plan.KeyBudget!, cancellationToken);
            }

            if ((long)result[2] == 1)
            {
                args[22] = await SeedAsync(BudgetScope.Workspace, ws!, cancellationToken);
            }
        }
    }

    public async ValueTask SettleAsync(Admission admitted, decimal actualCost, long actualTokens, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(admitted);
        if (admitted.Hold is not { } hold || !hold.TryClaimSettlement())
        {
            return;
        }

        var options = Volatile.Read(ref _options);
        var names = new Names(options.RedisPrefix, hold.KeyId, hold.Workspace);
        RedisKey[] keys =
        [
            names.Key("fl"), names.Key("exp"), names.Key("tpmv"), names.Key("spend:" + hold.KeyPeriod),
            names.Key("held:" + hold.KeyPeriod), names.Key("dtok:" + hold.Day),
            names.Workspace("fl"), names.Workspace("exp"), names.Workspace("spend:" + hold.WorkspacePeriod),
            names.Workspace("held:" + hold.WorkspacePeriod),
        ];
        var dayTtl = hold.DayEnd - options.Time.GetUtcNow() + DaySlack;
        RedisValue[] args =
        [
            hold.Id, Nanos.Round(actualCost), Math.Max(0, actualTokens), Ms(dayTtl < TimeSpan.FromSeconds(1) ? TimeSpan.FromSeconds(1) : dayTtl),
            hold.Workspace is null ? "0" : "1",
        ];
        await EvalAsync(RedisScripts.Settle, keys, args, cancellationToken);
    }

    public async ValueTask<QuotaView> GetQuotaAsync(KeyLimits key, TierLimits? tier, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(key);
        var options = Volatile.Read(ref _options);
        var plan = AdmissionPlan.Create(new AdmissionRequest(key, tier, 0m, 0), options, options.Time.GetUtcNow(), "");
        var names = new Names(options.RedisPrefix, plan.KeyId, plan.WorkspaceBudget?.Owner);
        var ws = plan.WorkspaceBudget;
        RedisKey[] keys =
        [
            names.Key("fl"), names.Key("exp"), names.Key("rpm"), names.Key("tpm"), names.Key("tpmv"),
            names.Key("spend:" + plan.KeyPeriod), names.Key("dreq:" + plan.Day), names.Key("dtok:" + plan.Day),
            names.Workspace("fl"), names.Workspace("exp"), names.Workspace("spend:" + ws?.Label),
        ];
        RedisValue[] args =
        [
            plan.NowMs, plan.NowMs - Ms(AdmissionPlan.Window), plan.KeyPeriod, ws?.Label ?? BudgetWindow.NoBudget, ws is null ? "0" : "1",
        ];

        for (var attempt = 0; ; attempt++)
        {
            var r = (RedisResult[])(await EvalAsync(RedisScripts.Quota, keys, args, cancellationToken))!;
            var keySpend = (long)r[0];
            var wsSpend = (long)r[7];
            var missingKey = plan.KeyBudget is not null && keySpend < 0;
            var missingWs = ws is not null && wsSpend < 0;
            if ((missingKey || missingWs) && attempt < 2)
            {
                if (missingKey)
                {
                    await Db.StringSetAsync(keys[5], await SeedAsync(BudgetScope.Key, plan.KeyBudget!, cancellationToken),
                        plan.KeyBudget!.StateTtl(plan.Now, options.HoldTtl), When.NotExists).WaitAsync(cancellationToken);
                }

                if (missingWs)
                {
                    await Db.StringSetAsync(keys[10], await SeedAsync(BudgetScope.Workspace, ws!, cancellationToken),
                        ws!.StateTtl(plan.Now, options.HoldTtl), When.NotExists).WaitAsync(cancellationToken);
                }

                continue;
            }

            var budget = plan.KeyBudget is { } kb ? QuotaViews.Budget(kb, Math.Max(0, keySpend), (long)r[1]) : null;
            var wsBudget = ws is not null ? QuotaViews.Budget(ws, Math.Max(0, wsSpend), (long)r[8]) : null;
            return QuotaViews.Build(plan, budget, wsBudget, (long)r[5], (long)r[6], (long)r[3], (long)r[4], (long)r[2]);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_ownsConnection)
        {
            await _connection.DisposeAsync();
        }
    }

    private async Task<RedisValue> SeedAsync(BudgetScope scope, BudgetWindow window, CancellationToken cancellationToken)
    {
        var (from, to) = window.LoadRange;
        var spend = await _loader(scope, window.Owner, from, to, cancellationToken);
        return Nanos.Round(spend);
    }

    private async Task<RedisResult> EvalAsync(RedisScripts.Script script, RedisKey[] keys, RedisValue[] args, CancellationToken cancellationToken)
    {
        try
        {
            return await Db.ScriptEvaluateAsync(script.Sha1, keys, args).WaitAsync(cancellationToken);
        }
        catch (RedisServerException e) when (e.Message.StartsWith("NOSCRIPT", StringComparison.Ordinal))
        {
            // First use on this server, or Redis restarted: EVAL sends the text and caches it again.
            return await Db.ScriptEvaluateAsync(script.Text, keys, args).WaitAsync(cancellationToken);
        }
    }

    /// <summary>
    /// The flight records must outlive the held counter they feed: if they vanished first, their holds would stay
    /// in <c>held:P</c> until the period ends. They hold only live flights (pruned on every admission), so they stay small.
    /// </summary>
    private static TimeSpan FlightTtl(AdmissionPlan plan, LimiterOptions options)
    {
        var flights = options.HoldTtl + TimeSpan.FromMinutes(1);
        var period = plan.KeyBudget?.StateTtl(plan.Now, options.HoldTtl) ?? TimeSpan.Zero;
        return period > flights ? period : flights;
    }

    private static long Ms(TimeSpan span) => Math.Max(1, (long)Math.Ceiling(span.TotalMilliseconds));

    /// <summary>Key names. A key's names share the hash tag <c>{prefix:k:ID}</c>; without a workspace budget the
    /// workspace slots of a script point into that tag too (untouched), so such scripts stay on one slot.</summary>
    private readonly struct Names(string prefix, string keyId, string? workspace)
    {
        private readonly string _key = "{" + prefix + ":k:" + keyId + "}:";
        private readonly string _workspace = workspace is null ? "{" + prefix + ":k:" + keyId + "}:nows:" : "{" + prefix + ":w:" + workspace + "}:";

        public RedisKey Key(string suffix) => _key + suffix;

        public RedisKey Workspace(string suffix) => _workspace + suffix;
    }
}
