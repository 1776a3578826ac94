using Microsoft.Extensions.Primitives;
using Tollgate.Keys;
using Tollgate.Routing;

namespace Tollgate.Sensitivity;

/// <summary>
/// The data classes a request carries — from <c>x-tollgate-data-class</c>, the key's defaults, and the
/// built-in detectors — and whether a provider may receive them (<c>data_classes.&lt;class&gt;.allow_providers</c>).
/// A class with no policy in the config restricts nothing.
/// </summary>
internal static class DataClassPolicy
{
    public const string Header = "x-tollgate-data-class";

    /// <summary>Classes of the request, each with why (header, key, or the detector's finding). Detectors run only when a policy could act on them.</summary>
    public static IReadOnlyList<(string Class, string Reason)> Classify(IHeaderDictionary headers, KeyEntry key, ReadOnlySpan<byte> body, RouteTable table)
    {
        ArgumentNullException.ThrowIfNull(headers);
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(table);
        List<(string, string)>? result = null;
        if (headers.TryGetValue(Header, out var declared) && !StringValues.IsNullOrEmpty(declared))
        {
            foreach (var value in declared)
            {
                foreach (var c in (value ?? string.Empty).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                {
                    Add(ref result, c.ToLowerInvariant(), $"declared in {Header}");
                }
            }
        }

        // Plain loops and a list made only when a class is found: nothing is allocated for a request without classes.
        var defaults = key.Record.DataClasses;
        for (var i = 0; i < defaults.Count; i++)
        {
            Add(ref result, defaults[i], "the key's default data class");
        }

        if (table.ScansForDataClasses)
        {
            foreach (var finding in Detectors.ScanJson(body))
            {
                Add(ref result, finding.DataClass, $"detected: {finding.Kind}");
            }
        }

        return result is null ? [] : result;
    }

    /// <summary>The first class whose policy does not allow <paramref name="provider"/>, or null when all allow it.</summary>
    public static string? Blocking(RouteTable table, IReadOnlyList<(string Class, string Reason)> classes, string provider)
    {
        ArgumentNullException.ThrowIfNull(table);
        ArgumentNullException.ThrowIfNull(classes);
        for (var i = 0; i < classes.Count; i++)
        {
            var c = classes[i].Class;
            if (table.Config.DataClasses.TryGetValue(c, out var policy) && !policy.AllowProviders.Contains(provider, StringComparer.Ordinal))
            {
                return c;
            }
        }

        return null;
    }

    private static void Add(ref List<(string, string)>? result, string dataClass, string reason)
    {
        result ??= [];
        foreach (var (known, _) in result)
        {
            if (known == dataClass)
            {
                return;
            }
        }

        result.Add((dataClass, reason));
    }
}
