using System.Net;
using System.Text.Json;
using Tollgate.IntegrationTests.Harness;

namespace Tollgate.IntegrationTests;

/// <summary>The small things clients and load balancers rely on: the root probe, health, both key headers, the tollgate headers.</summary>
public sealed class GatewaySurfaceTests(GatewayStack stack)
{
    [Fact]
    public async Task Root_answers_200_to_get_and_head()
    {
        using var deadline = Deadline.After(30);

        var get = await stack.Http.AnswerAsync(new HttpRequestMessage(HttpMethod.Get, "/"), deadline.Token);
        var head = await stack.Http.AnswerAsync(new HttpRequestMessage(HttpMethod.Head, "/"), deadline.Token);

        get.Status.ShouldBe(HttpStatusCode.OK);
        head.Status.ShouldBe(HttpStatusCode.OK, "Claude Code probes HEAD / before its first call");
    }

    [Fact]
    public async Task Liveness_is_200_and_readiness_reports_the_store_and_queue_depth()
    {
        using var deadline = Deadline.After(30);

        var live = await stack.Http.AnswerAsync(new HttpRequestMessage(HttpMethod.Get, "/health/liveness"), deadline.Token);
        var ready = await stack.Http.AnswerAsync(new HttpRequestMessage(HttpMethod.Get, "/health/readiness"), deadline.Token);

        live.Status.ShouldBe(HttpStatusCode.OK);
        ready.Status.ShouldBe(HttpStatusCode.OK, ready.Body);
        var json = ready.Json;
        json.TryGetProperty("queue_depth", out var depth).ShouldBeTrue($"readiness names the ledger queue depth: {ready.Body}");
        depth.ValueKind.ShouldBe(JsonValueKind.Number);
        json.TryGetProperty("audit_queue", out var auditDepth).ShouldBeTrue($"readiness names the audit trail's queue depth too: {ready.Body}");
        auditDepth.ValueKind.ShouldBe(JsonValueKind.Number);
        json.TryGetProperty("store", out var store).ShouldBeTrue($"readiness says whether the store is reachable: {ready.Body}");
        var reachable = store.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.String => store.GetString() is "ok" or "reachable" or "up" or "healthy",
            JsonValueKind.Object => store.EnumerateObject().Any(p => p.Value.ValueKind == JsonValueKind.True
                || (p.Value.ValueKind == JsonValueKind.String && p.Value.GetString() is "ok" or "reachable" or "up" or "healthy")),
            _ => false,
        };
        reachable.ShouldBeTrue($"the SQLite store is up, readiness should say so: {ready.Body}");
    }

    [Fact]
    public async Task Key_sent_as_x_api_key_is_accepted_like_a_bearer_token()
    {
        using var deadline = Deadline.After(30);
        var key = await stack.MintKeyAsync("surface-x-api-key", deadline.Token);
        var request = GatewayStack.DataRequest(HttpMethod.Post, "/v1/chat/completions", key: null, RawCall.Chat("gpt-4o-mini", "TG_PLAIN"));
        request.Headers.Add("x-api-key", key.Secret);

        var answer = await stack.Http.AnswerAsync(request, deadline.Token);

        answer.Status.ShouldBe(HttpStatusCode.OK, answer.Body);
        answer.Json.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString().ShouldBe("plain answer");
    }

    [Fact]
    public async Task Every_data_plane_answer_carries_the_tollgate_headers_and_the_request_id_names_the_ledger_row()
    {
        using var deadline = Deadline.After(30);
        var key = await stack.MintKeyAsync("surface-headers", deadline.Token);

        var chat = await stack.Http.CallAsync("/v1/chat/completions", key.Secret, RawCall.Chat("gpt-4o-mini", "TG_PLAIN"), deadline.Token);
        var embeddings = await stack.Http.CallAsync("/v1/embeddings", key.Secret, new { model = "text-embedding-3-small", input = "TG_EMBED_ME" }, deadline.Token);
        var responses = await stack.Http.CallAsync("/v1/responses", key.Secret, new { model = "gpt-4o-mini", input = "TG_PLAIN" }, deadline.Token);

        foreach (var (answer, group) in new[] { (chat, "gpt-4o-mini"), (embeddings, "text-embedding-3-small"), (responses, "gpt-4o-mini") })
        {
            answer.Status.ShouldBe(HttpStatusCode.OK, answer.Body);
            answer.Header("x-tollgate-model-group").ShouldBe(group);
            answer.Header("x-tollgate-deployment").ShouldBe($"mock/{group}");
            answer.Header("x-tollgate-attempts").ShouldBe("1");
            var requestId = answer.Header("x-tollgate-request-id").ShouldNotBeNull();
            var row = await stack.WaitForLedgerRowAsync(key.Id, requestId, deadline.Token);
            row.GetProperty("model_group").GetString().ShouldBe(group);
        }

        new[] { chat, embeddings, responses }.Select(a => a.Header("x-tollgate-request-id")).ShouldBeUnique();
    }
}
