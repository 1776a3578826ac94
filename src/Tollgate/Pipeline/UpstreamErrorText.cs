using System.Text.Json;

namespace Tollgate.Pipeline;

/// <summary>Pulls the human message out of an upstream error body, whatever the provider's shape.</summary>
internal static class UpstreamErrorText
{
    private const int MaxLength = 500;

    /// <summary>
    /// <c>{"error":{"message"}}</c> (OpenAI, Anthropic's inner error, Gemini), <c>{"error":"…"}</c>,
    /// <c>{"message"}</c> or <c>{"detail"}</c>; else the body as text, cut short; else the status.
    /// </summary>
    public static string Extract(string body, int status)
    {
        if (string.IsNullOrWhiteSpace(body))
        {
            return $"HTTP {status} with an empty body";
        }

        try
        {
            using var doc = JsonDocument.Parse(body);
            var root = doc.RootElement;
            if (root.ValueKind == JsonValueKind.Object)
            {
                if (root.TryGetProperty("error", out var error))
                {
                    if (error.ValueKind == JsonValueKind.String)
                    {
                        return Cut(error.GetString()!);
                    }

                    if (error.ValueKind == JsonValueKind.Object && error.TryGetProperty("message", out var inner) && inner.ValueKind == JsonValueKind.String)
                    {
                        return Cut(inner.GetString()!);
                    }
                }

                foreach (var name in (ReadOnlySpan<string>)["message", "detail"])
                {
                    if (root.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String)
                    {
                        return Cut(value.GetString()!);
                    }
                }
            }
        }
        catch (JsonException)
        {
            // Not JSON: fall through to the raw text.
        }

        return Cut(body.Trim());
    }

    private static string Cut(string text) => text.Length <= MaxLength ? text : string.Concat(text.AsSpan(0, MaxLength), "…");
}
