// The minimal .NET pass-through for bench/run.sh: POST /v1/chat/completions is read whole, sent to UPSTREAM over a
// pooled keep-alive connection, and the answer is read whole and written back with its length. No keys, no
// routing, no ledger, no metrics: what is left is the cost of Kestrel plus SocketsHttpHandler, the floor any
// .NET gateway starts from. Tollgate's own row minus this row is the price of its features.
using System.Buffers;
using System.Net;

var upstream = new Uri(Environment.GetEnvironmentVariable("UPSTREAM")
    ?? throw new InvalidOperationException("set UPSTREAM to the stub's chat completions URL"));

// The same two runtime defaults Tollgate sets (see its Program.cs): inline socket completions, no config file watch.
Environment.SetEnvironmentVariable("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS", "1");
Environment.SetEnvironmentVariable("DOTNET_hostBuilder__reloadConfigOnChange", "false");

var builder = WebApplication.CreateSlimBuilder(args);
builder.Logging.ClearProviders();
builder.WebHost.ConfigureKestrel(k => k.AddServerHeader = false);
var app = builder.Build();
using var invoker = new HttpMessageInvoker(new SocketsHttpHandler
{
    UseProxy = false,
    AllowAutoRedirect = false,
    UseCookies = false,
    AutomaticDecompression = DecompressionMethods.None,
    MaxConnectionsPerServer = int.MaxValue,
});

app.MapPost("/v1/chat/completions", async (HttpContext http) =>
{
    var body = ArrayPool<byte>.Shared.Rent(16 * 1024);
    var answer = ArrayPool<byte>.Shared.Rent(16 * 1024);
    try
    {
        int n = 0, read;
        while (n < body.Length && (read = await http.Request.Body.ReadAsync(body.AsMemory(n), http.RequestAborted)) > 0)
        {
            n += read;
        }

        using var request = new HttpRequestMessage(HttpMethod.Post, upstream)
        {
            Content = new ReadOnlyMemoryContent(body.AsMemory(0, n)),
            Version = HttpVersion.Version11,
        };
        request.Content.Headers.TryAddWithoutValidation("Content-Type", "application/json");
        using var response = await invoker.SendAsync(request, http.RequestAborted);
        var m = 0;
        await using (var stream = response.Content.ReadAsStream(http.RequestAborted))
        {
            while (m < answer.Length && (read = await stream.ReadAsync(answer.AsMemory(m), http.RequestAborted)) > 0)
            {
                m += read;
            }
        }

        http.Response.StatusCode = (int)response.StatusCode;
        http.Response.ContentType = "application/json";
        http.Response.ContentLength = m;
        await http.Response.Body.WriteAsync(answer.AsMemory(0, m), http.RequestAborted);
    }
    finally
    {
        ArrayPool<byte>.Shared.Return(body);
        ArrayPool<byte>.Shared.Return(answer);
    }
});
app.MapGet("/", () => "ok");
await app.RunAsync();
