namespace Tollgate.Storage;

/// <summary>
/// The durable store: keys, ledger and audit. SQLite (embedded default) and PostgreSQL implement it,
/// and one test suite runs against both. Nothing on the request path awaits it: the key cache and the
/// ledger writer sit in front.
/// </summary>
internal interface IStore : IAsyncDisposable
{
    /// <summary>Human name of the dialect, e.g. "sqlite" or "postgres".</summary>
    string Dialect { get; }

    /// <summary>Applies the dialect's versioned migrations that have not run yet. Idempotent.</summary>
    Task MigrateAsync(CancellationToken cancellationToken);

    /// <summary>True when the store answers a trivial query.</summary>
    Task<bool> PingAsync(CancellationToken cancellationToken);

    Task InsertKeyAsync(VirtualKeyRecord key, CancellationToken cancellationToken);

    /// <summary>Replaces every column of the key with <paramref name="key"/>'s values. Returns false when no such id.</summary>
    Task<bool> UpdateKeyAsync(VirtualKeyRecord key, CancellationToken cancellationToken);

    Task<VirtualKeyRecord?> GetKeyAsync(string id, CancellationToken cancellationToken);

    /// <summary>Every key, revoked ones included, ordered by creation time.</summary>
    Task<IReadOnlyList<VirtualKeyRecord>> ListKeysAsync(CancellationToken cancellationToken);

    /// <summary>Writes a batch in one round trip where the dialect allows (binary COPY on PostgreSQL). Rows whose request id exists already are skipped, so a replayed spool is harmless.</summary>
    Task WriteLedgerAsync(IReadOnlyList<LedgerRecord> rows, CancellationToken cancellationToken);

    Task WriteAuditAsync(IReadOnlyList<AuditRecord> rows, CancellationToken cancellationToken);

    /// <summary>Ledger rows, newest first.</summary>
    Task<IReadOnlyList<LedgerRecord>> QueryRequestsAsync(RequestQuery query, CancellationToken cancellationToken);

    /// <summary>Totals grouped as the query asks.</summary>
    Task<IReadOnlyList<SpendGroup>> QuerySpendAsync(SpendQuery query, CancellationToken cancellationToken);

    /// <summary>Sum of ledger cost for one key in [from, to).</summary>
    Task<decimal> SumKeySpendAsync(string keyId, DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken);

    Task<IReadOnlyList<AuditRecord>> QueryAuditAsync(int limit, CancellationToken cancellationToken);
}

/// <summary>A virtual key as stored. The secret itself is never stored, only its SHA-256.</summary>
internal sealed record VirtualKeyRecord
{
    public required string Id { get; init; }
    public string? Alias { get; init; }
    public string? Workspace { get; init; }
    public string? Tier { get; init; }
    /// <summary>Allowed aliases; null means whatever the tier allows.</summary>
    public IReadOnlyList<string>? Models { get; init; }
    public decimal? MaxBudget { get; init; }
    /// <summary>1d | 7d | 30d | calendar_month.</summary>
    public string? BudgetPeriod { get; init; }
    /// <summary>A fraction (≤ 1) of max_budget or an amount.</summary>
    public decimal? SoftLimit { get; init; }
    public int? Rpm { get; init; }
    public int? Tpm { get; init; }
    public int? MaxParallel { get; init; }
    public IReadOnlyList<string> DataClasses { get; init; } = [];
    public DateTimeOffset? ExpiresAt { get; init; }
    /// <summary>Free-form JSON object, as text.</summary>
    public string? MetadataJson { get; init; }
    public required DateTimeOffset CreatedAt { get; init; }
    public DateTimeOffset? RotatedAt { get; init; }
    public DateTimeOffset? RevokedAt { get; init; }
    /// <summary>active | revoked.</summary>
    public string Status { get; init; } = "active";
    /// <summary>SHA-256 of the secret (32 bytes).</summary>
    public required byte[] SecretHash { get; init; }
    /// <summary>The previous secret's hash during a rotation grace period.</summary>
    public byte[]? PreviousSecretHash { get; init; }
    public DateTimeOffset? PreviousSecretExpiresAt { get; init; }
    /// <summary>First characters of the secret, for operators to recognise it (e.g. "tg-AbCd").</summary>
    public string? Hint { get; init; }
}

/// <summary>One row per authenticated request (SPEC §6).</summary>
internal sealed record LedgerRecord
{
    public required string RequestId { get; init; }
    public required DateTimeOffset Time { get; init; }
    public string? KeyId { get; init; }
    public string? KeyAlias { get; init; }
    public string? Workspace { get; init; }
    public string? Tier { get; init; }
    /// <summary>openai.chat | openai.responses | openai.embeddings | anthropic.messages | …</summary>
    public string? Endpoint { get; init; }
    public string? ModelRequested { get; init; }
    public string? ModelGroup { get; init; }
    /// <summary>JSON array of {deployment, status, latency_ms, error}.</summary>
    public string? AttemptsJson { get; init; }
    /// <summary>"provider/model" that served, if any.</summary>
    public string? Deployment { get; init; }
    public string? Provider { get; init; }
    public string? Fallback { get; init; }
    public int Status { get; init; }
    public string? ErrorType { get; init; }
    public long InputTokens { get; init; }
    public long OutputTokens { get; init; }
    public long CacheReadTokens { get; init; }
    public long CacheWriteTokens { get; init; }
    public long ReasoningTokens { get; init; }
    /// <summary>Marginal cost in the reporting currency (0 for subscription).</summary>
    public decimal Cost { get; init; }
    /// <summary>List-price cost in the reporting currency (equals Cost for metered).</summary>
    public decimal NotionalCost { get; init; }
    public string? Currency { get; init; }
    public double LatencyMs { get; init; }
    public double? TtftMs { get; init; }
    public bool Streamed { get; init; }
    public string? UserAgent { get; init; }
    public string? SessionId { get; init; }
    /// <summary>Comma-separated data classes.</summary>
    public string? DataClasses { get; init; }
}

internal sealed record AuditRecord
{
    public required string Id { get; init; }
    public required DateTimeOffset Time { get; init; }
    /// <summary>Who: "master", a key id, an OIDC subject.</summary>
    public required string Actor { get; init; }
    /// <summary>key.mint | key.rotate | key.revoke | key.update | config.reload | request | …</summary>
    public required string Action { get; init; }
    public string? Target { get; init; }
    /// <summary>JSON object with details; never a secret.</summary>
    public string? DetailsJson { get; init; }
}

internal sealed record RequestQuery(string? KeyId = null, DateTimeOffset? Since = null, int Limit = 100);

/// <summary>group_by: key | model | provider | day | hour.</summary>
internal sealed record SpendQuery(
    string GroupBy,
    DateTimeOffset? From = null,
    DateTimeOffset? To = null,
    string? KeyId = null,
    string? Workspace = null,
    string? ModelGroup = null,
    string? Provider = null);

internal sealed record SpendGroup
{
    /// <summary>The group's value: key id, model group, provider, or the UTC day/hour start in ISO 8601.</summary>
    public required string Group { get; init; }
    public string? KeyId { get; init; }
    public string? KeyAlias { get; init; }
    public long Requests { get; init; }
    public long InputTokens { get; init; }
    public long OutputTokens { get; init; }
    public long CacheReadTokens { get; init; }
    public long CacheWriteTokens { get; init; }
    public decimal Cost { get; init; }
    public decimal NotionalCost { get; init; }
}
