using System.Collections.Frozen;
using Tollgate.Configuration;
using Tollgate.Pipeline;
using Tollgate.Pricing;

namespace Tollgate.Tests.Pricing;

public sealed class PricingTests
{
    [Fact]
    public void Cost_splits_uncached_input_cache_reads_writes_and_output()
    {
        var price = new ModelPrice(Input: 3m, Output: 15m, CacheRead: 0.3m, CacheWrite: 3.75m);
        // 1000 prompt tokens of which 600 cache reads and 100 cache writes; 200 output.
        var cost = price.CostUsd(new Usage(1000, 200, 600, 100, 0));
        cost.ShouldBe(((300 * 3m) + (600 * 0.3m) + (100 * 3.75m) + (200 * 15m)) / 1_000_000m);
    }

    [Fact]
    public void Config_price_overrides_the_built_in_table()
    {
        PriceTable.Resolve(new PriceConfig(1m, 2m), "gpt-4o")!.Input.ShouldBe(1m);
        PriceTable.Resolve(null, "gpt-4o")!.Input.ShouldBe(2.5m);
    }

    [Fact]
    public void Dated_snapshot_matches_its_longest_listed_prefix()
    {
        PriceTable.Lookup("claude-sonnet-4-5-20250929")!.Input.ShouldBe(3m);
        PriceTable.Lookup("gpt-4o-mini-2024-07-18")!.Input.ShouldBe(0.15m);
        PriceTable.Lookup("gpt-4o-2024-08-06")!.Input.ShouldBe(2.5m);
        PriceTable.Lookup("totally-unknown").ShouldBeNull();
    }

    [Fact]
    public void Reporting_currency_converts_from_usd_with_the_configured_rate()
    {
        var aud = new Currency(new ReportingConfig { Currency = "AUD", Fx = new Dictionary<string, decimal> { ["USD"] = 1.53m }.ToFrozenDictionary() });
        aud.FromUsd(2m).ShouldBe(3.06m);
        new Currency(new ReportingConfig()).FromUsd(2m).ShouldBe(2m);
    }
}
