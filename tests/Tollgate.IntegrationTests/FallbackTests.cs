using System.Net;
using Tollgate.IntegrationTests.Harness;

namespace Tollgate.IntegrationTests;

/// <summary>The attempt loop: when a group's first deployment fails, the next one serves, and both attempts are visible.</summary>
public sealed class FallbackTests(GatewayStack stack)
{
    [Fact]
    public async Task First_deployment_unreachable_the_second_serves_and_attempts_is_2()
    {
        using var deadline = Deadline.After(30);
        var key = await stack.MintKeyAsync("fallback-connect", deadline.Token);

        var answer = await stack.Http.CallAsync("/v1/chat/completions", key.Secret, RawCall.Chat("fallback-connect", "TG_PLAIN"), deadline.Token);

        answer.Status.ShouldBe(HttpStatusCode.OK, answer.Body);
        answer.Json.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString().ShouldBe("plain answer");
        answer.Header("x-tollgate-attempts").ShouldBe("2");
        answer.Header("x-tollgate-deployment").ShouldBe("mock/gpt-4o-mini");
        answer.Header("x-tollgate-model-group").ShouldBe("fallback-connect");
        answer.Header("x-tollgate-fallback").ShouldBeNull("the same model group served, so there was no cross-group fallback");

        var row = await stack.WaitForLedgerRowAsync(key.Id, answer.Header("x-tollgate-request-id").ShouldNotBeNull(), deadline.Token);
        var attempts = row.GetProperty("attempts").EnumerateArray().ToList();
        attempts.Count.ShouldBe(2, row.ToString());
        attempts[0].GetProperty("deployment").GetString().ShouldBe("dead/gpt-4o-mini");
        attempts[0].GetProperty("error").GetString().ShouldNotBeNullOrWhiteSpace("the failed attempt says why");
        attempts[1].GetProperty("deployment").GetString().ShouldBe("mock/gpt-4o-mini");
        attempts[1].GetProperty("status").GetInt32().ShouldBe(200);
        row.GetProperty("deployment").GetString().ShouldBe("mock/gpt-4o-mini");
        row.GetProperty("status").GetInt32().ShouldBe(200);
    }

    [Fact]
    public async Task First_deployment_answering_5xx_the_second_serves_and_attempts_is_2()
    {
        using var deadline = Deadline.After(30);
        var key = await stack.MintKeyAsync("fallback-5xx", deadline.Token);

        var answer = await stack.Http.CallAsync("/v1/chat/completions", key.Secret, RawCall.Chat("fallback-5xx", "TG_FALLBACK"), deadline.Token);

        answer.Status.ShouldBe(HttpStatusCode.OK, answer.Body);
        answer.Json.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString().ShouldBe("the second deployment served");
        answer.Header("x-tollgate-attempts").ShouldBe("2");
        answer.Header("x-tollgate-deployment").ShouldBe("mock/gpt-4o-mini");

        var row = await stack.WaitForLedgerRowAsync(key.Id, answer.Header("x-tollgate-request-id").ShouldNotBeNull(), deadline.Token);
        var attempts = row.GetProperty("attempts").EnumerateArray().ToList();
        attempts.Count.ShouldBe(2, row.ToString());
        attempts[0].GetProperty("deployment").GetString().ShouldBe("mock/err-fallback-500");
        attempts[0].GetProperty("status").GetInt32().ShouldBe(503);
    }
}
