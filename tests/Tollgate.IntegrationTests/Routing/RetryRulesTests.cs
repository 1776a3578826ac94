using System.Net;
using System.Text.Json;
using Tollgate.IntegrationTests.Harness;

namespace Tollgate.IntegrationTests.Routing;

/// <summary>
/// SPEC §4 "When to move on": which upstream answers send the request to the next deployment, and which go
/// straight back to the caller. Each case has its own group of two deployments, the first failing on purpose.
/// </summary>
public sealed class RetryRulesTests(RoutingStack routing)
{
    public static TheoryData<int> Retryable => [.. RoutingStack.RetryableStatuses];

    public static TheoryData<int> CallerFault => [.. RoutingStack.ClientStatuses];

    [Theory]
    [MemberData(nameof(Retryable))]
    public async Task Retryable_upstream_status_moves_to_the_next_deployment_which_serves(int status)
    {
        using var deadline = Deadline.After(30);
        var key = await routing.MintAsync($"rt-status-{status}", deadline.Token);

        var answer = await routing.ChatAsync(key.Secret, $"rt-status-{status}", deadline.Token);

        answer.Status.ShouldBe(HttpStatusCode.OK, answer.Body);
        answer.Json.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString().ShouldBe("routed answer");
        answer.Header("x-tollgate-deployment").ShouldBe($"mock/rt-status-{status}-up");
        answer.Header("x-tollgate-attempts").ShouldBe("2");
        answer.Header("x-tollgate-fallback").ShouldBeNull("the same model group served");

        var row = await routing.Stack.WaitForLedgerRowAsync(key.Id, answer.Header("x-tollgate-request-id").ShouldNotBeNull(), deadline.Token);
        var attempts = row.GetProperty("attempts").EnumerateArray().ToList();
        attempts.Count.ShouldBe(2, row.ToString());
        attempts[0].GetProperty("deployment").GetString().ShouldBe($"mock/rt-status-{status}-down");
        attempts[0].GetProperty("status").GetInt32().ShouldBe(status);
        attempts[0].GetProperty("error").GetString().ShouldNotBeNull().ShouldContain($"answered {status}", Case.Sensitive, "the attempt keeps the upstream's own message");
        attempts[1].GetProperty("status").GetInt32().ShouldBe(200);
    }

    [Fact]
    public async Task Upstream_401_for_a_broken_credential_moves_to_the_next_deployment_which_serves()
    {
        using var deadline = Deadline.After(30);
        var key = await routing.MintAsync("rt-401", deadline.Token);

        var answer = await routing.ChatAsync(key.Secret, "rt-401", deadline.Token);

        answer.Status.ShouldBe(HttpStatusCode.OK, answer.Body);
        answer.Header("x-tollgate-deployment").ShouldBe("mock/rt-401-b");
        answer.Header("x-tollgate-attempts").ShouldBe("2");
        var row = await routing.Stack.WaitForLedgerRowAsync(key.Id, answer.Header("x-tollgate-request-id").ShouldNotBeNull(), deadline.Token);
        var first = row.GetProperty("attempts")[0];
        first.GetProperty("deployment").GetString().ShouldBe("mock-wrongkey/rt-401-a");
        first.GetProperty("status").GetInt32().ShouldBe(401);
        answer.Body.ShouldNotContain(routing.Stack.WrongUpstreamKey);
    }

    [Fact]
    public async Task Chaos_drop_500_from_the_first_deployment_the_next_serves()
    {
        using var deadline = Deadline.After(30);
        var key = await routing.MintAsync("rt-drop", deadline.Token);

        var answer = await routing.ChatAsync(key.Secret, "rt-drop", deadline.Token);

        answer.Status.ShouldBe(HttpStatusCode.OK, answer.Body);
        answer.Header("x-tollgate-deployment").ShouldBe("mock/rt-drop-b");
        answer.Header("x-tollgate-attempts").ShouldBe("2");
        var row = await routing.Stack.WaitForLedgerRowAsync(key.Id, answer.Header("x-tollgate-request-id").ShouldNotBeNull(), deadline.Token);
        var first = row.GetProperty("attempts")[0];
        first.GetProperty("deployment").GetString().ShouldBe("chaos-drop/rt-drop-a");
        first.GetProperty("status").GetInt32().ShouldBe(500);
        first.GetProperty("error").GetString().ShouldNotBeNull().ShouldContain("Chaos: request dropped");
    }

    [Theory]
    [MemberData(nameof(CallerFault))]
    public async Task Caller_fault_status_goes_back_at_once_with_no_other_attempt(int status)
    {
        using var deadline = Deadline.After(30);
        var key = await routing.MintAsync($"rt-client-{status}", deadline.Token);
        var secondBefore = await routing.UpstreamCallsAsync($"rt-client-{status}-b", deadline.Token);

        var answer = await routing.ChatAsync(key.Secret, $"rt-client-{status}", deadline.Token);

        ((int)answer.Status).ShouldBe(status, answer.Body);
        answer.Header("x-tollgate-attempts").ShouldBe("1");
        answer.Body.ShouldContain($"refused the request with {status}", Case.Sensitive, "the upstream's own error goes back");
        (await routing.UpstreamCallsAsync($"rt-client-{status}-b", deadline.Token)).ShouldBe(secondBefore, "the second deployment must not be tried");

        var row = await routing.Stack.WaitForLedgerRowAsync(key.Id, answer.Header("x-tollgate-request-id").ShouldNotBeNull(), deadline.Token);
        row.GetProperty("status").GetInt32().ShouldBe(status);
        var attempt = row.GetProperty("attempts").EnumerateArray().ShouldHaveSingleItem();
        attempt.GetProperty("deployment").GetString().ShouldBe($"mock/rt-client-{status}-a");

        // The caller's fault says nothing about the deployment's health: it serves the next call.
        var again = await routing.ChatAsync(key.Secret, $"rt-client-{status}", deadline.Token);
        ((int)again.Status).ShouldBe(status, again.Body);
        again.Header("x-tollgate-attempts").ShouldBe("1", "a 4xx from the caller's own request must not cool the deployment down");
    }

    [Fact]
    public async Task Streamed_request_failing_before_the_first_byte_is_served_whole_by_the_next_deployment()
    {
        using var deadline = Deadline.After(30);
        var key = await routing.MintAsync("rt-stream-fb", deadline.Token);
        using var request = GatewayStack.DataRequest(HttpMethod.Post, "/v1/chat/completions", key.Secret, RawCall.Chat("rt-stream-fb", RoutingStack.Prompt, stream: true));

        using var response = await routing.Stack.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, deadline.Token);
        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        response.Headers.GetValues("x-tollgate-deployment").Single().ShouldBe("mock/rt-stream-fb-b");
        response.Headers.GetValues("x-tollgate-attempts").Single().ShouldBe("2");
        var read = await Sse.ReadAllAsync(await response.Content.ReadAsStreamAsync(deadline.Token), deadline.Token);

        read.EndedWith.ShouldBeNull(read.Raw);
        read.SawDone.ShouldBeTrue($"the stream from the second deployment is whole:\n{read.Raw}");
        var text = string.Concat(read.Events.Where(e => e.Data != "[DONE]").Select(e =>
        {
            using var chunk = JsonDocument.Parse(e.Data);
            var choices = chunk.RootElement.GetProperty("choices");
            return choices.GetArrayLength() > 0 && choices[0].GetProperty("delta").TryGetProperty("content", out var c) && c.ValueKind == JsonValueKind.String
                ? c.GetString()
                : string.Empty;
        }));
        text.ShouldBe("routed answer");
        read.Raw.ShouldNotContain("rt-stream-fb-a is down", Case.Sensitive, "nothing of the failed attempt reached the client");
    }
}
