namespace Tollgate.Pipeline;

/// <summary>
/// Token usage in one shape for every provider. <see cref="InputTokens"/> is the whole prompt,
/// cache reads and writes included (OpenAI counts them inside prompt_tokens; Anthropic reports them
/// apart, and its reader adds them in), so cost = uncached input + cache read + cache write + output.
/// </summary>
internal readonly record struct Usage(long InputTokens, long OutputTokens, long CacheReadTokens, long CacheWriteTokens, long ReasoningTokens)
{
    public long UncachedInputTokens => Math.Max(0, InputTokens - CacheReadTokens - CacheWriteTokens);

    public long TotalTokens => InputTokens + OutputTokens;
}
