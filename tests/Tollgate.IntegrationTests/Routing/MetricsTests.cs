using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using Tollgate.IntegrationTests.Harness;

namespace Tollgate.IntegrationTests.Routing;

/// <summary>SPEC §9: the Prometheus names at <c>GET /metrics</c>, read after traffic that routes, falls back and streams.</summary>
public sealed partial class MetricsTests(RoutingStack routing)
{
    [Fact]
    public async Task Metrics_show_requests_routes_duration_quota_attempts_failures_cooldown_ttft_and_token_usage()
    {
        using var deadline = Deadline.After(30);
        var key = await routing.MintAsync("rt-metrics", deadline.Token, tier: "rt-open");

        // The first call fails over from rt-metrics-down (503, now cooling down) to rt-metrics-up; the second streams.
        var whole = await routing.ChatAsync(key.Secret, "rt-metrics", deadline.Token);
        whole.Header("x-tollgate-deployment").ShouldBe("mock/rt-metrics-up", whole.Body);
        using (var request = GatewayStack.DataRequest(HttpMethod.Post, "/v1/chat/completions", key.Secret, RawCall.Chat("rt-metrics", RoutingStack.Prompt, stream: true)))
        using (var response = await routing.Stack.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, deadline.Token))
        {
            response.StatusCode.ShouldBe(HttpStatusCode.OK);
            (await Sse.ReadAllAsync(await response.Content.ReadAsStreamAsync(deadline.Token), deadline.Token)).SawDone.ShouldBeTrue();
        }

        // Requests are counted after the answer is complete, so poll until both show up.
        string text;
        while (true)
        {
            text = await routing.MetricsAsync(deadline.Token);
            if (Value(text, "gateway_requests_total", ("tier", "rt-open"), ("model_group", "rt-metrics"), ("status", "200")) >= 2)
            {
                break;
            }

            await Task.Delay(200, deadline.Token);
        }

        Value(text, "gateway_model_routes_total", ("from", "rt-metrics"), ("to", "mock/rt-metrics-up")).ShouldNotBeNull(text).ShouldBeGreaterThanOrEqualTo(2);
        Value(text, "gateway_request_duration_seconds_count", ("model_group", "rt-metrics")).ShouldNotBeNull(text).ShouldBeGreaterThanOrEqualTo(2);
        Value(text, "gateway_request_duration_seconds_bucket", ("model_group", "rt-metrics"), ("le", "+Inf")).ShouldNotBeNull("a histogram has buckets").ShouldBeGreaterThanOrEqualTo(2);
        Value(text, "gateway_quota_used", ("key", key.Alias)).ShouldNotBeNull(text).ShouldBeGreaterThanOrEqualTo(2);
        Value(text, "gateway_upstream_attempts_total", ("deployment", "mock/rt-metrics-down")).ShouldNotBeNull(text).ShouldBe(1);
        Value(text, "gateway_upstream_attempts_total", ("deployment", "mock/rt-metrics-up")).ShouldNotBeNull(text).ShouldBe(2);
        Value(text, "gateway_upstream_failures_total", ("deployment", "mock/rt-metrics-down"), ("status", "503")).ShouldNotBeNull(text).ShouldBe(1);
        Value(text, "gateway_upstream_failures_total", ("deployment", "mock/rt-metrics-up")).ShouldBeNull("a deployment that always served has no failures");
        var cooldown = Samples(text, "gateway_deployment_cooldown").Where(s => s.Labels.GetValueOrDefault("deployment") == "mock/rt-metrics-down").ToList();
        cooldown.ShouldNotBeEmpty(text);
        cooldown.ShouldContain(s => s.Value == 1 && s.Labels.GetValueOrDefault("state") != "healthy", "the failed deployment is cooling down");
        Value(text, "gateway_time_to_first_token_seconds_count", ("model_group", "rt-metrics")).ShouldNotBeNull(text).ShouldBeGreaterThanOrEqualTo(2);
        Value(text, "gen_ai_client_token_usage_sum", ("gen_ai_token_type", "input"), ("gen_ai_request_model", "rt-metrics")).ShouldNotBeNull(text).ShouldBeGreaterThanOrEqualTo(42, "two answers of 21 input tokens each");
        Value(text, "gen_ai_client_token_usage_sum", ("gen_ai_token_type", "output"), ("gen_ai_request_model", "rt-metrics")).ShouldNotBeNull(text).ShouldBeGreaterThanOrEqualTo(8);
        Samples(text, "gateway_ledger_queue_depth").ShouldNotBeEmpty("SPEC §9 lists the ledger queue depth");
    }

    /// <summary>The sum of every sample of <paramref name="name"/> whose labels include all of <paramref name="labels"/>; null when none.</summary>
    private static double? Value(string exposition, string name, params (string Name, string Value)[] labels)
    {
        var matching = Samples(exposition, name).Where(s => labels.All(l => s.Labels.GetValueOrDefault(l.Name) == l.Value)).ToList();
        return matching.Count == 0 ? null : matching.Sum(s => s.Value);
    }

    private static IEnumerable<(Dictionary<string, string> Labels, double Value)> Samples(string exposition, string name)
    {
        foreach (var line in exposition.Split('\n'))
        {
            var match = SampleLine().Match(line);
            if (!match.Success || match.Groups["name"].Value != name)
            {
                continue;
            }

            var labels = LabelPair().Matches(match.Groups["labels"].Value)
                .ToDictionary(m => m.Groups["k"].Value, m => m.Groups["v"].Value.Replace("\\\"", "\"", StringComparison.Ordinal).Replace("\\\\", "\\", StringComparison.Ordinal));
            yield return (labels, double.Parse(match.Groups["value"].Value, NumberStyles.Float, CultureInfo.InvariantCulture));
        }
    }

    [GeneratedRegex(@"^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?<labels>.*)\})?\s+(?<value>\S+)(?:\s+\d+)?\s*$")]
    private static partial Regex SampleLine();

    [GeneratedRegex(@"(?<k>[a-zA-Z_][a-zA-Z0-9_]*)=""(?<v>(?:[^""\\]|\\.)*)""")]
    private static partial Regex LabelPair();
}
