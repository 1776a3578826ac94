using Tollgate.Ledger;
using Tollgate.Storage;

namespace Tollgate.Surfaces;

/// <summary>Tollgate's own small endpoints: the root probe and health.</summary>
internal static class TollgateEndpoints
{
    public static void MapTollgateBasics(this IEndpointRouteBuilder app)
    {
        // Claude Code probes HEAD / before its first call.
        app.MapMethods("/", ["GET", "HEAD"], () => TypedResults.Text("Tollgate\n"));
        app.MapGet("/health/liveness", () => TypedResults.Json(new HealthView("ok", null, null, null), HealthJson.Default.HealthView));
        app.MapGet("/health/readiness", async (IStore store, LedgerWriter ledger, AuditWriter audit, StoreHealth health, CancellationToken cancellationToken) =>
        {
            bool reachable;
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                timeout.CancelAfter(TimeSpan.FromSeconds(2));
                reachable = await store.PingAsync(timeout.Token);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                reachable = false;
            }

            if (reachable)
            {
                health.ReportSuccess();
            }
            else
            {
                health.ReportFailure();
            }

            // With on_store_down: serve_cached a replica whose store is down still serves (and spools its
            // ledger), so it stays in the load balancer: 200, "degraded". Strict mode refuses, so 503.
            var spoolFailing = ledger.SpoolFailing || audit.SpoolFailing;
            var refusing = health.RefuseRequests || spoolFailing;
            var view = new HealthView(reachable && !spoolFailing ? "ok" : "degraded", reachable, ledger.QueueDepth, store.Dialect)
            {
                AuditQueue = audit.QueueDepth,
                MemoryQueue = ledger.MemoryQueueDepth,
                SpoolRows = ledger.SpoolRows,
                SpoolBytes = ledger.SpoolBytes,
                SpoolWritable = !spoolFailing,
                StoreDownSince = health.DownSince,
                OnStoreDown = health.Strict ? "strict" : "serve_cached",
            };
            return TypedResults.Json(view, HealthJson.Default.HealthView, statusCode: refusing ? 503 : 200);
        });
    }
}

/// <param name="Status">ok | degraded.</param>
/// <param name="Store">Whether the store answered a ping just now.</param>
/// <param name="QueueDepth">Ledger rows not yet in the store (in memory or in the spool).</param>
/// <param name="StoreKind">sqlite | postgres.</param>
internal sealed record HealthView(string Status, bool? Store, int? QueueDepth, string? StoreKind)
{
    /// <summary>Audit records not yet in the store (in memory or in the audit spool).</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public int? AuditQueue { get; init; }

    /// <summary>Spooled rows queued in memory for the store.</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public int? MemoryQueue { get; init; }

    /// <summary>Rows in the spool the store has not acknowledged.</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public long? SpoolRows { get; init; }

    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public long? SpoolBytes { get; init; }

    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public bool? SpoolWritable { get; init; }

    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public DateTimeOffset? StoreDownSince { get; init; }

    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public string? OnStoreDown { get; init; }
}

[System.Text.Json.Serialization.JsonSourceGenerationOptions(PropertyNamingPolicy = System.Text.Json.Serialization.JsonKnownNamingPolicy.SnakeCaseLower)]
[System.Text.Json.Serialization.JsonSerializable(typeof(HealthView))]
internal sealed partial class HealthJson : System.Text.Json.Serialization.JsonSerializerContext;
