using Tollgate.Limits;

namespace Tollgate.Tests.Limits;

public sealed class BudgetPeriodTests
{
    private static readonly DateTimeOffset Created = new(2026, 11, 3, 10, 30, 0, TimeSpan.Zero);

    [Fact]
    public void Fixed_windows_are_anchored_at_key_creation()
    {
        var window = BudgetPeriod.Current("7d", Created, Created.AddDays(9)).ShouldNotBeNull();
        window.Start.ShouldBe(Created.AddDays(7));
        window.End.ShouldBe(Created.AddDays(14));
    }

    [Fact]
    public void Calendar_month_runs_from_the_first_of_the_month_utc()
    {
        var window = BudgetPeriod.Current("calendar_month", Created, new DateTimeOffset(2026, 12, 31, 23, 59, 0, TimeSpan.Zero)).ShouldNotBeNull();
        window.Start.ShouldBe(new DateTimeOffset(2026, 12, 1, 0, 0, 0, TimeSpan.Zero));
        window.End.ShouldBe(new DateTimeOffset(2027, 1, 1, 0, 0, 0, TimeSpan.Zero));
    }

    [Fact]
    public void No_period_means_no_window_and_unknown_periods_are_invalid()
    {
        BudgetPeriod.Current(null, Created, Created).ShouldBeNull();
        BudgetPeriod.IsValid("1d").ShouldBeTrue();
        BudgetPeriod.IsValid("weekly").ShouldBeFalse();
    }
}
