using System.Text.Json;
using Tollgate.IntegrationTests.Harness;

namespace Tollgate.IntegrationTests;

/// <summary>
/// The npm SDKs across formats: <c>openai</c> (node/openai-sdk-translated-calls.mjs) against Anthropic- and
/// Gemini-served groups, and <c>@anthropic-ai/sdk</c> (node/anthropic-sdk-calls.mjs) against OpenAI- and
/// Gemini-served groups. Each script runs every step once and prints what it saw.
/// </summary>
public sealed class NpmSdkTranslationTests(GatewayStack stack)
{
    [Fact]
    public async Task Npm_openai_sdk_reaches_anthropic_and_gemini_upstreams_with_text_stream_tools_and_an_image()
    {
        using var deadline = Deadline.After(90);
        TestPaths.ToolPackage("openai");
        var key = await stack.MintKeyAsync("npm-oai-translated", deadline.Token, "anth-claude", "anth-gemini", "anth-fake");
        var marker = "TG_NPM_IMAGE_" + GatewayStack.RandomToken();

        var result = await NodeScript.RunAsync("openai-sdk-translated-calls.mjs", new Dictionary<string, string?>
        {
            ["OPENAI_BASE_URL"] = stack.Gateway.OpenAiBaseUrl.ToString(),
            ["OPENAI_API_KEY"] = key.Secret,
            ["OPENAI_ORG_ID"] = null,
            ["OPENAI_PROJECT_ID"] = null,
            ["TG_GROUPS"] = "anth-claude,anth-gemini",
            ["TG_IMAGE_GROUP"] = "anth-fake",
            ["TG_IMAGE_MARKER"] = marker,
        }, deadline.Token);

        foreach (var (group, deployment) in new[] { ("anth-claude", "anth-aimock/claude-sonnet-4-5"), ("anth-gemini", "anth-aimock-gemini/gemini-2.5-flash") })
        {
            var chat = result.Step($"chat:{group}");
            chat.GetProperty("text").GetString().ShouldBe("Claude answered the OpenAI client through Tollgate: anth-hello-ok", group);
            chat.GetProperty("finish_reason").GetString().ShouldBe("stop", group);
            chat.GetProperty("deployment").GetString().ShouldBe(deployment);

            var stream = result.Step($"chat_stream:{group}");
            stream.GetProperty("text").GetString().ShouldBe("A streamed Claude answer crossed the translator chunk by chunk and arrived whole: anth-stream-ok", group);
            stream.GetProperty("chunks").GetInt32().ShouldBeGreaterThan(3, group);
            stream.GetProperty("finish_reason").GetString().ShouldBe("stop", group);

            var tools = result.Step($"tools:{group}");
            tools.GetProperty("first_finish_reason").GetString().ShouldBe("tool_calls", group);
            tools.GetProperty("tool_calls").GetInt32().ShouldBe(1, group);
            tools.GetProperty("tool_name").GetString().ShouldBe("get_weather", group);
            JsonDocument.Parse(tools.GetProperty("tool_arguments").GetString()!).RootElement.GetProperty("city").GetString().ShouldBe("Hobart", group);
            tools.GetProperty("tool_call_id").GetString().ShouldNotBeNullOrWhiteSpace(group);
            tools.GetProperty("text").GetString().ShouldBe("Hobart is sunny-17C today: anth-tool-ok", group);
            tools.GetProperty("finish_reason").GetString().ShouldBe("stop", group);
        }

        var image = result.Step("image");
        image.GetProperty("text").GetString().ShouldBe(FakeAnthropicUpstream.AnswerText);
        var received = await stack.FakeAnthropic.WaitForBodyContainingAsync(marker, deadline.Token);
        var block = received.Json.GetProperty("messages")[0].GetProperty("content").EnumerateArray()
            .SingleOrDefault(b => b.GetProperty("type").GetString() == "image");
        block.ValueKind.ShouldBe(JsonValueKind.Object, $"no image block upstream: {received.BodyText}");
        block.GetProperty("source").GetProperty("type").GetString().ShouldBe("base64");
        block.GetProperty("source").GetProperty("media_type").GetString().ShouldBe("image/png");
        block.GetProperty("source").GetProperty("data").GetString().ShouldBe(image.GetProperty("png").GetString());
    }

    [Fact]
    public async Task Npm_anthropic_sdk_reaches_openai_and_gemini_upstreams_with_text_stream_and_tools()
    {
        using var deadline = Deadline.After(90);
        TestPaths.ToolPackage("@anthropic-ai/sdk");
        var key = await stack.MintKeyAsync("npm-anth-translated", deadline.Token, "gpt-4o-mini", "anth-gemini");

        var result = await NodeScript.RunAsync("anthropic-sdk-calls.mjs", new Dictionary<string, string?>
        {
            ["TG_BASE_URL"] = stack.Gateway.BaseUrl.ToString().TrimEnd('/'),
            ["TG_API_KEY"] = key.Secret,
            ["ANTHROPIC_API_KEY"] = null,
            ["ANTHROPIC_AUTH_TOKEN"] = null,
            ["ANTHROPIC_BASE_URL"] = null,
            ["TG_GROUPS"] = "gpt-4o-mini,anth-gemini",
        }, deadline.Token);

        foreach (var (group, deployment) in new[] { ("gpt-4o-mini", "mock/gpt-4o-mini"), ("anth-gemini", "anth-aimock-gemini/gemini-2.5-flash") })
        {
            var message = result.Step($"message:{group}");
            message.GetProperty("text").GetString().ShouldBe("The Anthropic SDK was answered by a translated upstream: anth-sdk-ok", group);
            message.GetProperty("stop_reason").GetString().ShouldBe("end_turn", group);
            message.GetProperty("type").GetString().ShouldBe("message", group);
            message.GetProperty("role").GetString().ShouldBe("assistant", group);
            message.GetProperty("deployment").GetString().ShouldBe(deployment);

            var stream = result.Step($"stream:{group}");
            stream.GetProperty("text").GetString().ShouldBe("Streamed to an Anthropic SDK from an upstream of another kind, event by event: anth-sdk-stream-ok", group);
            stream.GetProperty("stop_reason").GetString().ShouldBe("end_turn", group);
            var types = stream.GetProperty("types").EnumerateArray().Select(t => t.GetString()).ToList();
            types.First().ShouldBe("message_start", group);
            types.Last().ShouldBe("message_stop", group);
            types.Count(t => t == "content_block_delta").ShouldBeGreaterThan(2, group);

            var tools = result.Step($"tools:{group}");
            tools.GetProperty("first_stop_reason").GetString().ShouldBe("tool_use", group);
            tools.GetProperty("tool_name").GetString().ShouldBe("get_weather", group);
            tools.GetProperty("tool_input").GetProperty("city").GetString().ShouldBe("Hobart", group);
            tools.GetProperty("text").GetString().ShouldBe("Hobart is sunny-17C today: anth-tool-ok", group);
            tools.GetProperty("stop_reason").GetString().ShouldBe("end_turn", group);
        }
    }
}
