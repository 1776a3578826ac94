using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Tollgate.Configuration;
using Tollgate.Keys;
using Tollgate.Limits;
using Tollgate.Routing;
using Tollgate.Storage;

namespace Tollgate.Admin;

/// <summary>The admin API (SPEC §7), behind the master key.</summary>
internal static class AdminEndpoints
{
    private const string Actor = "master";

    public static void MapAdmin(this IEndpointRouteBuilder app)
    {
        var admin = app.MapGroup("/admin").AddEndpointFilter(async (context, next) =>
        {
            var master = context.HttpContext.RequestServices.GetRequiredService<MasterKey>();
            return master.Matches(context.HttpContext.Request)
                ? await next(context)
                : Error(401, "authentication_error", "The admin API needs the master key as 'Authorization: Bearer …' or 'x-api-key'.");
        });

        admin.MapPost("/keys", MintAsync);
        admin.MapGet("/keys", ListAsync);
        admin.MapGet("/keys/{id}", GetAsync);
        admin.MapPatch("/keys/{id}", PatchAsync);
        admin.MapDelete("/keys/{id}", RevokeAsync);
        admin.MapPost("/keys/{id}/rotate", RotateAsync);
        admin.MapGet("/requests", RequestsAsync);
        admin.MapGet("/spend", SpendAsync);
        admin.MapGet("/models", Models);
        admin.MapGet("/audit", AuditAsync);
        admin.MapPost("/config/reload", ReloadAsync);
    }

    private static async Task<IResult> MintAsync(HttpContext http, KeyService keys, TimeProvider time)
    {
        var (request, problem) = await ReadAsync(http, AdminJson.Default.KeyRequest);
        if (problem is not null)
        {
            return problem;
        }

        var result = await keys.MintAsync(request ?? new KeyRequest(), Actor, http.RequestAborted);
        return result.Error is { } error
            ? Error(400, "invalid_request_error", error)
            : TypedResults.Json(KeyView.From(result.Record!, time.GetUtcNow(), result.Secret), AdminJson.Default.KeyView, statusCode: 201);
    }

    private static async Task<IResult> ListAsync(IStore store, TimeProvider time, CancellationToken cancellationToken)
    {
        var keys = await store.ListKeysAsync(cancellationToken);
        var now = time.GetUtcNow();
        return TypedResults.Json(keys.Select(k => KeyView.From(k, now)).ToList(), AdminJson.Default.ListKeyView);
    }

    private static async Task<IResult> GetAsync(string id, IStore store, RouteTableHolder routes, TimeProvider time, CancellationToken cancellationToken)
    {
        var key = await store.GetKeyAsync(id, cancellationToken);
        if (key is null)
        {
            return NotFound(id);
        }

        var now = time.GetUtcNow();
        var window = BudgetPeriod.Current(key.BudgetPeriod, key.CreatedAt, now);
        var spend = await store.SumKeySpendAsync(key.Id, window?.Start ?? DateTimeOffset.UnixEpoch, window?.End ?? DateTimeOffset.MaxValue, cancellationToken);
        return TypedResults.Json(
            KeyView.From(key, now) with { Spend = spend, Currency = routes.Current.Currency.Code, PeriodResetsAt = window?.End },
            AdminJson.Default.KeyView);
    }

    private static async Task<IResult> PatchAsync(string id, HttpContext http, KeyService keys, TimeProvider time)
    {
        var (request, problem) = await ReadAsync(http, AdminJson.Default.KeyRequest);
        if (problem is not null)
        {
            return problem;
        }

        var result = await keys.UpdateAsync(id, request ?? new KeyRequest(), Actor, http.RequestAborted);
        return result switch
        {
            { NotFound: true } => NotFound(id),
            { Error: { } error } => Error(400, "invalid_request_error", error),
            _ => TypedResults.Json(KeyView.From(result.Record!, time.GetUtcNow()), AdminJson.Default.KeyView),
        };
    }

    private static async Task<IResult> RevokeAsync(string id, KeyService keys, TimeProvider time, CancellationToken cancellationToken)
    {
        var result = await keys.RevokeAsync(id, Actor, cancellationToken);
        return result.NotFound ? NotFound(id) : TypedResults.Json(KeyView.From(result.Record!, time.GetUtcNow()), AdminJson.Default.KeyView);
    }

    private static async Task<IResult> RotateAsync(string id, HttpContext http, KeyService keys, TimeProvider time)
    {
        var (request, problem) = await ReadAsync(http, AdminJson.Default.RotateRequest);
        if (problem is not null)
        {
            return problem;
        }

        var grace = TimeSpan.FromSeconds(Math.Max(0, request?.GraceSeconds ?? 0));
        var result = await keys.RotateAsync(id, grace, Actor, http.RequestAborted);
        return result switch
        {
            { NotFound: true } => NotFound(id),
            { Error: { } error } => Error(409, "invalid_request_error", error),
            _ => TypedResults.Json(KeyView.From(result.Record!, time.GetUtcNow(), result.Secret), AdminJson.Default.KeyView),
        };
    }

    private static async Task<IResult> RequestsAsync(HttpRequest request, IStore store, CancellationToken cancellationToken)
    {
        var query = request.Query;
        if (!TryTime(query["since"], "since", out var since, out var problem))
        {
            return problem!;
        }

        var limit = 100;
        if (query.TryGetValue("limit", out var limitText) && (!int.TryParse(limitText, CultureInfo.InvariantCulture, out limit) || limit is < 1 or > 10_000))
        {
            return Error(400, "invalid_request_error", "limit must be a whole number from 1 to 10000.");
        }

        var rows = await store.QueryRequestsAsync(new RequestQuery(NullIfEmpty(query["key"]), since, limit), cancellationToken);
        return TypedResults.Json(rows.Select(LedgerRowView.From).ToList(), AdminJson.Default.ListLedgerRowView);
    }

    private static async Task<IResult> SpendAsync(HttpRequest request, IStore store, RouteTableHolder routes, CancellationToken cancellationToken)
    {
        var query = request.Query;
        var groupBy = NullIfEmpty(query["group_by"]) ?? "key";
        if (groupBy is not ("key" or "model" or "provider" or "day" or "hour"))
        {
            return Error(400, "invalid_request_error", "group_by must be one of key, model, provider, day, hour.");
        }

        if (!TryTime(query["from"], "from", out var from, out var problem) || !TryTime(query["to"], "to", out var to, out problem))
        {
            return problem!;
        }

        var groups = await store.QuerySpendAsync(
            new SpendQuery(groupBy, from, to, NullIfEmpty(query["key"]), NullIfEmpty(query["workspace"]), NullIfEmpty(query["model"]), NullIfEmpty(query["provider"])),
            cancellationToken);
        return TypedResults.Json(new SpendView(routes.Current.Currency.Code, groupBy, from, to, groups), AdminJson.Default.SpendView);
    }

    private static async Task<IResult> AuditAsync(HttpRequest request, IStore store, CancellationToken cancellationToken)
    {
        var limit = 100;
        if (request.Query.TryGetValue("limit", out var limitText) && (!int.TryParse(limitText, CultureInfo.InvariantCulture, out limit) || limit is < 1 or > 10_000))
        {
            return Error(400, "invalid_request_error", "limit must be a whole number from 1 to 10000.");
        }

        var rows = await store.QueryAuditAsync(limit, cancellationToken);
        return TypedResults.Json(rows.Select(AuditView.From).ToList(), AdminJson.Default.ListAuditView);
    }

    private static JsonHttpResult<List<ModelGroupView>> Models(RouteTableHolder routes, TimeProvider time)
    {
        var table = routes.Current;
        var now = time.GetUtcNow();
        var groups = table.Groups.Values
            .OrderBy(g => g.Name, StringComparer.Ordinal)
            .Select(g => new ModelGroupView(
                g.Name,
                g.Family,
                [.. g.Deployments.Select(d => new DeploymentView(d.Provider.Name, d.Model, d.Priority, d.Provider.Kind, d.Provider.Config.Billing, d.Provider.DisabledReason is null, d.Provider.DisabledReason, d.Price is not null)
                {
                    State = DeploymentHealth.Name(d.Health.StateAt(now)),
                    CooldownUntil = d.Health.State == CircuitState.Healthy ? null : d.Health.CooldownUntil,
                    ConsecutiveFailures = d.Health.ConsecutiveFailures,
                    LastError = d.Health.LastError,
                    InFlight = d.Health.InFlight,
                    LatencyEwmaMs = double.IsNaN(d.Health.LatencyEwmaMs) ? null : Math.Round(d.Health.LatencyEwmaMs, 3),
                    Successes = d.Health.Successes,
                    Failures = d.Health.Failures,
                })],
                g.Fallback))
            .ToList();
        return TypedResults.Json(groups, AdminJson.Default.ListModelGroupView);
    }

    private static async Task<JsonHttpResult<ReloadView>> ReloadAsync(ConfigMonitor monitor, IStore store, TimeProvider time, CancellationToken cancellationToken)
    {
        var result = monitor.TryReload();
        var view = new ReloadView(result.Success, [.. result.Errors.Select(e => e.ToString())], result.Warnings);
        await store.WriteAuditAsync(
            [new AuditRecord
            {
                Id = "aud_" + Guid.CreateVersion7().ToString("N"),
                Time = time.GetUtcNow(),
                Actor = Actor,
                Action = result.Success ? "config.reload" : "config.reload_refused",
                Target = monitor.Current.SourcePath,
                DetailsJson = JsonSerializer.Serialize(view, AdminJson.Default.ReloadView),
            }],
            cancellationToken);
        return TypedResults.Json(view, AdminJson.Default.ReloadView, statusCode: result.Success ? 200 : 400);
    }

    private static async Task<(T? Value, IResult? Problem)> ReadAsync<T>(HttpContext http, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type)
    {
        if (http.Request.ContentLength == 0 || (http.Request.ContentLength is null && !http.Request.Headers.ContainsKey("Transfer-Encoding")))
        {
            return (default, null);
        }

        if (http.Request.ContentLength > 1024 * 1024)
        {
            return (default, Error(413, "invalid_request_error", "Admin request bodies are limited to 1 MiB."));
        }

        try
        {
            return (await JsonSerializer.DeserializeAsync(http.Request.Body, type, http.RequestAborted), null);
        }
        catch (JsonException ex)
        {
            var where = ex.Path is { Length: > 1 } path ? $" at {path.TrimStart('$', '.')}" : string.Empty;
            return (default, Error(400, "invalid_request_error", $"The request body is not valid{where}: check the JSON syntax and field types (see the key fields in the README)."));
        }
    }

    private static bool TryTime(Microsoft.Extensions.Primitives.StringValues text, string name, out DateTimeOffset? value, out IResult? problem)
    {
        value = null;
        problem = null;
        if (Microsoft.Extensions.Primitives.StringValues.IsNullOrEmpty(text))
        {
            return true;
        }

        if (long.TryParse(text, CultureInfo.InvariantCulture, out var unix))
        {
            value = DateTimeOffset.FromUnixTimeSeconds(unix);
            return true;
        }

        if (DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var parsed))
        {
            value = parsed;
            return true;
        }

        problem = Error(400, "invalid_request_error", $"{name} must be an ISO 8601 time or unix seconds.");
        return false;
    }

    private static string? NullIfEmpty(Microsoft.Extensions.Primitives.StringValues value) =>
        Microsoft.Extensions.Primitives.StringValues.IsNullOrEmpty(value) ? null : value.ToString();

    private static IResult NotFound(string id) => Error(404, "not_found_error", $"No key with id '{id}'.");

    private static JsonHttpResult<AdminError> Error(int status, string type, string message) =>
        TypedResults.Json(new AdminError(new AdminErrorBody(message, type)), AdminJson.Default.AdminError, statusCode: status);
}
