namespace Tollgate.IntegrationTests.Harness;

/// <summary>
/// Runs <c>codex exec</c> once against the gateway: a temporary CODEX_HOME whose config.toml names a custom
/// provider on the Responses wire API, the virtual key in an env var, no stdin, a time limit.
/// </summary>
internal static class CodexCli
{
    public static async Task<CompletedRun> ExecAsync(Uri gatewayOpenAiBaseUrl, string model, string virtualKey, string prompt, string extraConfig, CancellationToken cancellationToken)
    {
        var home = Directory.CreateTempSubdirectory("tollgate-codex-home-");
        var work = Directory.CreateTempSubdirectory("tollgate-codex-work-");
        try
        {
            // Keys as of codex-cli 0.169.0; --strict-config below makes a renamed key fail loudly.
            await File.WriteAllTextAsync(Path.Combine(home.FullName, "config.toml"), $"""
                model = "{model}"
                model_provider = "tollgate"
                check_for_update_on_startup = false
                {extraConfig}
                [analytics]
                enabled = false

                [model_providers.tollgate]
                name = "Tollgate"
                base_url = "{gatewayOpenAiBaseUrl}"
                env_key = "TOLLGATE_CODEX_KEY"
                wire_api = "responses"
                request_max_retries = 0
                stream_max_retries = 0
                """, cancellationToken);

            return await ChildProcess.RunAsync(
                TestPaths.ToolBin("codex"),
                ["exec", "--strict-config", "--skip-git-repo-check", "--ephemeral", "--color", "never", "-s", "read-only", "-C", work.FullName, prompt],
                new Dictionary<string, string?>
                {
                    ["CODEX_HOME"] = home.FullName,
                    ["TOLLGATE_CODEX_KEY"] = virtualKey,
                    ["OPENAI_API_KEY"] = null,
                    ["OPENAI_BASE_URL"] = null,
                    ["RUST_LOG"] = null,
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
