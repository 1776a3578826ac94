using Tollgate.IntegrationTests.Harness;

namespace Tollgate.IntegrationTests;

/// <summary>
/// The Codex CLI (npm <c>@openai/codex</c>) with a custom model provider on the Responses wire API, pointed at
/// the gateway with a virtual key. Codex sends one streamed <c>POST /v1/responses</c> per turn; aimock answers
/// the probe prompt with a plain text message.
/// </summary>
public sealed class CodexCliTests(GatewayStack stack)
{
    private const string Probe = "TOLLGATE_CODEX_PROBE: reply with the phrase you were given";

    [Fact]
    public async Task Codex_exec_completes_through_the_gateway_and_lands_in_the_ledger()
    {
        using var deadline = Deadline.After(150);
        var key = await stack.MintKeyAsync("codex", deadline.Token, "gpt-4o-mini");
        var run = await CodexCli.ExecAsync(stack.Gateway.OpenAiBaseUrl, "gpt-4o-mini", key.Secret, Probe, string.Empty, deadline.Token);

        run.ExitCode.ShouldBe(0, $"codex exec exited {run.ExitCode}:\n{run.Output}");
        run.StandardOutput.ShouldContain("tollgate-codex-ok", Case.Sensitive, $"codex did not print the fixture's answer:\n{run.Output}");

        var rows = await stack.WaitForLedgerRowsAsync(key.Id, rows => rows.Any(IsServedResponsesCall), deadline.Token);
        var row = rows.First(IsServedResponsesCall);
        row.GetProperty("model_group").GetString().ShouldBe("gpt-4o-mini");
        row.GetProperty("deployment").GetString().ShouldBe("mock/gpt-4o-mini");
        row.GetProperty("streamed").GetBoolean().ShouldBeTrue("Codex streams its Responses calls");
        row.GetProperty("input_tokens").GetInt64().ShouldBe(321);
        row.GetProperty("output_tokens").GetInt64().ShouldBe(12);
        row.GetProperty("user_agent").GetString().ShouldNotBeNull().ShouldContain("codex");
    }

    private static bool IsServedResponsesCall(System.Text.Json.JsonElement row) =>
        row.GetProperty("endpoint").GetString() is { } endpoint
        && endpoint.Contains("responses", StringComparison.OrdinalIgnoreCase)
        && row.GetProperty("status").GetInt32() == 200;
}
