namespace Tollgate.Routing;

/// <summary>Close matches for a mistyped name, by edit distance.</summary>
internal static class NameSuggestions
{
    /// <summary>Up to <paramref name="max"/> candidates within a distance that scales with the name's length, closest first.</summary>
    public static IReadOnlyList<string> Closest(string name, IEnumerable<string> candidates, int max = 3)
    {
        ArgumentNullException.ThrowIfNull(name);
        var limit = Math.Max(2, name.Length / 3);
        return candidates
            .Select(c => (Candidate: c, Distance: Distance(name, c)))
            .Where(x => x.Distance <= limit
                || x.Candidate.Contains(name, StringComparison.OrdinalIgnoreCase)
                || name.Contains(x.Candidate, StringComparison.OrdinalIgnoreCase))
            .OrderBy(x => x.Distance)
            .ThenBy(x => x.Candidate, StringComparer.Ordinal)
            .Take(max)
            .Select(x => x.Candidate)
            .ToList();
    }

    private static int Distance(string a, string b) =>
        Configuration.EditDistance.Between(a.ToLowerInvariant(), b.ToLowerInvariant());
}
