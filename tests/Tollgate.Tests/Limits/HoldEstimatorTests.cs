using System.Collections.Frozen;
using Tollgate.Configuration;
using Tollgate.Limits;
using Tollgate.Pricing;

namespace Tollgate.Tests.Limits;

public sealed class HoldEstimatorTests
{
    private static readonly Currency Usd = new(new ReportingConfig());
    private static readonly Currency Aud = new(new ReportingConfig { Currency = "AUD", Fx = new Dictionary<string, decimal> { ["USD"] = 1.5m }.ToFrozenDictionary() });
    private static readonly ModelPrice Sonnet = new(3m, 15m, 0.3m, 3.75m);

    [Fact]
    public void Input_is_about_four_bytes_a_token_rounded_up()
    {
        HoldEstimator.InputTokensFromBody(0).ShouldBe(0);
        HoldEstimator.InputTokensFromBody(1).ShouldBe(1);
        HoldEstimator.InputTokensFromBody(4).ShouldBe(1);
        HoldEstimator.InputTokensFromBody(4001).ShouldBe(1001);
    }

    [Fact]
    public void Hold_is_input_plus_max_tokens_at_list_price_in_the_reporting_currency()
    {
        // 4,000 bytes ≈ 1,000 input tokens at $3/M + 2,000 output at $15/M = $0.003 + $0.03.
        var estimate = HoldEstimator.EstimateFromBody(4000, 2000, Sonnet, Usd, 64_000);
        estimate.ShouldBe(new HoldEstimate(1000, 2000, 0.033m, 3000));
        HoldEstimator.EstimateFromBody(4000, 2000, Sonnet, Aud, 64_000).Cost.ShouldBe(0.0495m);
    }

    [Fact]
    public void Without_max_tokens_the_model_output_limit_is_held_but_not_counted_for_tpm()
    {
        var estimate = HoldEstimator.Estimate(1000, null, Sonnet, Usd, 64_000);
        estimate.OutputTokens.ShouldBe(64_000);
        estimate.Cost.ShouldBe(0.963m);
        estimate.RateLimitTokens.ShouldBe(1000);
    }

    [Fact]
    public void Max_tokens_above_the_model_limit_is_capped_and_an_unknown_price_holds_nothing()
    {
        HoldEstimator.Estimate(10, 1_000_000, Sonnet, Usd, 8_192).OutputTokens.ShouldBe(8_192);
        HoldEstimator.Estimate(10, 500, Sonnet, Usd, 0).OutputTokens.ShouldBe(500);
        HoldEstimator.Estimate(10, 500, null, Usd, 8_192).Cost.ShouldBe(0m);
    }
}
