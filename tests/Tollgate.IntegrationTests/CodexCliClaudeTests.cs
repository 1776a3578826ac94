using System.Text.Json;
using Tollgate.IntegrationTests.Harness;

namespace Tollgate.IntegrationTests;

/// <summary>
/// The Codex CLI (npm <c>@openai/codex</c>) on Claude: it speaks only the Responses API, and the model group it
/// names is served by an Anthropic-kind upstream (aimock's Claude surface), so the gateway translates Responses
/// into Messages and the Anthropic stream back into Responses events.
/// </summary>
public sealed class CodexCliClaudeTests(GatewayStack stack)
{
    private const string Probe = "TG_CODEX_CLAUDE: reply with the phrase you were given";

    /// <summary>
    /// Codex as installed: besides its function tools it sends a <c>namespace</c> tool (multi_agent_v1, a group of
    /// function tools) and the hosted <c>web_search</c> tool, and the gateway must let that request reach Claude.
    /// </summary>
    [Fact]
    public Task Codex_exec_completes_through_the_gateway_on_an_anthropic_upstream() => RunCodexAsync(string.Empty);

    /// <summary>Codex with web search and sub-agents turned off sends only function tools.</summary>
    [Fact]
    public Task Codex_exec_with_only_function_tools_completes_through_the_gateway_on_an_anthropic_upstream() =>
        RunCodexAsync("""
            web_search = "disabled"

            [features]
            multi_agent = false

            """);

    private async Task RunCodexAsync(string extraConfig)
    {
        using var deadline = Deadline.After(150);
        var key = await stack.MintKeyAsync("codex-claude", deadline.Token, "anth-claude");
        var run = await CodexCli.ExecAsync(stack.Gateway.OpenAiBaseUrl, "anth-claude", key.Secret, Probe, extraConfig, deadline.Token);

        run.ExitCode.ShouldBe(0, $"codex exec exited {run.ExitCode}:\n{run.Output}");
        run.StandardOutput.ShouldContain("tollgate-codex-claude-ok", Case.Sensitive, $"codex did not print the fixture's answer:\n{run.Output}");

        var rows = await stack.WaitForLedgerRowsAsync(key.Id, rows => rows.Any(IsServedResponsesCall), deadline.Token);
        var row = rows.First(IsServedResponsesCall);
        row.GetProperty("model_group").GetString().ShouldBe("anth-claude");
        row.GetProperty("deployment").GetString().ShouldBe("anth-aimock/claude-sonnet-4-5");
        row.GetProperty("provider").GetString().ShouldBe("anth-aimock");
        row.GetProperty("streamed").GetBoolean().ShouldBeTrue("Codex streams its Responses calls");
    }

    private static bool IsServedResponsesCall(JsonElement row) =>
        row.GetProperty("endpoint").GetString() == "openai.responses" && row.GetProperty("status").GetInt32() == 200;
}
