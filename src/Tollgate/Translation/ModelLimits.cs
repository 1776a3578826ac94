namespace Tollgate.Translation;

/// <summary>
/// The largest output a model accepts, used as the default <c>max_tokens</c> when a client that need not send
/// one (OpenAI, Gemini) talks to an upstream that requires one (Anthropic).
/// Figures from https://docs.anthropic.com/en/docs/about-claude/models/overview.
/// </summary>
internal static class ModelLimits
{
    public const int Fallback = 8192;

    public static int MaxOutputTokens(string upstreamModel)
    {
        ArgumentNullException.ThrowIfNull(upstreamModel);
        var m = upstreamModel.AsSpan();
        if (m.Contains("claude-opus-4", StringComparison.OrdinalIgnoreCase)
            || m.Contains("claude-4-opus", StringComparison.OrdinalIgnoreCase))
        {
            // Opus 4 and 4.1 allow 32k; later Opus releases allow more, but 32k is accepted by all.
            return 32000;
        }

        if (m.Contains("claude-sonnet-4", StringComparison.OrdinalIgnoreCase)
            || m.Contains("claude-4-sonnet", StringComparison.OrdinalIgnoreCase)
            || m.Contains("claude-haiku-4", StringComparison.OrdinalIgnoreCase)
            || m.Contains("claude-3-7-sonnet", StringComparison.OrdinalIgnoreCase))
        {
            return 64000;
        }

        return Fallback;
    }
}
