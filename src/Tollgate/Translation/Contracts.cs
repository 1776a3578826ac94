using System.Buffers;
using Tollgate.Pipeline;

namespace Tollgate.Translation;

/// <summary>The four wire formats Tollgate speaks to clients and upstreams.</summary>
internal enum WireFormat
{
    OpenAiChat,
    OpenAiResponses,
    AnthropicMessages,
    Gemini,
}

/// <summary>
/// How a request is translated. <paramref name="DefaultMaxTokens"/> is used when the target requires a
/// token limit (Anthropic) and the client gave none; <see cref="For"/> takes it from <see cref="ModelLimits"/>.
/// <paramref name="UseMaxCompletionTokens"/> writes <c>max_completion_tokens</c> instead of <c>max_tokens</c>
/// to an OpenAI chat upstream (OpenAI's reasoning models refuse <c>max_tokens</c>; many compatible servers
/// only know <c>max_tokens</c>).
/// </summary>
internal sealed record TranslationOptions(bool Stream, int DefaultMaxTokens = 8192, bool UseMaxCompletionTokens = false)
{
    /// <summary>Options whose default output limit is the upstream model's own maximum.</summary>
    public static TranslationOptions For(bool stream, string upstreamModel) => new(stream, ModelLimits.MaxOutputTokens(upstreamModel));
}

/// <summary>A translated request body, or an error that says what to fix (an HTTP 400 for the client).</summary>
internal sealed record RequestTranslation(byte[]? Body, string? Error, string? ErrorParam = null);

/// <summary>A translated response body with its usage, or an error when the upstream body could not be read.</summary>
internal sealed record ResponseTranslation(byte[]? Body, Usage Usage, string? Error);

/// <summary>Turns one upstream SSE stream into the client's SSE stream, event by event.</summary>
internal interface IStreamTranslator
{
    /// <summary>
    /// One upstream SSE event (the event name may be empty; data is the joined data payload without "data: ").
    /// Writes zero or more complete client SSE events, each ending in a blank line, to <paramref name="output"/>.
    /// </summary>
    void OnEvent(ReadOnlySpan<byte> eventName, ReadOnlySpan<byte> data, IBufferWriter<byte> output);

    /// <summary>True once the upstream's terminal event has been seen.</summary>
    bool Completed { get; }

    /// <summary>Called when the upstream stream ended cleanly: writes the closing events the client format still needs.</summary>
    void Finish(IBufferWriter<byte> output);

    /// <summary>Usage as known so far; partial reports are combined, never double counted.</summary>
    Usage Usage { get; }

    /// <summary>
    /// The message of an error event the upstream sent mid-stream (Anthropic <c>error</c>, an OpenAI
    /// <c>error</c> object, Responses <c>response.failed</c>/<c>error</c>), or null. Nothing is written to the
    /// client for it: the pipeline ends the stream with its own error event and can quote this message.
    /// </summary>
    string? UpstreamError { get; }
}
