namespace Tollgate.Pipeline;

/// <summary>
/// A cancellation that fires when no byte has moved for the timeout, not after a total time: a long
/// stream stays alive while bytes flow. Linked to the client's abort.
/// </summary>
/// <remarks>
/// One shared sweep (every <see cref="SweepInterval"/>) cancels the idle ones, instead of a timer per call that
/// every chunk of bytes would have to re-arm: <see cref="Touch"/> is a single write of the clock, and a call
/// allocates no timer. The price is precision: a timeout fires up to one sweep interval late.
/// </remarks>
internal sealed class ActivityTimeout : IDisposable
{
    /// <summary>How often idle calls are looked for; also the most a timeout can fire late.</summary>
    public static readonly TimeSpan SweepInterval = TimeSpan.FromMilliseconds(100);

    private static readonly Lock Gate = new();
    private static ActivityTimeout? s_head;
    private static Timer? s_sweeper;

    private readonly CancellationTokenSource _source;
    private readonly TimeProvider _time;
    private readonly TimeSpan _timeout;
    private long _lastActivity;
    private ActivityTimeout? _previous;
    private ActivityTimeout? _next;
    private bool _listed;

    public ActivityTimeout(TimeSpan timeout, CancellationToken clientAborted, TimeProvider? time = null)
    {
        _time = time ?? TimeProvider.System;
        _timeout = timeout;
        _source = CancellationTokenSource.CreateLinkedTokenSource(clientAborted);
        _lastActivity = _time.GetTimestamp();
        lock (Gate)
        {
            s_sweeper ??= new Timer(static _ => Sweep(), null, SweepInterval, SweepInterval);
            _next = s_head;
            if (s_head is not null)
            {
                s_head._previous = this;
            }

            s_head = this;
            _listed = true;
        }
    }

    public CancellationToken Token => _source.Token;

    /// <summary>Bytes moved: restart the clock.</summary>
    public void Touch() => Volatile.Write(ref _lastActivity, _time.GetTimestamp());

    public void Dispose()
    {
        lock (Gate)
        {
            Unlist();
        }

        _source.Dispose();
    }

    /// <summary>Cancels every call that has been idle for its timeout. Runs on the shared timer (tests call it directly).</summary>
    internal static void Sweep()
    {
        List<ActivityTimeout>? idle = null;
        lock (Gate)
        {
            for (var item = s_head; item is not null;)
            {
                var next = item._next;
                if (item._time.GetElapsedTime(Volatile.Read(ref item._lastActivity)) >= item._timeout)
                {
                    item.Unlist();
                    (idle ??= []).Add(item);
                }

                item = next;
            }
        }

        if (idle is null)
        {
            return;
        }

        foreach (var item in idle)
        {
            try
            {
                // Outside the lock: cancellation runs the token's callbacks (the upstream call's abort) synchronously.
                item._source.Cancel();
            }
            catch (ObjectDisposedException)
            {
                // The call finished between the sweep and now.
            }
            catch (AggregateException)
            {
                // A callback threw; the token is cancelled all the same.
            }
        }
    }

    /// <summary>Takes this call out of the sweep list. Caller holds <see cref="Gate"/>.</summary>
    private void Unlist()
    {
        if (!_listed)
        {
            return;
        }

        if (_previous is null)
        {
            s_head = _next;
        }
        else
        {
            _previous._next = _next;
        }

        if (_next is not null)
        {
            _next._previous = _previous;
        }

        _previous = null;
        _next = null;
        _listed = false;
    }
}
