using System.Text.Json;

namespace Tollgate.IntegrationTests.Harness;

/// <summary>Runs one of the <c>node/*.mjs</c> client scripts and parses the JSON object it prints last.</summary>
internal static class NodeScript
{
    public static async Task<JsonElement> RunAsync(string script, IReadOnlyDictionary<string, string?> environment, CancellationToken cancellationToken)
    {
        var env = new Dictionary<string, string?>(environment) { ["TOLLGATE_TOOLS_DIR"] = TestPaths.ToolsDir };
        var run = await ChildProcess.RunAsync(
            TestPaths.Node,
            [Path.Combine(TestPaths.NodeScriptsDir, script)],
            env,
            TestPaths.NodeScriptsDir,
            TimeSpan.FromSeconds(60)).WaitAsync(cancellationToken);
        run.ExitCode.ShouldBe(0, $"node {script} exited {run.ExitCode}:\n{run.Output}");
        var lastLine = run.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries).LastOrDefault();
        lastLine.ShouldNotBeNull($"node {script} printed nothing:\n{run.Output}");
        using var json = JsonDocument.Parse(lastLine);
        return json.RootElement.Clone();
    }

    /// <summary>One step of the script's answer, failing with the SDK's error when the step threw.</summary>
    public static JsonElement Step(this JsonElement result, string name)
    {
        result.TryGetProperty(name, out var step).ShouldBeTrue($"the node script printed no `{name}`: {result}");
        step.TryGetProperty("error", out var error).ShouldBeFalse($"`{name}` failed in the npm SDK: {error} (status {(step.TryGetProperty("status", out var s) ? s : default)})");
        return step;
    }
}
