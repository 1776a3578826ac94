using System.Net;
using System.Text.Json;
using Tollgate.IntegrationTests.Harness;

namespace Tollgate.IntegrationTests.Routing;

/// <summary>
/// Once the first byte has gone to the client there is no fallback: a cut stream ends with the surface's error
/// event (SPEC §2 "Streaming"). The OpenAI chat and Responses cases are in <see cref="OpenAiErrorTests"/>; this is
/// the Anthropic surface, served by an OpenAI-kind upstream through the translator (aimock's truncateAfterChunks).
/// </summary>
public sealed class StreamCutTests(RoutingStack routing)
{
    [Fact]
    public async Task Stream_cut_mid_way_on_the_anthropic_surface_ends_with_an_error_event_and_no_message_stop()
    {
        using var deadline = Deadline.After(30);
        var key = await routing.MintAsync("rt-cut-anthropic", deadline.Token);
        using var request = GatewayStack.DataRequest(HttpMethod.Post, "/v1/messages", key: null, new
        {
            model = "rt-cut-anthropic",
            max_tokens = 200,
            stream = true,
            messages = new[] { new { role = "user", content = RoutingStack.Prompt } },
        });
        request.Headers.Add("x-api-key", key.Secret);
        request.Headers.Add("anthropic-version", "2023-06-01");

        using var response = await routing.Stack.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, deadline.Token);
        response.StatusCode.ShouldBe(HttpStatusCode.OK, "the first bytes were relayed before the upstream failed");
        var read = await Sse.ReadAllAsync(await response.Content.ReadAsStreamAsync(deadline.Token), deadline.Token);

        read.Events.ShouldContain(e => e.Event == "message_start", read.Raw);
        read.Events.ShouldContain(e => e.Event == "content_block_delta", $"some of the answer was relayed before the cut:\n{read.Raw}");
        read.Events.ShouldNotContain(e => e.Event == "message_stop", $"a truncated stream must never look complete:\n{read.Raw}");
        var last = read.Events[^1];
        last.Event.ShouldBe("error", $"the stream must end with an error event:\n{read.Raw}");
        using var error = JsonDocument.Parse(last.Data);
        error.RootElement.GetProperty("type").GetString().ShouldBe("error");
        error.RootElement.GetProperty("error").GetProperty("message").GetString().ShouldNotBeNullOrWhiteSpace();

        var row = await routing.Stack.WaitForLedgerRowAsync(key.Id, response.Headers.GetValues("x-tollgate-request-id").Single(), deadline.Token);
        row.GetProperty("streamed").GetBoolean().ShouldBeTrue();
        row.GetProperty("error_type").ValueKind.ShouldBe(JsonValueKind.String, $"the ledger records the cut stream as failed: {row}");
        row.GetProperty("attempts").GetArrayLength().ShouldBe(1, "no fallback after the first byte");
    }
}
