using System.Data.Common;
using System.Globalization;
using Microsoft.Data.Sqlite;

namespace Tollgate.Storage.Sqlite;

/// <summary>
/// The embedded default store: one SQLite file in WAL mode. Each operation takes a connection from
/// Microsoft.Data.Sqlite's pool, so concurrent callers never share one; writers serialise on SQLite's
/// write lock (IMMEDIATE transactions, with a busy timeout) and readers run alongside them under WAL.
/// </summary>
/// <remarks>
/// Money is stored as the invariant decimal string (TEXT): SQLite has no exact decimal type, REAL rounds,
/// and integer micro-units would cap the scale. <c>dec_sum</c>, registered on connections that aggregate,
/// sums those strings as <see cref="decimal"/>, so totals are as exact as the values.
/// </remarks>
internal sealed class SqliteStore : SqlStore
{
    private const string DecimalSum = "dec_sum";
    private const int BusyTimeoutMs = 10_000;

    private readonly string _connectionString;

    public SqliteStore(string path, TimeProvider? timeProvider = null)
        : base(timeProvider)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Cache = SqliteCacheMode.Private,
            Pooling = true,
            DefaultTimeout = 30,
        }.ToString();
    }

    public override string Dialect => "sqlite";

    protected override string MigrationResourcePrefix => "Tollgate.Storage.Sqlite.Migrations.";

    protected override async Task<DbConnection> OpenConnectionAsync(bool forAggregates, CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(_connectionString);
        try
        {
            await connection.OpenAsync(cancellationToken);

            // Per connection: pooled connections keep these, but a pragma is a cheap in-process call and
            // a fresh physical connection must not miss them. NORMAL is durable across a process crash in WAL mode.
            await ExecuteAsync(connection, null,
                $"PRAGMA busy_timeout = {BusyTimeoutMs}; PRAGMA synchronous = NORMAL;", cancellationToken);
            if (forAggregates)
            {
                connection.CreateAggregate<string?, decimal, string>(
                    DecimalSum,
                    0m,
                    static (total, value) => value is null ? total : total + ParseMoney(value),
                    static total => FormatMoney(total),
                    isDeterministic: true);
            }

            return connection;
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    protected override async Task BeforeMigrationsAsync(DbConnection connection, CancellationToken cancellationToken)
    {
        // WAL is a property of the file, so setting it once (outside a transaction) is enough.
        await using var command = Command(connection, null, "PRAGMA journal_mode = WAL;");
        var mode = await command.ExecuteScalarAsync(cancellationToken) as string;
        if (!string.Equals(mode, "wal", StringComparison.OrdinalIgnoreCase))
        {
            throw new InvalidOperationException($"SQLite refused WAL journal mode (it reports '{mode}').");
        }
    }

    // Microsoft.Data.Sqlite's BeginTransaction is BEGIN IMMEDIATE: it takes the write lock at once, so two
    // processes migrating the same file run one after the other. No extra lock is needed.

    protected override string MoneySum(string column) => $"COALESCE({DecimalSum}({column}), '0')";

    protected override object MoneyToDb(decimal value) => FormatMoney(value);

    protected override decimal MoneyFromDb(DbDataReader reader, int ordinal) => ParseMoney(reader.GetString(ordinal));

    public override async Task WriteLedgerAsync(IReadOnlyList<LedgerRecord> rows, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(rows);
        if (rows.Count == 0)
        {
            return;
        }

        await using var connection = await OpenConnectionAsync(forAggregates: false, cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using var command = Command(connection, transaction,
            $"INSERT INTO ledger ({LedgerColumns}) VALUES (@request_id, @time_ms, @key_id, @key_alias, @workspace, @tier, " +
            "@endpoint, @model_requested, @model_group, @attempts_json, @deployment, @provider, @fallback, @status, " +
            "@error_type, @input_tokens, @output_tokens, @cache_read_tokens, @cache_write_tokens, @reasoning_tokens, " +
            "@cost, @notional_cost, @currency, @latency_ms, @ttft_ms, @streamed, @user_agent, @session_id, @data_classes) " +
            // Only a duplicate request id is skipped (a replayed spool); any other constraint failure still throws.
            "ON CONFLICT (request_id) DO NOTHING");
        var p = new DbParameter[29];
        var names = LedgerColumns.Split(", ");
        for (var i = 0; i < names.Length; i++)
        {
            p[i] = Add(command, "@" + names[i], null);
        }

        await command.PrepareAsync(cancellationToken);
        foreach (var row in rows)
        {
            p[0].Value = row.RequestId;
            p[1].Value = row.Time.ToUnixTimeMilliseconds();
            p[2].Value = Db(row.KeyId);
            p[3].Value = Db(row.KeyAlias);
            p[4].Value = Db(row.Workspace);
            p[5].Value = Db(row.Tier);
            p[6].Value = Db(row.Endpoint);
            p[7].Value = Db(row.ModelRequested);
            p[8].Value = Db(row.ModelGroup);
            p[9].Value = Db(row.AttemptsJson);
            p[10].Value = Db(row.Deployment);
            p[11].Value = Db(row.Provider);
            p[12].Value = Db(row.Fallback);
            p[13].Value = row.Status;
            p[14].Value = Db(row.ErrorType);
            p[15].Value = row.InputTokens;
            p[16].Value = row.OutputTokens;
            p[17].Value = row.CacheReadTokens;
            p[18].Value = row.CacheWriteTokens;
            p[19].Value = row.ReasoningTokens;
            p[20].Value = FormatMoney(row.Cost);
            p[21].Value = FormatMoney(row.NotionalCost);
            p[22].Value = Db(row.Currency);
            p[23].Value = row.LatencyMs;
            p[24].Value = row.TtftMs is { } ttft ? ttft : DBNull.Value;
            p[25].Value = row.Streamed ? 1L : 0L;
            p[26].Value = Db(row.UserAgent);
            p[27].Value = Db(row.SessionId);
            p[28].Value = Db(row.DataClasses);
            await command.ExecuteNonQueryAsync(cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
    }

    public override ValueTask DisposeAsync()
    {
        // Close the pooled handles on this file, so it can be moved or deleted once the store is gone.
        using var connection = new SqliteConnection(_connectionString);
        SqliteConnection.ClearPool(connection);
        return ValueTask.CompletedTask;
    }

    private static object Db(string? value) => (object?)value ?? DBNull.Value;

    private static string FormatMoney(decimal value) => value.ToString(CultureInfo.InvariantCulture);

    private static decimal ParseMoney(string text) => decimal.Parse(text, NumberStyles.Number, CultureInfo.InvariantCulture);
}
