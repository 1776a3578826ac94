using Tollgate.Configuration;

namespace Tollgate.Tests.Configuration;

/// <summary>Shared helpers: a virtual source path for <see cref="ConfigLoader.Parse"/> and failure capture.</summary>
internal static class ConfigTestFiles
{
    /// <summary>Parse never touches this file; it only anchors relative paths and names the file in errors.</summary>
    public static readonly string SourcePath = Path.Combine(Path.GetTempPath(), "tollgate-config-tests", "tollgate.yaml");

    public static string SourceFolder => Path.GetDirectoryName(SourcePath)!;

    public static TollgateConfig Parse(string yaml) => ConfigLoader.Parse(yaml, SourcePath);

    public static ConfigException Fails(string yaml) => Should.Throw<ConfigException>(() => ConfigLoader.Parse(yaml, SourcePath));

    public static ConfigError SingleError(string yaml)
    {
        var errors = Fails(yaml).Errors;
        errors.Count.ShouldBe(1, string.Join('\n', errors));
        return errors[0];
    }

    /// <summary>The repository root: the folder that holds Directory.Build.props.</summary>
    public static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Directory.Build.props")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("Directory.Build.props not found above " + AppContext.BaseDirectory);
    }
}
