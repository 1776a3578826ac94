using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Tollgate.IntegrationTests.Harness;

namespace Tollgate.IntegrationTests;

/// <summary>
/// Same-format Anthropic pass-through, checked at the upstream. The upstream here is
/// <see cref="FakeAnthropicUpstream"/>, an in-process fake written from the Anthropic spec, not aimock: aimock's
/// journal keeps only a normalised body (unknown fields and exact bytes are gone) and redacts credentials, and it
/// reports zero usage, so it cannot show the headers, bytes and cache tokens these tests are about.
/// </summary>
public sealed class AnthropicPassThroughTests(GatewayStack stack)
{
    [Fact]
    public async Task Oauth_upstream_gets_the_bearer_token_and_the_oauth_beta_and_no_api_key()
    {
        using var deadline = Deadline.After(30);
        var key = await stack.MintKeyAsync("anth-oauth", deadline.Token, "anth-oauth");
        var marker = "TG_OAUTH_" + GatewayStack.RandomToken();
        var body = $$"""{"model":"anth-oauth","max_tokens":64,"messages":[{"role":"user","content":"{{marker}}"}]}""";

        var answer = await stack.Http.AnswerAsync(
            GatewayStack.AnthropicRequest("/v1/messages?beta=true", key.Secret, body, beta: "claude-code-20250219,interleaved-thinking-2025-05-14"),
            deadline.Token);

        answer.Status.ShouldBe(HttpStatusCode.OK, answer.Body);
        answer.Json.GetProperty("content")[0].GetProperty("text").GetString().ShouldBe(FakeAnthropicUpstream.AnswerText);
        var received = await stack.FakeAnthropic.WaitForBodyContainingAsync(marker, deadline.Token);
        received.PathAndQuery.ShouldBe("/oauth/v1/messages?beta=true");
        received.Header("authorization").ShouldBe("Bearer " + stack.OAuthUpstreamToken);
        received.Header("x-api-key").ShouldBeNull("a subscription token must never go as an API key");
        Betas(received).ShouldBe(["claude-code-20250219", "interleaved-thinking-2025-05-14", "oauth-2025-04-20"], ignoreOrder: true);
        received.Header("anthropic-version").ShouldBe("2023-06-01");
        received.Headers.Values.ShouldNotContain(v => v.Contains(key.Secret, StringComparison.Ordinal), "the caller's virtual key must not go upstream");
    }

    [Fact]
    public async Task Oauth_upstream_gets_the_oauth_beta_even_when_the_client_sends_no_beta_header()
    {
        using var deadline = Deadline.After(30);
        var key = await stack.MintKeyAsync("anth-oauth-nobeta", deadline.Token, "anth-oauth");
        var marker = "TG_OAUTH_NOBETA_" + GatewayStack.RandomToken();
        var body = $$"""{"model":"anth-oauth","max_tokens":64,"messages":[{"role":"user","content":"{{marker}}"}]}""";

        var answer = await stack.Http.AnswerAsync(GatewayStack.AnthropicRequest("/v1/messages", key.Secret, body), deadline.Token);

        answer.Status.ShouldBe(HttpStatusCode.OK, answer.Body);
        var received = await stack.FakeAnthropic.WaitForBodyContainingAsync(marker, deadline.Token);
        received.Header("authorization").ShouldBe("Bearer " + stack.OAuthUpstreamToken);
        received.Header("x-api-key").ShouldBeNull();
        Betas(received).ShouldBe(["oauth-2025-04-20"]);
    }

    [Fact]
    public async Task Reject_betas_removes_only_the_rejected_beta_and_the_api_key_goes_as_x_api_key()
    {
        using var deadline = Deadline.After(30);
        var key = await stack.MintKeyAsync("anth-reject-beta", deadline.Token, "anth-fake");
        var marker = "TG_REJECT_BETA_" + GatewayStack.RandomToken();
        var body = $$"""{"model":"anth-fake","max_tokens":64,"messages":[{"role":"user","content":"{{marker}}"}]}""";

        var answer = await stack.Http.AnswerAsync(
            GatewayStack.AnthropicRequest("/v1/messages", key.Secret, body,
                beta: $"context-management-2025-06-27,{GatewayStack.RejectedBeta},prompt-caching-scope-2026-01-05"),
            deadline.Token);

        answer.Status.ShouldBe(HttpStatusCode.OK, answer.Body);
        var received = await stack.FakeAnthropic.WaitForBodyContainingAsync(marker, deadline.Token);
        received.PathAndQuery.ShouldBe("/apikey/v1/messages");
        Betas(received).ShouldBe(["context-management-2025-06-27", "prompt-caching-scope-2026-01-05"]);
        received.Header("x-api-key").ShouldBe(stack.FakeAnthropicKey);
        received.Header("authorization").ShouldBeNull("an Anthropic API key goes as x-api-key only");
    }

    [Fact]
    public async Task Unknown_fields_and_system_role_messages_reach_the_upstream_byte_identical_except_model()
    {
        using var deadline = Deadline.After(30);
        var key = await stack.MintKeyAsync("anth-fidelity", deadline.Token, "anth-fake");
        var marker = "TG_FIDELITY_" + GatewayStack.RandomToken();

        // Odd spacing, key order, escapes and fields Tollgate does not model: any re-serialisation would show.
        var body = $$$"""
            {"model":"anth-fake",  "max_tokens" : 1024,
              "thinking": {"type": "enabled", "budget_tokens": 512},
              "context_management": {"edits": [{"type": "clear_tool_uses_20250919", "trigger": {"type": "input_tokens", "value": 30000}}]},
              "output_config": {"effort": "high"},
              "metadata": {"user_id": "user_\u00e9t\u00e9-42"},
              "system": [{"type": "text", "text": "You are terse.", "cache_control": {"type": "ephemeral", "scope": "global", "ttl": "1h"}}],
              "messages": [
                {"role": "user", "content": [{"type": "text", "text": "{{{marker}}} caf\u00e9 \ud83d\ude00", "cache_control": {"type": "ephemeral", "scope": "session"}}]},
                {"role": "system", "content": "A mid-conversation system note."},
                {"role": "user", "content": "and again"}
              ],
              "x_future_field": [1, 2.50, -0.0, 1e3, null, true]
            }
            """;

        var answer = await stack.Http.AnswerAsync(
            GatewayStack.AnthropicRequest("/v1/messages?beta=true", key.Secret, body, beta: "context-management-2025-06-27,mid-conversation-system-2026-04-07"),
            deadline.Token);

        answer.Status.ShouldBe(HttpStatusCode.OK, answer.Body);
        var received = await stack.FakeAnthropic.WaitForBodyContainingAsync(marker, deadline.Token);
        received.Json.GetProperty("model").GetString().ShouldBe("claude-fake-upstream");
        var upstreamWithClientModel = ReplaceFirst(received.BodyText, "\"claude-fake-upstream\"", "\"anth-fake\"");
        upstreamWithClientModel.ShouldBe(body, "the upstream body must be the client's bytes with only the model replaced");
    }

    [Fact]
    public async Task Streamed_pass_through_relays_every_upstream_event_and_the_ledger_keeps_cache_tokens_and_session_id()
    {
        using var deadline = Deadline.After(30);
        var key = await stack.MintKeyAsync("anth-stream-cache", deadline.Token, "anth-fake");
        var marker = "TG_STREAM_CACHE_" + GatewayStack.RandomToken();
        var session = Guid.NewGuid().ToString();
        var body = $$"""{"model":"anth-fake","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"{{marker}}"}]}""";
        using var request = GatewayStack.AnthropicRequest("/v1/messages?beta=true", key.Secret, body);
        request.Headers.TryAddWithoutValidation("x-claude-code-session-id", session);

        using var response = await stack.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, deadline.Token);
        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        response.Content.Headers.ContentType?.MediaType.ShouldBe("text/event-stream");
        var read = await Sse.ReadAllAsync(await response.Content.ReadAsStreamAsync(deadline.Token), deadline.Token);

        read.EndedWith.ShouldBeNull(read.Raw);
        read.Events.Select(e => e.Event).ShouldBe(
            ["message_start", "content_block_start", "ping", "content_block_delta", "content_block_delta", "content_block_stop", "message_delta", "message_stop"],
            read.Raw);
        string.Concat(read.Events.Where(e => e.Event == "content_block_delta")
            .Select(e => JsonDocument.Parse(e.Data).RootElement.GetProperty("delta").GetProperty("text").GetString()))
            .ShouldBe(FakeAnthropicUpstream.AnswerText);
        var usage = JsonDocument.Parse(read.Events[0].Data).RootElement.GetProperty("message").GetProperty("usage");
        usage.GetProperty("cache_read_input_tokens").GetInt32().ShouldBe(FakeAnthropicUpstream.CacheReadTokens);
        usage.GetProperty("cache_creation_input_tokens").GetInt32().ShouldBe(FakeAnthropicUpstream.CacheWriteTokens);
        var received = await stack.FakeAnthropic.WaitForBodyContainingAsync(marker, deadline.Token);
        received.Header("x-claude-code-session-id").ShouldBe(session, "Claude Code's session header is an ordinary client header and goes upstream");

        var requestId = response.Headers.GetValues("x-tollgate-request-id").Single();
        var row = await stack.WaitForLedgerRowAsync(key.Id, requestId, deadline.Token);
        row.GetProperty("endpoint").GetString().ShouldBe("anthropic.messages");
        row.GetProperty("streamed").GetBoolean().ShouldBeTrue();
        row.GetProperty("session_id").GetString().ShouldBe(session);
        // The ledger's input_tokens is the whole prompt (Pipeline/Usage.cs): Anthropic reports cache reads and writes apart.
        row.GetProperty("input_tokens").GetInt64().ShouldBe(FakeAnthropicUpstream.InputTokens + FakeAnthropicUpstream.CacheReadTokens + FakeAnthropicUpstream.CacheWriteTokens);
        row.GetProperty("output_tokens").GetInt64().ShouldBe(FakeAnthropicUpstream.OutputTokens);
        row.GetProperty("cache_read_tokens").GetInt64().ShouldBe(FakeAnthropicUpstream.CacheReadTokens);
        row.GetProperty("cache_write_tokens").GetInt64().ShouldBe(FakeAnthropicUpstream.CacheWriteTokens);
    }

    [Fact]
    public async Task Forward_auth_sends_the_callers_own_authorization_upstream_and_takes_the_key_from_x_tollgate_key()
    {
        using var deadline = Deadline.After(30);
        var key = await stack.MintKeyAsync("anth-forward", deadline.Token, "anth-forward");
        var marker = "TG_FORWARD_" + GatewayStack.RandomToken();
        var callersOwn = "sk-ant-oat01-callers-own-" + GatewayStack.RandomToken();
        var body = $$"""{"model":"anth-forward","max_tokens":64,"messages":[{"role":"user","content":"{{marker}}"}]}""";
        using var request = GatewayStack.AnthropicRequest("/v1/messages", key: null, body);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", callersOwn);
        request.Headers.TryAddWithoutValidation("x-tollgate-key", key.Secret);

        var answer = await stack.Http.AnswerAsync(request, deadline.Token, dispose: false);

        answer.Status.ShouldBe(HttpStatusCode.OK, answer.Body);
        var received = await stack.FakeAnthropic.WaitForBodyContainingAsync(marker, deadline.Token);
        received.PathAndQuery.ShouldBe("/forward/v1/messages");
        received.Header("authorization").ShouldBe("Bearer " + callersOwn);
        received.Header("x-tollgate-key").ShouldBeNull("the Tollgate key is for Tollgate only");
        received.Headers.Values.ShouldNotContain(v => v.Contains(key.Secret, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Count_tokens_is_forwarded_to_an_anthropic_upstream_with_the_model_rewritten()
    {
        using var deadline = Deadline.After(30);
        var key = await stack.MintKeyAsync("anth-count", deadline.Token, "anth-fake");
        var marker = "TG_COUNT_" + GatewayStack.RandomToken();
        var body = $$"""{"model":"anth-fake","messages":[{"role":"user","content":"{{marker}}"}]}""";

        var answer = await stack.Http.AnswerAsync(GatewayStack.AnthropicRequest("/v1/messages/count_tokens?beta=true", key.Secret, body), deadline.Token);

        answer.Status.ShouldBe(HttpStatusCode.OK, answer.Body);
        answer.Json.GetProperty("input_tokens").GetInt32().ShouldBe(FakeAnthropicUpstream.CountedTokens);
        var received = await stack.FakeAnthropic.WaitForBodyContainingAsync(marker, deadline.Token);
        received.PathAndQuery.ShouldBe("/apikey/v1/messages/count_tokens?beta=true");
        received.Json.GetProperty("model").GetString().ShouldBe("claude-fake-upstream");
    }

    private static string[] Betas(ReceivedRequest received) =>
        (received.Header("anthropic-beta") ?? string.Empty)
            .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    private static string ReplaceFirst(string text, string find, string replacement)
    {
        var at = text.IndexOf(find, StringComparison.Ordinal);
        at.ShouldBeGreaterThanOrEqualTo(0, $"'{find}' is not in: {text}");
        return new StringBuilder(text).Remove(at, find.Length).Insert(at, replacement).ToString();
    }
}
