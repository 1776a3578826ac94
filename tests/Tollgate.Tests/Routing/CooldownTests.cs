using Tollgate.Routing;

namespace Tollgate.Tests.Routing;

public sealed class CooldownTests
{
    private static readonly DateTimeOffset Start = new(2026, 11, 23, 12, 0, 0, TimeSpan.Zero);
    private static readonly CooldownPolicy Policy = new(TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(60));

    [Fact]
    public void Backoff_doubles_per_consecutive_failure_up_to_the_cap()
    {
        Policy.Backoff(1).ShouldBe(TimeSpan.FromSeconds(5));
        Policy.Backoff(2).ShouldBe(TimeSpan.FromSeconds(10));
        Policy.Backoff(4).ShouldBe(TimeSpan.FromSeconds(40));
        Policy.Backoff(5).ShouldBe(TimeSpan.FromSeconds(60));
        Policy.Backoff(50).ShouldBe(TimeSpan.FromSeconds(60));
    }

    [Fact]
    public void Failed_deployment_is_skipped_until_its_cooldown_ends()
    {
        var time = new ManualTimeProvider(Start);
        var health = new DeploymentHealth("p/m");
        health.TryAcquire(time.GetUtcNow()).ShouldBeTrue();
        health.ReportFailure(time.GetUtcNow(), Policy, null, "502").ShouldBe(Start.AddSeconds(5));
        health.TryAcquire(time.GetUtcNow()).ShouldBeFalse();
        time.Advance(TimeSpan.FromSeconds(4.9));
        health.TryAcquire(time.GetUtcNow()).ShouldBeFalse();
    }

    [Fact]
    public void After_the_cooldown_exactly_one_probe_goes_through_and_success_closes_the_circuit()
    {
        var time = new ManualTimeProvider(Start);
        var health = new DeploymentHealth("p/m");
        health.ReportFailure(time.GetUtcNow(), Policy, null, "502");
        time.Advance(TimeSpan.FromSeconds(5));
        health.TryAcquire(time.GetUtcNow()).ShouldBeTrue();
        health.State.ShouldBe(CircuitState.HalfOpen);
        health.TryAcquire(time.GetUtcNow()).ShouldBeFalse("only one probe while half-open");
        health.ReportSuccess(12);
        health.State.ShouldBe(CircuitState.Healthy);
        health.TryAcquire(time.GetUtcNow()).ShouldBeTrue();
    }

    [Fact]
    public void Failed_probe_starts_a_longer_cooldown()
    {
        var time = new ManualTimeProvider(Start);
        var health = new DeploymentHealth("p/m");
        health.ReportFailure(time.GetUtcNow(), Policy, null, "502");
        time.Advance(TimeSpan.FromSeconds(5));
        health.TryAcquire(time.GetUtcNow()).ShouldBeTrue();
        health.ReportFailure(time.GetUtcNow(), Policy, null, "502 again").ShouldBe(time.GetUtcNow().AddSeconds(10));
        health.TryAcquire(time.GetUtcNow().AddSeconds(9)).ShouldBeFalse();
        health.TryAcquire(time.GetUtcNow().AddSeconds(10)).ShouldBeTrue();
    }

    [Fact]
    public void Upstream_reset_time_later_than_the_backoff_keeps_the_deployment_out_until_then()
    {
        var time = new ManualTimeProvider(Start);
        var health = new DeploymentHealth("p/m");
        health.ReportFailure(time.GetUtcNow(), Policy, Start.AddSeconds(90), "429").ShouldBe(Start.AddSeconds(90));
        health.TryAcquire(Start.AddSeconds(89)).ShouldBeFalse();
        health.TryAcquire(Start.AddSeconds(90)).ShouldBeTrue();
    }

    [Fact]
    public void Probe_abandoned_by_the_client_lets_the_next_caller_probe()
    {
        var time = new ManualTimeProvider(Start);
        var health = new DeploymentHealth("p/m");
        health.ReportFailure(time.GetUtcNow(), Policy, null, "502");
        time.Advance(TimeSpan.FromSeconds(5));
        health.TryAcquire(time.GetUtcNow()).ShouldBeTrue();
        health.ReleaseProbe();
        health.TryAcquire(time.GetUtcNow()).ShouldBeTrue();
    }
}
