using System.Net;
using System.Text.Json;

namespace Tollgate.IntegrationTests.Harness;

/// <summary>A whole (non-streamed) answer from the gateway, read through the raw HttpClient.</summary>
internal sealed record RawAnswer(HttpStatusCode Status, IReadOnlyDictionary<string, string> Headers, string Body)
{
    public string? Header(string name) => Headers.TryGetValue(name, out var value) ? value : null;

    public JsonElement Json
    {
        get
        {
            try
            {
                using var document = JsonDocument.Parse(Body);
                return document.RootElement.Clone();
            }
            catch (JsonException e)
            {
                throw new ShouldAssertException($"The body is not JSON ({e.Message}): {Body}");
            }
        }
    }

    /// <summary>
    /// Asserts the status and the OpenAI error shape <c>{"error":{"message","type","code","param"}}</c>,
    /// and returns the error's message.
    /// </summary>
    public string ShouldBeOpenAiError(HttpStatusCode status)
    {
        Status.ShouldBe(status, $"expected {(int)status}; the body was: {Body}");
        var json = Json;
        json.ValueKind.ShouldBe(JsonValueKind.Object, Body);
        json.TryGetProperty("error", out var error).ShouldBeTrue($"no `error` object: {Body}");
        error.ValueKind.ShouldBe(JsonValueKind.Object, Body);
        foreach (var field in new[] { "message", "type", "code", "param" })
        {
            error.TryGetProperty(field, out _).ShouldBeTrue($"the error object lacks `{field}`: {Body}");
        }

        error.GetProperty("type").ValueKind.ShouldBe(JsonValueKind.String, $"`type` must be a string: {Body}");
        var message = error.GetProperty("message").GetString();
        message.ShouldNotBeNullOrWhiteSpace($"the error message is empty: {Body}");
        return message;
    }

    public override string ToString() => $"{(int)Status} {Body}";
}

internal static class RawCall
{
    /// <summary>
    /// A prompt no happy-path fixture matches, for calls to groups whose upstream model fails: aimock picks the
    /// first matching fixture, and the happy paths (matched on the user message) load first.
    /// </summary>
    public const string FailurePrompt = "provoke the upstream failure";

    /// <summary>Sends <paramref name="request"/> and reads the whole answer.</summary>
    public static async Task<RawAnswer> AnswerAsync(this HttpClient http, HttpRequestMessage request, CancellationToken cancellationToken, bool dispose = true)
    {
        try
        {
            using var response = await http.SendAsync(request, cancellationToken);
            var body = await response.Content.ReadAsStringAsync(cancellationToken);
            var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            foreach (var header in response.Headers.Concat(response.Content.Headers))
            {
                headers[header.Key] = string.Join(", ", header.Value);
            }

            return new RawAnswer(response.StatusCode, headers, body);
        }
        finally
        {
            if (dispose)
            {
                request.Dispose();
            }
        }
    }

    /// <summary>POSTs JSON to a data-plane path with the key as a bearer token.</summary>
    public static Task<RawAnswer> CallAsync(this HttpClient http, string path, string? key, object body, CancellationToken cancellationToken) =>
        http.AnswerAsync(GatewayStack.DataRequest(HttpMethod.Post, path, key, body), cancellationToken);

    /// <summary>A one-message chat completion request body.</summary>
    public static object Chat(string model, string userMessage, bool stream = false) => stream
        ? new { model, stream, messages = new[] { new { role = "user", content = userMessage } } }
        : new { model, messages = new[] { new { role = "user", content = userMessage } } };
}
