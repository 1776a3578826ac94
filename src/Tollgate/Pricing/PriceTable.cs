using System.Collections.Frozen;
using Tollgate.Configuration;

namespace Tollgate.Pricing;

/// <summary>
/// Built-in list prices (USD per 1M tokens: input, output, cache read, cache write), from the providers'
/// public price pages. A deployment's <c>price:</c> in config overrides them. Dated model names
/// (<c>claude-sonnet-4-5-20250929</c>) match their longest listed prefix.
/// </summary>
internal static class PriceTable
{
    private static readonly FrozenDictionary<string, ModelPrice> BuiltIn = new Dictionary<string, ModelPrice>(StringComparer.Ordinal)
    {
        // OpenAI (cached input is billed at the cache-read price; there is no cache-write charge).
        ["gpt-4o"] = new(2.50m, 10m, 1.25m, 2.50m),
        ["gpt-4o-mini"] = new(0.15m, 0.60m, 0.075m, 0.15m),
        ["gpt-4.1"] = new(2m, 8m, 0.50m, 2m),
        ["gpt-4.1-mini"] = new(0.40m, 1.60m, 0.10m, 0.40m),
        ["gpt-4.1-nano"] = new(0.10m, 0.40m, 0.025m, 0.10m),
        ["gpt-5"] = new(1.25m, 10m, 0.125m, 1.25m),
        ["gpt-5-mini"] = new(0.25m, 2m, 0.025m, 0.25m),
        ["gpt-5-nano"] = new(0.05m, 0.40m, 0.005m, 0.05m),
        ["o3"] = new(2m, 8m, 0.50m, 2m),
        ["o4-mini"] = new(1.10m, 4.40m, 0.275m, 1.10m),
        ["text-embedding-3-small"] = new(0.02m, 0m, 0.02m, 0.02m),
        ["text-embedding-3-large"] = new(0.13m, 0m, 0.13m, 0.13m),
        // Anthropic (5-minute cache writes at 1.25x input, reads at 0.1x).
        ["claude-opus-4"] = new(15m, 75m, 1.50m, 18.75m),
        ["claude-opus-4-1"] = new(15m, 75m, 1.50m, 18.75m),
        ["claude-opus-4-5"] = new(5m, 25m, 0.50m, 6.25m),
        ["claude-opus-4-6"] = new(5m, 25m, 0.50m, 6.25m),
        ["claude-opus-4-7"] = new(5m, 25m, 0.50m, 6.25m),
        ["claude-sonnet-4"] = new(3m, 15m, 0.30m, 3.75m),
        ["claude-sonnet-4-5"] = new(3m, 15m, 0.30m, 3.75m),
        ["claude-sonnet-4-6"] = new(3m, 15m, 0.30m, 3.75m),
        ["claude-haiku-4-5"] = new(1m, 5m, 0.10m, 1.25m),
        ["claude-3-5-haiku"] = new(0.80m, 4m, 0.08m, 1m),
        // Google (context up to 200k).
        ["gemini-2.5-pro"] = new(1.25m, 10m, 0.31m, 1.25m),
        ["gemini-2.5-flash"] = new(0.30m, 2.50m, 0.075m, 0.30m),
        ["gemini-2.0-flash"] = new(0.10m, 0.40m, 0.025m, 0.10m),
    }.ToFrozenDictionary(StringComparer.Ordinal);

    /// <summary>The price for a deployment: its override, else the built-in entry for the upstream model, else null (unknown).</summary>
    public static ModelPrice? Resolve(PriceConfig? overridePrice, string upstreamModel)
    {
        if (overridePrice is not null)
        {
            return new ModelPrice(
                overridePrice.Input,
                overridePrice.Output,
                overridePrice.CacheRead ?? overridePrice.Input,
                overridePrice.CacheWrite ?? overridePrice.Input);
        }

        return Lookup(upstreamModel);
    }

    /// <summary>Exact name first, then the longest listed prefix followed by '-' (dated snapshots).</summary>
    public static ModelPrice? Lookup(string model)
    {
        if (BuiltIn.TryGetValue(model, out var price))
        {
            return price;
        }

        ModelPrice? best = null;
        var bestLength = 0;
        foreach (var (name, candidate) in BuiltIn)
        {
            if (name.Length > bestLength && model.Length > name.Length && model[name.Length] == '-'
                && model.StartsWith(name, StringComparison.Ordinal))
            {
                best = candidate;
                bestLength = name.Length;
            }
        }

        return best;
    }
}
