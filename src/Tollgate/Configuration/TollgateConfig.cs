using System.Collections.Frozen;

namespace Tollgate.Configuration;

/// <summary>The whole of <c>tollgate.yaml</c>, validated and immutable. See SPEC §10.</summary>
internal sealed record TollgateConfig
{
    public required ServerConfig Server { get; init; }
    public required StoreConfig Store { get; init; }
    public RedisConfig? Redis { get; init; }
    public required ReportingConfig Reporting { get; init; }
    public required FrozenDictionary<string, ProviderConfig> Providers { get; init; }
    public required FrozenDictionary<string, ModelGroupConfig> Models { get; init; }
    public required FrozenDictionary<string, TierConfig> Tiers { get; init; }
    public required FrozenDictionary<string, DataClassConfig> DataClasses { get; init; }
    public required AuditConfig Audit { get; init; }

    /// <summary>Budgets shared by every key of a workspace (or team), by workspace name.</summary>
    public FrozenDictionary<string, WorkspaceConfig> Workspaces { get; init; } = FrozenDictionary<string, WorkspaceConfig>.Empty;
    public required LedgerConfig Ledger { get; init; }

    /// <summary>Where the file was loaded from (absolute), for reload and relative paths.</summary>
    public string? SourcePath { get; init; }

    /// <summary>
    /// Problems that do not stop the config from loading, each formatted like a <see cref="ConfigError"/>
    /// (<c>tollgate.yaml:14: providers.cloud-qwen.auth.token: provider 'cloud-qwen' is disabled: …</c>):
    /// providers disabled because a secret cannot be resolved, tier aliases that name no model group, and the like.
    /// Never contains secret values.
    /// </summary>
    public IReadOnlyList<string> Warnings { get; init; } = [];
}

internal sealed record ServerConfig
{
    /// <summary>The admin master key; required when <see cref="Admin"/> is on.</summary>
    public SecretRef? MasterKey { get; init; }
    public long MaxBodyBytes { get; init; } = 32 * 1024 * 1024;
    /// <summary>Admin routes on this replica (SPEC §7: they can be turned off on data-plane replicas).</summary>
    public bool Admin { get; init; } = true;
    /// <summary>What the data plane does when the store is unreachable: serve_cached (default) or strict.</summary>
    public string OnStoreDown { get; init; } = "serve_cached";
}

internal sealed record StoreConfig
{
    /// <summary><c>sqlite</c> (the embedded default) or <c>postgres</c>.</summary>
    public string Kind { get; init; } = "sqlite";
    /// <summary>SQLite file path, relative to the config file's folder when not absolute.</summary>
    public string Path { get; init; } = "data/tollgate.db";
    /// <summary>PostgreSQL: a <c>postgresql://</c> URI or an Npgsql connection string.</summary>
    public SecretRef? Connection { get; init; }
}

internal sealed record RedisConfig
{
    public SecretRef? Connection { get; init; }

    /// <summary>Replicas lease headroom of keys far from their limits (<see cref="Limits.LimiterOptions.Leases"/>).</summary>
    public bool Leases { get; init; } = true;
}

internal sealed record ReportingConfig
{
    public string Currency { get; init; } = "USD";
    /// <summary>How many units of the reporting currency one unit of the key currency buys, e.g. USD: 1.53.</summary>
    public FrozenDictionary<string, decimal> Fx { get; init; } = FrozenDictionary<string, decimal>.Empty;
}

internal sealed record ProviderConfig
{
    public required string Name { get; init; }
    /// <summary>openai | anthropic | gemini (bedrock, vertex, azure-openai later).</summary>
    public required string Kind { get; init; }
    /// <summary>As the provider's own SDK takes it; defaulted per kind when absent.</summary>
    public required Uri BaseUrl { get; init; }
    /// <summary>metered (default) or subscription.</summary>
    public string Billing { get; init; } = "metered";
    /// <summary>Data retention of the provider, e.g. none; used by data-class policies.</summary>
    public string? Retention { get; init; }
    public required AuthConfig Auth { get; init; }
    /// <summary>anthropic-beta values this upstream rejects; stripped before forwarding.</summary>
    public IReadOnlyList<string> RejectBetas { get; init; } = [];
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(10);
    /// <summary>Activity timeout: the call fails when no byte arrives for this long.</summary>
    public TimeSpan ActivityTimeout { get; init; } = TimeSpan.FromSeconds(300);
    /// <summary>
    /// auto (default): Tollgate's own HTTP/1.1 client for an http:// base_url, .NET's SocketsHttpHandler for https://;
    /// system: SocketsHttpHandler for both.
    /// </summary>
    public string HttpClient { get; init; } = "auto";
    /// <summary>Set when a secret this provider needs could not be resolved: its deployments are disabled.</summary>
    public string? DisabledReason { get; init; }
}

internal sealed record AuthConfig
{
    /// <summary>api_key | bearer | oauth | forward | none.</summary>
    public string Type { get; init; } = "none";
    /// <summary>api_key's key, bearer's/oauth's token.</summary>
    public SecretRef? Secret { get; init; }
    /// <summary>oauth only.</summary>
    public SecretRef? RefreshToken { get; init; }
    public Uri? TokenUrl { get; init; }
    public string? ClientId { get; init; }
}

internal sealed record ModelGroupConfig
{
    public required string Name { get; init; }
    public string? Family { get; init; }
    public required IReadOnlyList<DeploymentConfig> Deployments { get; init; }
    public IReadOnlyList<string> Fallback { get; init; } = [];
    /// <summary>weighted | least-busy | lowest-latency, among deployments of equal priority.</summary>
    public string Balance { get; init; } = "weighted";
}

internal sealed record DeploymentConfig
{
    public required string Provider { get; init; }
    public required string Model { get; init; }
    public int? Priority { get; init; }
    public int Weight { get; init; } = 1;
    /// <summary>USD per million tokens; overrides the built-in table.</summary>
    public PriceConfig? Price { get; init; }
}

internal sealed record PriceConfig(decimal Input, decimal Output, decimal? CacheRead = null, decimal? CacheWrite = null);

internal sealed record TierConfig
{
    public required string Name { get; init; }
    public long? DailyRequests { get; init; }
    public long? DailyTokens { get; init; }
    /// <summary>Null means every model.</summary>
    public IReadOnlyList<string>? Models { get; init; }
    public FrozenDictionary<string, string> Remap { get; init; } = FrozenDictionary<string, string>.Empty;
    public int? Rpm { get; init; }
    public int? Tpm { get; init; }
    public int? MaxParallel { get; init; }
}

internal sealed record DataClassConfig
{
    public required string Name { get; init; }
    public IReadOnlyList<string> AllowProviders { get; init; } = [];
}

/// <summary>A workspace's budget: the keys whose <c>workspace</c> names it share it.</summary>
internal sealed record WorkspaceConfig
{
    public required string Name { get; init; }
    public required decimal MaxBudget { get; init; }
    /// <summary>1d | 7d | 30d | calendar_month; windows of fixed length are aligned to the Unix epoch (UTC days).</summary>
    public string? BudgetPeriod { get; init; }
    /// <summary>A fraction (≤ 1) of max_budget or an amount.</summary>
    public decimal? SoftLimit { get; init; }
}

internal sealed record AuditConfig
{
    /// <summary>off | metadata (default) | full.</summary>
    public string Bodies { get; init; } = "metadata";
}

internal sealed record LedgerConfig
{
    public int FlushMs { get; init; } = 200;
    public int QueueCapacity { get; init; } = 100_000;
    /// <summary>Folder of the append-only spool, relative to the config file's folder.</summary>
    public string SpoolPath { get; init; } = "data/spool";
}
