using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Tollgate.IntegrationTests.Harness;

namespace Tollgate.IntegrationTests;

/// <summary>What the upstream reported as usage, priced and converted, lands in the ledger and the spend totals.</summary>
public sealed class LedgerTests(GatewayStack stack)
{
    // aimock's fixture for TG_LEDGER_COUNT reports exactly these.
    private const long InputTokens = 1234;
    private const long OutputTokens = 567;

    /// <summary>(1234 × 0.15 + 567 × 0.6) USD per million × 1.5 AUD/USD = 0.00078795 AUD, exactly.</summary>
    private static readonly decimal ExpectedCost =
        ((InputTokens * GatewayStack.ChatInputPrice) + (OutputTokens * GatewayStack.ChatOutputPrice)) / 1_000_000m * GatewayStack.UsdToAud;

    [Fact]
    public async Task Chat_call_lands_in_the_ledger_with_the_upstream_tokens_and_the_exact_cost()
    {
        using var deadline = Deadline.After(30);
        var key = await stack.MintKeyAsync("ledger-chat", deadline.Token);
        using var request = GatewayStack.DataRequest(HttpMethod.Post, "/v1/chat/completions", key.Secret, RawCall.Chat("gpt-4o-mini", "TG_LEDGER_COUNT please"));
        request.Headers.UserAgent.Add(new ProductInfoHeaderValue("tollgate-ledger-test", "1.0"));

        var answer = await stack.Http.AnswerAsync(request, deadline.Token, dispose: false);

        answer.Status.ShouldBe(HttpStatusCode.OK, answer.Body);
        var usage = answer.Json.GetProperty("usage");
        usage.GetProperty("prompt_tokens").GetInt64().ShouldBe(InputTokens, "usage must be relayed as the upstream reported it");
        usage.GetProperty("completion_tokens").GetInt64().ShouldBe(OutputTokens);
        var requestId = answer.Header("x-tollgate-request-id").ShouldNotBeNull();

        var row = await stack.WaitForLedgerRowAsync(key.Id, requestId, deadline.Token);

        row.GetProperty("key_id").GetString().ShouldBe(key.Id);
        row.GetProperty("key_alias").GetString().ShouldBe(key.Alias);
        row.GetProperty("endpoint").GetString().ShouldNotBeNull().ShouldContain("chat");
        row.GetProperty("model_requested").GetString().ShouldBe("gpt-4o-mini");
        row.GetProperty("model_group").GetString().ShouldBe("gpt-4o-mini");
        row.GetProperty("deployment").GetString().ShouldBe("mock/gpt-4o-mini");
        row.GetProperty("provider").GetString().ShouldBe("mock");
        row.GetProperty("status").GetInt32().ShouldBe(200);
        row.GetProperty("input_tokens").GetInt64().ShouldBe(InputTokens);
        row.GetProperty("output_tokens").GetInt64().ShouldBe(OutputTokens);
        row.GetProperty("cost").GetDecimal().ShouldBe(ExpectedCost, $"cost = tokens × USD price per million × FX; row: {row}");
        row.GetProperty("notional_cost").GetDecimal().ShouldBe(ExpectedCost, "a metered call's notional cost is its cost");
        row.GetProperty("currency").GetString().ShouldBe("AUD");
        row.GetProperty("streamed").GetBoolean().ShouldBeFalse();
        row.GetProperty("latency_ms").GetDouble().ShouldBeGreaterThanOrEqualTo(0);
        row.GetProperty("user_agent").GetString().ShouldNotBeNull().ShouldContain("tollgate-ledger-test/1.0");
        var attempt = row.GetProperty("attempts").EnumerateArray().ShouldHaveSingleItem();
        attempt.GetProperty("deployment").GetString().ShouldBe("mock/gpt-4o-mini");
        attempt.GetProperty("status").GetInt32().ShouldBe(200);
    }

    [Fact]
    public async Task Streamed_chat_lands_in_the_ledger_with_usage_the_client_did_not_ask_for()
    {
        using var deadline = Deadline.After(30);
        var key = await stack.MintKeyAsync("ledger-stream", deadline.Token);
        using var request = GatewayStack.DataRequest(HttpMethod.Post, "/v1/chat/completions", key.Secret, RawCall.Chat("gpt-4o-mini", "TG_LEDGER_COUNT streamed", stream: true));

        using var response = await stack.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, deadline.Token);
        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        response.Content.Headers.ContentType?.MediaType.ShouldBe("text/event-stream");
        var read = await Sse.ReadAllAsync(await response.Content.ReadAsStreamAsync(deadline.Token), deadline.Token);

        read.EndedWith.ShouldBeNull();
        read.SawDone.ShouldBeTrue(read.Raw);
        var chunks = read.Events.Where(e => e.Data != "[DONE]").Select(e => JsonDocument.Parse(e.Data).RootElement).ToList();
        chunks.Where(HasUsage).ShouldBeEmpty(
            "the client did not ask for stream usage, so the usage chunk the gateway requested must not reach it");
        var text = string.Concat(chunks.SelectMany(c => c.GetProperty("choices").EnumerateArray())
            .Select(c => c.GetProperty("delta").TryGetProperty("content", out var t) ? t.GetString() : null));
        text.ShouldBe("Counted and billed.");

        var requestId = response.Headers.GetValues("x-tollgate-request-id").Single();
        var row = await stack.WaitForLedgerRowAsync(key.Id, requestId, deadline.Token);
        row.GetProperty("streamed").GetBoolean().ShouldBeTrue();
        row.GetProperty("input_tokens").GetInt64().ShouldBe(InputTokens);
        row.GetProperty("output_tokens").GetInt64().ShouldBe(OutputTokens);
        row.GetProperty("cost").GetDecimal().ShouldBe(ExpectedCost);
        row.GetProperty("ttft_ms").ValueKind.ShouldBe(JsonValueKind.Number, $"a streamed call records its time to first token: {row}");
    }

    private static bool HasUsage(JsonElement chunk) =>
        chunk.TryGetProperty("usage", out var usage) && usage.ValueKind != JsonValueKind.Null;

    [Fact]
    public async Task Responses_call_lands_in_the_ledger_with_its_tokens_and_cost()
    {
        using var deadline = Deadline.After(30);
        var key = await stack.MintKeyAsync("ledger-responses", deadline.Token);

        var answer = await stack.Http.CallAsync("/v1/responses", key.Secret, new { model = "gpt-4o-mini", input = "TG_RESPONSES_HELLO for the ledger" }, deadline.Token);

        answer.Status.ShouldBe(HttpStatusCode.OK, answer.Body);
        var row = await stack.WaitForLedgerRowAsync(key.Id, answer.Header("x-tollgate-request-id").ShouldNotBeNull(), deadline.Token);
        row.GetProperty("endpoint").GetString().ShouldNotBeNull().ShouldContain("responses");
        row.GetProperty("input_tokens").GetInt64().ShouldBe(42);
        row.GetProperty("output_tokens").GetInt64().ShouldBe(11);
        row.GetProperty("cost").GetDecimal().ShouldBe(((42 * GatewayStack.ChatInputPrice) + (11 * GatewayStack.ChatOutputPrice)) / 1_000_000m * GatewayStack.UsdToAud);
    }

    [Fact]
    public async Task Spend_grouped_by_key_names_the_key_alias_and_totals_its_tokens_and_cost()
    {
        using var deadline = Deadline.After(30);
        var key = await stack.MintKeyAsync("ledger-spend", deadline.Token);
        var answer = await stack.Http.CallAsync("/v1/chat/completions", key.Secret, RawCall.Chat("gpt-4o-mini", "TG_LEDGER_COUNT for spend"), deadline.Token);
        answer.Status.ShouldBe(HttpStatusCode.OK, answer.Body);
        await stack.WaitForLedgerRowAsync(key.Id, answer.Header("x-tollgate-request-id").ShouldNotBeNull(), deadline.Token);

        var spend = await stack.AdminGetAsync("/admin/spend?group_by=key", deadline.Token);

        spend.GetProperty("currency").GetString().ShouldBe("AUD");
        var group = spend.GetProperty("groups").EnumerateArray()
            .Where(g => g.TryGetProperty("key_id", out var id) && id.GetString() == key.Id)
            .ShouldHaveSingleItem($"no group for key {key.Id} in {spend}");
        group.GetProperty("key_alias").GetString().ShouldBe(key.Alias);
        group.GetProperty("requests").GetInt64().ShouldBe(1);
        group.GetProperty("input_tokens").GetInt64().ShouldBe(InputTokens);
        group.GetProperty("output_tokens").GetInt64().ShouldBe(OutputTokens);
        group.GetProperty("cost").GetDecimal().ShouldBe(ExpectedCost);
    }

    [Fact]
    public async Task Requests_listing_is_newest_first_and_honours_limit()
    {
        using var deadline = Deadline.After(30);
        var key = await stack.MintKeyAsync("ledger-order", deadline.Token);
        var first = await stack.Http.CallAsync("/v1/chat/completions", key.Secret, RawCall.Chat("gpt-4o-mini", "TG_PLAIN first"), deadline.Token);
        var second = await stack.Http.CallAsync("/v1/embeddings", key.Secret, new { model = "text-embedding-3-small", input = "TG_EMBED_ME" }, deadline.Token);
        first.Status.ShouldBe(HttpStatusCode.OK, first.Body);
        second.Status.ShouldBe(HttpStatusCode.OK, second.Body);

        var rows = await stack.WaitForLedgerRowsAsync(key.Id, rows => rows.Count >= 2, deadline.Token);
        var limited = await stack.AdminGetAsync($"/admin/requests?key={key.Id}&limit=1", deadline.Token);

        rows.Count.ShouldBe(2);
        rows[0].GetProperty("request_id").GetString().ShouldBe(second.Header("x-tollgate-request-id"), "newest first");
        rows[1].GetProperty("request_id").GetString().ShouldBe(first.Header("x-tollgate-request-id"));
        rows[0].GetProperty("endpoint").GetString().ShouldNotBeNull().ShouldContain("embeddings");
        limited.GetArrayLength().ShouldBe(1);
        limited[0].GetProperty("request_id").GetString().ShouldBe(second.Header("x-tollgate-request-id"));
    }

    [Fact]
    public async Task Key_record_shows_the_settled_spend_of_its_calls()
    {
        using var deadline = Deadline.After(30);
        var key = await stack.MintKeyAsync(new { alias = "ledger-key-spend-" + GatewayStack.RandomToken()[..8], max_budget = 10, budget_period = "30d" }, deadline.Token);
        var answer = await stack.Http.CallAsync("/v1/chat/completions", key.Secret, RawCall.Chat("gpt-4o-mini", "TG_LEDGER_COUNT for the key"), deadline.Token);
        answer.Status.ShouldBe(HttpStatusCode.OK, answer.Body);
        await stack.WaitForLedgerRowAsync(key.Id, answer.Header("x-tollgate-request-id").ShouldNotBeNull(), deadline.Token);

        JsonElement record;
        var until = DateTimeOffset.UtcNow.AddSeconds(10);
        do
        {
            record = await stack.AdminGetAsync($"/admin/keys/{key.Id}", deadline.Token);
            if (record.GetProperty("spend").GetDecimal() == ExpectedCost || DateTimeOffset.UtcNow > until)
            {
                break;
            }

            await Task.Delay(100, deadline.Token);
        }
        while (true);

        record.GetProperty("spend").GetDecimal().ShouldBe(ExpectedCost, $"GET /admin/keys/{{id}} must show the settled spend: {record}");
        record.GetProperty("period_resets_at").ValueKind.ShouldBe(JsonValueKind.String, record.ToString());
    }
}
