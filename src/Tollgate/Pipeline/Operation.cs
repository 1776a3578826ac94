namespace Tollgate.Pipeline;

/// <summary>The client APIs Tollgate serves, each in one wire format.</summary>
internal enum ApiFormat
{
    OpenAiChat,
    OpenAiResponses,
    OpenAiEmbeddings,
    AnthropicMessages,
    AnthropicCountTokens,
}

/// <summary>How an answer streams, for the relay's tap and the surface's error event.</summary>
internal enum StreamFormat
{
    None,
    ChatCompletions,
    Responses,
    AnthropicMessages,
}

/// <summary>Top-level fields a surface requires before routing.</summary>
[Flags]
internal enum RequiredField
{
    None = 0,
    Messages = 1,
    Input = 2,
    MaxTokens = 4,
}

/// <summary>What the client called: its format, its error shape, and what its body must hold.</summary>
/// <param name="Errors">Renders failures in the surface's shape.</param>
/// <param name="Endpoint">The ledger's name for it, e.g. openai.chat.</param>
/// <param name="Format">The client's wire format.</param>
/// <param name="Required">Fields the body must have.</param>
/// <param name="Validate">Surface-specific checks on the body beyond the required fields; returns a problem or null.</param>
internal sealed record Operation(ISurfaceErrors Errors, string Endpoint, ApiFormat Format, RequiredField Required, Func<ReadOnlyMemory<byte>, GatewayError?>? Validate = null)
{
    /// <summary>The provider kind that speaks this format natively (same-format pass-through).</summary>
    public string NativeKind => Format is ApiFormat.AnthropicMessages or ApiFormat.AnthropicCountTokens ? "anthropic" : "openai";

    /// <summary>The path after the provider's base URL when forwarding natively.</summary>
    public string UpstreamPath => Format switch
    {
        ApiFormat.OpenAiChat => "/chat/completions",
        ApiFormat.OpenAiResponses => "/responses",
        ApiFormat.OpenAiEmbeddings => "/embeddings",
        ApiFormat.AnthropicMessages => "/v1/messages",
        _ => "/v1/messages/count_tokens",
    };

    /// <summary>Anthropic clients send <c>?beta=true</c>; it goes upstream as sent.</summary>
    public bool ForwardQuery => NativeKind == "anthropic";

    public StreamFormat StreamFormat => Format switch
    {
        ApiFormat.OpenAiChat => StreamFormat.ChatCompletions,
        ApiFormat.OpenAiResponses => StreamFormat.Responses,
        ApiFormat.AnthropicMessages => StreamFormat.AnthropicMessages,
        _ => StreamFormat.None,
    };
}
