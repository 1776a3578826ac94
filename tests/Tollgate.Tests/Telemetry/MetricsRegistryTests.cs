using Tollgate.Telemetry;

namespace Tollgate.Tests.Telemetry;

/// <summary>The Prometheus text exposition (format 0.0.4) of <see cref="MetricsRegistry"/>, and its series.</summary>
public sealed class MetricsRegistryTests
{
    [Fact]
    public void A_counter_renders_help_type_and_one_line_per_label_set_with_escaped_values()
    {
        var registry = new MetricsRegistry();
        var family = registry.Counter("demo_requests_total", "Requests.\nBy path \\ status.", "path", "status");
        family.Get("/a", "200").Add(2);
        family.Get("/a", "200").Add(1);
        family.Get("say \"hi\"\\\n", "500").Add(1);

        registry.Render().ShouldBe(
            "# HELP demo_requests_total Requests.\\nBy path \\\\ status.\n" +
            "# TYPE demo_requests_total counter\n" +
            "demo_requests_total{path=\"/a\",status=\"200\"} 3\n" +
            "demo_requests_total{path=\"say \\\"hi\\\"\\\\\\n\",status=\"500\"} 1\n");
    }

    [Fact]
    public void A_histogram_renders_cumulative_buckets_with_an_upper_bound_inclusive_then_sum_and_count()
    {
        var registry = new MetricsRegistry();
        var family = registry.Histogram("demo_seconds", "Durations.", [0.1, 1], "group");
        var series = family.Get("g");
        series.Observe(0.1);  // on the bound: counts in le="0.1"
        series.Observe(0.5);
        series.Observe(3);
        series.Observe(0.05);

        registry.Render().ShouldBe(
            "# HELP demo_seconds Durations.\n" +
            "# TYPE demo_seconds histogram\n" +
            "demo_seconds_bucket{group=\"g\",le=\"0.1\"} 2\n" +
            "demo_seconds_bucket{group=\"g\",le=\"1\"} 3\n" +
            "demo_seconds_bucket{group=\"g\",le=\"+Inf\"} 4\n" +
            "demo_seconds_sum{group=\"g\"} 3.65\n" +
            "demo_seconds_count{group=\"g\"} 4\n");
    }

    [Fact]
    public void Gauges_and_observed_counters_are_read_at_render_time_and_a_family_without_labels_has_no_braces()
    {
        var registry = new MetricsRegistry();
        var depth = 0;
        var granted = 0L;
        registry.Gauge("demo_depth", "Depth.", () => [(depth, [])]);
        registry.Gauge("demo_state", "State.", () => [(1, ["a"]), (double.PositiveInfinity, ["b"])], "name");
        registry.ObservedCounter("demo_granted_total", "Granted.", () => [(granted, [])]);
        depth = 7;
        granted = 12;

        registry.Render().ShouldBe(
            "# HELP demo_depth Depth.\n# TYPE demo_depth gauge\ndemo_depth 7\n" +
            "# HELP demo_state State.\n# TYPE demo_state gauge\ndemo_state{name=\"a\"} 1\ndemo_state{name=\"b\"} +Inf\n" +
            "# HELP demo_granted_total Granted.\n# TYPE demo_granted_total counter\ndemo_granted_total 12\n");
    }

    [Fact]
    public void Label_sets_past_the_cap_share_one_overflow_series_and_no_count_is_lost()
    {
        var registry = new MetricsRegistry();
        var family = registry.Counter("demo_total", "Demo.", "model");
        for (var i = 0; i < MetricsRegistry.MaxSeriesPerFamily + 500; i++)
        {
            family.Get("model-" + i).Add(1);
        }

        family.Get("model-0").Add(1);
        var lines = registry.Render().Split('\n').Where(l => l.StartsWith("demo_total", StringComparison.Ordinal)).ToList();
        lines.Count.ShouldBe(MetricsRegistry.MaxSeriesPerFamily + 1);
        lines.ShouldContain("demo_total{model=\"_overflow\"} 500");
        lines.ShouldContain("demo_total{model=\"model-0\"} 2", "a label set seen before the cap keeps its own series");
        lines.Sum(l => long.Parse(l[(l.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture))
            .ShouldBe(MetricsRegistry.MaxSeriesPerFamily + 501);
    }

    [Fact]
    public async Task Concurrent_updates_are_all_counted()
    {
        var registry = new MetricsRegistry();
        var counter = registry.Counter("demo_total", "Demo.", "k");
        var histogram = registry.Histogram("demo_value", "Demo.", [10], "k");
        const int Threads = 8, Each = 20_000;
        await Task.WhenAll(Enumerable.Range(0, Threads).Select(t => Task.Run(() =>
        {
            for (var i = 0; i < Each; i++)
            {
                counter.Get("x").Add(1);
                histogram.Get("x").Observe(i % 2 == 0 ? 1 : 20);
            }
        })));

        var text = registry.Render();
        text.ShouldContain($"demo_total{{k=\"x\"}} {Threads * Each}\n");
        text.ShouldContain($"demo_value_bucket{{k=\"x\",le=\"10\"}} {Threads * Each / 2}\n");
        text.ShouldContain($"demo_value_count{{k=\"x\"}} {Threads * Each}\n");
        text.ShouldContain($"demo_value_sum{{k=\"x\"}} {Threads * Each / 2 * 21}\n");
    }

    [Fact]
    public void A_name_registered_twice_or_a_wrong_label_count_is_refused()
    {
        var registry = new MetricsRegistry();
        var family = registry.Counter("demo_total", "Demo.", "a", "b");
        Should.Throw<InvalidOperationException>(() => registry.Counter("demo_total", "Again.", "a"));
        Should.Throw<ArgumentException>(() => family.Get("only-one"));
        Should.Throw<ArgumentException>(() => registry.Histogram("demo_h", "Bad bounds.", [1, 1]));
    }
}
