using System.Collections.Concurrent;
using StackExchange.Redis;

namespace Tollgate.Limits;

/// <summary>
/// Leases: Redis off the request path for keys far from their limits, never overspending or over-counting.
/// <para>A replica admitting a leasable key (rpm and a key budget at most: no max_parallel, tpm, daily quota or
/// workspace budget) asks Redis for a lease instead of one admission: one admission of the batch script that counts
/// <c>size</c> requests in the current rpm second and holds <c>size</c> times this request's hold. The script grants it
/// only if it passes every check of a single admission, <see cref="LeaseGuard"/> times its requests and its hold still
/// fit, and its hold stays below the soft limit; otherwise it records nothing, and the replica admits one by one
/// for <see cref="LeaseBackoff"/>. So near any limit every admission is a Redis call, exactly as without leases.</para>
/// <para>The lease admits locally while its second lasts, up to its size, while what its requests hold and have spent
/// fits in its hold. Its requests settle locally. Once its second is over (the sweep, every 100 ms) or it is used up,
/// it retires: one settlement reports what its requests spent, and shrinks its hold in Redis to what its requests
/// still in flight hold, and takes the requests it did not use out of the rpm second and today's count. It closes
/// when the last request in flight settles.</para>
/// <para>Exactness: a lease is an admission, reserved in Redis before any request uses it. A budget is never
/// overspent: every local admission fits in the lease's hold, which Redis had reserved. No rpm window holds more than
/// the limit: every local admission happens in the second the lease counted it in. What leases give up is a little
/// liveness, bounded: while a lease is open, its unused part is not available to other replicas, so a request there
/// can be refused that would have fitted. That part is at most 1/<see cref="LeaseGuard"/> of what was free when the
/// lease was granted, and it is back within about a second. A replica's own views (<c>GET /quota</c>) correct for its
/// open leases; other replicas see the spend of a lease's requests when it retires, within about a second. A replica
/// killed with a lease open takes the spend its requests settled in that second with it (the ledger has it, Redis
/// not), and the lease's hold expires like any other: like requests in flight at a crash without leases, the budget
/// can be overspent by at most what they cost. A graceful stop hands every lease back first.</para>
/// </summary>
internal sealed partial class RedisLimiter
{
    /// <summary>A lease is granted only while this many times its requests and its hold fit in what remains.</summary>
    internal const int LeaseGuard = 8;

    /// <summary>The smallest and largest lease, in requests; it doubles when used up and halves when mostly unused.</summary>
    internal const int MinLease = 8, MaxLease = 1024;

    /// <summary>Lease holds stay far below 2^53 billionths (Lua's numbers are doubles).</summary>
    private const long MaxLeaseNanos = 1L << 50;

    private static readonly TimeSpan LeaseSweep = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan LeaseBackoff = TimeSpan.FromSeconds(1);

    /// <summary>A key's lease slot is dropped once it has had no lease and no admission for this long.</summary>
    internal static readonly TimeSpan IdleSlot = TimeSpan.FromSeconds(60);

    private readonly ConcurrentDictionary<string, LeaseSlot> _leaseSlots = new(StringComparer.Ordinal);
    private readonly ITimer? _leaseTimer;
    private long _leasesGranted;
    private long _leaseAdmissions;

    /// <summary>Leases Redis granted, and the admissions taken from them locally.</summary>
    internal (long Granted, long Admissions) LeaseStats => (Interlocked.Read(ref _leasesGranted), Interlocked.Read(ref _leaseAdmissions));

    /// <summary>Keys this replica keeps a lease slot for.</summary>
    internal int LeaseSlots => _leaseSlots.Count;

    /// <summary>A key whose only limits are rpm and its own budget (and has at least one of them).</summary>
    internal static bool Leasable(AdmissionPlan plan) =>
        plan.Parallel is null && plan.Tpm is null && plan.DailyRequests is null && plan.DailyTokens is null && plan.WorkspaceBudget is null
        && (plan.Rpm is not null || plan.KeyBudget is not null);

    /// <summary>Admits from this replica's lease for the key, getting one if none is open; null: admit one by one.</summary>
    private async ValueTask<Admission?> TryAdmitLeasedAsync(AdmissionPlan plan, CancellationToken cancellationToken)
    {
        var slot = SlotFor(plan);
        var second = plan.NowMs / 1000;
        for (var attempt = 0; attempt < 3; attempt++)
        {
            (RedisLease Lease, LeaseReport Report)? closing = null;
            Task<bool>? pending = null;
            var start = false;
            bool removed;
            lock (slot)
            {
                // The sweep may have dropped this idle slot after it was looked up: then the key's new one is used.
                removed = slot.Removed;
                if (!removed)
                {
                    slot.LastUsedMs = plan.NowMs;
                    if (slot.Current is { } lease)
                    {
                        if (second < lease.Second)
                        {
                            // This request's clock reading is older than the lease: it goes alone.
                            return null;
                        }

                        if (lease.Matches(plan) && lease.TryTake(plan.HoldNanos))
                        {
                            Interlocked.Increment(ref _leaseAdmissions);
                            return Admission.Admit(plan.Handle(lease), false, false, false, false);
                        }

                        closing = Retire(slot, lease, usedUp: second == lease.Second);
                    }

                    if (plan.NowMs >= slot.BackoffUntilMs)
                    {
                        if (slot.Acquiring is null)
                        {
                            slot.Acquiring = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
                            start = true;
                        }

                        pending = slot.Acquiring.Task;
                    }
                }
            }

            if (removed)
            {
                slot = SlotFor(plan);
                attempt--;
                continue;
            }

            if (closing is { } c)
            {
                _ = ReportAsync(c.Lease, c.Report);
            }

            if (pending is null)
            {
                return null;
            }

            if (start)
            {
                _ = AcquireLeaseAsync(slot, plan);
            }

            if (!await pending.WaitAsync(cancellationToken))
            {
                return null;
            }
        }

        return null;
    }

    /// <summary>The key's lease slot, made (as just used) when it has none.</summary>
    private LeaseSlot SlotFor(AdmissionPlan plan) =>
        _leaseSlots.GetOrAdd(plan.KeyId, static (_, now) => new LeaseSlot { LastUsedMs = now }, plan.NowMs);

    /// <summary>Asks Redis for a lease shaped like <paramref name="plan"/>; completes the slot's acquisition either way.</summary>
    private async Task AcquireLeaseAsync(LeaseSlot slot, AdmissionPlan plan)
    {
        var granted = false;
        Exception? error = null;
        try
        {
            int size;
            lock (slot)
            {
                size = slot.Size;
            }

            var hold = plan.HoldNanos;
            AdmitReply reply;
            AdmissionPlan? leasePlan = null;
            if (hold > MaxLeaseNanos / size)
            {
                reply = new AdmitReply(Outcome.NoLease, 0, default, 0, 0, 0);
            }
            else
            {
                leasePlan = plan.WithHold(hold * size, NewHoldId());
                reply = await AdmitPlanAsync(leasePlan, size, LeaseGuard, CancellationToken.None);
            }

            lock (slot)
            {
                if (reply.Outcome == Outcome.Admitted)
                {
                    var lease = new RedisLease(leasePlan!, size);
                    slot.Current = lease;
                    slot.Open.Add(lease);
                    granted = true;
                    Interlocked.Increment(ref _leasesGranted);
                }
                else
                {
                    // Too close to a limit (or refused): one by one for a while, and a small lease next time.
                    slot.BackoffUntilMs = Volatile.Read(ref _options).Time.GetUtcNow().ToUnixTimeMilliseconds() + (long)LeaseBackoff.TotalMilliseconds;
                    slot.Size = MinLease;
                }
            }
        }
        catch (Exception e)
        {
            error = e;
        }
        finally
        {
            TaskCompletionSource<bool>? acquiring;
            lock (slot)
            {
                acquiring = slot.Acquiring;
                slot.Acquiring = null;
            }

            if (error is not null)
            {
                acquiring?.TrySetException(error);
            }
            else
            {
                acquiring?.TrySetResult(granted);
            }
        }
    }

    /// <summary>Under the slot's lock: the lease takes no more requests; what it must report now, if anything.</summary>
    private static (RedisLease, LeaseReport)? Retire(LeaseSlot slot, RedisLease lease, bool usedUp)
    {
        if (usedUp)
        {
            slot.Size = Math.Min(MaxLease, lease.Size * 2);
        }
        else if (lease.Used < lease.Size / 4)
        {
            slot.Size = Math.Max(MinLease, lease.Size / 2);
        }

        slot.Current = null;
        return lease.Retire() is { } report ? (lease, report) : null;
    }

    /// <summary>The timer: leases whose second is over take no more requests, and close once their requests settled.</summary>
    private void SweepLeases()
    {
        var nowMs = Volatile.Read(ref _options).Time.GetUtcNow().ToUnixTimeMilliseconds();
        var second = nowMs / 1000;
        foreach (var (keyId, slot) in _leaseSlots)
        {
            (RedisLease Lease, LeaseReport Report)? closing = null;
            var idle = false;
            lock (slot)
            {
                if (slot.Current is { } lease && lease.Second < second)
                {
                    closing = Retire(slot, lease, usedUp: false);
                }

                // A key unused for a while loses its slot (and the lease size it learnt), so slots do not pile up
                // for every key ever seen. Under the lock: an admission that looked the slot up sees it is gone.
                if (slot.Current is null && slot.Open.Count == 0 && slot.Acquiring is null && nowMs - slot.LastUsedMs >= (long)IdleSlot.TotalMilliseconds)
                {
                    slot.Removed = true;
                    idle = true;
                }
            }

            if (idle)
            {
                _leaseSlots.TryRemove(new KeyValuePair<string, LeaseSlot>(keyId, slot));
            }

            if (closing is { } c)
            {
                _ = ReportAsync(c.Lease, c.Report);
            }
        }
    }

    /// <summary>
    /// One settlement for a lease: its requests' spend and tokens since the last, the hold it releases, the requests
    /// it did not use. A closing report also takes it off the slot.
    /// </summary>
    private async Task ReportAsync(RedisLease lease, LeaseReport report)
    {
        try
        {
            // A lease's reports reach Redis in the order it made them: a closing report never overtakes a shrinking
            // one that waits to be sent again (it would remove the flight group the shrink has to land in).
            await report.After;
            await EnqueueSettle(new SettleOp(lease.Handle, report.Cost, report.Tokens, report.Unused, report.Release, report.Partial));
        }
        finally
        {
            report.Done.TrySetResult();
            if (!report.Partial && _leaseSlots.TryGetValue(lease.Plan.KeyId, out var slot))
            {
                lock (slot)
                {
                    slot.Open.Remove(lease);
                }
            }
        }
    }

    /// <summary>On dispose: every open lease closes now, with what its requests have settled so far.</summary>
    private async Task CloseAllLeasesAsync()
    {
        if (_leaseTimer is not null)
        {
            await _leaseTimer.DisposeAsync();
        }

        var closing = new List<Task>();
        foreach (var slot in _leaseSlots.Values)
        {
            lock (slot)
            {
                slot.Current = null;
                foreach (var lease in slot.Open.ToArray())
                {
                    if (lease.ForceClose() is { } report)
                    {
                        closing.Add(ReportAsync(lease, report));
                    }
                }
            }
        }

        try
        {
            await Task.WhenAll(closing).WaitAsync(DrainOnDispose);
        }
        catch (Exception e) when (e is TimeoutException or RedisException or InvalidOperationException)
        {
            // Redis gone at shutdown: the ledger has the spend; the holds expire.
        }
    }

    /// <summary>
    /// What this replica's open leases change in the Redis view of <paramref name="plan"/>'s key: Redis counts a
    /// lease's whole hold and size; the truth is what its requests hold and spent, and the requests it admitted.
    /// </summary>
    private LeaseView LeaseCorrection(AdmissionPlan plan)
    {
        var view = default(LeaseView);
        if (!_leaseSlots.TryGetValue(plan.KeyId, out var slot))
        {
            return view;
        }

        var second = plan.NowMs / 1000;
        lock (slot)
        {
            foreach (var lease in slot.Open)
            {
                view = view.Add(lease.ViewFor(plan, second));
            }
        }

        return view;
    }

    /// <summary>Corrections to a quota view; see <see cref="LeaseCorrection"/>.</summary>
    internal readonly record struct LeaseView(long Spent, long Held, long Requests, long Tokens, long RateRequests, long InFlight)
    {
        public LeaseView Add(LeaseView o) =>
            new(Spent + o.Spent, Held + o.Held, Requests + o.Requests, Tokens + o.Tokens, RateRequests + o.RateRequests, InFlight + o.InFlight);
    }

    /// <summary>One key's leasing on this replica: the lease admitting now, every lease not yet closed, the next size.</summary>
    private sealed class LeaseSlot
    {
        public RedisLease? Current { get; set; }

        public List<RedisLease> Open { get; } = [];

        public TaskCompletionSource<bool>? Acquiring { get; set; }

        public int Size { get; set; } = MinLease;

        public long BackoffUntilMs { get; set; }

        /// <summary>When an admission last came for the key (Unix ms of the limiter's clock).</summary>
        public long LastUsedMs { get; set; }

        /// <summary>Taken out of the limiter's slots by the sweep; whoever still holds it looks the key up again.</summary>
        public bool Removed { get; set; }
    }
}

/// <summary>What a lease tells Redis: the hold it releases, its requests' spend and tokens since the last report, the requests it did not use.</summary>
internal readonly record struct LeaseReport(long Release, long Cost, long Tokens, long Unused, bool Partial)
{
    /// <summary>The lease's previous report has reached Redis (or failed for good); never faults.</summary>
    public Task After { get; init; } = Task.CompletedTask;

    /// <summary>Completed once this report has reached Redis or failed for good: the next report's <see cref="After"/>.</summary>
    public TaskCompletionSource Done { get; init; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
}

/// <summary>
/// One lease: <see cref="Size"/> requests counted in rpm second <see cref="Second"/>, and a hold of
/// <see cref="AdmissionPlan.HoldNanos"/> of its <see cref="Plan"/>, reserved in Redis. See <see cref="RedisLimiter"/>.
/// Retired (its second over, or used up) with requests still in flight, it shrinks at once to what they hold; it
/// closes when the last of them has settled.
/// </summary>
internal sealed class RedisLease
{
    private readonly Lock _gate = new();
    private int _used;
    private int _outstanding;
    private long _held;
    private long _spentTotal;
    private long _spent;
    private long _tokens;
    private long _reserved;
    private bool _unusedReported;
    private bool _retired;
    private bool _closed;
    private Task _lastReport = Task.CompletedTask;

    internal RedisLease(AdmissionPlan plan, int size)
    {
        Plan = plan;
        Handle = plan.Handle();
        Size = size;
        Second = plan.NowMs / 1000;
        _reserved = plan.HoldNanos;
    }

    public AdmissionPlan Plan { get; }

    /// <summary>The lease's own hold in Redis: what its reports settle.</summary>
    public HoldHandle Handle { get; }

    public int Size { get; }

    /// <summary>The Unix second its requests were counted in; it admits only during it.</summary>
    public long Second { get; }

    public int Used
    {
        get
        {
            lock (_gate)
            {
                return _used;
            }
        }
    }

    /// <summary>Same second, period, day and limits as when the lease was granted.</summary>
    public bool Matches(AdmissionPlan plan) =>
        plan.NowMs / 1000 == Second && plan.KeyPeriod == Plan.KeyPeriod && plan.Day == Plan.Day && plan.Rpm == Plan.Rpm
        && plan.KeyBudget?.Max == Plan.KeyBudget?.Max && plan.KeyBudget?.Soft == Plan.KeyBudget?.Soft;

    /// <summary>
    /// One request, if one is left and (for a key with a budget) its hold fits in what the lease's requests do not
    /// hold or have spent.
    /// </summary>
    public bool TryTake(long hold)
    {
        lock (_gate)
        {
            if (_retired || _used >= Size || (Plan.KeyBudget is not null && _held + _spentTotal + hold > Plan.HoldNanos))
            {
                return false;
            }

            _used++;
            _outstanding++;
            _held += hold;
            return true;
        }
    }

    /// <summary>A request of this lease settled; the closing report when it was the last of a retired lease.</summary>
    public LeaseReport? Settle(long hold, long cost, long tokens)
    {
        lock (_gate)
        {
            _held -= hold;
            _spent += cost;
            _spentTotal += cost;
            _tokens += tokens;
            _outstanding--;
            return _retired && _outstanding == 0 ? Close() : null;
        }
    }

    /// <summary>
    /// Takes no more requests. Returns the closing report when nothing is in flight; otherwise the report that
    /// shrinks it to what its requests in flight hold (once), so its unused part is free at once.
    /// </summary>
    public LeaseReport? Retire()
    {
        lock (_gate)
        {
            if (_retired)
            {
                return null;
            }

            _retired = true;
            if (_outstanding == 0)
            {
                return Close();
            }

            var report = Ordered(new LeaseReport(_reserved - _held, _spent, _tokens, Size - _used, Partial: true));
            _reserved = _held;
            _spent = 0;
            _tokens = 0;
            _unusedReported = true;
            return report;
        }
    }

    /// <summary>Closes now, whatever is in flight (shutdown); null when it had closed.</summary>
    public LeaseReport? ForceClose()
    {
        lock (_gate)
        {
            _retired = true;
            return Close();
        }
    }

    /// <summary>What this lease changes in a quota view of its key (nothing once it has closed: Redis has it then).</summary>
    public RedisLimiter.LeaseView ViewFor(AdmissionPlan plan, long second)
    {
        lock (_gate)
        {
            if (_closed)
            {
                return default;
            }

            var samePeriod = plan.KeyPeriod == Plan.KeyPeriod;
            var sameDay = plan.Day == Plan.Day;
            var unused = _unusedReported ? 0 : Size - _used;
            return new RedisLimiter.LeaseView(
                samePeriod ? _spent : 0,
                samePeriod ? _held - _reserved : 0,
                sameDay ? -unused : 0,
                sameDay ? _tokens : 0,
                Second >= second - 60 ? -unused : 0,
                _outstanding - 1);
        }
    }

    private LeaseReport? Close()
    {
        if (_closed || !Handle.TryClaimSettlement())
        {
            return null;
        }

        _closed = true;
        return Ordered(new LeaseReport(_reserved, _spent, _tokens, _unusedReported ? 0 : Size - _used, Partial: false));
    }

    /// <summary>Under the lock: the report goes after the one made before it.</summary>
    private LeaseReport Ordered(LeaseReport report)
    {
        report = report with { After = _lastReport };
        _lastReport = report.Done.Task;
        return report;
    }
}
