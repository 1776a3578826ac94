namespace Tollgate.IntegrationTests.Harness;

/// <summary>
/// Where the things the suite runs live: the npm test tools, the aimock fixtures, the node scripts and
/// the gateway's own Tollgate.dll. A missing tool is a failure with a message saying how to install it,
/// never a silent skip.
/// </summary>
internal static class TestPaths
{
    private static readonly Lazy<string> ToolsDirLazy = new(FindToolsDir);

    /// <summary>The absolute path of <c>tests/tools</c> (or <c>TOLLGATE_TOOLS_DIR</c>).</summary>
    public static string ToolsDir => ToolsDirLazy.Value;

    public static string FixturesDir => Path.Combine(AppContext.BaseDirectory, "fixtures", "aimock");

    public static string NodeScriptsDir => Path.Combine(AppContext.BaseDirectory, "node");

    /// <summary>An executable from <c>tests/tools/node_modules/.bin</c>.</summary>
    public static string ToolBin(string name)
    {
        var path = Path.Combine(ToolsDir, "node_modules", ".bin", name);
        if (!File.Exists(path))
        {
            throw new InvalidOperationException(
                $"The test tool '{name}' is missing: expected {path}. Install the pinned tools with " +
                $"`cd {ToolsDir} && npm ci` (or set TOLLGATE_TOOLS_DIR to a folder where they are installed).");
        }

        return path;
    }

    /// <summary>A package folder under <c>tests/tools/node_modules</c>, checked to exist.</summary>
    public static string ToolPackage(string name)
    {
        var path = Path.Combine(ToolsDir, "node_modules", name);
        if (!Directory.Exists(path))
        {
            throw new InvalidOperationException(
                $"The npm package '{name}' is missing from {Path.Combine(ToolsDir, "node_modules")}. " +
                $"Install the pinned tools with `cd {ToolsDir} && npm ci`.");
        }

        return path;
    }

    /// <summary>The <c>node</c> executable on PATH.</summary>
    public static string Node => FindOnPath("node")
        ?? throw new InvalidOperationException("`node` is not on PATH; the integration tests need Node.js 20 or later.");

    /// <summary>
    /// Tollgate.dll: next to the test assembly (the ProjectReference copies it there with its
    /// runtimeconfig and deps), else in src/Tollgate/bin.
    /// </summary>
    public static string GatewayDll
    {
        get
        {
            var beside = Path.Combine(AppContext.BaseDirectory, "Tollgate.dll");
            if (File.Exists(beside) && File.Exists(Path.Combine(AppContext.BaseDirectory, "Tollgate.runtimeconfig.json")))
            {
                return beside;
            }

            var root = RepoRoot ?? throw new InvalidOperationException(
                $"Tollgate.dll is not beside the test assembly ({AppContext.BaseDirectory}) and the repository root was not found.");
            foreach (var configuration in new[] { "Debug", "Release" })
            {
                var candidate = Path.Combine(root, "src", "Tollgate", "bin", configuration, "net10.0", "Tollgate.dll");
                if (File.Exists(candidate))
                {
                    return candidate;
                }
            }

            throw new InvalidOperationException("Tollgate.dll was not found; build src/Tollgate first (`dotnet build`).");
        }
    }

    /// <summary>The folder holding Tollgate.slnx, found by walking up from the test assembly.</summary>
    public static string? RepoRoot
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "Tollgate.slnx")))
                {
                    return dir.FullName;
                }
            }

            return null;
        }
    }

    private static string FindToolsDir()
    {
        var fromEnv = Environment.GetEnvironmentVariable("TOLLGATE_TOOLS_DIR");
        if (!string.IsNullOrWhiteSpace(fromEnv))
        {
            if (!Directory.Exists(Path.Combine(fromEnv, "node_modules")))
            {
                throw new InvalidOperationException(
                    $"TOLLGATE_TOOLS_DIR is {fromEnv}, but it has no node_modules: run `npm ci` there.");
            }

            return Path.GetFullPath(fromEnv);
        }

        var root = RepoRoot ?? throw new InvalidOperationException(
            $"Cannot find the test tools: TOLLGATE_TOOLS_DIR is unset and no Tollgate.slnx is above {AppContext.BaseDirectory}.");
        var tools = Path.Combine(root, "tests", "tools");
        if (!Directory.Exists(Path.Combine(tools, "node_modules")))
        {
            throw new InvalidOperationException(
                $"The npm test tools are not installed: {tools}/node_modules is missing. Run `cd {tools} && npm ci`, " +
                "or set TOLLGATE_TOOLS_DIR to a folder holding them.");
        }

        return tools;
    }

    private static string? FindOnPath(string name)
    {
        var path = Environment.GetEnvironmentVariable("PATH") ?? string.Empty;
        foreach (var dir in path.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, name);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }
}
