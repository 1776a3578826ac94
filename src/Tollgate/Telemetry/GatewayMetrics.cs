using System.Collections.Concurrent;
using Tollgate.Pipeline;
using Tollgate.Routing;

namespace Tollgate.Telemetry;

/// <summary>
/// Tollgate's metrics, exported in Prometheus format at <c>/metrics</c> (SPEC §9) by <see cref="MetricsRegistry"/>.
/// Counters end in <c>_total</c>, second-valued histograms in <c>_seconds</c>; token usage follows the OpenTelemetry
/// <c>gen_ai.client.token.usage</c> convention (its name and attributes with dots as underscores, and its advised
/// buckets).
/// </summary>
/// <remarks>
/// A request resolves all the series it updates with one lookup of its shape (tier, group, status, route, provider
/// kind, upstream model), cached; the updates are then interlocked additions.
/// </remarks>
internal sealed class GatewayMetrics
{
    /// <summary>Request and time-to-first-token durations, in seconds.</summary>
    private static readonly double[] DurationBounds = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 80, 160, 320];

    /// <summary>The OpenTelemetry GenAI semantic conventions' advice for <c>gen_ai.client.token.usage</c>.</summary>
    private static readonly double[] TokenBounds = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864];

    private const int MaxCachedShapes = 4096;

    private readonly MetricsRegistry.CounterFamily _requests;
    private readonly MetricsRegistry.CounterFamily _routes;
    private readonly MetricsRegistry.HistogramFamily _duration;
    private readonly MetricsRegistry.HistogramFamily _timeToFirstToken;
    private readonly MetricsRegistry.CounterFamily _attempts;
    private readonly MetricsRegistry.CounterFamily _failures;
    private readonly MetricsRegistry.HistogramFamily _tokens;
    private readonly ConcurrentDictionary<RequestShape, RequestSeries> _shapes = new();
    private readonly ConcurrentDictionary<string, Counter> _attemptsBy = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<(string Deployment, int Status), Counter> _failuresBy = new();
    private readonly ConcurrentDictionary<string, long> _quotaUsed = new(StringComparer.Ordinal);
    private readonly TimeProvider _time;
    private DateOnly _quotaDay;

    public GatewayMetrics(MetricsRegistry registry, HealthRegistry health, Func<int> ledgerQueueDepth, Func<long> ledgerSpoolBytes, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(registry);
        ArgumentNullException.ThrowIfNull(health);
        _time = time;
        _quotaDay = DateOnly.FromDateTime(time.GetUtcNow().UtcDateTime);
        _requests = registry.Counter("gateway_requests_total", "Requests by tier, model group and HTTP status.", "tier", "model_group", "status");
        _routes = registry.Counter("gateway_model_routes_total", "Served requests from the alias asked for to the deployment that served.", "from", "to");
        _duration = registry.Histogram("gateway_request_duration_seconds", "Whole request latency.", DurationBounds, "model_group");
        _timeToFirstToken = registry.Histogram("gateway_time_to_first_token_seconds", "Time until the first byte of the answer went to the client.", DurationBounds, "model_group");
        _attempts = registry.Counter("gateway_upstream_attempts_total", "Upstream attempts per deployment.", "deployment");
        _failures = registry.Counter("gateway_upstream_failures_total", "Failed upstream attempts per deployment and status (0: no HTTP answer).", "deployment", "status");
        _tokens = registry.Histogram("gen_ai_client_token_usage", "Tokens used per request, by type.", TokenBounds,
            "gen_ai_token_type", "gen_ai_system", "gen_ai_request_model", "gen_ai_response_model");
        registry.Gauge("gateway_deployment_cooldown", "1 while a deployment is cooling down or half-open.", () =>
        {
            var now = time.GetUtcNow();
            return health.All.Select(h =>
            {
                var state = h.StateAt(now);
                return (state == CircuitState.Healthy ? 0d : 1d, new[] { h.Label, DeploymentHealth.Name(state) });
            });
        }, "deployment", "state");
        registry.Gauge("gateway_quota_used", "Requests each key made today (UTC).",
            () => _quotaUsed.Select(kv => ((double)kv.Value, new[] { kv.Key })), "key");
        registry.Gauge("gateway_ledger_queue_depth", "Ledger rows waiting to be written.", () => [(ledgerQueueDepth(), [])]);
        registry.Gauge("gateway_ledger_spool_bytes", "Bytes in the ledger's local spool not yet in the store.", () => [(ledgerSpoolBytes(), [])]);
    }

    /// <summary>Everything about one finished request.</summary>
    public void RecordRequest(GatewayContext ctx)
    {
        ArgumentNullException.ThrowIfNull(ctx);
        var group = ctx.Group?.Name ?? ctx.ModelRequested ?? "unknown";
        var served = ctx.ServedBy;
        var shape = new RequestShape(ctx.Key?.Record.Tier ?? "none", group, ctx.Status,
            served is null ? null : ctx.ModelRequested ?? group, served?.Label, served?.Provider.Kind, served?.Model);
        if (!_shapes.TryGetValue(shape, out var series))
        {
            series = Resolve(shape);
            if (_shapes.Count < MaxCachedShapes)
            {
                _shapes.TryAdd(shape, series);
            }
        }

        series.Requests.Add(1);
        series.Duration.Observe(ctx.ElapsedMs / 1000.0);
        if (ctx.Key is { } key)
        {
            CountQuota(key.Record.Alias ?? key.Id);
        }

        if (series.Routes is null)
        {
            return;
        }

        series.Routes.Add(1);
        if (ctx.TtftMs is { } ttft)
        {
            series.TimeToFirstToken!.Observe(ttft / 1000.0);
        }

        series.InputTokens!.Observe(ctx.Usage.InputTokens);
        series.OutputTokens!.Observe(ctx.Usage.OutputTokens);
    }

    public void RecordAttempt(string deployment, int status, bool failed)
    {
        _attemptsBy.GetOrAdd(deployment, static (d, family) => family.Get(d), _attempts).Add(1);
        if (failed)
        {
            _failuresBy.GetOrAdd((deployment, status), static (k, family) => family.Get(k.Deployment, StatusText(k.Status)), _failures).Add(1);
        }
    }

    private RequestSeries Resolve(RequestShape shape)
    {
        var requests = _requests.Get(shape.Tier, shape.Group, StatusText(shape.Status));
        var duration = _duration.Get(shape.Group);
        if (shape.To is null)
        {
            return new RequestSeries(requests, duration, null, null, null, null);
        }

        return new RequestSeries(requests, duration, _timeToFirstToken.Get(shape.Group), _routes.Get(shape.From!, shape.To),
            _tokens.Get("input", shape.System!, shape.Group, shape.ResponseModel!),
            _tokens.Get("output", shape.System!, shape.Group, shape.ResponseModel!));
    }

    /// <summary>HTTP statuses as label text, made once.</summary>
    private static readonly string[] Statuses = [.. Enumerable.Range(0, 600).Select(static s => s.ToString(System.Globalization.CultureInfo.InvariantCulture))];

    private static string StatusText(int status) =>
        (uint)status < (uint)Statuses.Length ? Statuses[status] : status.ToString(System.Globalization.CultureInfo.InvariantCulture);

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

    /// <summary>What decides a request's series: its labels.</summary>
    private readonly record struct RequestShape(string Tier, string Group, int Status, string? From, string? To, string? System, string? ResponseModel);

    /// <summary>The series one request shape updates; the ones about the route are null when no deployment served.</summary>
    private sealed record RequestSeries(Counter Requests, Histogram Duration, Histogram? TimeToFirstToken, Counter? Routes, Histogram? InputTokens, Histogram? OutputTokens);
}
