using System.Globalization;
using System.Net;
using System.Text.Json;
using Tollgate.IntegrationTests.Harness;

namespace Tollgate.IntegrationTests.Routing;

/// <summary>
/// SPEC §4 "Tiers": a key's tier remaps aliases (before the allow-list), limits the models, and counts a daily
/// request quota that ends in 429 with retry-after; <c>GET /quota</c> shows what is left and when it resets.
/// Tiers (see <see cref="RoutingStack"/>): rt-remap { models: [rt-tier-small], remap: { rt-tier-big: rt-tier-small } },
/// rt-quota { daily_requests: 2, models: [rt-tier-small] }. The quota counts per key, so each test mints its own.
/// </summary>
public sealed class TierTests(RoutingStack routing)
{
    [Fact]
    public async Task Tier_remap_serves_the_mapped_alias_even_though_the_asked_one_is_not_in_the_allow_list()
    {
        using var deadline = Deadline.After(30);
        var key = await routing.MintAsync("rt-remap", deadline.Token, tier: "rt-remap");
        var bigBefore = await routing.UpstreamCallsAsync("rt-tier-big-up", deadline.Token);

        var answer = await routing.ChatAsync(key.Secret, "rt-tier-big", deadline.Token);

        answer.Status.ShouldBe(HttpStatusCode.OK, answer.Body);
        answer.Header("x-tollgate-deployment").ShouldBe("mock/rt-tier-small-up", "the tier serves rt-tier-small in place of rt-tier-big");
        answer.Header("x-tollgate-model-group").ShouldBe("rt-tier-big", "the header names the alias that was asked for");
        (await routing.UpstreamCallsAsync("rt-tier-big-up", deadline.Token)).ShouldBe(bigBefore);

        var row = await routing.Stack.WaitForLedgerRowAsync(key.Id, answer.Header("x-tollgate-request-id").ShouldNotBeNull(), deadline.Token);
        row.GetProperty("deployment").GetString().ShouldBe("mock/rt-tier-small-up");
    }

    [Fact]
    public async Task Tier_allow_list_refuses_a_model_outside_it_with_403_and_allows_the_listed_one()
    {
        using var deadline = Deadline.After(30);
        var key = await routing.MintAsync("rt-allow", deadline.Token, tier: "rt-remap");

        var refused = await routing.ChatAsync(key.Secret, "rt-sens", deadline.Token);
        var allowed = await routing.ChatAsync(key.Secret, "rt-tier-small", deadline.Token);

        var message = refused.ShouldBeOpenAiError(HttpStatusCode.Forbidden);
        message.ShouldContain("rt-sens");
        refused.Json.GetProperty("error").GetProperty("type").GetString().ShouldBe("permission_error");
        allowed.Status.ShouldBe(HttpStatusCode.OK, allowed.Body);
        allowed.Header("x-tollgate-deployment").ShouldBe("mock/rt-tier-small-up");
    }

    [Fact]
    public async Task Daily_request_quota_exhausted_is_429_naming_the_quota_with_retry_after_until_utc_midnight()
    {
        using var deadline = Deadline.After(30);
        var key = await routing.MintAsync("rt-quota-out", deadline.Token, tier: "rt-quota");
        for (var i = 0; i < 2; i++)
        {
            var served = await routing.ChatAsync(key.Secret, "rt-tier-small", deadline.Token);
            served.Status.ShouldBe(HttpStatusCode.OK, served.Body);
        }

        var callsBefore = await routing.UpstreamCallsAsync("rt-tier-small-up", deadline.Token);
        var refused = await routing.ChatAsync(key.Secret, "rt-tier-small", deadline.Token);

        var message = refused.ShouldBeOpenAiError(HttpStatusCode.TooManyRequests);
        message.ShouldContain("rt-quota", Case.Sensitive, "the message names the tier whose quota is spent");
        var error = refused.Json.GetProperty("error");
        error.GetProperty("type").GetString().ShouldBe("daily_request_quota");
        var retryAfter = int.Parse(refused.Header("retry-after").ShouldNotBeNull("the reset time is known: next UTC midnight"), CultureInfo.InvariantCulture);
        var untilMidnight = (NextUtcMidnight() - DateTimeOffset.UtcNow).TotalSeconds;
        retryAfter.ShouldBeInRange((int)untilMidnight - 30, (int)untilMidnight + 30);
        (await routing.UpstreamCallsAsync("rt-tier-small-up", deadline.Token)).ShouldBe(callsBefore, "a refused request never goes upstream");

        var quota = await QuotaAsync(key.Secret, deadline.Token);
        quota.GetProperty("remaining").GetInt64().ShouldBe(0, quota.ToString());
    }

    [Fact]
    public async Task Quota_endpoint_shows_remaining_requests_and_resets_at_for_the_callers_tier()
    {
        using var deadline = Deadline.After(30);
        var key = await routing.MintAsync("rt-quota-view", deadline.Token, tier: "rt-quota");

        var fresh = await QuotaAsync(key.Secret, deadline.Token);
        (await routing.ChatAsync(key.Secret, "rt-tier-small", deadline.Token)).Status.ShouldBe(HttpStatusCode.OK);
        var used = await QuotaAsync(key.Secret, deadline.Token);

        fresh.GetProperty("tier").GetString().ShouldBe("rt-quota");
        fresh.GetProperty("key_id").GetString().ShouldBe(key.Id);
        fresh.GetProperty("daily_requests").GetInt64().ShouldBe(2);
        fresh.GetProperty("remaining").GetInt64().ShouldBe(2, fresh.ToString());
        fresh.GetProperty("requests_today").GetInt64().ShouldBe(0);
        DateTimeOffset.Parse(fresh.GetProperty("resets_at").GetString().ShouldNotBeNull(), CultureInfo.InvariantCulture)
            .ShouldBe(NextUtcMidnight(), TimeSpan.FromSeconds(1), "a daily quota resets at the next UTC midnight");
        used.GetProperty("remaining").GetInt64().ShouldBe(1, used.ToString());
        used.GetProperty("requests_today").GetInt64().ShouldBe(1, used.ToString());
    }

    [Fact]
    public async Task Quota_endpoint_without_a_key_is_401()
    {
        using var deadline = Deadline.After(30);

        var answer = await routing.Stack.Http.AnswerAsync(GatewayStack.DataRequest(HttpMethod.Get, "/quota", key: null), deadline.Token);

        answer.ShouldBeOpenAiError(HttpStatusCode.Unauthorized);
    }

    private async Task<JsonElement> QuotaAsync(string key, CancellationToken cancellationToken)
    {
        var answer = await routing.Stack.Http.AnswerAsync(GatewayStack.DataRequest(HttpMethod.Get, "/quota", key), cancellationToken);
        answer.Status.ShouldBe(HttpStatusCode.OK, answer.Body);
        return answer.Json;
    }

    private static DateTimeOffset NextUtcMidnight() => new(DateTimeOffset.UtcNow.UtcDateTime.Date.AddDays(1), TimeSpan.Zero);
}
