using Tollgate.Pricing;

namespace Tollgate.Limits;

/// <summary>A request's worst case: what the hold reserves and what tpm counts until settlement.</summary>
/// <param name="InputTokens">Estimated prompt tokens.</param>
/// <param name="OutputTokens">The most output the request can produce: max_tokens, else the model's output limit.</param>
/// <param name="Cost">Input at the input price plus <paramref name="OutputTokens"/> at the output price, in the reporting currency; 0 when the price is unknown.</param>
/// <param name="RateLimitTokens">Tokens for <see cref="AdmissionRequest.EstimatedTokens"/>: input plus an explicit max_tokens (not the model limit, which would make small tpm limits refuse every request without max_tokens).</param>
internal readonly record struct HoldEstimate(long InputTokens, long OutputTokens, decimal Cost, long RateLimitTokens);

/// <summary>
/// Worst-case cost before dispatch (SPEC §5, holds). The input side is a heuristic: about 4 bytes of request body
/// per token. It overestimates for JSON punctuation and base64 images, which only makes the hold safer; a caller
/// that knows better (a tokenizer, count_tokens) passes its own input estimate. Cache discounts are ignored.
/// </summary>
internal static class HoldEstimator
{
    public const int BytesPerToken = 4;

    /// <summary>⌈bytes / 4⌉.</summary>
    public static long InputTokensFromBody(long bodyBytes) => bodyBytes <= 0 ? 0 : ((bodyBytes - 1) / BytesPerToken) + 1;

    /// <summary>The estimate from the size of the request body.</summary>
    public static HoldEstimate EstimateFromBody(long bodyBytes, long? maxTokens, ModelPrice? price, Currency currency, long modelOutputLimit) =>
        Estimate(InputTokensFromBody(bodyBytes), maxTokens, price, currency, modelOutputLimit);

    /// <summary>The estimate from an input token count.</summary>
    /// <param name="estimatedInputTokens">Prompt tokens, estimated.</param>
    /// <param name="maxTokens">The request's max_tokens (or max_completion_tokens / max_output_tokens), if any.</param>
    /// <param name="price">List price of the most expensive candidate deployment; null when unknown (the hold is 0).</param>
    /// <param name="currency">Converts the USD list price into the reporting currency.</param>
    /// <param name="modelOutputLimit">The model's output limit; caps max_tokens and stands in when it is absent. 0 when unknown.</param>
    public static HoldEstimate Estimate(long estimatedInputTokens, long? maxTokens, ModelPrice? price, Currency currency, long modelOutputLimit)
    {
        ArgumentNullException.ThrowIfNull(currency);
        var input = Math.Max(0, estimatedInputTokens);
        var limit = Math.Max(0, modelOutputLimit);
        var explicitMax = maxTokens is > 0 ? (limit > 0 ? Math.Min(maxTokens.Value, limit) : maxTokens.Value) : (long?)null;
        var output = explicitMax ?? limit;
        var cost = price is null ? 0m : currency.FromUsd(((input * price.Input) + (output * price.Output)) / 1_000_000m);
        return new HoldEstimate(input, output, cost, input + (explicitMax ?? 0));
    }
}
