using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.Json;
using Tollgate.IntegrationTests.Harness;

namespace Tollgate.IntegrationTests.Routing;

/// <summary>
/// Cooldowns (SPEC §4): a failed deployment is skipped until its backoff (5 s first) or the upstream's reset
/// time ends, then one half-open probe decides; when every deployment is cooling down the gateway answers 503
/// without calling upstream. The probe test is the suite's one real wait for a cooldown to end.
/// </summary>
public sealed class CooldownTests(RoutingStack routing)
{
    [Fact]
    public async Task Failed_deployment_is_skipped_on_the_next_call_and_after_the_cooldown_the_half_open_probe_brings_it_back()
    {
        using var deadline = Deadline.After(60);
        var key = await routing.MintAsync("rt-probe", deadline.Token);

        var failed = await routing.ChatAsync(key.Secret, "rt-probe", deadline.Token, RoutingStack.Prompt + " RT_PROBE_FAIL");
        var failedAt = Stopwatch.StartNew();
        failed.Status.ShouldBe(HttpStatusCode.OK, failed.Body);
        failed.Header("x-tollgate-deployment").ShouldBe("mock/rt-probe-b");
        failed.Header("x-tollgate-attempts").ShouldBe("2");
        var callsToA = await routing.UpstreamCallsAsync("rt-probe-a", deadline.Token);
        callsToA.ShouldBe(1);

        var skipped = await routing.ChatAsync(key.Secret, "rt-probe", deadline.Token);
        skipped.Status.ShouldBe(HttpStatusCode.OK, skipped.Body);
        skipped.Header("x-tollgate-deployment").ShouldBe("mock/rt-probe-b");
        skipped.Header("x-tollgate-attempts").ShouldBe("1", "a deployment skipped for its cooldown is not an attempt");
        (await routing.UpstreamCallsAsync("rt-probe-a", deadline.Token)).ShouldBe(callsToA, "the cooling deployment was not called");
        var row = await routing.Stack.WaitForLedgerRowAsync(key.Id, skipped.Header("x-tollgate-request-id").ShouldNotBeNull(), deadline.Token);
        var attempts = row.GetProperty("attempts").EnumerateArray().ToList();
        attempts.Count.ShouldBe(2, row.ToString());
        attempts[0].GetProperty("deployment").GetString().ShouldBe("mock/rt-probe-a");
        attempts[0].GetProperty("skipped").GetBoolean().ShouldBeTrue(row.ToString());
        attempts[0].GetProperty("error").GetString().ShouldNotBeNull().ShouldContain("cooling down", Case.Insensitive);
        attempts[1].GetProperty("deployment").GetString().ShouldBe("mock/rt-probe-b");
        attempts[1].GetProperty("status").GetInt32().ShouldBe(200);

        // The first cooldown is 5 s from the failure, which happened before `failedAt` started.
        var wait = TimeSpan.FromSeconds(5.3) - failedAt.Elapsed;
        if (wait > TimeSpan.Zero)
        {
            await Task.Delay(wait, deadline.Token);
        }

        var probe = await routing.ChatAsync(key.Secret, "rt-probe", deadline.Token);
        probe.Status.ShouldBe(HttpStatusCode.OK, probe.Body);
        probe.Header("x-tollgate-deployment").ShouldBe("mock/rt-probe-a", "after the cooldown the first deployment gets the half-open probe");
        probe.Header("x-tollgate-attempts").ShouldBe("1");

        var closed = await routing.ChatAsync(key.Secret, "rt-probe", deadline.Token);
        closed.Header("x-tollgate-deployment").ShouldBe("mock/rt-probe-a", "the successful probe closed the circuit");
        (await routing.UpstreamCallsAsync("rt-probe-a", deadline.Token)).ShouldBe(callsToA + 2);
    }

    [Fact]
    public async Task Every_deployment_cooling_down_gives_503_with_retry_after_without_calling_upstream()
    {
        using var deadline = Deadline.After(30);
        var key = await routing.MintAsync("rt-allcool", deadline.Token);

        var first = await routing.ChatAsync(key.Secret, "rt-allcool", deadline.Token);
        first.ShouldBeOpenAiError(HttpStatusCode.BadGateway).ShouldContain("rt-allcool");
        first.Header("x-tollgate-attempts").ShouldBe("2");
        var callsA = await routing.UpstreamCallsAsync("rt-allcool-a", deadline.Token);
        var callsB = await routing.UpstreamCallsAsync("rt-allcool-b", deadline.Token);
        callsA.ShouldBe(1);
        callsB.ShouldBe(1);

        var timer = Stopwatch.StartNew();
        var second = await routing.ChatAsync(key.Secret, "rt-allcool", deadline.Token);
        timer.Stop();

        var message = second.ShouldBeOpenAiError(HttpStatusCode.ServiceUnavailable);
        message.ShouldContain("rt-allcool", Case.Sensitive, "the message names the model group");
        message.ShouldContain("mock/rt-allcool-a");
        message.ShouldContain("mock/rt-allcool-b");
        var retryAfter = int.Parse(second.Header("retry-after").ShouldNotBeNull("a 503 for cooldowns says when to come back"), CultureInfo.InvariantCulture);
        retryAfter.ShouldBeInRange(1, 5, "the first cooldown is 5 s");
        second.Header("x-tollgate-attempts").ShouldBe("0");
        (await routing.UpstreamCallsAsync("rt-allcool-a", deadline.Token)).ShouldBe(callsA, "no upstream call while cooling down");
        (await routing.UpstreamCallsAsync("rt-allcool-b", deadline.Token)).ShouldBe(callsB, "no upstream call while cooling down");
        timer.Elapsed.ShouldBeLessThan(TimeSpan.FromSeconds(2), "answered at once, not after waiting on an upstream");

        var row = await routing.Stack.WaitForLedgerRowAsync(key.Id, second.Header("x-tollgate-request-id").ShouldNotBeNull(), deadline.Token);
        row.GetProperty("status").GetInt32().ShouldBe(503);
        row.GetProperty("attempts").EnumerateArray().ShouldAllBe(a => a.GetProperty("skipped").GetBoolean());
    }

    [Fact]
    public async Task Upstream_429_with_retry_after_keeps_the_deployment_out_until_the_reset_not_just_the_backoff()
    {
        using var deadline = Deadline.After(30);
        var key = await routing.MintAsync("rt-429-reset", deadline.Token);

        var limited = await routing.ChatAsync(key.Secret, "rt-429-reset", deadline.Token);
        limited.ShouldBeOpenAiError(HttpStatusCode.TooManyRequests).ShouldContain("rt-429-reset");
        int.Parse(limited.Header("retry-after").ShouldNotBeNull(), CultureInfo.InvariantCulture).ShouldBeInRange(29, 30, "the upstream said Retry-After: 30");
        var calls = await routing.UpstreamCallsAsync("rt-429-reset-a", deadline.Token);

        var held = await routing.ChatAsync(key.Secret, "rt-429-reset", deadline.Token);

        held.ShouldBeOpenAiError(HttpStatusCode.ServiceUnavailable);
        int.Parse(held.Header("retry-after").ShouldNotBeNull(), CultureInfo.InvariantCulture)
            .ShouldBeInRange(20, 30, "the deployment is out until the upstream's reset (30 s), longer than the 5 s backoff");
        (await routing.UpstreamCallsAsync("rt-429-reset-a", deadline.Token)).ShouldBe(calls);
    }

    [Fact]
    public async Task Chaos_ratelimit_429_on_the_only_deployment_is_429_with_retry_after()
    {
        using var deadline = Deadline.After(30);
        var key = await routing.MintAsync("rt-chaos429", deadline.Token);

        var answer = await routing.ChatAsync(key.Secret, "rt-chaos429", deadline.Token);

        var message = answer.ShouldBeOpenAiError(HttpStatusCode.TooManyRequests);
        message.ShouldContain("rt-chaos429", Case.Sensitive, "the message names the model group");
        message.ShouldContain("chaos-429/rt-chaos429-a", Case.Sensitive, "and the deployment tried");
        message.ShouldContain("Chaos: rate limit exceeded", Case.Sensitive, "and carries the upstream's own message");
        int.TryParse(answer.Header("retry-after"), out var seconds).ShouldBeTrue($"retry-after must be delta-seconds, got '{answer.Header("retry-after")}'");
        seconds.ShouldBeGreaterThanOrEqualTo(1);
        answer.Json.GetProperty("error").GetProperty("type").GetString().ShouldBe("rate_limit_error");
    }

    [Fact]
    public async Task Chaos_ratelimit_429_moves_to_the_next_deployment_which_serves()
    {
        using var deadline = Deadline.After(30);
        var key = await routing.MintAsync("rt-chaos429-next", deadline.Token);

        var answer = await routing.ChatAsync(key.Secret, "rt-chaos429-next", deadline.Token);

        answer.Status.ShouldBe(HttpStatusCode.OK, answer.Body);
        answer.Header("x-tollgate-deployment").ShouldBe("mock/rt-chaos429-y");
        answer.Header("x-tollgate-attempts").ShouldBe("2");
        answer.Header("retry-after").ShouldBeNull("a served answer carries no retry-after");
    }

    /// <summary>SPEC §4 / issue 4 item 8: cooldown and health state appear in GET /admin/models.</summary>
    [Fact]
    public async Task Admin_models_shows_each_deployments_health_state_and_cooldown_end()
    {
        using var deadline = Deadline.After(30);
        var key = await routing.MintAsync("rt-admin-health", deadline.Token);
        var answer = await routing.ChatAsync(key.Secret, "rt-admin-health", deadline.Token);
        answer.Header("x-tollgate-deployment").ShouldBe("mock/rt-admin-health-up", answer.Body);

        var models = await routing.Stack.AdminGetAsync("/admin/models", deadline.Token);

        var group = models.EnumerateArray().Single(g => g.GetProperty("id").GetString() == "rt-admin-health");
        var deployments = group.GetProperty("deployments").EnumerateArray().ToList();
        var down = deployments.Single(d => d.GetProperty("model").GetString() == "rt-admin-health-down");
        var up = deployments.Single(d => d.GetProperty("model").GetString() == "rt-admin-health-up");
        down.TryGetProperty("state", out var downState).ShouldBeTrue($"each deployment shows its health `state`: {group}");
        downState.GetString().ShouldBe("cooling_down", group.ToString());
        down.TryGetProperty("cooldown_until", out var until).ShouldBeTrue($"a cooling deployment shows `cooldown_until`: {group}");
        var end = DateTimeOffset.Parse(until.GetString().ShouldNotBeNull(), CultureInfo.InvariantCulture);
        end.ShouldBeGreaterThan(DateTimeOffset.UtcNow, "the cooldown is still running");
        end.ShouldBeLessThan(DateTimeOffset.UtcNow.AddSeconds(6), "the first cooldown is 5 s");
        up.GetProperty("state").GetString().ShouldBe("healthy", group.ToString());
        if (up.TryGetProperty("cooldown_until", out var none))
        {
            none.ValueKind.ShouldBe(JsonValueKind.Null, $"a healthy deployment has no cooldown end: {group}");
        }
    }
}
