using System.Text.Json;
using System.Text.Json.Serialization;
using Tollgate.Storage;

namespace Tollgate.Admin;

/// <summary>Body of <c>POST /admin/keys</c> and <c>PATCH /admin/keys/{id}</c> (SPEC §7 field names). Every field is optional.</summary>
internal sealed record KeyRequest
{
    public string? Alias { get; init; }
    public string? Workspace { get; init; }
    public string? Tier { get; init; }
    public IReadOnlyList<string>? Models { get; init; }
    public decimal? MaxBudget { get; init; }
    public string? BudgetPeriod { get; init; }
    public decimal? SoftLimit { get; init; }
    public int? Rpm { get; init; }
    public int? Tpm { get; init; }
    public int? MaxParallel { get; init; }
    public IReadOnlyList<string>? DataClasses { get; init; }
    public DateTimeOffset? ExpiresAt { get; init; }
    public JsonElement? Metadata { get; init; }
}

/// <summary>Body of <c>POST /admin/keys/{id}/rotate</c>.</summary>
internal sealed record RotateRequest
{
    /// <summary>How long the old secret keeps working; 0 or absent means it stops at once.</summary>
    public int? GraceSeconds { get; init; }
}

/// <summary>A key as the admin API shows it. <see cref="Key"/> is set only in a mint or rotate response.</summary>
internal sealed record KeyView
{
    public required string Id { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Key { get; init; }
    public string? Alias { get; init; }
    public string? Workspace { get; init; }
    public string? Tier { get; init; }
    public IReadOnlyList<string>? Models { get; init; }
    public decimal? MaxBudget { get; init; }
    public string? BudgetPeriod { get; init; }
    public decimal? SoftLimit { get; init; }
    public int? Rpm { get; init; }
    public int? Tpm { get; init; }
    public int? MaxParallel { get; init; }
    public IReadOnlyList<string> DataClasses { get; init; } = [];
    public DateTimeOffset? ExpiresAt { get; init; }
    public JsonElement? Metadata { get; init; }
    public DateTimeOffset CreatedAt { get; init; }
    public DateTimeOffset? RotatedAt { get; init; }
    public DateTimeOffset? RevokedAt { get; init; }
    public required string Status { get; init; }
    /// <summary>The secret's first characters, to recognise it by.</summary>
    public string? KeyHint { get; init; }
    public decimal? Spend { get; init; }
    public string? Currency { get; init; }
    public DateTimeOffset? PeriodResetsAt { get; init; }

    public static KeyView From(VirtualKeyRecord r, DateTimeOffset now, string? secret = null) => new()
    {
        Id = r.Id,
        Key = secret,
        Alias = r.Alias,
        Workspace = r.Workspace,
        Tier = r.Tier,
        Models = r.Models,
        MaxBudget = r.MaxBudget,
        BudgetPeriod = r.BudgetPeriod,
        SoftLimit = r.SoftLimit,
        Rpm = r.Rpm,
        Tpm = r.Tpm,
        MaxParallel = r.MaxParallel,
        DataClasses = r.DataClasses,
        ExpiresAt = r.ExpiresAt,
        Metadata = r.MetadataJson is null ? null : JsonSerializer.Deserialize(r.MetadataJson, AdminJson.Default.JsonElement),
        CreatedAt = r.CreatedAt,
        RotatedAt = r.RotatedAt,
        RevokedAt = r.RevokedAt,
        Status = r.Status == "active" && r.ExpiresAt <= now ? "expired" : r.Status,
        KeyHint = r.Hint,
    };
}

/// <summary>A ledger row as <c>GET /admin/requests</c> shows it.</summary>
internal sealed record LedgerRowView
{
    public required string RequestId { get; init; }
    public DateTimeOffset Time { get; init; }
    public string? KeyId { get; init; }
    public string? KeyAlias { get; init; }
    public string? Workspace { get; init; }
    public string? Tier { get; init; }
    public string? Endpoint { get; init; }
    public string? ModelRequested { get; init; }
    public string? ModelGroup { get; init; }
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
    public decimal Cost { get; init; }
    public decimal NotionalCost { get; init; }
    public string? Currency { get; init; }
    public double LatencyMs { get; init; }
    public double? TtftMs { get; init; }
    public bool Streamed { get; init; }
    public string? UserAgent { get; init; }
    public string? SessionId { get; init; }
    public IReadOnlyList<string> DataClasses { get; init; } = [];
    public JsonElement? Attempts { get; init; }

    public static LedgerRowView From(LedgerRecord r) => new()
    {
        RequestId = r.RequestId,
        Time = r.Time,
        KeyId = r.KeyId,
        KeyAlias = r.KeyAlias,
        Workspace = r.Workspace,
        Tier = r.Tier,
        Endpoint = r.Endpoint,
        ModelRequested = r.ModelRequested,
        ModelGroup = r.ModelGroup,
        Deployment = r.Deployment,
        Provider = r.Provider,
        Fallback = r.Fallback,
        Status = r.Status,
        ErrorType = r.ErrorType,
        InputTokens = r.InputTokens,
        OutputTokens = r.OutputTokens,
        CacheReadTokens = r.CacheReadTokens,
        CacheWriteTokens = r.CacheWriteTokens,
        ReasoningTokens = r.ReasoningTokens,
        Cost = r.Cost,
        NotionalCost = r.NotionalCost,
        Currency = r.Currency,
        LatencyMs = r.LatencyMs,
        TtftMs = r.TtftMs,
        Streamed = r.Streamed,
        UserAgent = r.UserAgent,
        SessionId = r.SessionId,
        DataClasses = string.IsNullOrEmpty(r.DataClasses) ? [] : r.DataClasses.Split(','),
        Attempts = r.AttemptsJson is null ? null : JsonSerializer.Deserialize(r.AttemptsJson, AdminJson.Default.JsonElement),
    };
}

/// <summary>An audit record as <c>GET /admin/audit</c> shows it, newest first.</summary>
internal sealed record AuditView(string Id, DateTimeOffset Time, string Actor, string Action, string? Target, JsonElement? Details)
{
    public static AuditView From(AuditRecord r) => new(r.Id, r.Time, r.Actor, r.Action, r.Target,
        r.DetailsJson is null ? null : JsonSerializer.Deserialize(r.DetailsJson, AdminJson.Default.JsonElement));
}

internal sealed record SpendView(string Currency, string GroupBy, DateTimeOffset? From, DateTimeOffset? To, IReadOnlyList<SpendGroup> Groups);

internal sealed record AdminError(AdminErrorBody Error);

internal sealed record AdminErrorBody(string Message, string Type, string? Code = null);

internal sealed record ModelGroupView(string Id, string? Family, IReadOnlyList<DeploymentView> Deployments, IReadOnlyList<string> Fallback);

internal sealed record DeploymentView(string Provider, string Model, int Priority, string Kind, string Billing, bool Enabled, string? DisabledReason, bool Priced)
{
    /// <summary>healthy | cooling_down | half_open.</summary>
    public string State { get; init; } = "healthy";
    public DateTimeOffset? CooldownUntil { get; init; }
    public int ConsecutiveFailures { get; init; }
    public string? LastError { get; init; }
    public int InFlight { get; init; }
    public double? LatencyEwmaMs { get; init; }
    public long Successes { get; init; }
    public long Failures { get; init; }
}

internal sealed record ReloadView(bool Reloaded, IReadOnlyList<string> Errors, IReadOnlyList<string> Warnings);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, WriteIndented = false)]
[JsonSerializable(typeof(KeyRequest))]
[JsonSerializable(typeof(RotateRequest))]
[JsonSerializable(typeof(KeyView))]
[JsonSerializable(typeof(List<KeyView>))]
[JsonSerializable(typeof(List<LedgerRowView>))]
[JsonSerializable(typeof(SpendView))]
[JsonSerializable(typeof(List<AuditView>))]
[JsonSerializable(typeof(AdminError))]
[JsonSerializable(typeof(List<ModelGroupView>))]
[JsonSerializable(typeof(ReloadView))]
[JsonSerializable(typeof(JsonElement))]
internal sealed partial class AdminJson : JsonSerializerContext;
