using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Tollgate.IntegrationTests.Harness;

namespace Tollgate.IntegrationTests;

/// <summary>
/// One test per error row of the OpenAI surface (SPEC §2): the status, the OpenAI error shape, and a message
/// that tells the caller what went wrong and what to fix. Each upstream failure has its own model group, so
/// cooldowns from one test cannot change what another sees.
/// </summary>
public sealed class OpenAiErrorTests(GatewayStack stack)
{
    [Fact]
    public async Task Malformed_json_is_400_in_the_openai_error_shape()
    {
        using var deadline = Deadline.After(30);
        var key = await stack.MintKeyAsync("err-400", deadline.Token);
        var request = GatewayStack.DataRequest(HttpMethod.Post, "/v1/chat/completions", key.Secret);
        request.Content = new StringContent("{\"model\": \"gpt-4o-mini\", \"messages\": [", Encoding.UTF8, "application/json");

        var answer = await stack.Http.AnswerAsync(request, deadline.Token);

        var message = answer.ShouldBeOpenAiError(HttpStatusCode.BadRequest);
        message.ShouldContain("JSON", Case.Insensitive);
    }

    [Fact]
    public async Task Unknown_model_is_404_and_the_message_suggests_the_close_match()
    {
        using var deadline = Deadline.After(30);
        var key = await stack.MintKeyAsync("err-404", deadline.Token);

        var answer = await stack.Http.CallAsync("/v1/chat/completions", key.Secret, RawCall.Chat("gpt-4o-mni", "TG_PLAIN"), deadline.Token);

        var message = answer.ShouldBeOpenAiError(HttpStatusCode.NotFound);
        message.ShouldContain("gpt-4o-mni");
        message.ShouldContain("gpt-4o-mini", Case.Sensitive, "the message should suggest the alias the caller probably meant");
    }

    [Fact]
    public async Task Missing_key_is_401()
    {
        using var deadline = Deadline.After(30);

        var answer = await stack.Http.CallAsync("/v1/chat/completions", key: null, RawCall.Chat("gpt-4o-mini", "TG_PLAIN"), deadline.Token);

        var message = answer.ShouldBeOpenAiError(HttpStatusCode.Unauthorized);
        message.ShouldContain("key", Case.Insensitive);
    }

    [Fact]
    public async Task Unknown_key_is_401_whether_sent_as_bearer_or_as_x_api_key()
    {
        using var deadline = Deadline.After(30);
        var bogus = "tg-" + GatewayStack.RandomToken() + GatewayStack.RandomToken();

        var asBearer = await stack.Http.CallAsync("/v1/chat/completions", bogus, RawCall.Chat("gpt-4o-mini", "TG_PLAIN"), deadline.Token);
        var request = GatewayStack.DataRequest(HttpMethod.Post, "/v1/chat/completions", key: null, RawCall.Chat("gpt-4o-mini", "TG_PLAIN"));
        request.Headers.Add("x-api-key", bogus);
        var asXApiKey = await stack.Http.AnswerAsync(request, deadline.Token);

        asBearer.ShouldBeOpenAiError(HttpStatusCode.Unauthorized).ShouldContain("key", Case.Insensitive);
        asXApiKey.ShouldBeOpenAiError(HttpStatusCode.Unauthorized).ShouldContain("key", Case.Insensitive);
        asBearer.Body.ShouldNotContain(bogus, Case.Sensitive, "a presented credential is never echoed back");
    }

    [Fact]
    public async Task Model_not_allowed_for_the_key_is_403_naming_the_model()
    {
        using var deadline = Deadline.After(30);
        var key = await stack.MintKeyAsync("err-403", deadline.Token, "gpt-4o-mini");

        var answer = await stack.Http.CallAsync("/v1/chat/completions", key.Secret, RawCall.Chat("gpt-4o", "TG_PLAIN"), deadline.Token);

        var message = answer.ShouldBeOpenAiError(HttpStatusCode.Forbidden);
        message.ShouldContain("gpt-4o");
        answer.Header("x-tollgate-request-id").ShouldNotBeNullOrWhiteSpace("every data-plane response carries the request id");
    }

    [Fact]
    public async Task Body_over_max_body_bytes_is_413()
    {
        using var deadline = Deadline.After(30);
        var key = await stack.MintKeyAsync("err-413", deadline.Token);
        var filler = new string('a', (int)GatewayStack.MaxBodyBytes + 4096);
        var request = GatewayStack.DataRequest(HttpMethod.Post, "/v1/chat/completions", key.Secret);
        request.Content = new ByteArrayContent(JsonSerializer.SerializeToUtf8Bytes(RawCall.Chat("gpt-4o-mini", filler)));
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");

        var answer = await stack.Http.AnswerAsync(request, deadline.Token);

        var message = answer.ShouldBeOpenAiError(HttpStatusCode.RequestEntityTooLarge);
        (message.Contains(GatewayStack.MaxBodyBytes.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal)
            || message.Contains("limit", StringComparison.OrdinalIgnoreCase)
            || message.Contains("too large", StringComparison.OrdinalIgnoreCase))
            .ShouldBeTrue($"the message should say the body is over the limit: {message}");
    }

    [Fact]
    public async Task Upstream_rejecting_its_credential_is_401_naming_the_model_group_and_deployment()
    {
        using var deadline = Deadline.After(30);
        var key = await stack.MintKeyAsync("err-upstream-401", deadline.Token);

        var answer = await stack.Http.CallAsync("/v1/chat/completions", key.Secret, RawCall.Chat("err-bad-credential", RawCall.FailurePrompt), deadline.Token);

        var message = answer.ShouldBeOpenAiError(HttpStatusCode.Unauthorized);
        message.ShouldContain("err-bad-credential", Case.Sensitive, "the message names the model group");
        message.ShouldContain("mock-wrongkey", Case.Sensitive, "the message names the deployment whose credential is broken");
        answer.Body.ShouldNotContain(stack.WrongUpstreamKey);
    }

    [Fact]
    public async Task Upstream_5xx_on_the_only_deployment_is_502_carrying_the_upstream_message()
    {
        using var deadline = Deadline.After(30);
        var key = await stack.MintKeyAsync("err-upstream-502", deadline.Token);

        var answer = await stack.Http.CallAsync("/v1/chat/completions", key.Secret, RawCall.Chat("err-upstream-500", RawCall.FailurePrompt), deadline.Token);

        var message = answer.ShouldBeOpenAiError(HttpStatusCode.BadGateway);
        message.ShouldContain("Upstream shard 7 is on fire", Case.Sensitive, "the upstream's own message is carried");
        message.ShouldContain("err-upstream-500", Case.Sensitive, "the message names the model group and the deployment tried");
        var requestId = answer.Header("x-tollgate-request-id").ShouldNotBeNull();
        answer.Header("x-tollgate-model-group").ShouldBe("err-upstream-500");

        var row = await stack.WaitForLedgerRowAsync(key.Id, requestId, deadline.Token);
        row.GetProperty("status").GetInt32().ShouldBe(502);
        row.GetProperty("error_type").GetString().ShouldNotBeNullOrWhiteSpace();
        var attempt = row.GetProperty("attempts").EnumerateArray().ShouldHaveSingleItem();
        attempt.GetProperty("deployment").GetString().ShouldBe("mock/err-upstream-500");
        attempt.GetProperty("status").GetInt32().ShouldBe(500);
    }

    [Fact]
    public async Task Upstream_that_goes_silent_is_502_after_the_activity_timeout_not_a_hang()
    {
        using var deadline = Deadline.After(30);
        var key = await stack.MintKeyAsync("err-upstream-silent", deadline.Token);
        var clock = System.Diagnostics.Stopwatch.StartNew();

        // aimock holds this answer back for 8 s; the provider's activity_timeout is 1 s.
        var answer = await stack.Http.CallAsync("/v1/chat/completions", key.Secret, RawCall.Chat("err-upstream-silent", RawCall.FailurePrompt), deadline.Token);

        clock.Elapsed.ShouldBeLessThan(TimeSpan.FromSeconds(6), "the gateway gives up after its activity timeout, not when the upstream finally answers");
        var message = answer.ShouldBeOpenAiError(HttpStatusCode.BadGateway);
        message.ShouldContain("no response within 1s");
        message.ShouldContain("mock-impatient/err-upstream-silent", Case.Sensitive, "the message names the deployment tried");
        var row = await stack.WaitForLedgerRowAsync(key.Id, answer.Header("x-tollgate-request-id").ShouldNotBeNull(), deadline.Token);
        row.GetProperty("status").GetInt32().ShouldBe(502);
    }

    [Fact]
    public async Task Upstream_429_at_the_last_deployment_is_429_with_retry_after()
    {
        using var deadline = Deadline.After(30);
        var key = await stack.MintKeyAsync("err-upstream-429", deadline.Token);

        var answer = await stack.Http.CallAsync("/v1/chat/completions", key.Secret, RawCall.Chat("err-upstream-429", RawCall.FailurePrompt), deadline.Token);

        var message = answer.ShouldBeOpenAiError(HttpStatusCode.TooManyRequests);
        message.ShouldContain("err-upstream-429");
        var retryAfter = answer.Header("retry-after").ShouldNotBeNull("a 429 carries retry-after when the upstream gave a reset time");
        int.TryParse(retryAfter, out var seconds).ShouldBeTrue($"retry-after should be delta-seconds, got '{retryAfter}'");
        seconds.ShouldBeInRange(6, 8, "the upstream said Retry-After: 7");
    }

    [Fact]
    public async Task Revoked_key_is_refused_at_once()
    {
        using var deadline = Deadline.After(30);
        var key = await stack.MintKeyAsync("err-revoked", deadline.Token);
        (await stack.Http.CallAsync("/v1/chat/completions", key.Secret, RawCall.Chat("gpt-4o-mini", "TG_PLAIN"), deadline.Token))
            .Status.ShouldBe(HttpStatusCode.OK);

        var revoke = await stack.Http.AnswerAsync(stack.AdminRequest(HttpMethod.Delete, $"/admin/keys/{key.Id}"), deadline.Token);
        revoke.Status.ShouldBe(HttpStatusCode.OK, revoke.Body);
        var answer = await stack.Http.CallAsync("/v1/chat/completions", key.Secret, RawCall.Chat("gpt-4o-mini", "TG_PLAIN"), deadline.Token);

        var message = answer.ShouldBeOpenAiError(HttpStatusCode.Unauthorized);
        message.ShouldContain("revoked", Case.Insensitive);
    }

    [Fact]
    public async Task Upstream_failing_mid_stream_ends_the_chat_stream_with_an_error_event_and_no_done()
    {
        using var deadline = Deadline.After(30);
        var key = await stack.MintKeyAsync("err-mid-stream", deadline.Token);
        using var request = GatewayStack.DataRequest(HttpMethod.Post, "/v1/chat/completions", key.Secret, RawCall.Chat("err-mid-stream", RawCall.FailurePrompt, stream: true));

        using var response = await stack.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, deadline.Token);
        response.StatusCode.ShouldBe(HttpStatusCode.OK, "the first bytes were relayed before the upstream failed");
        var read = await Sse.ReadAllAsync(await response.Content.ReadAsStreamAsync(deadline.Token), deadline.Token);

        read.SawDone.ShouldBeFalse($"a truncated stream must never look complete:\n{read.Raw}");
        read.Events.Count.ShouldBeGreaterThan(1, read.Raw);
        read.Events[0].Data.ShouldContain("chat.completion.chunk", Case.Sensitive, "the upstream's first chunks were relayed");
        var last = read.Events[^1];
        using var error = JsonDocument.Parse(last.Data);
        error.RootElement.TryGetProperty("error", out var body).ShouldBeTrue($"the stream must end with data: {{\"error\":…}}, it ended with: {last.Data}");
        body.GetProperty("message").GetString().ShouldNotBeNullOrWhiteSpace();

        var row = await stack.WaitForLedgerRowAsync(key.Id, response.Headers.GetValues("x-tollgate-request-id").Single(), deadline.Token);
        row.GetProperty("streamed").GetBoolean().ShouldBeTrue();
        row.GetProperty("error_type").ValueKind.ShouldBe(JsonValueKind.String, $"the ledger records the cut stream as failed: {row}");
    }

    [Fact]
    public async Task Upstream_failing_mid_stream_ends_the_responses_stream_with_an_error_event_and_no_completion()
    {
        using var deadline = Deadline.After(30);
        var key = await stack.MintKeyAsync("err-mid-stream-responses", deadline.Token);
        using var request = GatewayStack.DataRequest(HttpMethod.Post, "/v1/responses", key.Secret,
            new { model = "err-mid-stream-responses", input = RawCall.FailurePrompt, stream = true });

        using var response = await stack.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, deadline.Token);
        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        var read = await Sse.ReadAllAsync(await response.Content.ReadAsStreamAsync(deadline.Token), deadline.Token);

        read.Events.ShouldNotBeEmpty(read.Raw);
        read.Events.ShouldNotContain(e => e.Event == "response.completed" || e.Data.Contains("\"response.completed\"", StringComparison.Ordinal),
            $"a truncated stream must never look complete:\n{read.Raw}");
        read.SawDone.ShouldBeFalse(read.Raw);
        var last = read.Events[^1];
        (last.Event == "error" || last.Data.Contains("\"error\"", StringComparison.Ordinal))
            .ShouldBeTrue($"the stream must end with an error event, it ended with: event={last.Event} data={last.Data}");
    }
}
