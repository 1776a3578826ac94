using System.Text;
using System.Text.Json;
using Anthropic.Models.Messages;
using Tollgate.IntegrationTests.Harness;

namespace Tollgate.IntegrationTests;

/// <summary>
/// The official Anthropic .NET SDK (NuGet <c>Anthropic</c>), changing only its base URL and key, on the Anthropic
/// surface against model groups served by an OpenAI-compatible upstream (aimock's chat completions) and by a Gemini
/// upstream (aimock's generateContent): the gateway translates Messages out and the answer back, streams included.
/// </summary>
public sealed class AnthropicDotnetSdkTests(GatewayStack stack)
{
    private static Tool WeatherTool => new()
    {
        Name = "get_weather",
        Description = "The weather in a city",
        InputSchema = new InputSchema
        {
            Properties = new Dictionary<string, JsonElement> { ["city"] = JsonSerializer.SerializeToElement(new { type = "string" }) },
            Required = ["city"],
        },
    };

    public static TheoryData<string, string> TranslatedGroups => new()
    {
        { "gpt-4o-mini", "mock/gpt-4o-mini" },
        { "anth-gemini", "anth-aimock-gemini/gemini-2.5-flash" },
    };

    [Theory]
    [MemberData(nameof(TranslatedGroups))]
    public async Task Dotnet_anthropic_sdk_message_to_a_translated_upstream_returns_the_text_and_end_turn(string group, string deployment)
    {
        using var deadline = Deadline.After(30);
        var key = await stack.MintKeyAsync("anth-sdk-json", deadline.Token, group);
        using var client = stack.AnthropicSdkClient(key.Secret);

        using var raw = await client.Messages.WithRawResponse.Create(
            new MessageCreateParams
            {
                Model = group,
                MaxTokens = 256,
                System = "You are terse.",
                Messages = [new UserMessageParam("TG_ANTH_SDK_HELLO from the .NET Anthropic SDK")],
            },
            deadline.Token);
        var message = await raw.Deserialize(deadline.Token);

        message.Content.ShouldHaveSingleItem().TryPickText(out var text).ShouldBeTrue(message.ToString());
        text!.Text.ShouldBe("The Anthropic SDK was answered by a translated upstream: anth-sdk-ok");
        message.StopReason!.Raw().ShouldBe("end_turn");
        raw.TryGetHeaderValues("x-tollgate-deployment", out var served).ShouldBeTrue();
        served!.Single().ShouldBe(deployment);
        var requestId = raw.GetHeaderValues("x-tollgate-request-id").Single();

        var row = await stack.WaitForLedgerRowAsync(key.Id, requestId, deadline.Token);
        row.GetProperty("endpoint").GetString().ShouldBe("anthropic.messages");
        row.GetProperty("deployment").GetString().ShouldBe(deployment);
    }

    [Theory]
    [MemberData(nameof(TranslatedGroups))]
    public async Task Dotnet_anthropic_sdk_stream_from_a_translated_upstream_has_the_anthropic_event_sequence(string group, string deployment)
    {
        _ = deployment;
        using var deadline = Deadline.After(30);
        var key = await stack.MintKeyAsync("anth-sdk-stream", deadline.Token, group);
        using var client = stack.AnthropicSdkClient(key.Secret);

        var types = new List<string>();
        var text = new StringBuilder();
        string? stopReason = null;
        await foreach (var streamEvent in client.Messages.CreateStreaming(
            new MessageCreateParams { Model = group, MaxTokens = 256, Messages = [new UserMessageParam("TG_ANTH_SDK_STREAM please")] },
            deadline.Token))
        {
            types.Add(streamEvent.Type.Raw());
            if (streamEvent.TryPickContentBlockDelta(out var delta) && delta!.Delta.TryPickText(out var textDelta))
            {
                text.Append(textDelta!.Text);
            }

            if (streamEvent.TryPickDelta(out var messageDelta))
            {
                stopReason = messageDelta!.Delta.StopReason?.Raw();
            }
        }

        text.ToString().ShouldBe("Streamed to an Anthropic SDK from an upstream of another kind, event by event: anth-sdk-stream-ok");
        types.First().ShouldBe("message_start");
        types.Last().ShouldBe("message_stop");
        types.Count(t => t == "content_block_delta").ShouldBeGreaterThan(2, "the text should arrive in several deltas");
        types.ShouldContain("content_block_start");
        types.ShouldContain("content_block_stop");
        types.ShouldContain("message_delta");
        stopReason.ShouldBe("end_turn");
    }

    [Theory]
    [MemberData(nameof(TranslatedGroups))]
    public async Task Dotnet_anthropic_sdk_streamed_tool_use_from_a_translated_upstream_assembles_the_input_json(string group, string deployment)
    {
        _ = deployment;
        using var deadline = Deadline.After(30);
        var key = await stack.MintKeyAsync("anth-sdk-tool-stream", deadline.Token, group);
        using var client = stack.AnthropicSdkClient(key.Secret);

        string? toolName = null;
        string? toolId = null;
        var inputJson = new StringBuilder();
        string? stopReason = null;
        await foreach (var streamEvent in client.Messages.CreateStreaming(
            new MessageCreateParams
            {
                Model = group,
                MaxTokens = 256,
                Tools = [WeatherTool],
                Messages = [new UserMessageParam("TG_ANTH_TOOL: what is the weather in Hobart?")],
            },
            deadline.Token))
        {
            if (streamEvent.TryPickContentBlockStart(out var start) && start!.ContentBlock.TryPickToolUse(out var use))
            {
                toolName = use!.Name;
                toolId = use.ID;
            }

            if (streamEvent.TryPickContentBlockDelta(out var delta) && delta!.Delta.TryPickInputJson(out var json))
            {
                inputJson.Append(json!.PartialJson);
            }

            if (streamEvent.TryPickDelta(out var messageDelta))
            {
                stopReason = messageDelta!.Delta.StopReason?.Raw();
            }
        }

        toolName.ShouldBe("get_weather");
        toolId.ShouldNotBeNullOrWhiteSpace();
        JsonDocument.Parse(inputJson.ToString()).RootElement.GetProperty("city").GetString().ShouldBe("Hobart", inputJson.ToString());
        stopReason.ShouldBe("tool_use");
    }

    [Fact]
    public async Task Dotnet_anthropic_sdk_tool_use_and_tool_result_round_trip_through_an_openai_upstream()
    {
        using var deadline = Deadline.After(30);
        var key = await stack.MintKeyAsync("anth-sdk-tools", deadline.Token, "gpt-4o-mini");
        using var client = stack.AnthropicSdkClient(key.Secret);
        var tool = WeatherTool;
        List<MessageParam> messages = [new UserMessageParam("TG_ANTH_TOOL: what is the weather in Hobart?")];

        var first = await client.Messages.Create(
            new MessageCreateParams { Model = "gpt-4o-mini", MaxTokens = 256, Tools = [tool], Messages = messages }, deadline.Token);

        first.StopReason!.Raw().ShouldBe("tool_use");
        var use = first.Content.Select(b => b.TryPickToolUse(out var u) ? u : null).OfType<ToolUseBlock>().ShouldHaveSingleItem();
        use.Name.ShouldBe("get_weather");
        use.ID.ShouldNotBeNullOrWhiteSpace();
        use.Input["city"].GetString().ShouldBe("Hobart");

        // The assistant turn goes back as the SDK received it; the tool result refers to its id.
        messages.Add(new MessageParam(JsonSerializer.SerializeToElement(new { role = "assistant", content = first.Content.Select(b => b.Json) })));
        messages.Add(new MessageParam(JsonSerializer.SerializeToElement(new
        {
            role = "user",
            content = new object[] { new { type = "tool_result", tool_use_id = use.ID, content = """{"forecast":"sunny-17C"}""" } },
        })));
        var second = await client.Messages.Create(
            new MessageCreateParams { Model = "gpt-4o-mini", MaxTokens = 256, Tools = [tool], Messages = messages }, deadline.Token);

        second.StopReason!.Raw().ShouldBe("end_turn");
        second.Content.ShouldHaveSingleItem().TryPickText(out var text).ShouldBeTrue(second.ToString());
        text!.Text.ShouldBe("Hobart is sunny-17C today: anth-tool-ok");
    }
}
