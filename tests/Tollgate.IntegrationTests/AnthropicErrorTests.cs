using System.Net;
using System.Text.Json;
using Tollgate.IntegrationTests.Harness;

namespace Tollgate.IntegrationTests;

/// <summary>
/// Failures on the Anthropic surface come in the Anthropic error shape <c>{"type":"error","error":{"type","message"}}</c>,
/// and a stream the upstream cuts ends with an Anthropic <c>error</c> event, never <c>message_stop</c>.
/// </summary>
public sealed class AnthropicErrorTests(GatewayStack stack)
{
    public static TheoryData<string, string, string> BadBodies => new()
    {
        { "malformed JSON", """{"model":"anth-claude","max_tokens":16,"messages":[{"role":"user","content":"hi"}""", "" },
        { "missing max_tokens", """{"model":"anth-claude","messages":[{"role":"user","content":"hi"}]}""", "max_tokens" },
        { "missing messages", """{"model":"anth-claude","max_tokens":16}""", "messages" },
        { "an OpenAI image_url block", """{"model":"anth-claude","max_tokens":16,"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA"}}]}]}""", "image_url" },
        { "an unknown block type", """{"model":"anth-claude","max_tokens":16,"messages":[{"role":"user","content":[{"type":"banana","text":"hi"}]}]}""", "banana" },
        { "a block without a type", """{"model":"anth-claude","max_tokens":16,"messages":[{"role":"user","content":[{"text":"hi"}]}]}""", "type" },
    };

    [Theory]
    [MemberData(nameof(BadBodies))]
    public async Task Bad_input_to_the_anthropic_surface_gets_400_in_the_anthropic_error_shape(string what, string body, string mentioned)
    {
        using var deadline = Deadline.After(30);
        var key = await stack.MintKeyAsync("anth-bad-input", deadline.Token, "anth-claude");

        var answer = await stack.Http.AnswerAsync(GatewayStack.AnthropicRequest("/v1/messages", key.Secret, body), deadline.Token);

        var (type, message) = ShouldBeAnthropicError(answer, HttpStatusCode.BadRequest);
        type.ShouldBe("invalid_request_error", what);
        message.ShouldContain(mentioned, Case.Insensitive, $"the message should say what is wrong with {what}: {message}");
    }

    [Fact]
    public async Task Missing_key_on_the_anthropic_surface_gets_401_in_the_anthropic_error_shape()
    {
        using var deadline = Deadline.After(30);

        var answer = await stack.Http.AnswerAsync(
            GatewayStack.AnthropicRequest("/v1/messages", key: null, """{"model":"anth-claude","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}"""),
            deadline.Token);

        var (type, _) = ShouldBeAnthropicError(answer, HttpStatusCode.Unauthorized);
        type.ShouldBe("authentication_error");
    }

    [Fact]
    public async Task Unknown_model_on_the_anthropic_surface_gets_404_in_the_anthropic_error_shape()
    {
        using var deadline = Deadline.After(30);
        var key = await stack.MintKeyAsync("anth-unknown-model", deadline.Token);

        var answer = await stack.Http.AnswerAsync(
            GatewayStack.AnthropicRequest("/v1/messages", key.Secret, """{"model":"anth-claudee","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}"""),
            deadline.Token);

        var (type, message) = ShouldBeAnthropicError(answer, HttpStatusCode.NotFound);
        type.ShouldBe("not_found_error");
        message.ShouldContain("anth-claude", Case.Sensitive, "the message should list the close match");
    }

    [Theory]
    [InlineData("anth-cut", "same format (anthropic upstream)")]
    [InlineData("anth-cut-translated", "translated (openai upstream)")]
    public async Task Upstream_cutting_the_stream_ends_the_anthropic_stream_with_an_error_event_and_no_message_stop(string group, string what)
    {
        using var deadline = Deadline.After(30);
        var key = await stack.MintKeyAsync("anth-cut-stream", deadline.Token, group);
        var body = JsonSerializer.Serialize(new
        {
            model = group,
            max_tokens = 256,
            stream = true,
            messages = new[] { new { role = "user", content = RawCall.FailurePrompt } },
        });
        using var request = GatewayStack.AnthropicRequest("/v1/messages", key.Secret, body);

        using var response = await stack.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, deadline.Token);
        response.StatusCode.ShouldBe(HttpStatusCode.OK, $"{what}: the first bytes were relayed before the upstream failed");
        var read = await Sse.ReadAllAsync(await response.Content.ReadAsStreamAsync(deadline.Token), deadline.Token);

        read.Events.ShouldNotContain(e => e.Event == "message_stop", $"{what}: a truncated stream must never look complete:\n{read.Raw}");
        read.Events.ShouldNotContain(e => e.Data.Contains("\"message_stop\"", StringComparison.Ordinal), read.Raw);
        read.Events[0].Event.ShouldBe("message_start", $"{what}: the upstream's first events were relayed:\n{read.Raw}");
        read.Events.ShouldContain(e => e.Event == "content_block_delta", $"{what}:\n{read.Raw}");
        var last = read.Events[^1];
        last.Event.ShouldBe("error", $"{what}: the stream must end with event: error, it ended with:\n{read.Raw}");
        using var error = JsonDocument.Parse(last.Data);
        error.RootElement.GetProperty("type").GetString().ShouldBe("error", last.Data);
        error.RootElement.GetProperty("error").GetProperty("type").GetString().ShouldNotBeNullOrWhiteSpace(last.Data);
        error.RootElement.GetProperty("error").GetProperty("message").GetString().ShouldNotBeNullOrWhiteSpace(last.Data);

        var row = await stack.WaitForLedgerRowAsync(key.Id, response.Headers.GetValues("x-tollgate-request-id").Single(), deadline.Token);
        row.GetProperty("endpoint").GetString().ShouldBe("anthropic.messages");
        row.GetProperty("streamed").GetBoolean().ShouldBeTrue();
        row.GetProperty("error_type").ValueKind.ShouldBe(JsonValueKind.String, $"{what}: the ledger records the cut stream as failed: {row}");
    }

    /// <summary>Asserts the status and the Anthropic error shape; returns the error's type and message.</summary>
    private static (string Type, string Message) ShouldBeAnthropicError(RawAnswer answer, HttpStatusCode status)
    {
        answer.Status.ShouldBe(status, $"expected {(int)status}; the body was: {answer.Body}");
        var json = answer.Json;
        json.ValueKind.ShouldBe(JsonValueKind.Object, answer.Body);
        json.GetProperty("type").GetString().ShouldBe("error", $"the body must have \"type\":\"error\": {answer.Body}");
        json.TryGetProperty("error", out var error).ShouldBeTrue($"no `error` object: {answer.Body}");
        var type = error.GetProperty("type").GetString();
        var message = error.GetProperty("message").GetString();
        type.ShouldNotBeNullOrWhiteSpace(answer.Body);
        message.ShouldNotBeNullOrWhiteSpace(answer.Body);
        return (type, message);
    }
}
