using Tollgate.Ledger;

namespace Tollgate.Tests.Ledger;

public sealed class StoreHealthTests
{
    private static readonly DateTimeOffset Start = new(2025, 3, 1, 0, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Serve_cached_never_refuses_even_with_the_store_down()
    {
        var health = new StoreHealth(() => false, new ManualTimeProvider(Start));

        health.ReportFailure();

        health.Reachable.ShouldBeFalse();
        health.RefuseRequests.ShouldBeFalse();
    }

    [Fact]
    public void Strict_refuses_from_the_first_failure_until_the_next_success()
    {
        var clock = new ManualTimeProvider(Start);
        var health = new StoreHealth(() => true, clock);
        health.RefuseRequests.ShouldBeFalse();

        health.ReportFailure();
        clock.Advance(TimeSpan.FromSeconds(3));
        health.ReportFailure();

        health.RefuseRequests.ShouldBeTrue();
        health.DownSince.ShouldBe(Start, "the outage started at the first failure");
        StoreHealth.Refusal.Status.ShouldBe(500);

        health.ReportSuccess();
        health.RefuseRequests.ShouldBeFalse();
        health.DownSince.ShouldBeNull();
    }
}
