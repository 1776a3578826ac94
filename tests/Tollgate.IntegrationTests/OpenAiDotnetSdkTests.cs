using System.ClientModel;
using System.Text.Json;
using OpenAI.Chat;
using OpenAI.Responses;
using Tollgate.IntegrationTests.Harness;

#pragma warning disable OPENAI001 // The Responses client is marked experimental in the SDK.

namespace Tollgate.IntegrationTests;

/// <summary>The official OpenAI .NET SDK, changing only its endpoint and key, talks to aimock through the gateway.</summary>
public sealed class OpenAiDotnetSdkTests(GatewayStack stack)
{
    private const string HelloText = "Hello from the emulator: the gateway relayed this chat completion intact.";

    [Fact]
    public async Task Chat_completion_returns_the_upstream_answer_with_tollgate_headers()
    {
        using var deadline = Deadline.After(30);
        var key = await stack.MintKeyAsync("dotnet-chat", deadline.Token);
        var chat = stack.SdkClient(key.Secret).GetChatClient("gpt-4o-mini");

        var result = await chat.CompleteChatAsync([new UserChatMessage("TG_CHAT_HELLO, are you there?")], cancellationToken: deadline.Token);

        result.Value.Content.ShouldHaveSingleItem().Text.ShouldBe(HelloText);
        result.Value.FinishReason.ShouldBe(ChatFinishReason.Stop);
        result.Value.Usage.ShouldNotBeNull();
        var headers = result.GetRawResponse().Headers;
        Header(headers, "x-tollgate-model-group").ShouldBe("gpt-4o-mini");
        Header(headers, "x-tollgate-deployment").ShouldBe("mock/gpt-4o-mini");
        Header(headers, "x-tollgate-attempts").ShouldBe("1");
        Header(headers, "x-tollgate-request-id").ShouldNotBeNullOrWhiteSpace();
    }

    [Fact]
    public async Task Chat_stream_through_the_gateway_carries_the_same_text_as_the_upstream_directly()
    {
        using var deadline = Deadline.After(30);
        var key = await stack.MintKeyAsync("dotnet-chat-stream", deadline.Token);
        ChatMessage[] prompt = [new UserChatMessage("TG_STREAM_STORY: tell me the story")];

        var direct = await CollectStreamAsync(stack.DirectUpstreamSdkClient().GetChatClient("gpt-4o-mini"), prompt, deadline.Token);
        var gateway = stack.SdkClient(key.Secret, out var seen).GetChatClient("gpt-4o-mini");
        var relayed = await CollectStreamAsync(gateway, prompt, deadline.Token);

        direct.Text.ShouldStartWith("Once upon a time");
        relayed.Text.ShouldBe(direct.Text);
        relayed.Updates.ShouldBeGreaterThan(2, "the answer should arrive as several chunks, not one");
        relayed.FinishReason.ShouldBe(ChatFinishReason.Stop);
        var response = seen.ShouldHaveSingleItem();
        response.Headers.ShouldContain("x-tollgate-deployment: mock/gpt-4o-mini");
        response.Headers.ShouldContain("x-tollgate-model-group: gpt-4o-mini");
        response.Headers.ShouldContain("x-tollgate-request-id: ");
    }

    [Fact]
    public async Task A_provider_on_http_client_system_relays_the_same_answers_as_the_default_client()
    {
        // aimock is plain http, so every other test goes through Tollgate's own HTTP/1.1 client; this provider sets
        // http_client: system, the SocketsHttpHandler path that HTTPS upstreams take.
        using var deadline = Deadline.After(30);
        var key = await stack.MintKeyAsync("dotnet-system-client", deadline.Token);
        ChatMessage[] hello = [new UserChatMessage("TG_CHAT_HELLO, are you there?")];
        ChatMessage[] story = [new UserChatMessage("TG_STREAM_STORY: tell me the story")];

        var result = await stack.SdkClient(key.Secret).GetChatClient("gpt-4o-mini-system").CompleteChatAsync(hello, cancellationToken: deadline.Token);
        result.Value.Content.ShouldHaveSingleItem().Text.ShouldBe(HelloText);
        Header(result.GetRawResponse().Headers, "x-tollgate-deployment").ShouldBe("mock-system/gpt-4o-mini");
        var viaDefault = await CollectStreamAsync(stack.SdkClient(key.Secret).GetChatClient("gpt-4o-mini"), story, deadline.Token);
        var viaSystem = await CollectStreamAsync(stack.SdkClient(key.Secret).GetChatClient("gpt-4o-mini-system"), story, deadline.Token);
        viaSystem.Text.ShouldStartWith("Once upon a time");
        viaSystem.Text.ShouldBe(viaDefault.Text);
        viaSystem.FinishReason.ShouldBe(ChatFinishReason.Stop);

        static bool BySystem(JsonElement row) => row.GetProperty("deployment").GetString() == "mock-system/gpt-4o-mini";
        var rows = await stack.WaitForLedgerRowsAsync(key.Id, rows => rows.Count == 3, deadline.Token);
        rows.Count(BySystem).ShouldBe(2);
        rows.Where(BySystem).ShouldAllBe(r => r.GetProperty("output_tokens").GetInt64() > 0, "usage was read through the system client too");
    }

    [Fact]
    public async Task Responses_call_returns_the_upstream_output_text_and_usage()
    {
        using var deadline = Deadline.After(30);
        var key = await stack.MintKeyAsync("dotnet-responses", deadline.Token);
        var responses = stack.SdkClient(key.Secret).GetResponsesClient();

        var result = await responses.CreateResponseAsync("gpt-4o-mini", "TG_RESPONSES_HELLO from .NET", previousResponseId: null, deadline.Token);

        result.Value.GetOutputText().ShouldBe("The Responses API answered through Tollgate, streamed or whole.");
        result.Value.Status.ShouldBe(ResponseStatus.Completed);
        result.Value.Usage.InputTokenCount.ShouldBe(42);
        result.Value.Usage.OutputTokenCount.ShouldBe(11);
        var headers = result.GetRawResponse().Headers;
        Header(headers, "x-tollgate-model-group").ShouldBe("gpt-4o-mini");
        Header(headers, "x-tollgate-deployment").ShouldBe("mock/gpt-4o-mini");
        Header(headers, "x-tollgate-request-id").ShouldNotBeNullOrWhiteSpace();
    }

    [Fact]
    public async Task Responses_stream_through_the_gateway_carries_the_same_text_as_the_upstream_directly()
    {
        using var deadline = Deadline.After(30);
        var key = await stack.MintKeyAsync("dotnet-responses-stream", deadline.Token);

        var direct = await CollectResponseStreamAsync(stack.DirectUpstreamSdkClient().GetResponsesClient(), deadline.Token);
        var relayed = await CollectResponseStreamAsync(stack.SdkClient(key.Secret, out var seen).GetResponsesClient(), deadline.Token);

        direct.Text.ShouldBe("The Responses API answered through Tollgate, streamed or whole.");
        relayed.Text.ShouldBe(direct.Text);
        relayed.Deltas.ShouldBeGreaterThan(2, "the answer should arrive as several deltas, not one");
        relayed.Completed.ShouldNotBeNull("the stream must end with response.completed");
        relayed.Completed.Usage.InputTokenCount.ShouldBe(42);
        relayed.Completed.Usage.OutputTokenCount.ShouldBe(11);
        seen.ShouldHaveSingleItem().Headers.ShouldContain("x-tollgate-deployment: mock/gpt-4o-mini");
    }

    [Fact]
    public async Task Embeddings_return_the_upstream_vector()
    {
        using var deadline = Deadline.After(30);
        var key = await stack.MintKeyAsync("dotnet-embeddings", deadline.Token);
        var embeddings = stack.SdkClient(key.Secret).GetEmbeddingClient("text-embedding-3-small");

        var result = await embeddings.GenerateEmbeddingAsync("TG_EMBED_ME", cancellationToken: deadline.Token);

        result.Value.ToFloats().ToArray().ShouldBe([0.125f, -0.25f, 0.5f, 1.0f]);
        var headers = result.GetRawResponse().Headers;
        Header(headers, "x-tollgate-model-group").ShouldBe("text-embedding-3-small");
        Header(headers, "x-tollgate-deployment").ShouldBe("mock/text-embedding-3-small");
    }

    [Fact]
    public async Task Models_list_shows_only_the_aliases_the_key_may_use()
    {
        using var deadline = Deadline.After(30);
        var key = await stack.MintKeyAsync("dotnet-models", deadline.Token, "gpt-4o-mini", "text-embedding-3-small");
        var models = stack.SdkClient(key.Secret).GetOpenAIModelClient();

        var list = await models.GetModelsAsync(deadline.Token);

        list.Value.Select(m => m.Id).Order(StringComparer.Ordinal).ShouldBe(["gpt-4o-mini", "text-embedding-3-small"]);
        var one = await models.GetModelAsync("gpt-4o-mini", deadline.Token);
        one.Value.Id.ShouldBe("gpt-4o-mini");
        var hidden = await Should.ThrowAsync<ClientResultException>(() => models.GetModelAsync("gpt-4o", deadline.Token));
        hidden.Status.ShouldBe(404, "a configured alias the key may not use must look absent");
        var unknown = await Should.ThrowAsync<ClientResultException>(() => models.GetModelAsync("no-such-model", deadline.Token));
        unknown.Status.ShouldBe(404);
    }

    [Fact]
    public async Task Models_list_of_an_unrestricted_key_shows_every_configured_alias()
    {
        using var deadline = Deadline.After(30);
        var key = await stack.MintKeyAsync("dotnet-models-all", deadline.Token);

        var list = await stack.SdkClient(key.Secret).GetOpenAIModelClient().GetModelsAsync(deadline.Token);

        var ids = list.Value.Select(m => m.Id).ToList();
        ids.ShouldContain("gpt-4o-mini");
        ids.ShouldContain("gpt-4o");
        ids.ShouldContain("text-embedding-3-small");
        ids.ShouldBeUnique();
    }

    private static string? Header(System.ClientModel.Primitives.PipelineResponseHeaders headers, string name) =>
        headers.TryGetValue(name, out var value) ? value : null;

    private static async Task<(string Text, int Updates, ChatFinishReason? FinishReason)> CollectStreamAsync(
        ChatClient chat, ChatMessage[] prompt, CancellationToken cancellationToken)
    {
        var text = new System.Text.StringBuilder();
        var updates = 0;
        ChatFinishReason? finish = null;
        await foreach (var update in chat.CompleteChatStreamingAsync(prompt, cancellationToken: cancellationToken).WithCancellation(cancellationToken))
        {
            updates++;
            foreach (var part in update.ContentUpdate)
            {
                text.Append(part.Text);
            }

            finish ??= update.FinishReason;
        }

        return (text.ToString(), updates, finish);
    }

    private static async Task<(string Text, int Deltas, ResponseResult? Completed)> CollectResponseStreamAsync(
        ResponsesClient responses, CancellationToken cancellationToken)
    {
        var text = new System.Text.StringBuilder();
        var deltas = 0;
        ResponseResult? completed = null;
        var stream = await responses.CreateResponseStreamingAsync("gpt-4o-mini", "TG_RESPONSES_HELLO, stream it", previousResponseId: null, cancellationToken);
        await foreach (var update in stream.WithCancellation(cancellationToken))
        {
            switch (update)
            {
                case StreamingResponseOutputTextDeltaUpdate delta:
                    deltas++;
                    text.Append(delta.Delta);
                    break;
                case StreamingResponseCompletedUpdate done:
                    completed = done.Response;
                    break;
            }
        }

        return (text.ToString(), deltas, completed);
    }
}
