namespace Tollgate.Limits;

/// <summary>
/// Budget periods: <c>1d</c>, <c>7d</c> and <c>30d</c> are fixed-length windows anchored at the key's
/// creation time; <c>calendar_month</c> runs from the first of the month, UTC.
/// </summary>
internal static class BudgetPeriod
{
    public static readonly IReadOnlyList<string> Names = ["1d", "7d", "30d", "calendar_month"];

    public static bool IsValid(string? period) => period is null || Names.Contains(period);

    /// <summary>The window that contains <paramref name="now"/>, or null when the budget has no period (it never resets).</summary>
    public static (DateTimeOffset Start, DateTimeOffset End)? Current(string? period, DateTimeOffset anchor, DateTimeOffset now)
    {
        if (period == "calendar_month")
        {
            var utc = now.ToUniversalTime();
            var start = new DateTimeOffset(utc.Year, utc.Month, 1, 0, 0, 0, TimeSpan.Zero);
            return (start, start.AddMonths(1));
        }

        TimeSpan? length = period switch
        {
            "1d" => TimeSpan.FromDays(1),
            "7d" => TimeSpan.FromDays(7),
            "30d" => TimeSpan.FromDays(30),
            _ => null,
        };
        if (length is not { } span)
        {
            return null;
        }

        var elapsed = now - anchor;
        var periods = elapsed < TimeSpan.Zero ? 0 : (long)(elapsed.Ticks / span.Ticks);
        var windowStart = anchor + TimeSpan.FromTicks(periods * span.Ticks);
        return (windowStart, windowStart + span);
    }
}
