namespace Tollgate.Pricing;

/// <summary>List price in USD per million tokens.</summary>
internal sealed record ModelPrice(decimal Input, decimal Output, decimal CacheRead, decimal CacheWrite)
{
    private const decimal PerMillion = 1_000_000m;

    /// <summary>Cost in USD of <paramref name="usage"/> at this price.</summary>
    public decimal CostUsd(Pipeline.Usage usage) =>
        ((usage.UncachedInputTokens * Input)
        + (usage.CacheReadTokens * CacheRead)
        + (usage.CacheWriteTokens * CacheWrite)
        + (usage.OutputTokens * Output)) / PerMillion;
}
