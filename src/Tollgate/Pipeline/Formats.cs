using Tollgate.Providers;
using Tollgate.Translation;

namespace Tollgate.Pipeline;

/// <summary>From what the client speaks to what the upstream speaks, when they differ.</summary>
internal readonly record struct TranslationPlan(WireFormat Client, WireFormat Upstream);

/// <summary>Which calls need translation, and where a translated call goes.</summary>
internal static class Formats
{
    /// <summary>Null when the provider speaks the client's format (pass-through) or no translation exists (embeddings, count_tokens).</summary>
    public static TranslationPlan? Plan(Operation operation, string providerKind)
    {
        ArgumentNullException.ThrowIfNull(operation);
        if (providerKind == operation.NativeKind)
        {
            return null;
        }

        WireFormat? client = operation.Format switch
        {
            ApiFormat.OpenAiChat => WireFormat.OpenAiChat,
            ApiFormat.OpenAiResponses => WireFormat.OpenAiResponses,
            ApiFormat.AnthropicMessages => WireFormat.AnthropicMessages,
            _ => null,
        };
        WireFormat? upstream = providerKind switch
        {
            "openai" => WireFormat.OpenAiChat,
            "anthropic" => WireFormat.AnthropicMessages,
            "gemini" => WireFormat.Gemini,
            _ => null,
        };
        return client is { } c && upstream is { } u ? new TranslationPlan(c, u) : null;
    }

    /// <summary>The upstream endpoint for a translated call (Gemini puts the model in the path).</summary>
    public static Uri UpstreamUrl(ProviderRuntime provider, WireFormat upstream, string model, bool stream)
    {
        ArgumentNullException.ThrowIfNull(provider);
        return provider.UpstreamUri(upstream switch
        {
            WireFormat.OpenAiChat => "/chat/completions",
            WireFormat.OpenAiResponses => "/responses",
            WireFormat.AnthropicMessages => "/v1/messages",
            _ => $"/v1beta/models/{Uri.EscapeDataString(model)}:{(stream ? "streamGenerateContent?alt=sse" : "generateContent")}",
        });
    }
}
