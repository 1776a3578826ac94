using System.Data.Common;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Tollgate.Storage;

/// <summary>
/// The ADO.NET code both dialects share: the SQL for keys, audit and queries is written once in the
/// common subset of SQLite and PostgreSQL (named <c>@p</c> parameters, <c>ON CONFLICT … DO NOTHING</c>,
/// <c>LIMIT</c>), and a dialect supplies its connections, its money representation, its exact money
/// sum and its ledger batch writer.
/// </summary>
/// <remarks>
/// Times are unix epoch milliseconds (UTC) in both dialects, so day and hour buckets are plain integer
/// arithmetic and grouping is identical everywhere. Precision below a millisecond is dropped.
/// </remarks>
internal abstract class SqlStore : IStore
{
    private const long MsPerHour = 3_600_000;
    private const long MsPerDay = 86_400_000;

    /// <summary>The ledger's columns in the order every dialect writes and reads them.</summary>
    internal const string LedgerColumns =
        "request_id, time_ms, key_id, key_alias, workspace, tier, endpoint, model_requested, model_group, " +
        "attempts_json, deployment, provider, fallback, status, error_type, input_tokens, output_tokens, " +
        "cache_read_tokens, cache_write_tokens, reasoning_tokens, cost, notional_cost, currency, latency_ms, " +
        "ttft_ms, streamed, user_agent, session_id, data_classes";

    private const string KeyColumns =
        "id, alias, workspace, tier, models_json, max_budget, budget_period, soft_limit, rpm, tpm, max_parallel, " +
        "data_classes_json, expires_at, metadata_json, created_at, rotated_at, revoked_at, status, secret_hash, " +
        "previous_secret_hash, previous_secret_expires_at, hint";

    private const string AuditColumns = "id, time_ms, actor, action, target, details_json";

    protected SqlStore(TimeProvider? timeProvider)
    {
        TimeProvider = timeProvider ?? TimeProvider.System;
    }

    protected TimeProvider TimeProvider { get; }

    public abstract string Dialect { get; }

    /// <summary>Prefix of this dialect's embedded migration scripts.</summary>
    protected abstract string MigrationResourcePrefix { get; }

    /// <summary>Opens a connection. <paramref name="forAggregates"/> asks for <see cref="MoneySum"/> to be usable on it.</summary>
    protected abstract Task<DbConnection> OpenConnectionAsync(bool forAggregates, CancellationToken cancellationToken);

    /// <summary>An exact SQL sum of a money column, never NULL (0 for no rows).</summary>
    protected abstract string MoneySum(string column);

    /// <summary>A money value as the dialect stores it.</summary>
    protected abstract object MoneyToDb(decimal value);

    protected abstract decimal MoneyFromDb(DbDataReader reader, int ordinal);

    /// <summary>Runs before the migration transaction opens (SQLite switches to WAL there).</summary>
    protected virtual Task BeforeMigrationsAsync(DbConnection connection, CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Serialises migrations between processes, inside the migration transaction.</summary>
    protected virtual Task LockForMigrationsAsync(DbConnection connection, DbTransaction transaction, CancellationToken cancellationToken) => Task.CompletedTask;

    public abstract Task WriteLedgerAsync(IReadOnlyList<LedgerRecord> rows, CancellationToken cancellationToken);

    public abstract ValueTask DisposeAsync();

    public async Task MigrateAsync(CancellationToken cancellationToken)
    {
        var migrations = MigrationScripts.Load(MigrationResourcePrefix);
        await using var connection = await OpenConnectionAsync(forAggregates: false, cancellationToken);
        await BeforeMigrationsAsync(connection, cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await LockForMigrationsAsync(connection, transaction, cancellationToken);

        await ExecuteAsync(connection, transaction,
            "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT NOT NULL PRIMARY KEY, applied_at BIGINT NOT NULL)",
            cancellationToken);

        var applied = new HashSet<long>();
        await using (var select = Command(connection, transaction, "SELECT version FROM schema_migrations"))
        await using (var reader = await select.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                applied.Add(reader.GetInt64(0));
            }
        }

        var newest = migrations.Count == 0 ? 0 : migrations[^1].Version;
        var unknown = applied.Where(v => v > newest).ToList();
        if (unknown.Count > 0)
        {
            throw new InvalidOperationException(
                $"The {Dialect} database has schema version {unknown.Max()}, newer than this Tollgate knows ({newest}). Upgrade Tollgate.");
        }

        foreach (var migration in migrations.Where(m => !applied.Contains(m.Version)))
        {
            await ExecuteAsync(connection, transaction, migration.Sql, cancellationToken);
            await using var record = Command(connection, transaction,
                "INSERT INTO schema_migrations (version, applied_at) VALUES (@version, @applied_at)");
            Add(record, "@version", migration.Version);
            Add(record, "@applied_at", TimeProvider.GetUtcNow().ToUnixTimeMilliseconds());
            await record.ExecuteNonQueryAsync(cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
    }

    public async Task<bool> PingAsync(CancellationToken cancellationToken)
    {
        try
        {
            await using var connection = await OpenConnectionAsync(forAggregates: false, cancellationToken);
            await using var command = Command(connection, null, "SELECT 1");
            var result = await command.ExecuteScalarAsync(cancellationToken);
            return result is not null;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            return false;
        }
    }

    public async Task InsertKeyAsync(VirtualKeyRecord key, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(key);
        await using var connection = await OpenConnectionAsync(forAggregates: false, cancellationToken);
        await using var command = Command(connection, null,
            $"INSERT INTO keys ({KeyColumns}) VALUES (@id, @alias, @workspace, @tier, @models_json, @max_budget, " +
            "@budget_period, @soft_limit, @rpm, @tpm, @max_parallel, @data_classes_json, @expires_at, @metadata_json, " +
            "@created_at, @rotated_at, @revoked_at, @status, @secret_hash, @previous_secret_hash, " +
            "@previous_secret_expires_at, @hint)");
        AddKeyParameters(command, key);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task<bool> UpdateKeyAsync(VirtualKeyRecord key, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(key);
        await using var connection = await OpenConnectionAsync(forAggregates: false, cancellationToken);
        await using var command = Command(connection, null,
            "UPDATE keys SET alias = @alias, workspace = @workspace, tier = @tier, models_json = @models_json, " +
            "max_budget = @max_budget, budget_period = @budget_period, soft_limit = @soft_limit, rpm = @rpm, tpm = @tpm, " +
            "max_parallel = @max_parallel, data_classes_json = @data_classes_json, expires_at = @expires_at, " +
            "metadata_json = @metadata_json, created_at = @created_at, rotated_at = @rotated_at, revoked_at = @revoked_at, " +
            "status = @status, secret_hash = @secret_hash, previous_secret_hash = @previous_secret_hash, " +
            "previous_secret_expires_at = @previous_secret_expires_at, hint = @hint WHERE id = @id");
        AddKeyParameters(command, key);
        return await command.ExecuteNonQueryAsync(cancellationToken) > 0;
    }

    public async Task<VirtualKeyRecord?> GetKeyAsync(string id, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(id);
        await using var connection = await OpenConnectionAsync(forAggregates: false, cancellationToken);
        await using var command = Command(connection, null, $"SELECT {KeyColumns} FROM keys WHERE id = @id");
        Add(command, "@id", id);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) ? ReadKey(reader) : null;
    }

    public async Task<IReadOnlyList<VirtualKeyRecord>> ListKeysAsync(CancellationToken cancellationToken)
    {
        await using var connection = await OpenConnectionAsync(forAggregates: false, cancellationToken);
        await using var command = Command(connection, null, $"SELECT {KeyColumns} FROM keys ORDER BY created_at, id");
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var keys = new List<VirtualKeyRecord>();
        while (await reader.ReadAsync(cancellationToken))
        {
            keys.Add(ReadKey(reader));
        }

        return keys;
    }

    public async Task WriteAuditAsync(IReadOnlyList<AuditRecord> rows, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(rows);
        if (rows.Count == 0)
        {
            return;
        }

        await using var connection = await OpenConnectionAsync(forAggregates: false, cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using var command = Command(connection, transaction,
            $"INSERT INTO audit ({AuditColumns}) VALUES (@id, @time_ms, @actor, @action, @target, @details_json) " +
            "ON CONFLICT (id) DO NOTHING");
        var id = Add(command, "@id", "");
        var time = Add(command, "@time_ms", 0L);
        var actor = Add(command, "@actor", "");
        var action = Add(command, "@action", "");
        var target = Add(command, "@target", "");
        var details = Add(command, "@details_json", "");
        await command.PrepareAsync(cancellationToken);
        foreach (var row in rows)
        {
            id.Value = row.Id;
            time.Value = row.Time.ToUnixTimeMilliseconds();
            actor.Value = row.Actor;
            action.Value = row.Action;
            target.Value = (object?)row.Target ?? DBNull.Value;
            details.Value = (object?)row.DetailsJson ?? DBNull.Value;
            await command.ExecuteNonQueryAsync(cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
    }

    public async Task<IReadOnlyList<AuditRecord>> QueryAuditAsync(int limit, CancellationToken cancellationToken)
    {
        if (limit <= 0)
        {
            return [];
        }

        await using var connection = await OpenConnectionAsync(forAggregates: false, cancellationToken);
        await using var command = Command(connection, null,
            $"SELECT {AuditColumns} FROM audit ORDER BY time_ms DESC, id DESC LIMIT @limit");
        Add(command, "@limit", limit);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var rows = new List<AuditRecord>();
        while (await reader.ReadAsync(cancellationToken))
        {
            rows.Add(new AuditRecord
            {
                Id = reader.GetString(0),
                Time = FromMs(reader.GetInt64(1)),
                Actor = reader.GetString(2),
                Action = reader.GetString(3),
                Target = NullableString(reader, 4),
                DetailsJson = NullableString(reader, 5),
            });
        }

        return rows;
    }

    public async Task<IReadOnlyList<LedgerRecord>> QueryRequestsAsync(RequestQuery query, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        if (query.Limit <= 0)
        {
            return [];
        }

        await using var connection = await OpenConnectionAsync(forAggregates: false, cancellationToken);
        await using var command = connection.CreateCommand();
        var sql = new StringBuilder($"SELECT {LedgerColumns} FROM ledger WHERE 1 = 1");
        if (query.KeyId is not null)
        {
            sql.Append(" AND key_id = @key_id");
            Add(command, "@key_id", query.KeyId);
        }

        if (query.Since is { } since)
        {
            sql.Append(" AND time_ms >= @since");
            Add(command, "@since", since.ToUnixTimeMilliseconds());
        }

        sql.Append(" ORDER BY time_ms DESC, request_id DESC LIMIT @limit");
        Add(command, "@limit", query.Limit);
        command.CommandText = sql.ToString();

        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var rows = new List<LedgerRecord>();
        while (await reader.ReadAsync(cancellationToken))
        {
            rows.Add(ReadLedger(reader));
        }

        return rows;
    }

    public async Task<IReadOnlyList<SpendGroup>> QuerySpendAsync(SpendQuery query, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        var groupBy = query.GroupBy?.Trim().ToLowerInvariant();
        var (groupExpression, isTimeBucket) = groupBy switch
        {
            "key" => ("key_id", false),
            "model" => ("model_group", false),
            "provider" => ("provider", false),
            "day" => ($"(time_ms / {MsPerDay}) * {MsPerDay}", true),
            "hour" => ($"(time_ms / {MsPerHour}) * {MsPerHour}", true),
            _ => throw new ArgumentException(
                $"Unknown group_by '{query.GroupBy}'; expected key, model, provider, day or hour.", nameof(query)),
        };
        var byKey = groupBy == "key";

        await using var connection = await OpenConnectionAsync(forAggregates: true, cancellationToken);
        await using var command = connection.CreateCommand();
        var sql = new StringBuilder();
        sql.Append("SELECT ").Append(groupExpression).Append(" AS grp, COUNT(*), ")
            .Append("CAST(SUM(input_tokens) AS BIGINT), CAST(SUM(output_tokens) AS BIGINT), ")
            .Append("CAST(SUM(cache_read_tokens) AS BIGINT), CAST(SUM(cache_write_tokens) AS BIGINT), ")
            .Append(MoneySum("cost")).Append(", ").Append(MoneySum("notional_cost"));
        if (byKey)
        {
            // The alias a key had most recently: aliases can be renamed, and the newest name is the one operators know.
            sql.Append(", (SELECT l2.key_alias FROM ledger l2 WHERE l2.key_id = l.key_id AND l2.key_alias IS NOT NULL ")
                .Append("ORDER BY l2.time_ms DESC LIMIT 1)");
        }

        sql.Append(" FROM ledger l WHERE 1 = 1");
        if (query.From is { } from)
        {
            sql.Append(" AND time_ms >= @from");
            Add(command, "@from", from.ToUnixTimeMilliseconds());
        }

        if (query.To is { } to)
        {
            sql.Append(" AND time_ms < @to");
            Add(command, "@to", to.ToUnixTimeMilliseconds());
        }

        AppendEquals(sql, command, "key_id", query.KeyId);
        AppendEquals(sql, command, "workspace", query.Workspace);
        AppendEquals(sql, command, "model_group", query.ModelGroup);
        AppendEquals(sql, command, "provider", query.Provider);
        sql.Append(" GROUP BY ").Append(groupExpression);
        command.CommandText = sql.ToString();

        var groups = new List<SpendGroup>();
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                string group;
                if (isTimeBucket)
                {
                    group = FromMs(reader.GetInt64(0)).UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
                }
                else
                {
                    // A null key, model group or provider (e.g. a request refused before routing) groups as "".
                    group = NullableString(reader, 0) ?? "";
                }

                groups.Add(new SpendGroup
                {
                    Group = group,
                    KeyId = byKey ? NullableString(reader, 0) : null,
                    KeyAlias = byKey ? NullableString(reader, 8) : null,
                    Requests = reader.GetInt64(1),
                    InputTokens = reader.GetInt64(2),
                    OutputTokens = reader.GetInt64(3),
                    CacheReadTokens = reader.GetInt64(4),
                    CacheWriteTokens = reader.GetInt64(5),
                    Cost = MoneyFromDb(reader, 6),
                    NotionalCost = MoneyFromDb(reader, 7),
                });
            }
        }

        // Sorted here rather than in SQL: SQLite's money sums are text, which would sort as text.
        if (isTimeBucket)
        {
            groups.Sort((a, b) => string.CompareOrdinal(a.Group, b.Group));
        }
        else
        {
            groups.Sort((a, b) =>
            {
                var byCost = b.Cost.CompareTo(a.Cost);
                return byCost != 0 ? byCost : string.CompareOrdinal(a.Group, b.Group);
            });
        }

        return groups;
    }

    public async Task<decimal> SumKeySpendAsync(string keyId, DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(keyId);
        await using var connection = await OpenConnectionAsync(forAggregates: true, cancellationToken);
        await using var command = Command(connection, null,
            $"SELECT {MoneySum("cost")} FROM ledger WHERE key_id = @key_id AND time_ms >= @from AND time_ms < @to");
        Add(command, "@key_id", keyId);
        Add(command, "@from", from.ToUnixTimeMilliseconds());
        Add(command, "@to", to.ToUnixTimeMilliseconds());
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) ? MoneyFromDb(reader, 0) : 0m;
    }

    protected static DbCommand Command(DbConnection connection, DbTransaction? transaction, string sql)
    {
        var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        return command;
    }

    protected static async Task ExecuteAsync(DbConnection connection, DbTransaction? transaction, string sql, CancellationToken cancellationToken)
    {
        await using var command = Command(connection, transaction, sql);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    protected static DbParameter Add(DbCommand command, string name, object? value)
    {
        var parameter = command.CreateParameter();
        parameter.ParameterName = name;
        parameter.Value = value ?? DBNull.Value;
        command.Parameters.Add(parameter);
        return parameter;
    }

    protected static long? ToMs(DateTimeOffset? value) => value?.ToUnixTimeMilliseconds();

    protected static DateTimeOffset FromMs(long ms) => DateTimeOffset.FromUnixTimeMilliseconds(ms);

    protected static string? NullableString(DbDataReader reader, int ordinal) =>
        reader.IsDBNull(ordinal) ? null : reader.GetString(ordinal);

    private static void AppendEquals(StringBuilder sql, DbCommand command, string column, string? value)
    {
        if (value is not null)
        {
            sql.Append(" AND ").Append(column).Append(" = @").Append(column);
            Add(command, "@" + column, value);
        }
    }

    private void AddKeyParameters(DbCommand command, VirtualKeyRecord key)
    {
        Add(command, "@id", key.Id);
        Add(command, "@alias", key.Alias);
        Add(command, "@workspace", key.Workspace);
        Add(command, "@tier", key.Tier);
        Add(command, "@models_json", key.Models is null ? null : JsonSerializer.Serialize(key.Models.ToArray(), StoreJsonContext.Default.StringArray));
        Add(command, "@max_budget", key.MaxBudget is { } maxBudget ? MoneyToDb(maxBudget) : null);
        Add(command, "@budget_period", key.BudgetPeriod);
        Add(command, "@soft_limit", key.SoftLimit is { } softLimit ? MoneyToDb(softLimit) : null);
        Add(command, "@rpm", key.Rpm);
        Add(command, "@tpm", key.Tpm);
        Add(command, "@max_parallel", key.MaxParallel);
        Add(command, "@data_classes_json", JsonSerializer.Serialize((key.DataClasses ?? []).ToArray(), StoreJsonContext.Default.StringArray));
        Add(command, "@expires_at", ToMs(key.ExpiresAt));
        Add(command, "@metadata_json", key.MetadataJson);
        Add(command, "@created_at", key.CreatedAt.ToUnixTimeMilliseconds());
        Add(command, "@rotated_at", ToMs(key.RotatedAt));
        Add(command, "@revoked_at", ToMs(key.RevokedAt));
        Add(command, "@status", key.Status);
        Add(command, "@secret_hash", key.SecretHash);
        Add(command, "@previous_secret_hash", key.PreviousSecretHash);
        Add(command, "@previous_secret_expires_at", ToMs(key.PreviousSecretExpiresAt));
        Add(command, "@hint", key.Hint);
    }

    private VirtualKeyRecord ReadKey(DbDataReader r) => new()
    {
        Id = r.GetString(0),
        Alias = NullableString(r, 1),
        Workspace = NullableString(r, 2),
        Tier = NullableString(r, 3),
        Models = r.IsDBNull(4) ? null : ReadList(r.GetString(4)),
        MaxBudget = r.IsDBNull(5) ? null : MoneyFromDb(r, 5),
        BudgetPeriod = NullableString(r, 6),
        SoftLimit = r.IsDBNull(7) ? null : MoneyFromDb(r, 7),
        Rpm = r.IsDBNull(8) ? null : r.GetInt32(8),
        Tpm = r.IsDBNull(9) ? null : r.GetInt32(9),
        MaxParallel = r.IsDBNull(10) ? null : r.GetInt32(10),
        DataClasses = ReadList(r.GetString(11)),
        ExpiresAt = r.IsDBNull(12) ? null : FromMs(r.GetInt64(12)),
        MetadataJson = NullableString(r, 13),
        CreatedAt = FromMs(r.GetInt64(14)),
        RotatedAt = r.IsDBNull(15) ? null : FromMs(r.GetInt64(15)),
        RevokedAt = r.IsDBNull(16) ? null : FromMs(r.GetInt64(16)),
        Status = r.GetString(17),
        SecretHash = r.GetFieldValue<byte[]>(18),
        PreviousSecretHash = r.IsDBNull(19) ? null : r.GetFieldValue<byte[]>(19),
        PreviousSecretExpiresAt = r.IsDBNull(20) ? null : FromMs(r.GetInt64(20)),
        Hint = NullableString(r, 21),
    };

    /// <summary>Reads a row selected with <see cref="LedgerColumns"/>, in that order.</summary>
    private LedgerRecord ReadLedger(DbDataReader r) => new()
    {
        RequestId = r.GetString(0),
        Time = FromMs(r.GetInt64(1)),
        KeyId = NullableString(r, 2),
        KeyAlias = NullableString(r, 3),
        Workspace = NullableString(r, 4),
        Tier = NullableString(r, 5),
        Endpoint = NullableString(r, 6),
        ModelRequested = NullableString(r, 7),
        ModelGroup = NullableString(r, 8),
        AttemptsJson = NullableString(r, 9),
        Deployment = NullableString(r, 10),
        Provider = NullableString(r, 11),
        Fallback = NullableString(r, 12),
        Status = r.GetInt32(13),
        ErrorType = NullableString(r, 14),
        InputTokens = r.GetInt64(15),
        OutputTokens = r.GetInt64(16),
        CacheReadTokens = r.GetInt64(17),
        CacheWriteTokens = r.GetInt64(18),
        ReasoningTokens = r.GetInt64(19),
        Cost = MoneyFromDb(r, 20),
        NotionalCost = MoneyFromDb(r, 21),
        Currency = NullableString(r, 22),
        LatencyMs = r.GetDouble(23),
        TtftMs = r.IsDBNull(24) ? null : r.GetDouble(24),
        Streamed = r.GetBoolean(25),
        UserAgent = NullableString(r, 26),
        SessionId = NullableString(r, 27),
        DataClasses = NullableString(r, 28),
    };

    private static string[] ReadList(string json) =>
        JsonSerializer.Deserialize(json, StoreJsonContext.Default.StringArray) ?? [];
}
