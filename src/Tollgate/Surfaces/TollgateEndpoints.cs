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
        app.MapGet("/health/readiness", async (IStore store, LedgerWriter ledger, CancellationToken cancellationToken) =>
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

            var view = new HealthView(reachable ? "ok" : "degraded", reachable, ledger.QueueDepth, store.Dialect);
            return TypedResults.Json(view, HealthJson.Default.HealthView, statusCode: reachable ? 200 : 503);
        });
    }
}

internal sealed record HealthView(string Status, bool? Store, int? QueueDepth, string? StoreKind);

[System.Text.Json.Serialization.JsonSourceGenerationOptions(PropertyNamingPolicy = System.Text.Json.Serialization.JsonKnownNamingPolicy.SnakeCaseLower)]
[System.Text.Json.Serialization.JsonSerializable(typeof(HealthView))]
internal sealed partial class HealthJson : System.Text.Json.Serialization.JsonSerializerContext;
