using System.Data.Common;
using Npgsql;
using NpgsqlTypes;

namespace Tollgate.Storage.Postgres;

/// <summary>
/// The PostgreSQL store, over one <see cref="NpgsqlDataSource"/> (its pool serves concurrent callers).
/// Ledger batches go in with binary COPY into a temporary staging table, then one
/// <c>INSERT … SELECT … ON CONFLICT (request_id) DO NOTHING</c>, so a replayed batch is harmless.
/// </summary>
internal sealed class PostgresStore : SqlStore
{
    /// <summary>Advisory lock that serialises migrations across processes: "Tollgate" in ASCII.</summary>
    private const long MigrationLockKey = 0x546F6C6C67617465;

    private readonly NpgsqlDataSource _dataSource;

    /// <param name="connection">A <c>postgresql://</c> URI or an Npgsql connection string.</param>
    /// <param name="timeProvider">Clock for migration timestamps; the system clock when null.</param>
    public PostgresStore(string connection, TimeProvider? timeProvider = null)
        : base(timeProvider)
    {
        _dataSource = NpgsqlDataSource.Create(PostgresConnectionString.ToNpgsql(connection));
    }

    public override string Dialect => "postgres";

    protected override string MigrationResourcePrefix => "Tollgate.Storage.Postgres.Migrations.";

    protected override async Task<DbConnection> OpenConnectionAsync(bool forAggregates, CancellationToken cancellationToken) =>
        await _dataSource.OpenConnectionAsync(cancellationToken);

    protected override async Task LockForMigrationsAsync(DbConnection connection, DbTransaction transaction, CancellationToken cancellationToken)
    {
        // Held until the migration transaction ends, so a second process waits, then finds the work done.
        await using var command = Command(connection, transaction, "SELECT pg_advisory_xact_lock(@key)");
        Add(command, "@key", MigrationLockKey);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    protected override string MoneySum(string column) => $"COALESCE(SUM({column}), 0)";

    protected override object MoneyToDb(decimal value) => value;

    protected override decimal MoneyFromDb(DbDataReader reader, int ordinal) => reader.GetDecimal(ordinal);

    public override async Task WriteLedgerAsync(IReadOnlyList<LedgerRecord> rows, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(rows);
        if (rows.Count == 0)
        {
            return;
        }

        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);

        // A temporary table is private to this session, so concurrent writers never see each other's rows.
        // ON COMMIT DELETE ROWS empties it for the next batch if the pooled session keeps it.
        await ExecuteAsync(connection, transaction,
            "CREATE TEMP TABLE IF NOT EXISTS ledger_staging (LIKE ledger INCLUDING DEFAULTS) ON COMMIT DELETE ROWS",
            cancellationToken);

        await using (var import = await connection.BeginBinaryImportAsync(
            $"COPY ledger_staging ({LedgerColumns}) FROM STDIN (FORMAT BINARY)", cancellationToken))
        {
            foreach (var row in rows)
            {
                await import.StartRowAsync(cancellationToken);
                await import.WriteAsync(row.RequestId, NpgsqlDbType.Text, cancellationToken);
                await import.WriteAsync(row.Time.ToUnixTimeMilliseconds(), NpgsqlDbType.Bigint, cancellationToken);
                await WriteTextAsync(import, row.KeyId, cancellationToken);
                await WriteTextAsync(import, row.KeyAlias, cancellationToken);
                await WriteTextAsync(import, row.Workspace, cancellationToken);
                await WriteTextAsync(import, row.Tier, cancellationToken);
                await WriteTextAsync(import, row.Endpoint, cancellationToken);
                await WriteTextAsync(import, row.ModelRequested, cancellationToken);
                await WriteTextAsync(import, row.ModelGroup, cancellationToken);
                await WriteTextAsync(import, row.AttemptsJson, cancellationToken);
                await WriteTextAsync(import, row.Deployment, cancellationToken);
                await WriteTextAsync(import, row.Provider, cancellationToken);
                await WriteTextAsync(import, row.Fallback, cancellationToken);
                await import.WriteAsync(row.Status, NpgsqlDbType.Integer, cancellationToken);
                await WriteTextAsync(import, row.ErrorType, cancellationToken);
                await import.WriteAsync(row.InputTokens, NpgsqlDbType.Bigint, cancellationToken);
                await import.WriteAsync(row.OutputTokens, NpgsqlDbType.Bigint, cancellationToken);
                await import.WriteAsync(row.CacheReadTokens, NpgsqlDbType.Bigint, cancellationToken);
                await import.WriteAsync(row.CacheWriteTokens, NpgsqlDbType.Bigint, cancellationToken);
                await import.WriteAsync(row.ReasoningTokens, NpgsqlDbType.Bigint, cancellationToken);
                await import.WriteAsync(row.Cost, NpgsqlDbType.Numeric, cancellationToken);
                await import.WriteAsync(row.NotionalCost, NpgsqlDbType.Numeric, cancellationToken);
                await WriteTextAsync(import, row.Currency, cancellationToken);
                await import.WriteAsync(row.LatencyMs, NpgsqlDbType.Double, cancellationToken);
                if (row.TtftMs is { } ttft)
                {
                    await import.WriteAsync(ttft, NpgsqlDbType.Double, cancellationToken);
                }
                else
                {
                    await import.WriteNullAsync(cancellationToken);
                }

                await import.WriteAsync(row.Streamed, NpgsqlDbType.Boolean, cancellationToken);
                await WriteTextAsync(import, row.UserAgent, cancellationToken);
                await WriteTextAsync(import, row.SessionId, cancellationToken);
                await WriteTextAsync(import, row.DataClasses, cancellationToken);
            }

            await import.CompleteAsync(cancellationToken);
        }

        // Inserting in request-id order makes two batches that overlap (a replay racing the original) take
        // their row locks in the same order, so they wait for each other instead of deadlocking.
        await ExecuteAsync(connection, transaction,
            $"INSERT INTO ledger ({LedgerColumns}) SELECT {LedgerColumns} FROM ledger_staging ORDER BY request_id " +
            "ON CONFLICT (request_id) DO NOTHING",
            cancellationToken);
        await transaction.CommitAsync(cancellationToken);
    }

    public override ValueTask DisposeAsync() => _dataSource.DisposeAsync();

    private static Task WriteTextAsync(NpgsqlBinaryImporter import, string? value, CancellationToken cancellationToken) =>
        value is null ? import.WriteNullAsync(cancellationToken) : import.WriteAsync(value, NpgsqlDbType.Text, cancellationToken);
}
