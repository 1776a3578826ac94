using Tollgate.Keys;

namespace Tollgate.Routing;

/// <summary>Which aliases a key may use: its own list when it has one, else its tier's, else all.</summary>
internal static class ModelAccess
{
    public static bool IsAllowed(KeyEntry key, RouteTable table, string alias)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(table);
        if (key.AllowedModels is { } own && !own.Contains(alias))
        {
            return false;
        }

        if (key.Record.Tier is { } tierName && table.Config.Tiers.TryGetValue(tierName, out var tier)
            && tier.Models is { } tierModels && !tierModels.Contains(alias, StringComparer.Ordinal))
        {
            return false;
        }

        return true;
    }
}
