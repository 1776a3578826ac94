using System.Text.Json;
using Tollgate.IntegrationTests.Harness;

namespace Tollgate.IntegrationTests;

/// <summary>The npm <c>openai</c> SDK (node/openai-sdk-calls.mjs) through the gateway, compared with the same script against aimock directly.</summary>
public sealed class OpenAiNodeSdkTests(GatewayStack stack)
{
    [Fact]
    public async Task Npm_openai_sdk_chat_stream_responses_embeddings_and_models_work_through_the_gateway()
    {
        using var deadline = Deadline.After(90);
        var key = await stack.MintKeyAsync("node-sdk", deadline.Token, "gpt-4o-mini", "text-embedding-3-small");

        var viaGateway = RunScriptAsync(stack.Gateway.OpenAiBaseUrl, key.Secret);
        var direct = RunScriptAsync(stack.Upstream.OpenAiBaseUrl, stack.UpstreamKey);
        var gateway = await viaGateway.WaitAsync(deadline.Token);
        var upstream = await direct.WaitAsync(deadline.Token);

        var chat = Step(gateway, "chat");
        chat.GetProperty("text").GetString().ShouldBe("Hello from the emulator: the gateway relayed this chat completion intact.");
        chat.GetProperty("finish_reason").GetString().ShouldBe("stop");
        chat.GetProperty("deployment").GetString().ShouldBe("mock/gpt-4o-mini");
        chat.GetProperty("request_id").GetString().ShouldNotBeNullOrWhiteSpace();

        var stream = Step(gateway, "chat_stream");
        stream.GetProperty("text").GetString().ShouldBe(Step(upstream, "chat_stream").GetProperty("text").GetString());
        stream.GetProperty("text").GetString().ShouldStartWith("Once upon a time");
        stream.GetProperty("chunks").GetInt32().ShouldBeGreaterThan(2);
        stream.GetProperty("finish_reason").GetString().ShouldBe("stop");
        stream.GetProperty("deployment").GetString().ShouldBe("mock/gpt-4o-mini");

        var responses = Step(gateway, "responses");
        responses.GetProperty("text").GetString().ShouldBe("The Responses API answered through Tollgate, streamed or whole.");
        responses.GetProperty("status").GetString().ShouldBe("completed");
        responses.GetProperty("usage").GetProperty("input_tokens").GetInt32().ShouldBe(42);
        responses.GetProperty("usage").GetProperty("output_tokens").GetInt32().ShouldBe(11);

        var responsesStream = Step(gateway, "responses_stream");
        responsesStream.GetProperty("text").GetString().ShouldBe(Step(upstream, "responses_stream").GetProperty("text").GetString());
        responsesStream.GetProperty("completed").ValueKind.ShouldBe(JsonValueKind.Object, "the stream must end with response.completed");
        responsesStream.GetProperty("completed").GetProperty("usage").GetProperty("output_tokens").GetInt32().ShouldBe(11);

        Step(gateway, "embeddings").GetProperty("vector").EnumerateArray().Select(v => v.GetDouble()).ShouldBe([0.125, -0.25, 0.5, 1.0]);

        Step(gateway, "models").GetProperty("ids").EnumerateArray().Select(v => v.GetString()).Order(StringComparer.Ordinal)
            .ShouldBe(["gpt-4o-mini", "text-embedding-3-small"]);

        var hidden = gateway.GetProperty("model_hidden");
        hidden.TryGetProperty("status", out var status).ShouldBeTrue(hidden.ToString());
        status.GetInt32().ShouldBe(404, $"a configured alias the key may not use must look absent: {hidden}");
    }

    private static JsonElement Step(JsonElement result, string name)
    {
        result.TryGetProperty(name, out var step).ShouldBeTrue($"the node script printed no `{name}`: {result}");
        step.TryGetProperty("error", out var error).ShouldBeFalse($"`{name}` failed in the npm SDK: {error}");
        return step;
    }

    private static async Task<JsonElement> RunScriptAsync(Uri baseUrl, string key)
    {
        TestPaths.ToolPackage("openai");
        var run = await ChildProcess.RunAsync(
            TestPaths.Node,
            [Path.Combine(TestPaths.NodeScriptsDir, "openai-sdk-calls.mjs")],
            new Dictionary<string, string?>
            {
                ["TOLLGATE_TOOLS_DIR"] = TestPaths.ToolsDir,
                ["OPENAI_BASE_URL"] = baseUrl.ToString(),
                ["OPENAI_API_KEY"] = key,
                ["OPENAI_ORG_ID"] = null,
                ["OPENAI_PROJECT_ID"] = null,
            },
            TestPaths.NodeScriptsDir,
            TimeSpan.FromSeconds(60));
        run.ExitCode.ShouldBe(0, $"node exited {run.ExitCode}:\n{run.Output}");
        var lastLine = run.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries).LastOrDefault();
        lastLine.ShouldNotBeNull($"node printed nothing:\n{run.Output}");
        using var json = JsonDocument.Parse(lastLine);
        return json.RootElement.Clone();
    }
}
