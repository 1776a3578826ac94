using Tollgate.Pipeline;

namespace Tollgate.Surfaces.Anthropic;

/// <summary>The Anthropic Messages surface: messages and count_tokens (https://docs.anthropic.com/en/api/messages).</summary>
internal static class AnthropicEndpoints
{
    private static readonly Operation Messages = new(AnthropicErrors.Instance, "anthropic.messages", ApiFormat.AnthropicMessages,
        RequiredField.Messages | RequiredField.MaxTokens, AnthropicValidation.Validate);

    private static readonly Operation CountTokens = new(AnthropicErrors.Instance, "anthropic.count_tokens", ApiFormat.AnthropicCountTokens,
        RequiredField.Messages, AnthropicValidation.Validate);

    public static void MapAnthropic(this IEndpointRouteBuilder app)
    {
        var pipeline = app.ServiceProvider.GetRequiredService<GatewayPipeline>();
        app.MapPost("/v1/messages", http => pipeline.RunAsync(http, Messages));
        app.MapPost("/v1/messages/count_tokens", http => pipeline.RunAsync(http, CountTokens));
    }
}
