using System.Text;
using System.Text.Json;
using OpenAI.Chat;
using Tollgate.IntegrationTests.Harness;

namespace Tollgate.IntegrationTests;

/// <summary>
/// The official OpenAI .NET SDK (chat completions) against model groups served by Anthropic-kind upstreams:
/// the gateway translates chat completions into Messages and the answer back. The text, stream and tool tests use
/// aimock's Claude surface; the image and cache-usage tests use <see cref="FakeAnthropicUpstream"/> because aimock
/// drops image blocks from what it records and reports no usage.
/// </summary>
public sealed class OpenAiClientToClaudeTests(GatewayStack stack)
{
    // A 1x1 transparent PNG.
    private const string PngBase64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";

    [Fact]
    public async Task Dotnet_openai_chat_to_anthropic_upstream_returns_the_text_stop_and_tollgate_headers()
    {
        using var deadline = Deadline.After(30);
        var key = await stack.MintKeyAsync("oai2claude-json", deadline.Token, "anth-claude");
        var chat = stack.SdkClient(key.Secret).GetChatClient("anth-claude");

        var result = await chat.CompleteChatAsync(
            [new SystemChatMessage("You are terse."), new UserChatMessage("TG_ANTH_HELLO from the .NET OpenAI SDK")],
            new ChatCompletionOptions { MaxOutputTokenCount = 200 },
            deadline.Token);

        result.Value.Content.ShouldHaveSingleItem().Text.ShouldBe("Claude answered the OpenAI client through Tollgate: anth-hello-ok");
        result.Value.FinishReason.ShouldBe(ChatFinishReason.Stop);
        var headers = result.GetRawResponse().Headers;
        headers.TryGetValue("x-tollgate-deployment", out var deployment).ShouldBeTrue();
        deployment.ShouldBe("anth-aimock/claude-sonnet-4-5");
        headers.TryGetValue("x-tollgate-request-id", out var requestId).ShouldBeTrue();

        var row = await stack.WaitForLedgerRowAsync(key.Id, requestId!, deadline.Token);
        row.GetProperty("endpoint").GetString().ShouldBe("openai.chat");
        row.GetProperty("provider").GetString().ShouldBe("anth-aimock");
        row.GetProperty("status").GetInt32().ShouldBe(200);
    }

    [Fact]
    public async Task Dotnet_openai_chat_stream_to_anthropic_upstream_arrives_in_chunks_with_the_whole_text()
    {
        using var deadline = Deadline.After(30);
        var key = await stack.MintKeyAsync("oai2claude-stream", deadline.Token, "anth-claude");
        var chat = stack.SdkClient(key.Secret).GetChatClient("anth-claude");

        var text = new StringBuilder();
        var updates = 0;
        ChatFinishReason? finish = null;
        await foreach (var update in chat.CompleteChatStreamingAsync([new UserChatMessage("TG_ANTH_STREAM please")], cancellationToken: deadline.Token))
        {
            updates++;
            foreach (var part in update.ContentUpdate)
            {
                text.Append(part.Text);
            }

            finish ??= update.FinishReason;
        }

        text.ToString().ShouldBe("A streamed Claude answer crossed the translator chunk by chunk and arrived whole: anth-stream-ok");
        updates.ShouldBeGreaterThan(3, "the answer should arrive as several chunks");
        finish.ShouldBe(ChatFinishReason.Stop);
    }

    [Fact]
    public async Task Dotnet_openai_tool_call_and_tool_result_round_trip_through_an_anthropic_upstream()
    {
        using var deadline = Deadline.After(30);
        var key = await stack.MintKeyAsync("oai2claude-tools", deadline.Token, "anth-claude");
        var chat = stack.SdkClient(key.Secret).GetChatClient("anth-claude");
        var weather = ChatTool.CreateFunctionTool(
            "get_weather",
            "The weather in a city",
            BinaryData.FromString("""{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}"""));
        var options = new ChatCompletionOptions { Tools = { weather } };
        List<ChatMessage> messages = [new UserChatMessage("TG_ANTH_TOOL: what is the weather in Hobart?")];

        var first = await chat.CompleteChatAsync(messages, options, deadline.Token);

        first.Value.FinishReason.ShouldBe(ChatFinishReason.ToolCalls);
        var call = first.Value.ToolCalls.ShouldHaveSingleItem();
        call.FunctionName.ShouldBe("get_weather");
        call.Id.ShouldNotBeNullOrWhiteSpace();
        JsonDocument.Parse(call.FunctionArguments.ToString()).RootElement.GetProperty("city").GetString().ShouldBe("Hobart");

        messages.Add(new AssistantChatMessage(first.Value));
        messages.Add(new ToolChatMessage(call.Id, """{"forecast":"sunny-17C"}"""));
        var second = await chat.CompleteChatAsync(messages, options, deadline.Token);

        second.Value.FinishReason.ShouldBe(ChatFinishReason.Stop);
        second.Value.Content.ShouldHaveSingleItem().Text.ShouldBe("Hobart is sunny-17C today: anth-tool-ok");
    }

    [Fact]
    public async Task Dotnet_openai_streamed_tool_call_from_an_anthropic_upstream_assembles_name_id_and_arguments()
    {
        using var deadline = Deadline.After(30);
        var key = await stack.MintKeyAsync("oai2claude-tool-stream", deadline.Token, "anth-claude");
        var chat = stack.SdkClient(key.Secret).GetChatClient("anth-claude");
        var weather = ChatTool.CreateFunctionTool(
            "get_weather",
            "The weather in a city",
            BinaryData.FromString("""{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}"""));

        string? id = null;
        string? name = null;
        var arguments = new StringBuilder();
        ChatFinishReason? finish = null;
        await foreach (var update in chat.CompleteChatStreamingAsync(
            [new UserChatMessage("TG_ANTH_TOOL: what is the weather in Hobart?")],
            new ChatCompletionOptions { Tools = { weather } },
            deadline.Token))
        {
            foreach (var part in update.ToolCallUpdates)
            {
                part.Index.ShouldBe(0);
                id ??= part.ToolCallId;
                name ??= part.FunctionName;
                arguments.Append(part.FunctionArgumentsUpdate?.ToString());
            }

            finish ??= update.FinishReason;
        }

        finish.ShouldBe(ChatFinishReason.ToolCalls);
        name.ShouldBe("get_weather");
        id.ShouldNotBeNullOrWhiteSpace();
        JsonDocument.Parse(arguments.ToString()).RootElement.GetProperty("city").GetString().ShouldBe("Hobart", arguments.ToString());
    }

    [Fact]
    public async Task Dotnet_openai_image_data_url_reaches_an_anthropic_upstream_as_a_base64_image_block()
    {
        using var deadline = Deadline.After(30);
        var key = await stack.MintKeyAsync("oai2claude-image", deadline.Token, "anth-fake");
        var chat = stack.SdkClient(key.Secret).GetChatClient("anth-fake");
        var marker = "TG_IMAGE_" + GatewayStack.RandomToken();

        var result = await chat.CompleteChatAsync(
            [new UserChatMessage(
                ChatMessageContentPart.CreateTextPart(marker + " what is in this picture?"),
                ChatMessageContentPart.CreateImagePart(BinaryData.FromBytes(Convert.FromBase64String(PngBase64)), "image/png"))],
            cancellationToken: deadline.Token);

        result.Value.Content.ShouldHaveSingleItem().Text.ShouldBe(FakeAnthropicUpstream.AnswerText);
        var received = await stack.FakeAnthropic.WaitForBodyContainingAsync(marker, deadline.Token);
        received.PathAndQuery.ShouldStartWith("/apikey/v1/messages");
        var body = received.Json;
        body.GetProperty("max_tokens").GetInt32().ShouldBeGreaterThan(0, "Anthropic requires max_tokens; the translator must choose one");
        var content = body.GetProperty("messages")[0].GetProperty("content").EnumerateArray().ToList();
        var image = content.SingleOrDefault(b => b.GetProperty("type").GetString() == "image");
        image.ValueKind.ShouldBe(JsonValueKind.Object, $"no image block upstream: {received.BodyText}");
        var source = image.GetProperty("source");
        source.GetProperty("type").GetString().ShouldBe("base64");
        source.GetProperty("media_type").GetString().ShouldBe("image/png");
        source.GetProperty("data").GetString().ShouldBe(PngBase64);
        content.ShouldContain(b => b.GetProperty("type").GetString() == "text" && b.GetProperty("text").GetString()!.StartsWith(marker));
    }

    [Fact]
    public async Task Dotnet_openai_chat_to_anthropic_upstream_reports_cache_reads_as_cached_prompt_tokens()
    {
        using var deadline = Deadline.After(30);
        var key = await stack.MintKeyAsync("oai2claude-usage", deadline.Token, "anth-fake");
        var chat = stack.SdkClient(key.Secret).GetChatClient("anth-fake");
        var marker = "TG_USAGE_" + GatewayStack.RandomToken();

        var result = await chat.CompleteChatAsync([new UserChatMessage(marker)], cancellationToken: deadline.Token);

        // OpenAI counts cached tokens inside prompt_tokens; Anthropic reports them apart.
        var usage = result.Value.Usage;
        usage.InputTokenCount.ShouldBe(FakeAnthropicUpstream.InputTokens + FakeAnthropicUpstream.CacheReadTokens + FakeAnthropicUpstream.CacheWriteTokens);
        usage.OutputTokenCount.ShouldBe(FakeAnthropicUpstream.OutputTokens);
        usage.InputTokenDetails.CachedTokenCount.ShouldBe(FakeAnthropicUpstream.CacheReadTokens);
    }
}
