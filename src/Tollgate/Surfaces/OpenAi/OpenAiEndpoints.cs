using System.Buffers;
using System.Text.Json;
using Tollgate.Keys;
using Tollgate.Pipeline;
using Tollgate.Routing;

namespace Tollgate.Surfaces.OpenAi;

/// <summary>The OpenAI-compatible surface: chat completions, Responses, embeddings and the model list.</summary>
internal static class OpenAiEndpoints
{
    private static readonly Operation Chat = new(OpenAiErrors.Instance, "openai.chat", "/chat/completions", StreamFormat.ChatCompletions, RequiredField.Messages);
    private static readonly Operation Responses = new(OpenAiErrors.Instance, "openai.responses", "/responses", StreamFormat.Responses, RequiredField.None);
    private static readonly Operation Embeddings = new(OpenAiErrors.Instance, "openai.embeddings", "/embeddings", StreamFormat.None, RequiredField.Input);

    public static void MapOpenAi(this IEndpointRouteBuilder app)
    {
        var pipeline = app.ServiceProvider.GetRequiredService<GatewayPipeline>();
        app.MapPost("/v1/chat/completions", http => pipeline.RunAsync(http, Chat));
        app.MapPost("/v1/responses", http => pipeline.RunAsync(http, Responses));
        app.MapPost("/v1/embeddings", http => pipeline.RunAsync(http, Embeddings));
        app.MapGet("/v1/models", ListModelsAsync);
        app.MapGet("/v1/models/{**id}", GetModelAsync);
    }

    private static Task ListModelsAsync(HttpContext http)
    {
        if (Authenticate(http, out var key, out var table) is { } failure)
        {
            return failure;
        }

        var created = table.Created;
        return WriteJsonAsync(http, writer =>
        {
            writer.WriteStartObject();
            writer.WriteString("object", "list");
            writer.WriteStartArray("data");
            foreach (var alias in table.Aliases)
            {
                if (ModelAccess.IsAllowed(key!, table, alias))
                {
                    WriteModel(writer, alias, created);
                }
            }

            writer.WriteEndArray();
            writer.WriteEndObject();
        });
    }

    private static Task GetModelAsync(HttpContext http)
    {
        if (Authenticate(http, out var key, out var table) is { } failure)
        {
            return failure;
        }

        var id = (string?)http.Request.RouteValues["id"] ?? string.Empty;
        if (!table.Groups.ContainsKey(id) || !ModelAccess.IsAllowed(key!, table, id))
        {
            return OpenAiErrors.Instance.WriteAsync(http.Response, new GatewayError(GatewayErrorKind.UnknownModel,
                $"The model '{id}' does not exist or this key may not use it. GET /v1/models lists the models it may use.", "model"));
        }

        return WriteJsonAsync(http, writer => WriteModel(writer, id, table.Created));
    }

    private static Task? Authenticate(HttpContext http, out KeyEntry? key, out RouteTable table)
    {
        table = http.RequestServices.GetRequiredService<RouteTableHolder>().Current;
        var secret = KeyCache.PresentedSecret(http.Request.Headers);
        key = secret.IsEmpty ? null : http.RequestServices.GetRequiredService<KeyCache>().Authenticate(secret);
        if (key is not null)
        {
            return null;
        }

        return OpenAiErrors.Instance.WriteAsync(http.Response, secret.IsEmpty
            ? new GatewayError(GatewayErrorKind.MissingKey, "No API key was sent. Send your Tollgate virtual key as 'Authorization: Bearer tg-…' or 'x-api-key: tg-…'.")
            : new GatewayError(GatewayErrorKind.InvalidKey, "The API key is not valid: it is unknown, revoked or expired. Ask your operator for a current Tollgate key."));
    }

    private static void WriteModel(Utf8JsonWriter writer, string id, long created)
    {
        writer.WriteStartObject();
        writer.WriteString("id", id);
        writer.WriteString("object", "model");
        writer.WriteNumber("created", created);
        writer.WriteString("owned_by", "tollgate");
        writer.WriteEndObject();
    }

    private static Task WriteJsonAsync(HttpContext http, Action<Utf8JsonWriter> write)
    {
        var buffer = new ArrayBufferWriter<byte>(1024);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            write(writer);
        }

        http.Response.ContentType = "application/json";
        http.Response.ContentLength = buffer.WrittenCount;
        return http.Response.Body.WriteAsync(buffer.WrittenMemory).AsTask();
    }
}
