using System.Text.Json;
using Tollgate.IntegrationTests.Harness;

namespace Tollgate.IntegrationTests;

/// <summary>
/// Claude Code (npm <c>@anthropic-ai/claude-code</c>) run as <c>claude -p</c> with <c>ANTHROPIC_BASE_URL</c> at the
/// gateway and a virtual key as <c>ANTHROPIC_API_KEY</c>. As of 2.1.330 it probes <c>HEAD /</c>, then streams
/// <c>POST /v1/messages?beta=true</c> with a dozen betas, <c>role: "system"</c> entries inside <c>messages</c> and
/// an <c>x-claude-code-session-id</c> header. <c>--model</c> pins the model group; the small/fast model variables
/// point any background call at the same group, so no unconfigured alias is asked for.
/// </summary>
public sealed class ClaudeCodeCliTests(GatewayStack stack)
{
    [Fact]
    public async Task Claude_code_prompt_completes_through_the_gateway_on_an_anthropic_upstream()
    {
        using var deadline = Deadline.After(150);
        var key = await stack.MintKeyAsync("claude-code-plain", deadline.Token, "anth-claude");

        var run = await RunClaudeAsync(key.Secret, "anth-claude", "TG_CC_HELLO: reply with the phrase you were given", [], deadline.Token);

        run.ExitCode.ShouldBe(0, $"claude -p exited {run.ExitCode}:\n{run.Output}");
        run.StandardOutput.ShouldContain("tollgate-claude-code-ok", Case.Sensitive, $"claude did not print the fixture's answer:\n{run.Output}");

        var rows = await stack.WaitForLedgerRowsAsync(key.Id, rows => rows.Any(IsServedMessagesCall), deadline.Token);
        var row = rows.First(IsServedMessagesCall);
        row.GetProperty("deployment").GetString().ShouldBe("anth-aimock/claude-sonnet-4-5");
        row.GetProperty("streamed").GetBoolean().ShouldBeTrue("Claude Code streams its calls");
        row.GetProperty("session_id").GetString().ShouldNotBeNullOrWhiteSpace($"x-claude-code-session-id goes into the ledger: {row}");
        row.GetProperty("user_agent").GetString().ShouldNotBeNull().ShouldContain("claude-cli");
    }

    [Fact]
    public async Task Claude_code_runs_a_bash_tool_loop_through_an_openai_format_upstream()
    {
        using var deadline = Deadline.After(150);
        var key = await stack.MintKeyAsync("claude-code-tools", deadline.Token, "anth-qwen");

        // The first answer is a Bash call whose output (tollgate-tool-42) differs from its command text, so the
        // second fixture, matched on the tool result, only answers when the command really ran.
        var run = await RunClaudeAsync(
            key.Secret, "anth-qwen", "TG_CC_TOOL: run the command you are given and report what it printed", ["--allowedTools", "Bash"], deadline.Token);

        run.ExitCode.ShouldBe(0, $"claude -p exited {run.ExitCode}:\n{run.Output}");
        run.StandardOutput.ShouldContain("claude-code-tool-loop-ok", Case.Sensitive, $"claude did not finish the tool loop:\n{run.Output}");

        var rows = await stack.WaitForLedgerRowsAsync(key.Id, rows => rows.Count(IsServedMessagesCall) >= 2, deadline.Token);
        var served = rows.Where(IsServedMessagesCall).ToList();
        served.ShouldAllBe(r => r.GetProperty("deployment").GetString() == "mock/qwen3-coder");
        var sessions = served.Select(r => r.GetProperty("session_id").GetString()).Distinct().ToList();
        sessions.ShouldHaveSingleItem($"both turns of one claude -p run carry one session id: {string.Join(", ", sessions)}")
            .ShouldNotBeNullOrWhiteSpace();
    }

    private static bool IsServedMessagesCall(JsonElement row) =>
        row.GetProperty("endpoint").GetString() == "anthropic.messages" && row.GetProperty("status").GetInt32() == 200;

    private async Task<CompletedRun> RunClaudeAsync(string key, string model, string prompt, string[] extraArguments, CancellationToken cancellationToken)
    {
        var home = Directory.CreateTempSubdirectory("tollgate-claude-home-");
        var work = Directory.CreateTempSubdirectory("tollgate-claude-work-");
        try
        {
            return await ChildProcess.RunAsync(
                TestPaths.ToolBin("claude"),
                ["-p", prompt, "--model", model, .. extraArguments],
                new Dictionary<string, string?>
                {
                    ["HOME"] = home.FullName,
                    ["CLAUDE_CONFIG_DIR"] = Path.Combine(home.FullName, ".claude"),
                    ["ANTHROPIC_BASE_URL"] = stack.Gateway.BaseUrl.ToString().TrimEnd('/'),
                    ["ANTHROPIC_API_KEY"] = key,
                    ["ANTHROPIC_AUTH_TOKEN"] = null,
                    ["ANTHROPIC_MODEL"] = null,
                    ["ANTHROPIC_SMALL_FAST_MODEL"] = model,
                    ["ANTHROPIC_DEFAULT_HAIKU_MODEL"] = model,
                    ["CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"] = "1",
                    ["CLAUDE_CODE_USE_BEDROCK"] = null,
                    ["CLAUDE_CODE_USE_VERTEX"] = null,
                },
                work.FullName,
                TimeSpan.FromSeconds(120)).WaitAsync(cancellationToken);
        }
        finally
        {
            TryDelete(home);
            TryDelete(work);
        }
    }

    private static void TryDelete(DirectoryInfo directory)
    {
        try
        {
            directory.Delete(recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
