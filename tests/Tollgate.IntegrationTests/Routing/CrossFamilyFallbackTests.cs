using System.Net;
using Tollgate.IntegrationTests.Harness;

namespace Tollgate.IntegrationTests.Routing;

/// <summary>
/// SPEC §4 "Cross-family fallback": another model group serves only when the asked group lists it in
/// <c>fallback</c>, and then always visibly; a sibling group of the same family is never used on the quiet.
/// </summary>
public sealed class CrossFamilyFallbackTests(RoutingStack routing)
{
    [Fact]
    public async Task Explicit_cross_family_fallback_serves_and_says_so_in_the_header_and_the_ledger()
    {
        using var deadline = Deadline.After(30);
        var key = await routing.MintAsync("rt-xf", deadline.Token);

        var answer = await routing.ChatAsync(key.Secret, "rt-xf-qwen", deadline.Token);

        answer.Status.ShouldBe(HttpStatusCode.OK, answer.Body);
        answer.Json.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString().ShouldBe("routed answer");
        answer.Header("x-tollgate-fallback").ShouldBe("rt-xf-qwen -> rt-xf-claude");
        answer.Header("x-tollgate-model-group").ShouldBe("rt-xf-qwen", "the header names the alias that was asked for");
        answer.Header("x-tollgate-deployment").ShouldBe("mock/rt-xf-claude-up");
        answer.Header("x-tollgate-attempts").ShouldBe("2");

        var row = await routing.Stack.WaitForLedgerRowAsync(key.Id, answer.Header("x-tollgate-request-id").ShouldNotBeNull(), deadline.Token);
        row.GetProperty("fallback").GetString().ShouldBe("rt-xf-qwen -> rt-xf-claude");
        row.GetProperty("deployment").GetString().ShouldBe("mock/rt-xf-claude-up");
        var attempts = row.GetProperty("attempts").EnumerateArray().ToList();
        attempts.Select(a => a.GetProperty("deployment").GetString()).ShouldBe(["mock/rt-xf-qwen-down", "mock/rt-xf-claude-up"]);
    }

    [Fact]
    public async Task Same_family_sibling_not_listed_in_fallback_is_never_used_and_the_request_fails_loudly()
    {
        using var deadline = Deadline.After(30);
        var key = await routing.MintAsync("rt-sf", deadline.Token);
        var siblingBefore = await routing.UpstreamCallsAsync("rt-sf-sibling-up", deadline.Token);

        var answer = await routing.ChatAsync(key.Secret, "rt-sf-primary", deadline.Token);

        var message = answer.ShouldBeOpenAiError(HttpStatusCode.BadGateway);
        message.ShouldContain("rt-sf-primary", Case.Sensitive, "the message names the model group");
        message.ShouldContain("mock/rt-sf-primary-down", Case.Sensitive, "and the deployment tried");
        message.ShouldContain("rt-sf-primary-down is down", Case.Sensitive, "and carries the upstream's own message");
        message.ShouldNotContain("rt-sf-sibling");
        answer.Header("x-tollgate-fallback").ShouldBeNull();
        answer.Header("x-tollgate-attempts").ShouldBe("1");
        (await routing.UpstreamCallsAsync("rt-sf-sibling-up", deadline.Token)).ShouldBe(siblingBefore, "the gpt sibling group was not listed in fallback, so it must not be called");

        var row = await routing.Stack.WaitForLedgerRowAsync(key.Id, answer.Header("x-tollgate-request-id").ShouldNotBeNull(), deadline.Token);
        row.GetProperty("status").GetInt32().ShouldBe(502);
        row.TryGetProperty("fallback", out var fallback).ShouldBeTrue(row.ToString());
        fallback.ValueKind.ShouldBe(System.Text.Json.JsonValueKind.Null, row.ToString());
    }
}
