using System.Globalization;
using StackExchange.Redis;

namespace Tollgate.Limits;

/// <summary>
/// Limits shared by every replica on one Redis. Admissions and settlements are group-committed: concurrent calls on
/// one replica queue up, and a pump sends whatever has queued as one <see cref="RedisScripts.Batch"/> script call,
/// which evaluates them in order, atomically, with the checks of a single admission. So checks and records are
/// atomic across replicas, and Redis pays one script call (reading and writing each key once) per batch rather
/// than ~20 commands per request.
/// <para>Batching: admissions have a lane and settlements another, each with at most one call in flight. A call
/// carries everything its lane has queued (up to <see cref="MaxBatch"/> of each kind). While admissions flow, queued
/// settlements ride along in the admission lane's calls; the settlement lane runs only while that one is idle, so a
/// settlement never makes an admission wait. A lone request is sent at once, never waiting for a batch to fill, so
/// at low concurrency an admission costs one round trip as before; under load, requests that arrive while a call
/// is in flight share the next one. A caller that cancels while queued is dropped from its batch; one that cancels after
/// its batch left gets its cancellation at once, and if the script admitted it, the hold is released (settled at
/// cost 0). An error from Redis fails every admission of that call (the callers handle it); its settlements are sent
/// again, alone, backing off for a minute (<see cref="LimiterOptions.SettlementRetry"/>), and a settlement whose first
/// call did reach Redis is not applied twice (the settlement record in <see cref="RedisScripts.Batch"/>).</para>
/// <para>Exactness: a batch is one sequential history. The script applies its settlements, then its admissions in
/// queue order, each with all the checks of a single admission against the state the ones before it left, and no
/// other script runs in between. Operations that were queued together were concurrent, so that order is one a
/// one-at-a-time evaluation could have taken: the batch never admits what such an evaluation would refuse.</para>
/// <para>Key layout (prefix <c>tg</c>; <c>ID</c> the key id, <c>WS</c> the workspace):</para>
/// <list type="bullet">
/// <item><c>{tg:k:ID}:flights</c> the key's requests in flight (max_parallel) and what they hold, as one MessagePack string: groups by minute of expiry and budget period, each a count and an amount; TTL = the longer of hold TTL and the period's.</item>
/// <item><c>{tg:k:ID}:spend:P</c> settled spend of period P (seeded from the store), <c>:held:P</c> holds outstanding, <c>:soft:P</c> set once the soft-limit alert fired; TTL = to the period's end plus slack.</item>
/// <item><c>{tg:k:ID}:rpms</c> and <c>:tpms</c> the rate windows (<see cref="RateWindow"/>), one MessagePack string each: the newest second, the total and 61 per-second counts (requests, tokens); TTL 62 s.</item>
/// <item><c>{tg:k:ID}:dreq:yyyyMMdd</c>, <c>:dtok:yyyyMMdd</c> the tier's daily request and token counts; TTL to UTC midnight plus slack.</item>
/// <item><c>{tg:w:WS}:flights</c>, <c>:spend:P</c>, <c>:held:P</c>, <c>:soft:P</c> the same for a workspace budget.</item>
/// <item><c>tg:settled:INSTANCE</c> the replica's settlement record: a bitmap of its batches with settlements that were applied (128 KB at most); TTL 15 minutes from the last write.</item>
/// </list>
/// <para>
/// The target is a single Redis node (or a primary with replicas), Redis 6.0 or later. Names keep their hash tags,
/// but one batch holds many keys' operations in one script, which Redis Cluster refuses (CROSSSLOT): cluster mode is
/// not supported. This layout replaced per-request members (<c>:fl</c>, <c>:exp</c>, <c>:rpm</c>, <c>:tpm</c>,
/// <c>:tpmv</c>, which expire by their TTLs): replicas of the older layout do not see these flights and windows, so do
/// not run both against one Redis (budget spend and holds stay shared and right; rpm, tpm and max_parallel would be
/// counted apart).
/// </para>
/// <para>
/// Consistency with the store, the source of truth: a period's spend is seeded from the ledger the first time
/// Redis lacks it (first use, new period, Redis restart or flush). Ledger rows still queued in a replica at that
/// moment (≤ one flush interval) are missed, and holds in flight at a flush are forgotten, so right after a flush
/// a budget can be overspent by at most those requests (a settlement of such a hold can also land in the flight group
/// of newer holds of its minute, releasing one of theirs early: the same bound). Settlements whose period spend is absent are not added
/// (the ledger has them; the next seed counts them). Daily quota counters are not in the ledger's shape and
/// restart from zero after a flush. Run Redis with <c>maxmemory-policy noeviction</c> (or a volatile-* policy):
/// an evicted counter is a wrong limit. Times come from each replica's <see cref="TimeProvider"/>: keep clocks in sync.
/// </para>
/// </summary>
internal sealed partial class RedisLimiter : ILimiter
{
    /// <summary>Most admissions (and, separately, settlements) one script call carries.</summary>
    internal const int MaxBatch = 128;

    private static readonly TimeSpan DaySlack = TimeSpan.FromHours(1);
    private static readonly TimeSpan DrainOnDispose = TimeSpan.FromSeconds(5);

    /// <summary>How long a replica's settlement record outlives its last write: well beyond <see cref="RetryBackoff.Settlements"/>.</summary>
    private static readonly TimeSpan SettlementRecordTtl = TimeSpan.FromMinutes(15);
    private readonly IConnectionMultiplexer _connection;
    private readonly bool _ownsConnection;
    private readonly SettledSpendLoader _loader;
    private readonly string _instance = Guid.NewGuid().ToString("N")[..12];
    private readonly Lock _gate = new();
    private readonly Queue<AdmitOp> _admits = new();
    private readonly Queue<SettleOp> _settles = new();
    private readonly Lane _admitLane = new(admissions: true);
    private readonly Lane _settleLane = new(admissions: false);
    private TaskCompletionSource? _drained;
    private bool _disposed;
    private LimiterOptions _options;
    private readonly string _settlementRecord;
    private readonly CancellationTokenSource _stopping = new();
    private readonly HashSet<Task> _retries = [];
    private long _sequence;
    private long _settleSequence;
    private long _settlementRetries;
    private long _settlementsAbandoned;
    private long _calls;
    private long _admissionsSent;
    private long _settlementsSent;

    public RedisLimiter(IConnectionMultiplexer connection, LimiterOptions options, SettledSpendLoader settledSpendLoader, bool ownsConnection)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(settledSpendLoader);
        _connection = connection;
        _options = options;
        _loader = settledSpendLoader;
        _ownsConnection = ownsConnection;
        _settlementRecord = options.RedisPrefix + ":settled:" + _instance;
        _leaseTimer = options.Leases ? options.Time.CreateTimer(static state => ((RedisLimiter)state!).SweepLeases(), this, LeaseSweep, LeaseSweep) : null;
    }

    /// <summary>Batch script calls made so far, and the admissions and settlements they carried.</summary>
    internal BatchStats Stats => new(Interlocked.Read(ref _calls), Interlocked.Read(ref _admissionsSent), Interlocked.Read(ref _settlementsSent), Interlocked.Read(ref _settlementRetries), Interlocked.Read(ref _settlementsAbandoned));

    /// <summary>Failed calls whose settlements wait to be sent again.</summary>
    internal int PendingSettlementRetries
    {
        get
        {
            lock (_gate)
            {
                return _retries.Count;
            }
        }
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
        cancellationToken.ThrowIfCancellationRequested();
        var options = Volatile.Read(ref _options);
        var plan = AdmissionPlan.Create(request, options, options.Time.GetUtcNow(), NewHoldId());
        if (options.Leases && Leasable(plan))
        {
            var leased = await TryAdmitLeasedAsync(plan, cancellationToken);
            if (leased is not null)
            {
                return leased;
            }
        }

        var reply = await AdmitPlanAsync(plan, count: 1, guard: 0, cancellationToken);
        if (reply.Outcome == Outcome.Admitted)
        {
            return Admission.Admit(plan.Handle(), (reply.Flags & 1) != 0, (reply.Flags & 2) != 0, (reply.Flags & 4) != 0, (reply.Flags & 8) != 0);
        }

        var retry = TimeSpan.FromMilliseconds(reply.RetryMs);
        return reply.Kind switch
        {
            LimitKind.MaxParallel => plan.RefuseParallel(reply.A),
            LimitKind.RateLimitRpm => plan.RefuseRpm(reply.A, retry),
            LimitKind.RateLimitTpm => plan.RefuseTpm(reply.A, retry),
            LimitKind.DailyRequestQuota => plan.RefuseDailyRequests(reply.A),
            LimitKind.DailyTokenQuota => plan.RefuseDailyTokens(reply.A),
            LimitKind.BudgetExceeded => plan.RefuseBudget(workspace: false, reply.A, reply.B),
            LimitKind.WorkspaceBudgetExceeded => plan.RefuseBudget(workspace: true, reply.A, reply.B),
            var other => throw new InvalidOperationException($"batch script returned unknown limit {other}"),
        };
    }

    private string NewHoldId() => string.Create(CultureInfo.InvariantCulture, $"{_instance}-{Interlocked.Increment(ref _sequence)}");

    /// <summary>
    /// One admission through the batch script, counting <paramref name="count"/> requests (a lease counts many) with
    /// the lease <paramref name="guard"/> (0 for a single request), loading budget spend from the store when Redis
    /// lacks it. Never returns <see cref="Outcome.NeedSeed"/>.
    /// </summary>
    private async Task<AdmitReply> AdmitPlanAsync(AdmissionPlan plan, int count, int guard, CancellationToken cancellationToken)
    {
        long? keySeed = null, workspaceSeed = null;
        for (var attempt = 0; ; attempt++)
        {
            var reply = await SubmitAsync(new AdmitOp(plan, keySeed, workspaceSeed, count, guard), cancellationToken);
            if (reply.Outcome != Outcome.NeedSeed)
            {
                return reply;
            }

            if (attempt >= 3)
            {
                throw new InvalidOperationException("batch script kept asking for spend seeds");
            }

            // A budget with no spend in Redis: load it from the store and go again; the script sets it only while absent.
            if ((reply.Flags & 1) != 0)
            {
                keySeed = await SeedAsync(BudgetScope.Key, plan.KeyBudget!, cancellationToken);
            }

            if ((reply.Flags & 2) != 0)
            {
                workspaceSeed = await SeedAsync(BudgetScope.Workspace, plan.WorkspaceBudget!, cancellationToken);
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

        if (hold.Lease is { } lease)
        {
            // Taken from a lease: settled here; the lease reaches Redis once it has closed and its last request settled.
            if (lease.Settle(hold.HoldNanos, Nanos.Round(actualCost), Math.Max(0, actualTokens)) is { } report)
            {
                await ReportAsync(lease, report).WaitAsync(cancellationToken);
            }

            return;
        }

        // Once queued, a settlement is always sent; cancelling only stops the wait for it.
        await EnqueueSettle(new SettleOp(hold, Nanos.Round(actualCost), Math.Max(0, actualTokens), 0)).WaitAsync(cancellationToken);
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
            names.Key("flights"), names.Key("rpms"), names.Key("tpms"), names.Key("spend:" + plan.KeyPeriod),
            names.Key("dreq:" + plan.Day), names.Key("dtok:" + plan.Day), names.Workspace("flights"), names.Workspace("spend:" + ws?.Label),
        ];
        RedisValue[] args =
        [
            plan.NowMs, Ms(AdmissionPlan.FlightGrain), plan.KeyPeriod, ws?.Label ?? BudgetWindow.NoBudget, ws is null ? "0" : "1",
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
                    await Db.StringSetAsync(keys[3], await SeedAsync(BudgetScope.Key, plan.KeyBudget!, cancellationToken),
                        plan.KeyBudget!.StateTtl(plan.Now, options.HoldTtl), When.NotExists).WaitAsync(cancellationToken);
                }

                if (missingWs)
                {
                    await Db.StringSetAsync(keys[7], await SeedAsync(BudgetScope.Workspace, ws!, cancellationToken),
                        ws!.StateTtl(plan.Now, options.HoldTtl), When.NotExists).WaitAsync(cancellationToken);
                }

                continue;
            }

            // This replica's open leases: what they hold in Redis is replaced by what their requests hold and spent.
            var local = LeaseCorrection(plan);
            var budget = plan.KeyBudget is { } kb ? QuotaViews.Budget(kb, Math.Max(0, keySpend) + local.Spent, Math.Max(0, (long)r[1] + local.Held)) : null;
            var wsBudget = ws is not null ? QuotaViews.Budget(ws, Math.Max(0, wsSpend), (long)r[8]) : null;
            return QuotaViews.Build(plan, budget, wsBudget, Math.Max(0, (long)r[5] + local.Requests), (long)r[6] + local.Tokens,
                Math.Max(0, (long)r[3] + local.RateRequests), (long)r[4], Math.Max(0, (long)r[2] + local.InFlight));
        }
    }

    public async ValueTask DisposeAsync()
    {
        // Leases go back first: what their requests spent reaches Redis, what they did not use is freed.
        await CloseAllLeasesAsync();
        Task drained;
        lock (_gate)
        {
            _disposed = true;
            _drained ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            if (!_admitLane.Busy && !_settleLane.Busy)
            {
                _drained.TrySetResult();
            }

            drained = _drained.Task;
        }

        // Let queued settlements reach Redis before the connection goes; settlements waiting to be sent again get
        // one last try now.
        await _stopping.CancelAsync();
        Task[] retries;
        lock (_gate)
        {
            retries = [.. _retries];
        }

        try
        {
            await Task.WhenAll(retries.Append(drained)).WaitAsync(DrainOnDispose);
        }
        catch (TimeoutException)
        {
        }

        if (_ownsConnection)
        {
            await _connection.DisposeAsync();
        }
    }

    private static long Ms(TimeSpan span) => Math.Max(1, (long)Math.Ceiling(span.TotalMilliseconds));

    private static AdmitReply Parse(RedisResult result)
    {
        if (result.Resp2Type == ResultType.Array)
        {
            var refusal = (RedisResult[])result!;
            return new AdmitReply(Outcome.Refused, 0, (LimitKind)(int)(long)refusal[1], (long)refusal[2], (long)refusal[3], (long)refusal[4]);
        }

        var code = (long)result;
        return code switch
        {
            < 16 => new AdmitReply(Outcome.Admitted, (int)code, default, 0, 0, 0),
            < 32 => new AdmitReply(Outcome.NeedSeed, (int)(code - 16), default, 0, 0, 0),
            _ => new AdmitReply(Outcome.NoLease, 0, default, 0, 0, 0),
        };
    }

    private async Task<long> SeedAsync(BudgetScope scope, BudgetWindow window, CancellationToken cancellationToken)
    {
        var (from, to) = window.LoadRange;
        var spend = await _loader(scope, window.Owner, from, to, cancellationToken);
        return Nanos.Round(spend);
    }

    private async Task<AdmitReply> SubmitAsync(AdmitOp op, CancellationToken cancellationToken)
    {
        bool start;
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _admits.Enqueue(op);
            start = !_admitLane.Busy;
            _admitLane.Busy = true;
        }

        if (start)
        {
            // Runs on this thread up to the Redis call: a lone admission is on its way before this method awaits.
            StartPump(_admitLane);
        }

        if (!cancellationToken.CanBeCanceled)
        {
            return await op.Task;
        }

        using (cancellationToken.UnsafeRegister(static (state, token) => ((AdmitOp)state!).Cancel(token), op))
        {
            return await op.Task;
        }
    }

    private Task EnqueueSettle(SettleOp op)
    {
        bool start;
        lock (_gate)
        {
            _settles.Enqueue(op);

            // While admissions flow, settlements ride along with them (one call for both); the settlement lane
            // runs only when the admission lane is idle, and never makes an admission wait.
            start = !_settleLane.Busy && !_admitLane.Busy;
            _settleLane.Busy |= start;
        }

        if (start)
        {
            StartPump(_settleLane);
        }

        return op.Task;
    }

    /// <summary>
    /// Starts a lane's loop on this thread. The loop serves every caller while it runs, so it must not carry this
    /// caller's execution context (its AsyncLocals, its request) along: flow is suppressed.
    /// </summary>
    private void StartPump(Lane lane)
    {
        if (ExecutionContext.IsFlowSuppressed())
        {
            // Already so (a lane handing over to the other from its first, synchronous round).
            _ = PumpAsync(lane);
            return;
        }

        using (ExecutionContext.SuppressFlow())
        {
            _ = PumpAsync(lane);
        }
    }

    /// <summary>One lane's loop: send what has queued, wait for the reply, repeat until the queue is empty.</summary>
    private async Task PumpAsync(Lane lane)
    {
        while (true)
        {
            lane.Admits.Clear();
            lane.Settles.Clear();
            bool idle, handOver = false;
            lock (_gate)
            {
                if (lane.Admissions)
                {
                    while (lane.Admits.Count < MaxBatch && _admits.TryDequeue(out var op))
                    {
                        if (op.TryMarkSent())
                        {
                            lane.Admits.Add(op);
                        }
                    }
                }

                // The admission lane takes queued settlements along, but never calls for them alone: a settlement
                // must not make the next admission wait.
                if (!lane.Admissions || lane.Admits.Count > 0)
                {
                    while (lane.Settles.Count < MaxBatch && _settles.TryDequeue(out var op))
                    {
                        lane.Settles.Add(op);
                    }
                }

                // Decided here, under the lock: once Busy is false another loop may own the lane and its lists.
                idle = lane.Admits.Count == 0 && lane.Settles.Count == 0;
                if (idle)
                {
                    lane.Busy = false;

                    // Settlements left waiting for a ride go on their own lane now.
                    handOver = lane.Admissions && _settles.Count > 0 && !_settleLane.Busy;
                    _settleLane.Busy |= handOver;
                    if (_disposed && !_admitLane.Busy && !_settleLane.Busy)
                    {
                        _drained?.TrySetResult();
                    }
                }
            }

            if (idle)
            {
                if (handOver)
                {
                    StartPump(_settleLane);
                }

                return;
            }

            await SendAsync(lane);
        }
    }

    /// <summary>One script call for the lane's batch. Never throws: every operation gets its reply or the error.</summary>
    private async Task SendAsync(Lane lane)
    {
        var admits = lane.Admits;
        var settles = lane.Settles;
        var mark = settles.Count == 0 ? SettlementMark.None : new SettlementMark(_settlementRecord, Interlocked.Increment(ref _settleSequence), Retry: false);
        RedisResult[] replies;
        try
        {
            RedisValue[] args = [lane.Builder.Build(Volatile.Read(ref _options), settles, admits, mark)];
            Interlocked.Increment(ref _calls);
            Interlocked.Add(ref _admissionsSent, admits.Count);
            Interlocked.Add(ref _settlementsSent, settles.Count);
            replies = (RedisResult[])(await EvalAsync(RedisScripts.Batch, [], args, CancellationToken.None))!;
            if (replies.Length != admits.Count)
            {
                throw new InvalidOperationException($"batch script returned {replies.Length} replies for {admits.Count} admissions");
            }
        }
        catch (Exception e)
        {
            foreach (var op in admits)
            {
                op.Fail(e);
            }

            // The admissions' callers handle their error; a settlement is owed to Redis whatever happened, so it is
            // sent again (exactly once in effect, see RedisScripts.Batch) until it lands or its retry time runs out.
            if (settles.Count > 0)
            {
                RetrySettlements(mark with { Retry = true }, [.. settles], e);
            }

            return;
        }

        foreach (var op in settles)
        {
            op.Complete();
        }

        for (var i = 0; i < admits.Count; i++)
        {
            var op = admits[i];
            AdmitReply reply;
            try
            {
                reply = Parse(replies[i]);
            }
            catch (Exception e)
            {
                op.Fail(e);
                continue;
            }

            if (!op.TryComplete(reply) && reply.Outcome == Outcome.Admitted)
            {
                // The caller cancelled after the batch left: nobody will settle this admission, so release it now.
                var hold = op.Plan.Handle();
                hold.TryClaimSettlement();
                _ = EnqueueSettle(new SettleOp(hold, 0, 0, op.Guard > 0 ? op.Count : 0));
            }
        }
    }

    private void RetrySettlements(SettlementMark mark, SettleOp[] settles, Exception error)
    {
        // Started outside the lock (after dispose it tries at once); listed until it ends, for dispose to wait on. The
        // removal is registered after the listing, so it always comes after it.
        var retry = RetrySettlementsAsync(mark, settles, error);
        lock (_gate)
        {
            if (!retry.IsCompleted)
            {
                _retries.Add(retry);
            }
        }

        _ = retry.ContinueWith(
            static (done, state) =>
            {
                var limiter = (RedisLimiter)state!;
                lock (limiter._gate)
                {
                    limiter._retries.Remove(done);
                }
            },
            this, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    /// <summary>
    /// Sends one failed call's settlements again, alone and under its number, backing off, until a call gets a reply
    /// (then they are applied, now or by the first call) or the retries of <see cref="LimiterOptions.SettlementRetry"/> are used up (then they fail
    /// with the last error: Redis's spend misses them until it is next seeded from the store). On dispose, one last try.
    /// </summary>
    private async Task RetrySettlementsAsync(SettlementMark mark, SettleOp[] settles, Exception error)
    {
        var options = Volatile.Read(ref _options);
        var builder = new BatchBuilder();
        foreach (var wait in options.SettlementRetry.Waits())
        {
            var last = _stopping.IsCancellationRequested;
            if (!last)
            {
                try
                {
                    await Task.Delay(wait, options.Time, _stopping.Token);
                }
                catch (OperationCanceledException)
                {
                    last = true;
                }
            }

            try
            {
                Interlocked.Increment(ref _settlementRetries);
                RedisValue[] args = [builder.Build(Volatile.Read(ref _options), settles, [], mark)];
                await EvalAsync(RedisScripts.Batch, [], args, CancellationToken.None);
                foreach (var op in settles)
                {
                    op.Complete();
                }

                return;
            }
            catch (Exception e)
            {
                error = e;
            }

            if (last)
            {
                break;
            }
        }

        Interlocked.Add(ref _settlementsAbandoned, settles.Length);
        foreach (var op in settles)
        {
            op.Fail(error);
        }
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

    /// <summary>A batch's entry in the replica's settlement record (<see cref="RedisScripts.Batch"/>): none without settlements.</summary>
    private readonly record struct SettlementMark(string Key, long Sequence, bool Retry)
    {
        public static SettlementMark None => new("", 0, false);
    }

    internal readonly record struct BatchStats(long Calls, long Admissions, long Settlements, long SettlementRetries = 0, long SettlementsAbandoned = 0);

    /// <summary>Key names. A key's names share the hash tag <c>{prefix:k:ID}</c>; without a workspace budget the
    /// workspace slots of the quota script point into that tag too (untouched), so it stays on one slot.</summary>
    private readonly struct Names(string prefix, string keyId, string? workspace)
    {
        private readonly string _key = KeyPrefix(prefix, keyId);
        private readonly string _workspace = workspace is null ? KeyPrefix(prefix, keyId) + "nows:" : WorkspacePrefix(prefix, workspace);

        public static string KeyPrefix(string prefix, string keyId) => "{" + prefix + ":k:" + keyId + "}:";

        public static string WorkspacePrefix(string prefix, string workspace) => "{" + prefix + ":w:" + workspace + "}:";

        public RedisKey Key(string suffix) => _key + suffix;

        public RedisKey Workspace(string suffix) => _workspace + suffix;
    }

    private enum Outcome
    {
        Admitted,
        Refused,
        NeedSeed,

        /// <summary>A lease was asked for too close to a limit; nothing was recorded.</summary>
        NoLease,
    }

    /// <summary>One admission's reply. <see cref="Flags"/>: the soft-limit bits when admitted, the missing seeds (1 key, 2 workspace) when a seed is needed.</summary>
    private readonly record struct AdmitReply(Outcome Outcome, int Flags, LimitKind Kind, long RetryMs, long A, long B);

    /// <summary>One queued admission. It leaves the queue once: sent, or dropped because its caller cancelled first.</summary>
    private sealed class AdmitOp(AdmissionPlan plan, long? keySeed, long? workspaceSeed, int count, int guard)
    {
        private const int Queued = 0, Sent = 1, Cancelled = 2;
        private readonly TaskCompletionSource<AdmitReply> _reply = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _state;

        public AdmissionPlan Plan => plan;

        /// <summary>Requests the admission counts: 1, or a lease's size.</summary>
        public int Count => count;

        /// <summary>0 for a request; for a lease, how many times over its requests and hold must fit.</summary>
        public int Guard => guard;

        /// <summary>The key budget's settled spend loaded from the store (<see cref="Nanos"/>), if it was.</summary>
        public long? KeySeed => keySeed;

        public long? WorkspaceSeed => workspaceSeed;

        public Task<AdmitReply> Task => _reply.Task;

        public bool TryMarkSent() => Interlocked.CompareExchange(ref _state, Sent, Queued) == Queued;

        public void Cancel(CancellationToken token)
        {
            Interlocked.CompareExchange(ref _state, Cancelled, Queued);
            _reply.TrySetCanceled(token);
        }

        public bool TryComplete(AdmitReply reply) => _reply.TrySetResult(reply);

        public void Fail(Exception error) => _reply.TrySetException(error);
    }

    private sealed class SettleOp(HoldHandle hold, long costNanos, long tokens, long unused, long? releaseNanos = null, bool partial = false)
    {
        // Continuations run inline on the batch's reply: what waits on a settlement is only the bookkeeping after
        // it (LimitsGate logs a failure), so a thread-pool hop per settled request buys nothing.
        private readonly TaskCompletionSource _done = new();

        public HoldHandle Hold => hold;

        public long CostNanos => costNanos;

        public long Tokens => tokens;

        /// <summary>Requests a closing lease counted and did not use.</summary>
        public long Unused => unused;

        /// <summary>The hold it releases: the whole hold, or what a lease still reserves.</summary>
        public long ReleaseNanos => releaseNanos ?? hold.HoldNanos;

        /// <summary>A lease shrinking: releases <see cref="ReleaseNanos"/> and stays in flight.</summary>
        public bool Partial => partial;

        public Task Task => _done.Task;

        public void Complete() => _done.TrySetResult();

        public void Fail(Exception error) => _done.TrySetException(error);
    }

    /// <summary>A lane: at most one call in flight (<see cref="Busy"/>, under the limiter's lock), and its reusable buffers.</summary>
    private sealed class Lane(bool admissions)
    {
        public bool Admissions { get; } = admissions;

        public bool Busy { get; set; }

        public List<AdmitOp> Admits { get; } = [];

        public List<SettleOp> Settles { get; } = [];

        public BatchBuilder Builder { get; } = new();
    }

    /// <summary>
    /// A descriptor's identity: the operations of one key with the same limits and periods share one, so the script
    /// gets each key's names and limits once per batch. Settlements know no limits and get their own.
    /// </summary>
    private readonly record struct DescriptorKey(
        string KeyId, string? Workspace, string KeyPeriod, string? WorkspacePeriod, string Day, bool Settlement,
        long Parallel, long Rpm, long Tpm, long DailyRequests, long DailyTokens, long KeyMax, long KeySoft, long WorkspaceMax, long WorkspaceSoft);

    /// <summary>One descriptor's fields (<see cref="RedisScripts.Batch"/> documents them), seeds filled in as admissions bring them.</summary>
    private sealed class Descriptor
    {
        public int Index { get; init; }
        public required string KeyPrefix { get; init; }
        public required string WorkspacePrefix { get; init; }
        public required string KeyPeriod { get; init; }
        public required string WorkspacePeriod { get; init; }
        public required string Day { get; init; }
        public long DayDeadline { get; init; }
        public DescriptorKey Limits { get; init; }
        public long KeyDeadline { get; init; } = -1;
        public bool KeyRefresh { get; init; }
        public long WorkspaceDeadline { get; init; } = -1;
        public bool WorkspaceRefresh { get; init; }
        public long? KeySeed { get; set; }
        public long? WorkspaceSeed { get; set; }
    }

    /// <summary>Encodes one <see cref="RedisScripts.Batch"/> call: the MessagePack array its ARGV[1] carries.</summary>
    private sealed class BatchBuilder
    {
        private readonly Dictionary<DescriptorKey, Descriptor> _index = [];
        private readonly List<Descriptor> _descriptors = [];
        private readonly List<Descriptor> _settleDescriptors = [];
        private readonly List<Descriptor> _admitDescriptors = [];
        private readonly MessagePackWriter _writer = new();

        public byte[] Build(LimiterOptions options, IReadOnlyList<SettleOp> settles, List<AdmitOp> admits, SettlementMark mark)
        {
            _index.Clear();
            _descriptors.Clear();
            _settleDescriptors.Clear();
            _admitDescriptors.Clear();
            foreach (var op in settles)
            {
                _settleDescriptors.Add(DescriptorOf(options, op.Hold));
            }

            foreach (var op in admits)
            {
                _admitDescriptors.Add(DescriptorOf(options, op));
            }

            var w = _writer;
            w.Reset();
            w.WriteArrayHeader(RedisScripts.HeaderFields + (_descriptors.Count * RedisScripts.DescriptorFields)
                + (settles.Count * RedisScripts.SettleFields) + (admits.Count * RedisScripts.AdmitFields));
            w.Write(options.Time.GetUtcNow().ToUnixTimeMilliseconds());
            w.Write(Ms(options.HoldTtl));
            w.Write(Ms(AdmissionPlan.Window));
            w.Write(Ms(AdmissionPlan.FlightGrain));
            w.Write(_descriptors.Count);
            w.Write(settles.Count);
            w.Write(admits.Count);
            w.Write(mark.Key);
            w.Write(mark.Sequence);
            w.Write(mark.Retry ? 1 : 0);
            w.Write(Ms(SettlementRecordTtl));
            foreach (var d in _descriptors)
            {
                w.Write(d.KeyPrefix);
                w.Write(d.WorkspacePrefix);
                w.Write(d.KeyPeriod);
                w.Write(d.WorkspacePeriod);
                w.Write(d.Day);
                w.Write(d.DayDeadline);
                w.Write(d.Limits.Parallel);
                w.Write(d.Limits.Rpm);
                w.Write(d.Limits.Tpm);
                w.Write(d.Limits.DailyRequests);
                w.Write(d.Limits.DailyTokens);
                w.Write(d.Limits.KeyMax);
                w.Write(d.Limits.KeySoft);
                w.Write(d.KeyDeadline);
                w.Write(d.KeyRefresh ? 1 : 0);
                w.Write(d.Limits.WorkspaceMax);
                w.Write(d.Limits.WorkspaceSoft);
                w.Write(d.WorkspaceDeadline);
                w.Write(d.WorkspaceRefresh ? 1 : 0);
                w.Write(d.KeySeed);
                w.Write(d.WorkspaceSeed);
            }

            for (var i = 0; i < settles.Count; i++)
            {
                var op = settles[i];
                var hold = op.Hold;
                w.Write(_settleDescriptors[i].Index);
                w.Write(op.ReleaseNanos);
                w.Write(op.CostNanos);
                w.Write(op.Tokens);
                w.Write(hold.TpmTokens);
                w.Write(hold.RateSecond);
                w.Write(hold.ExpiresMs);
                w.Write(op.Unused);
                w.Write(op.Partial ? 1 : 0);
            }

            for (var i = 0; i < admits.Count; i++)
            {
                var op = admits[i];
                var plan = op.Plan;
                w.Write(_admitDescriptors[i].Index);
                w.Write(plan.NowMs);
                w.Write(plan.HoldNanos);
                w.Write(plan.Tokens);
                w.Write(plan.HoldExpires.ToUnixTimeMilliseconds());
                w.Write(op.Count);
                w.Write(op.Guard);
            }

            return w.ToArray();
        }

        private Descriptor DescriptorOf(LimiterOptions options, HoldHandle hold)
        {
            var key = new DescriptorKey(hold.KeyId, hold.Workspace, hold.KeyPeriod, hold.WorkspacePeriod, hold.Day, true, -1, -1, -1, -1, -1, -1, -1, -1, -1);
            if (!_index.TryGetValue(key, out var descriptor))
            {
                descriptor = new Descriptor
                {
                    Index = _descriptors.Count + 1,
                    KeyPrefix = Names.KeyPrefix(options.RedisPrefix, hold.KeyId),
                    WorkspacePrefix = hold.Workspace is null ? "" : Names.WorkspacePrefix(options.RedisPrefix, hold.Workspace),
                    KeyPeriod = hold.KeyPeriod,
                    WorkspacePeriod = hold.WorkspacePeriod ?? "",
                    Day = hold.Day,
                    DayDeadline = (hold.DayEnd + DaySlack).ToUnixTimeMilliseconds(),
                    Limits = key,
                };
                _index.Add(key, descriptor);
                _descriptors.Add(descriptor);
            }

            return descriptor;
        }

        private Descriptor DescriptorOf(LimiterOptions options, AdmitOp op)
        {
            var plan = op.Plan;
            var kb = plan.KeyBudget;
            var ws = plan.WorkspaceBudget;
            var key = new DescriptorKey(plan.KeyId, ws?.Owner, plan.KeyPeriod, ws?.Label, plan.Day, false,
                plan.Parallel?.Value ?? -1, plan.Rpm?.Value ?? -1, plan.Tpm?.Value ?? -1, plan.DailyRequests ?? -1, plan.DailyTokens ?? -1,
                kb?.Max ?? -1, kb?.Soft ?? -1, ws?.Max ?? -1, ws?.Soft ?? -1);
            if (!_index.TryGetValue(key, out var descriptor))
            {
                descriptor = new Descriptor
                {
                    Index = _descriptors.Count + 1,
                    KeyPrefix = Names.KeyPrefix(options.RedisPrefix, plan.KeyId),
                    WorkspacePrefix = ws is null ? "" : Names.WorkspacePrefix(options.RedisPrefix, ws.Owner),
                    KeyPeriod = plan.KeyPeriod,
                    WorkspacePeriod = ws?.Label ?? "",
                    Day = plan.Day,
                    DayDeadline = (plan.DayEnd + DaySlack).ToUnixTimeMilliseconds(),
                    Limits = key,
                    KeyDeadline = kb is null ? -1 : plan.NowMs + Ms(kb.StateTtl(plan.Now, options.HoldTtl)),
                    KeyRefresh = kb is not null && kb.End is null,
                    WorkspaceDeadline = ws is null ? -1 : plan.NowMs + Ms(ws.StateTtl(plan.Now, options.HoldTtl)),
                    WorkspaceRefresh = ws is not null && ws.End is null,
                };
                _index.Add(key, descriptor);
                _descriptors.Add(descriptor);
            }

            // A seed loaded for one admission serves all of its descriptor's (the script sets it only while absent).
            descriptor.KeySeed ??= op.KeySeed;
            descriptor.WorkspaceSeed ??= op.WorkspaceSeed;

            return descriptor;
        }
    }
}
