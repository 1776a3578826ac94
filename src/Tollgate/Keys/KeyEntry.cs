using System.Collections.Frozen;
using Tollgate.Storage;

namespace Tollgate.Keys;

/// <summary>A key as the request path sees it: the stored record plus what admission derives from it.</summary>
internal sealed class KeyEntry
{
    public KeyEntry(VirtualKeyRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        Record = record;
        AllowedModels = record.Models?.ToFrozenSet(StringComparer.Ordinal);
    }

    public VirtualKeyRecord Record { get; }

    public string Id => Record.Id;

    /// <summary>Null when the key has no list of its own (its tier decides).</summary>
    public FrozenSet<string>? AllowedModels { get; }

    public bool IsUsableAt(DateTimeOffset now) =>
        Record.Status == "active" && (Record.ExpiresAt is null || Record.ExpiresAt > now);
}
