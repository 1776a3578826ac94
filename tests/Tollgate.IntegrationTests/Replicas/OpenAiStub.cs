using System.Net;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Tollgate.IntegrationTests.Replicas;

/// <summary>
/// A tiny OpenAI chat-completions upstream in this process (Kestrel on 127.0.0.1:0): every call answers the
/// same completion with fixed usage (<see cref="PromptTokens"/> in, <see cref="CompletionTokens"/> out) after
/// <see cref="Latency"/>, so concurrent calls really overlap and every call costs the same.
/// </summary>
internal sealed class OpenAiStub : IAsyncDisposable
{
    public const int PromptTokens = 10;
    public const int CompletionTokens = 20;
    private readonly WebApplication _app;
    private long _calls;

    private OpenAiStub(WebApplication app) => _app = app;

    public Uri BaseUrl { get; private set; } = null!;

    /// <summary>The base URL an OpenAI provider takes (with /v1).</summary>
    public Uri OpenAiBaseUrl => new(BaseUrl, "/v1");

    public TimeSpan Latency { get; set; } = TimeSpan.FromMilliseconds(50);

    public long Calls => Interlocked.Read(ref _calls);

    public static async Task<OpenAiStub> StartAsync(CancellationToken cancellationToken)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        var stub = new OpenAiStub(app);
        app.MapPost("/v1/chat/completions", async (HttpContext http) =>
        {
            Interlocked.Increment(ref stub._calls);
            await Task.Delay(stub.Latency, http.RequestAborted);
            var body = $$$"""
                {"id":"chatcmpl-stub-{{{Guid.NewGuid():N}}}","object":"chat.completion","created":1700000000,"model":"stub-chat",
                 "choices":[{"index":0,"message":{"role":"assistant","content":"stub answer"},"finish_reason":"stop"}],
                 "usage":{"prompt_tokens":{{{PromptTokens}}},"completion_tokens":{{{CompletionTokens}}},"total_tokens":{{{PromptTokens + CompletionTokens}}}}}
                """;
            http.Response.ContentType = "application/json";
            await http.Response.WriteAsync(body, Encoding.UTF8, http.RequestAborted);
        });
        await app.StartAsync(cancellationToken);
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        stub.BaseUrl = new Uri(address.Replace("[::1]", "127.0.0.1", StringComparison.Ordinal));
        return stub;
    }

    public async ValueTask DisposeAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        await _app.StopAsync(timeout.Token);
        await _app.DisposeAsync();
    }
}
