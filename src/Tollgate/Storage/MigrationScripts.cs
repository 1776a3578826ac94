using System.Globalization;

namespace Tollgate.Storage;

/// <summary>One versioned migration script, embedded in the assembly.</summary>
internal sealed record MigrationScript(long Version, string Name, string Sql);

/// <summary>
/// Loads a dialect's migration scripts. They are embedded resources named
/// <c>&lt;prefix&gt;NNNN_description.sql</c> (see Tollgate.csproj); the number is the version.
/// </summary>
internal static class MigrationScripts
{
    public static IReadOnlyList<MigrationScript> Load(string resourcePrefix)
    {
        ArgumentException.ThrowIfNullOrEmpty(resourcePrefix);
        var assembly = typeof(MigrationScripts).Assembly;
        var scripts = new List<MigrationScript>();
        foreach (var resource in assembly.GetManifestResourceNames())
        {
            if (!resource.StartsWith(resourcePrefix, StringComparison.Ordinal) || !resource.EndsWith(".sql", StringComparison.Ordinal))
            {
                continue;
            }

            var name = resource[resourcePrefix.Length..];
            var underscore = name.IndexOf('_', StringComparison.Ordinal);
            if (underscore <= 0 || !long.TryParse(name.AsSpan(0, underscore), NumberStyles.None, CultureInfo.InvariantCulture, out var version))
            {
                throw new InvalidOperationException($"Migration resource '{resource}' is not named NNNN_description.sql.");
            }

            using var stream = assembly.GetManifestResourceStream(resource)
                ?? throw new InvalidOperationException($"Migration resource '{resource}' cannot be read.");
            using var text = new StreamReader(stream);
            scripts.Add(new MigrationScript(version, name, text.ReadToEnd()));
        }

        scripts.Sort((a, b) => a.Version.CompareTo(b.Version));
        for (var i = 1; i < scripts.Count; i++)
        {
            if (scripts[i].Version == scripts[i - 1].Version)
            {
                throw new InvalidOperationException($"Two migrations share version {scripts[i].Version}: {scripts[i - 1].Name} and {scripts[i].Name}.");
            }
        }

        return scripts;
    }
}
