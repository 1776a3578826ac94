namespace Tollgate.Limits;

/// <summary>
/// The rpm / tpm window: per-second buckets. An admission at time t counts in bucket ⌊t / 1 s⌋ and keeps counting
/// for the rest of that second plus 60 s, so at any moment the window is the current second and the 60 before it
/// (<see cref="Buckets"/> buckets). That is conservative: every admission counts for at least 60 s, so no 60-second
/// span, wherever it starts, ever holds more admissions (or tokens) than the limit; the price is that a slot frees
/// up to one second later than an exact log would free it. Memory is <see cref="Buckets"/> counters per key and limit,
/// however high the rate, and when room frees is known to the millisecond: when the oldest buckets leave.
/// <see cref="InMemoryLimiter"/> keeps one of these per key and limit; <see cref="RedisScripts.Batch"/> keeps the same
/// buckets in a hash.
/// </summary>
internal sealed class RateWindow
{
    /// <summary>This second and the 60 before it.</summary>
    public const int Buckets = 61;

    private readonly long[] _seconds = new long[Buckets];
    private readonly long[] _values = new long[Buckets];

    public RateWindow() => Array.Fill(_seconds, long.MinValue);

    /// <summary>The bucket (Unix second) an admission at <paramref name="unixMs"/> counts in.</summary>
    public static long SecondOf(long unixMs) => Math.DivRem(unixMs, 1000, out var rest) - (rest < 0 ? 1 : 0);

    /// <summary>When the bucket of <paramref name="second"/> leaves the window (Unix ms).</summary>
    public static long LeavesAtMs(long second) => (second + Buckets) * 1000;

    /// <summary>Counted now: the buckets of this second and the 60 before (and any later ones).</summary>
    public long Used(long nowMs)
    {
        var low = SecondOf(nowMs) - (Buckets - 1);
        long used = 0;
        for (var i = 0; i < Buckets; i++)
        {
            if (_seconds[i] >= low)
            {
                used += _values[i];
            }
        }

        return used;
    }

    public void Add(long nowMs, long amount)
    {
        var second = SecondOf(nowMs);
        var slot = Slot(second);
        if (_seconds[slot] != second)
        {
            // The slot held a second at least 61 s older: out of the window already.
            _seconds[slot] = second;
            _values[slot] = 0;
        }

        _values[slot] += amount;
    }

    /// <summary>Changes the bucket of <paramref name="second"/> by <paramref name="delta"/> if it still counts at <paramref name="nowMs"/>.</summary>
    public void Adjust(long second, long delta, long nowMs)
    {
        var slot = Slot(second);
        if (_seconds[slot] == second && second >= SecondOf(nowMs) - (Buckets - 1))
        {
            _values[slot] += delta;
        }
    }

    /// <summary>
    /// How long until <paramref name="need"/> of what is counted has left the window (buckets leave oldest first);
    /// one second when that never happens (a limit of 0).
    /// </summary>
    public TimeSpan RetryAfter(long need, long nowMs)
    {
        var low = SecondOf(nowMs) - (Buckets - 1);
        Span<int> order = stackalloc int[Buckets];
        var n = 0;
        for (var i = 0; i < Buckets; i++)
        {
            if (_seconds[i] >= low && _values[i] != 0)
            {
                order[n++] = i;
            }
        }

        order[..n].Sort((a, b) => _seconds[a].CompareTo(_seconds[b]));
        long freed = 0;
        foreach (var i in order[..n])
        {
            freed += _values[i];
            if (freed >= need)
            {
                return TimeSpan.FromMilliseconds(LeavesAtMs(_seconds[i]) - nowMs);
            }
        }

        return TimeSpan.FromSeconds(1);
    }

    private static int Slot(long second) => (int)(((second % Buckets) + Buckets) % Buckets);
}
