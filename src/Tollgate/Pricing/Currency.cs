using Tollgate.Configuration;

namespace Tollgate.Pricing;

/// <summary>Converts USD list-price costs into the reporting currency.</summary>
internal sealed class Currency
{
    public Currency(ReportingConfig reporting)
    {
        ArgumentNullException.ThrowIfNull(reporting);
        Code = reporting.Currency;
        UsdRate = string.Equals(Code, "USD", StringComparison.OrdinalIgnoreCase)
            ? 1m
            : reporting.Fx.TryGetValue("USD", out var rate) ? rate : 1m;
    }

    public string Code { get; }

    /// <summary>Units of the reporting currency per USD.</summary>
    public decimal UsdRate { get; }

    public decimal FromUsd(decimal usd) => usd * UsdRate;
}
