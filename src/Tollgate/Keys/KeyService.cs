using System.Text.Json;
using Tollgate.Admin;
using Tollgate.Limits;
using Tollgate.Routing;
using Tollgate.Storage;

namespace Tollgate.Keys;

/// <summary>The outcome of a key operation: the record (and the new secret, for mint and rotate), or what was wrong.</summary>
internal sealed record KeyResult(VirtualKeyRecord? Record, string? Secret = null, string? Error = null, bool NotFound = false);

/// <summary>
/// Mints, changes, rotates and revokes keys: writes the store, then the local cache, then the audit
/// trail. The secret is returned once and only its hash is kept.
/// </summary>
internal sealed class KeyService
{
    private readonly IStore _store;
    // Durability: changes go into the cache through KeyChanges, and are announced to other replicas once stored.
    private readonly KeyChanges _cache;
    private readonly RouteTableHolder _routes;
    private readonly TimeProvider _time;

    public KeyService(IStore store, KeyChanges cache, RouteTableHolder routes, TimeProvider time)
    {
        _store = store;
        _cache = cache;
        _routes = routes;
        _time = time;
    }

    public async Task<KeyResult> MintAsync(KeyRequest request, string actor, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (Validate(request) is { } error)
        {
            return new KeyResult(null, Error: error);
        }

        var secret = KeySecrets.NewSecret();
        var record = Apply(new VirtualKeyRecord
        {
            Id = "key_" + KeySecrets.RandomBase62(20),
            CreatedAt = _time.GetUtcNow(),
            SecretHash = KeySecrets.Hash(secret),
            Hint = KeySecrets.Hint(secret),
        }, request);
        await _store.InsertKeyAsync(record, cancellationToken);
        _cache.Apply(record);
        await _cache.PublishAsync(record.Id, KeyChangeKind.Minted);
        await AuditAsync(actor, "key.mint", record, cancellationToken);
        return new KeyResult(record, secret);
    }

    public async Task<KeyResult> UpdateAsync(string id, KeyRequest patch, string actor, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(patch);
        var existing = await _store.GetKeyAsync(id, cancellationToken);
        if (existing is null)
        {
            return new KeyResult(null, NotFound: true);
        }

        if (Validate(patch) is { } error)
        {
            return new KeyResult(null, Error: error);
        }

        var updated = Apply(existing, patch);
        await _store.UpdateKeyAsync(updated, cancellationToken);
        _cache.Apply(updated);
        await _cache.PublishAsync(updated.Id, KeyChangeKind.Updated);
        await AuditAsync(actor, "key.update", updated, cancellationToken);
        return new KeyResult(updated);
    }

    public async Task<KeyResult> RotateAsync(string id, TimeSpan grace, string actor, CancellationToken cancellationToken)
    {
        var existing = await _store.GetKeyAsync(id, cancellationToken);
        if (existing is null)
        {
            return new KeyResult(null, NotFound: true);
        }

        if (existing.Status == "revoked")
        {
            return new KeyResult(null, Error: "This key is revoked; mint a new key instead of rotating it.");
        }

        var now = _time.GetUtcNow();
        var secret = KeySecrets.NewSecret();
        var rotated = existing with
        {
            SecretHash = KeySecrets.Hash(secret),
            Hint = KeySecrets.Hint(secret),
            RotatedAt = now,
            PreviousSecretHash = grace > TimeSpan.Zero ? existing.SecretHash : null,
            PreviousSecretExpiresAt = grace > TimeSpan.Zero ? now + grace : null,
        };
        await _store.UpdateKeyAsync(rotated, cancellationToken);
        _cache.Apply(rotated);
        await _cache.PublishAsync(rotated.Id, KeyChangeKind.Rotated);
        await AuditAsync(actor, "key.rotate", rotated, cancellationToken);
        return new KeyResult(rotated, secret);
    }

    public async Task<KeyResult> RevokeAsync(string id, string actor, CancellationToken cancellationToken)
    {
        var existing = await _store.GetKeyAsync(id, cancellationToken);
        if (existing is null)
        {
            return new KeyResult(null, NotFound: true);
        }

        var revoked = existing with
        {
            Status = "revoked",
            RevokedAt = existing.RevokedAt ?? _time.GetUtcNow(),
            PreviousSecretHash = null,
            PreviousSecretExpiresAt = null,
        };
        _cache.Apply(revoked);
        await _store.UpdateKeyAsync(revoked, cancellationToken);
        await _cache.PublishAsync(revoked.Id, KeyChangeKind.Revoked);
        await AuditAsync(actor, "key.revoke", revoked, cancellationToken);
        return new KeyResult(revoked);
    }

    private string? Validate(KeyRequest request)
    {
        var table = _routes.Current;
        if (!BudgetPeriod.IsValid(request.BudgetPeriod))
        {
            return $"budget_period must be one of {string.Join(", ", BudgetPeriod.Names)}.";
        }

        if (request.MaxBudget < 0 || request.SoftLimit < 0)
        {
            return "max_budget and soft_limit must not be negative.";
        }

        if (request.Rpm <= 0 || request.Tpm <= 0 || request.MaxParallel <= 0)
        {
            return "rpm, tpm and max_parallel must be positive when set.";
        }

        if (request.Models?.FirstOrDefault(m => !table.Groups.ContainsKey(m)) is { } unknown)
        {
            var close = NameSuggestions.Closest(unknown, table.Aliases);
            return $"models: '{unknown}' is not a model alias on this gateway." + (close.Count > 0 ? $" Did you mean '{close[0]}'?" : string.Empty);
        }

        if (request.Tier is { } tier && table.Config.Tiers.Count > 0 && !table.Config.Tiers.ContainsKey(tier))
        {
            return $"tier: '{tier}' is not a tier in the config (known: {string.Join(", ", table.Config.Tiers.Keys.Order(StringComparer.Ordinal))}).";
        }

        if (request.Metadata is { ValueKind: not JsonValueKind.Object and not JsonValueKind.Null })
        {
            return "metadata must be a JSON object.";
        }

        return null;
    }

    private static VirtualKeyRecord Apply(VirtualKeyRecord record, KeyRequest r) => record with
    {
        Alias = r.Alias ?? record.Alias,
        Workspace = r.Workspace ?? record.Workspace,
        Tier = r.Tier ?? record.Tier,
        Models = r.Models ?? record.Models,
        MaxBudget = r.MaxBudget ?? record.MaxBudget,
        BudgetPeriod = r.BudgetPeriod ?? record.BudgetPeriod,
        SoftLimit = r.SoftLimit ?? record.SoftLimit,
        Rpm = r.Rpm ?? record.Rpm,
        Tpm = r.Tpm ?? record.Tpm,
        MaxParallel = r.MaxParallel ?? record.MaxParallel,
        DataClasses = r.DataClasses ?? record.DataClasses,
        ExpiresAt = r.ExpiresAt ?? record.ExpiresAt,
        MetadataJson = r.Metadata is { ValueKind: JsonValueKind.Object } metadata ? metadata.GetRawText() : record.MetadataJson,
    };

    private async Task AuditAsync(string actor, string action, VirtualKeyRecord record, CancellationToken cancellationToken)
    {
        var details = JsonSerializer.Serialize(KeyView.From(record, _time.GetUtcNow()), AdminJson.Default.KeyView);
        await _store.WriteAuditAsync(
            [new AuditRecord
            {
                Id = "aud_" + Guid.CreateVersion7().ToString("N"),
                Time = _time.GetUtcNow(),
                Actor = actor,
                Action = action,
                Target = record.Id,
                DetailsJson = details,
            }],
            cancellationToken);
    }
}
