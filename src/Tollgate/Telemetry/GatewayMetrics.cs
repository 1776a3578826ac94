using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using Tollgate.Pipeline;
using Tollgate.Routing;

namespace Tollgate.Telemetry;

/// <summary>
/// Tollgate's meters, exported in Prometheus format at <c>/metrics</c> (SPEC §9). Counters get the
/// exporter's <c>_total</c> suffix and second-valued histograms <c>_seconds</c>; token usage follows
/// the OpenTelemetry <c>gen_ai.client.token.usage</c> convention.
/// </summary>
internal sealed class GatewayMetrics : IDisposable
{
    public const string MeterName = "Tollgate";

    private readonly Meter _meter;
    private readonly Counter<long> _requests;
    private readonly Counter<long> _routes;
    private readonly Histogram<double> _duration;
    private readonly Histogram<double> _timeToFirstToken;
    private readonly Counter<long> _attempts;
    private readonly Counter<long> _failures;
    private readonly Histogram<long> _tokens;
    private readonly ConcurrentDictionary<string, long> _quotaUsed = new(StringComparer.Ordinal);
    private readonly TimeProvider _time;
    private DateOnly _quotaDay;

    public GatewayMetrics(HealthRegistry health, Func<int> ledgerQueueDepth, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(health);
        _time = time;
        _quotaDay = DateOnly.FromDateTime(time.GetUtcNow().UtcDateTime);
        _meter = new Meter(MeterName);
        _requests = _meter.CreateCounter<long>("gateway_requests", description: "Requests by tier, model group and HTTP status.");
        _routes = _meter.CreateCounter<long>("gateway_model_routes", description: "Served requests from the alias asked for to the deployment that served.");
        _duration = _meter.CreateHistogram<double>("gateway_request_duration", unit: "s", description: "Whole request latency.");
        _timeToFirstToken = _meter.CreateHistogram<double>("gateway_time_to_first_token", unit: "s", description: "Time until the first byte of the answer went to the client.");
        _attempts = _meter.CreateCounter<long>("gateway_upstream_attempts", description: "Upstream attempts per deployment.");
        _failures = _meter.CreateCounter<long>("gateway_upstream_failures", description: "Failed upstream attempts per deployment and status (0: no HTTP answer).");
        _tokens = _meter.CreateHistogram<long>("gen_ai.client.token.usage", unit: "{token}", description: "Tokens used per request, by type.");
        _meter.CreateObservableGauge("gateway_deployment_cooldown", () => health.All.Select(h =>
            Cooldown(h, time.GetUtcNow())),
            description: "1 while a deployment is cooling down or half-open.");
        _meter.CreateObservableGauge("gateway_quota_used", () => _quotaUsed.Select(kv =>
            new Measurement<long>(kv.Value, new KeyValuePair<string, object?>("key", kv.Key))),
            description: "Requests each key made today (UTC).");
        _meter.CreateObservableGauge("gateway_ledger_queue_depth", ledgerQueueDepth, description: "Ledger rows waiting to be written.");
    }

    private static Measurement<int> Cooldown(DeploymentHealth health, DateTimeOffset now)
    {
        var state = health.StateAt(now);
        return new Measurement<int>(state == CircuitState.Healthy ? 0 : 1,
            new KeyValuePair<string, object?>("deployment", health.Label), new KeyValuePair<string, object?>("state", DeploymentHealth.Name(state)));
    }

    /// <summary>Everything about one finished request.</summary>
    public void RecordRequest(GatewayContext ctx)
    {
        ArgumentNullException.ThrowIfNull(ctx);
        var tier = ctx.Key?.Record.Tier ?? "none";
        var group = ctx.Group?.Name ?? ctx.ModelRequested ?? "unknown";
        var tags = new TagList { { "tier", tier }, { "model_group", group }, { "status", BoxedStatus(ctx.Status) } };
        _requests.Add(1, tags);
        _duration.Record(ctx.ElapsedMs / 1000.0, new TagList { { "model_group", group } });
        if (ctx.Key is { } key)
        {
            CountQuota(key.Record.Alias ?? key.Id);
        }

        if (ctx.ServedBy is not { } served)
        {
            return;
        }

        _routes.Add(1, new TagList { { "from", ctx.ModelRequested ?? group }, { "to", served.Label } });
        if (ctx.TtftMs is { } ttft)
        {
            _timeToFirstToken.Record(ttft / 1000.0, new TagList { { "model_group", group } });
        }

        var system = served.Provider.Kind;
        _tokens.Record(ctx.Usage.InputTokens, new TagList { { "gen_ai.token.type", "input" }, { "gen_ai.system", system }, { "gen_ai.request.model", group }, { "gen_ai.response.model", served.Model } });
        _tokens.Record(ctx.Usage.OutputTokens, new TagList { { "gen_ai.token.type", "output" }, { "gen_ai.system", system }, { "gen_ai.request.model", group }, { "gen_ai.response.model", served.Model } });
    }

    public void RecordAttempt(string deployment, int status, bool failed)
    {
        _attempts.Add(1, new TagList { { "deployment", deployment } });
        if (failed)
        {
            _failures.Add(1, new TagList { { "deployment", deployment }, { "status", BoxedStatus(status) } });
        }
    }

    /// <summary>HTTP statuses boxed once, so a tag value costs no allocation per request.</summary>
    private static readonly object[] Statuses = Enumerable.Range(0, 600).Select(static s => (object)s).ToArray();

    private static object BoxedStatus(int status) => (uint)status < (uint)Statuses.Length ? Statuses[status] : status;

    private void CountQuota(string key)
    {
        var today = DateOnly.FromDateTime(_time.GetUtcNow().UtcDateTime);
        if (today != _quotaDay)
        {
            _quotaDay = today;
            _quotaUsed.Clear();
        }

        _quotaUsed.AddOrUpdate(key, 1, static (_, n) => n + 1);
    }

    public void Dispose() => _meter.Dispose();
}
