using Tollgate.Pipeline;

namespace Tollgate.Tests.Pipeline;

public sealed class ActivityTimeoutTests
{
    private static readonly DateTimeOffset Start = new(2026, 12, 1, 0, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Idle_for_the_timeout_cancels_on_the_next_sweep()
    {
        var time = new ManualTimeProvider(Start);
        using var activity = new ActivityTimeout(TimeSpan.FromSeconds(10), CancellationToken.None, time);

        time.Advance(TimeSpan.FromSeconds(9.9));
        ActivityTimeout.Sweep();
        activity.Token.IsCancellationRequested.ShouldBeFalse();

        time.Advance(TimeSpan.FromSeconds(0.1));
        ActivityTimeout.Sweep();
        activity.Token.IsCancellationRequested.ShouldBeTrue();
    }

    [Fact]
    public void Bytes_moving_keep_a_long_call_alive()
    {
        var time = new ManualTimeProvider(Start);
        using var activity = new ActivityTimeout(TimeSpan.FromSeconds(10), CancellationToken.None, time);

        // A minute of streaming, a chunk every 5 s: longer than the timeout in total, never idle for it.
        for (var i = 0; i < 12; i++)
        {
            time.Advance(TimeSpan.FromSeconds(5));
            activity.Touch();
            ActivityTimeout.Sweep();
        }

        activity.Token.IsCancellationRequested.ShouldBeFalse();

        time.Advance(TimeSpan.FromSeconds(10));
        ActivityTimeout.Sweep();
        activity.Token.IsCancellationRequested.ShouldBeTrue();
    }

    [Fact]
    public void Client_abort_cancels_at_once()
    {
        using var client = new CancellationTokenSource();
        using var activity = new ActivityTimeout(TimeSpan.FromMinutes(5), client.Token, new ManualTimeProvider(Start));

        client.Cancel();

        activity.Token.IsCancellationRequested.ShouldBeTrue();
    }

    [Fact]
    public void Each_call_has_its_own_clock_and_a_disposed_one_is_never_swept()
    {
        var time = new ManualTimeProvider(Start);
        var finished = new ActivityTimeout(TimeSpan.FromSeconds(1), CancellationToken.None, time);
        using var quick = new ActivityTimeout(TimeSpan.FromSeconds(1), CancellationToken.None, time);
        using var patient = new ActivityTimeout(TimeSpan.FromSeconds(30), CancellationToken.None, time);
        var token = finished.Token;
        finished.Dispose();

        time.Advance(TimeSpan.FromSeconds(2));
        Should.NotThrow(ActivityTimeout.Sweep);

        token.IsCancellationRequested.ShouldBeFalse();
        quick.Token.IsCancellationRequested.ShouldBeTrue();
        patient.Token.IsCancellationRequested.ShouldBeFalse();
    }

    [Fact]
    public async Task The_shared_sweep_fires_on_real_time_without_being_called()
    {
        using var activity = new ActivityTimeout(TimeSpan.FromMilliseconds(200), CancellationToken.None);
        var fired = new TaskCompletionSource();
        using var registration = activity.Token.Register(() => fired.TrySetResult());

        await fired.Task.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);

        activity.Token.IsCancellationRequested.ShouldBeTrue();
    }
}
