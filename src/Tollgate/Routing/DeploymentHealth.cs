using System.Collections.Concurrent;

namespace Tollgate.Routing;

/// <summary>Cooldown states of one deployment.</summary>
internal enum CircuitState
{
    Healthy,
    CoolingDown,
    HalfOpen,
}

/// <summary>
/// Live state of one deployment: in-flight count and latency (for balancing), and the cooldown
/// circuit. A failure cools the deployment down with exponential backoff (or until the upstream's
/// reset time); when the cooldown ends, one request is let through as a half-open probe, and its
/// outcome closes the circuit or starts a longer cooldown.
/// </summary>
internal sealed class DeploymentHealth
{
    private readonly object _gate = new();
    private int _inFlight;
    private double _latencyEwmaMs = double.NaN;

    public DeploymentHealth(string label) => Label = label;

    public string Label { get; }

    public CircuitState State { get; private set; }

    /// <summary>The state as a caller at <paramref name="now"/> would find it: a cooldown that has run out is ready for its probe.</summary>
    public CircuitState StateAt(DateTimeOffset now)
    {
        lock (_gate)
        {
            return State == CircuitState.CoolingDown && now >= CooldownUntil ? CircuitState.HalfOpen : State;
        }
    }

    /// <summary>The state's name in the admin API and metrics.</summary>
    public static string Name(CircuitState state) => state switch
    {
        CircuitState.CoolingDown => "cooling_down",
        CircuitState.HalfOpen => "half_open",
        _ => "healthy",
    };

    public DateTimeOffset CooldownUntil { get; private set; }

    public int ConsecutiveFailures { get; private set; }

    public string? LastError { get; private set; }

    public long Successes { get; private set; }

    public long Failures { get; private set; }

    public int InFlight => Volatile.Read(ref _inFlight);

    /// <summary>Exponentially weighted mean latency of successful attempts; NaN before the first.</summary>
    public double LatencyEwmaMs
    {
        get
        {
            lock (_gate)
            {
                return _latencyEwmaMs;
            }
        }
    }

    public void Enter() => Interlocked.Increment(ref _inFlight);

    public void Leave() => Interlocked.Decrement(ref _inFlight);

    /// <summary>Whether a request may use the deployment now. At the end of a cooldown exactly one caller gets the probe.</summary>
    public bool TryAcquire(DateTimeOffset now)
    {
        lock (_gate)
        {
            switch (State)
            {
                case CircuitState.Healthy:
                    return true;
                case CircuitState.CoolingDown when now >= CooldownUntil:
                    State = CircuitState.HalfOpen;
                    return true;
                default:
                    return false;
            }
        }
    }

    public void ReportSuccess(double latencyMs)
    {
        lock (_gate)
        {
            Successes++;
            ConsecutiveFailures = 0;
            State = CircuitState.Healthy;
            LastError = null;
            _latencyEwmaMs = double.IsNaN(_latencyEwmaMs) ? latencyMs : (0.8 * _latencyEwmaMs) + (0.2 * latencyMs);
        }
    }

    /// <summary>Starts (or lengthens) a cooldown. <paramref name="until"/> from the upstream's reset time wins when later than the backoff.</summary>
    public DateTimeOffset ReportFailure(DateTimeOffset now, CooldownPolicy policy, DateTimeOffset? until, string error)
    {
        ArgumentNullException.ThrowIfNull(policy);
        lock (_gate)
        {
            Failures++;
            ConsecutiveFailures++;
            LastError = error;
            var backoff = policy.Backoff(ConsecutiveFailures);
            var end = now + backoff;
            if (until is { } reset && reset > end)
            {
                end = reset;
            }

            CooldownUntil = end;
            State = CircuitState.CoolingDown;
            return end;
        }
    }

    /// <summary>A probe that did not finish either way (the client left): let the next caller probe again.</summary>
    public void ReleaseProbe()
    {
        lock (_gate)
        {
            if (State == CircuitState.HalfOpen)
            {
                State = CircuitState.CoolingDown;
            }
        }
    }
}

/// <summary>Backoff for cooldowns: base × 2^(failures−1), capped.</summary>
internal sealed record CooldownPolicy(TimeSpan Base, TimeSpan Max)
{
    public static readonly CooldownPolicy Default = new(TimeSpan.FromSeconds(5), TimeSpan.FromMinutes(5));

    public TimeSpan Backoff(int consecutiveFailures)
    {
        var exponent = Math.Clamp(consecutiveFailures - 1, 0, 20);
        var ticks = Math.Min(Base.Ticks * (1L << exponent), Max.Ticks);
        return TimeSpan.FromTicks(ticks);
    }
}

/// <summary>Health of every deployment by label; it outlives config reloads so a reload does not forget a cooldown.</summary>
internal sealed class HealthRegistry
{
    private readonly ConcurrentDictionary<string, DeploymentHealth> _byLabel = new(StringComparer.Ordinal);

    public DeploymentHealth For(string label) => _byLabel.GetOrAdd(label, static l => new DeploymentHealth(l));

    public IEnumerable<DeploymentHealth> All => _byLabel.Values;
}
