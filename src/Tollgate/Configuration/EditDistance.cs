namespace Tollgate.Configuration;

/// <summary>Optimal-string-alignment (restricted Damerau–Levenshtein) distance, for "did you mean" hints.</summary>
internal static class EditDistance
{
    /// <summary>Edits (insert, delete, substitute, swap two neighbours) that turn <paramref name="a"/> into <paramref name="b"/>.</summary>
    public static int Between(string a, string b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        var rows = a.Length + 1;
        var cols = b.Length + 1;
        var d = new int[rows * cols];
        for (var i = 0; i < rows; i++)
        {
            d[i * cols] = i;
        }

        for (var j = 0; j < cols; j++)
        {
            d[j] = j;
        }

        for (var i = 1; i < rows; i++)
        {
            for (var j = 1; j < cols; j++)
            {
                var cost = a[i - 1] == b[j - 1] ? 0 : 1;
                var best = Math.Min(Math.Min(d[((i - 1) * cols) + j] + 1, d[(i * cols) + j - 1] + 1), d[((i - 1) * cols) + j - 1] + cost);
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                {
                    best = Math.Min(best, d[((i - 2) * cols) + j - 2] + 1);
                }

                d[(i * cols) + j] = best;
            }
        }

        return d[(rows * cols) - 1];
    }

    /// <summary>
    /// The candidate closest to <paramref name="given"/>, ignoring case, when it is close enough to be a plausible typo
    /// (about one edit in three characters, at most three); otherwise null.
    /// </summary>
    public static string? Closest(string given, IEnumerable<string> candidates)
    {
        ArgumentNullException.ThrowIfNull(given);
        ArgumentNullException.ThrowIfNull(candidates);
        var lowered = given.ToLowerInvariant();
        var limit = Math.Clamp(given.Length / 3, 1, 3);
        string? best = null;
        var bestDistance = int.MaxValue;
        foreach (var candidate in candidates)
        {
            var distance = Between(lowered, candidate.ToLowerInvariant());
            // Replacing every character of a short name is not a typo ('c' is not a misspelt 'a').
            if (distance < bestDistance && distance < Math.Min(given.Length, candidate.Length))
            {
                best = candidate;
                bestDistance = distance;
            }
        }

        return bestDistance <= limit ? best : null;
    }
}
