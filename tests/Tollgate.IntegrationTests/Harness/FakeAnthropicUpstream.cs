using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Tollgate.IntegrationTests.Harness;

/// <summary>
/// A minimal Anthropic Messages upstream on 127.0.0.1:0, written from the Anthropic spec in
/// <c>/work/shared/specs/anthropic-messages-2024-11.yaml</c> and
/// https://docs.anthropic.com/en/api/messages-streaming. It exists because aimock cannot show what we need here:
/// its journal keeps only a normalised (OpenAI-shaped) body, so image blocks, unknown fields and exact bytes are
/// lost, and it reports zero usage, so cache tokens cannot be checked. It records every request whole (method,
/// path and query, headers, raw body bytes) and answers <c>POST …/v1/messages</c> with a fixed text, as JSON or
/// as SSE, and <c>POST …/v1/messages/count_tokens</c> with a fixed count.
/// </summary>
internal sealed class FakeAnthropicUpstream : IAsyncDisposable
{
    /// <summary>The text every answer carries.</summary>
    public const string AnswerText = "fake-anthropic-upstream-ok";

    /// <summary>The usage every answer reports (streamed answers: the same totals, split over message_start and message_delta).</summary>
    public const int InputTokens = 17;
    public const int OutputTokens = 5;
    public const int CacheReadTokens = 11;
    public const int CacheWriteTokens = 3;
    public const int CountedTokens = 42;

    private readonly WebApplication _app;
    private readonly ConcurrentQueue<ReceivedRequest> _received = new();

    private FakeAnthropicUpstream(WebApplication app) => _app = app;

    /// <summary>The server root, e.g. <c>http://127.0.0.1:41234</c>.</summary>
    public Uri BaseUrl { get; private set; } = null!;

    public IReadOnlyCollection<ReceivedRequest> Received => _received;

    public static async Task<FakeAnthropicUpstream> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        var fake = new FakeAnthropicUpstream(app);
        app.Run(fake.HandleAsync);
        await app.StartAsync().WaitAsync(TimeSpan.FromSeconds(20)).ConfigureAwait(false);
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        fake.BaseUrl = new Uri(address);
        return fake;
    }

    /// <summary>Polls until a request matching <paramref name="match"/> has arrived (up to 10 s).</summary>
    public async Task<ReceivedRequest> WaitForAsync(Func<ReceivedRequest, bool> match, CancellationToken cancellationToken)
    {
        var deadline = DateTimeOffset.UtcNow.AddSeconds(10);
        while (true)
        {
            var found = _received.FirstOrDefault(match);
            if (found is not null)
            {
                return found;
            }

            if (DateTimeOffset.UtcNow > deadline)
            {
                throw new ShouldAssertException(
                    $"The fake Anthropic upstream received no matching request within 10 s. It received: " +
                    string.Join("\n", _received.Select(r => $"{r.Method} {r.PathAndQuery} {r.BodyText}")));
            }

            await Task.Delay(50, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>The request whose body contains <paramref name="marker"/> (tests tag their prompts with a unique one).</summary>
    public Task<ReceivedRequest> WaitForBodyContainingAsync(string marker, CancellationToken cancellationToken) =>
        WaitForAsync(r => r.BodyText.Contains(marker, StringComparison.Ordinal), cancellationToken);

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
    }

    private async Task HandleAsync(HttpContext http)
    {
        using var buffer = new MemoryStream();
        await http.Request.Body.CopyToAsync(buffer, http.RequestAborted).ConfigureAwait(false);
        var headers = http.Request.Headers.ToDictionary(h => h.Key, h => h.Value.ToString(), StringComparer.OrdinalIgnoreCase);
        var request = new ReceivedRequest(http.Request.Method, http.Request.Path + http.Request.QueryString, headers, buffer.ToArray());
        _received.Enqueue(request);

        if (http.Request.Method != "POST" || !http.Request.Path.Value!.EndsWith("/v1/messages", StringComparison.Ordinal)
            && !http.Request.Path.Value.EndsWith("/v1/messages/count_tokens", StringComparison.Ordinal))
        {
            await WriteErrorAsync(http, 404, "not_found_error", $"The fake upstream serves no {http.Request.Method} {http.Request.Path}").ConfigureAwait(false);
            return;
        }

        JsonElement body;
        try
        {
            using var document = JsonDocument.Parse(request.Body);
            body = document.RootElement.Clone();
        }
        catch (JsonException e)
        {
            await WriteErrorAsync(http, 400, "invalid_request_error", "The fake upstream got a body that is not JSON: " + e.Message).ConfigureAwait(false);
            return;
        }

        var model = JsonSerializer.Serialize(body.TryGetProperty("model", out var m) ? m.GetString() ?? "unknown" : "unknown");
        if (http.Request.Path.Value.EndsWith("/count_tokens", StringComparison.Ordinal))
        {
            await WriteJsonAsync(http, "{\"input_tokens\":" + CountedTokens + "}").ConfigureAwait(false);
            return;
        }

        var usage = $"\"input_tokens\":{InputTokens},\"cache_read_input_tokens\":{CacheReadTokens},\"cache_creation_input_tokens\":{CacheWriteTokens}";
        var stream = body.TryGetProperty("stream", out var s) && s.ValueKind == JsonValueKind.True;
        if (!stream)
        {
            await WriteJsonAsync(http,
                "{\"id\":\"msg_fake_0001\",\"type\":\"message\",\"role\":\"assistant\",\"model\":" + model +
                ",\"content\":[{\"type\":\"text\",\"text\":\"" + AnswerText + "\"}],\"stop_reason\":\"end_turn\",\"stop_sequence\":null," +
                "\"usage\":{" + usage + $",\"output_tokens\":{OutputTokens}" + "}}").ConfigureAwait(false);
            return;
        }

        http.Response.StatusCode = 200;
        http.Response.ContentType = "text/event-stream";
        http.Response.Headers.CacheControl = "no-cache";
        var half = AnswerText.Length / 2;
        string[] events =
        [
            Event("message_start",
                "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_fake_0002\",\"type\":\"message\",\"role\":\"assistant\",\"model\":" + model +
                ",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{" + usage + ",\"output_tokens\":1}}}"),
            Event("content_block_start", """{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"""),
            Event("ping", """{"type":"ping"}"""),
            Event("content_block_delta", TextDelta(AnswerText[..half])),
            Event("content_block_delta", TextDelta(AnswerText[half..])),
            Event("content_block_stop", """{"type":"content_block_stop","index":0}"""),
            Event("message_delta", "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":" + OutputTokens + "}}"),
            Event("message_stop", """{"type":"message_stop"}"""),
        ];
        foreach (var e in events)
        {
            await http.Response.WriteAsync(e, http.RequestAborted).ConfigureAwait(false);
            await http.Response.Body.FlushAsync(http.RequestAborted).ConfigureAwait(false);
        }
    }

    private static string TextDelta(string text) =>
        "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":" + JsonSerializer.Serialize(text) + "}}";

    private static string Event(string name, string data) => $"event: {name}\ndata: {data}\n\n";

    private static Task WriteJsonAsync(HttpContext http, string json)
    {
        http.Response.StatusCode = 200;
        http.Response.ContentType = "application/json";
        return http.Response.WriteAsync(json, http.RequestAborted);
    }

    private static Task WriteErrorAsync(HttpContext http, int status, string type, string message)
    {
        http.Response.StatusCode = status;
        http.Response.ContentType = "application/json";
        return http.Response.WriteAsync(
            "{\"type\":\"error\",\"error\":{\"type\":\"" + type + "\",\"message\":" + JsonSerializer.Serialize(message) + "}}", http.RequestAborted);
    }
}

/// <summary>One request as the fake upstream received it.</summary>
internal sealed record ReceivedRequest(string Method, string PathAndQuery, IReadOnlyDictionary<string, string> Headers, byte[] Body)
{
    public string BodyText => Encoding.UTF8.GetString(Body);

    public string? Header(string name) => Headers.TryGetValue(name, out var value) ? value : null;

    public JsonElement Json
    {
        get
        {
            using var document = JsonDocument.Parse(Body);
            return document.RootElement.Clone();
        }
    }
}
