using System.Data.Common;
using Npgsql;

namespace Tollgate.Storage.Postgres;

/// <summary>
/// The PostgreSQL store, over one <see cref="NpgsqlDataSource"/> (its pool serves concurrent callers).
/// Ledger batches go in with binary COPY (encoded by <see cref="PostgresLedgerCopy"/>) into a temporary staging table, then one
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

        // Fast path: one COPY straight into the ledger, behind a savepoint. A batch holds a request id the ledger
        // already has only when a spool is replayed after a crash; then COPY fails as a whole with a unique
        // violation, the savepoint undoes it, and the staging path below skips the known ids (any other failure takes
        // the staging path too, which then fails the same way if the batch itself is at fault).
        await ExecuteAsync(connection, transaction, "SAVEPOINT " + DirectCopySavepoint, cancellationToken);
        try
        {
            await CopyAsync(connection, PostgresLedgerCopy.DirectCommand, rows, cancellationToken);
            await transaction.CommitAsync(cancellationToken);
            return;
        }
        catch (NpgsqlException)
        {
            // Most likely that unique violation (it may surface while the rows are still being written). Whatever it
            // was, the staging path retries the batch; if the connection itself is gone, this rollback throws and the
            // writer retries the whole batch later, as for any outage.
            await ExecuteAsync(connection, transaction, "ROLLBACK TO SAVEPOINT " + DirectCopySavepoint, cancellationToken);
        }

        // A temporary table is private to this session, so concurrent writers never see each other's rows.
        // ON COMMIT DELETE ROWS empties it for the next batch if the pooled session keeps it.
        await ExecuteAsync(connection, transaction,
            "CREATE TEMP TABLE IF NOT EXISTS ledger_staging (LIKE ledger INCLUDING DEFAULTS) ON COMMIT DELETE ROWS",
            cancellationToken);
        await CopyAsync(connection, PostgresLedgerCopy.Command, rows, cancellationToken);

        // Inserting in request-id order makes two batches that overlap (a replay racing the original) take
        // their row locks in the same order, so they wait for each other instead of deadlocking.
        await ExecuteAsync(connection, transaction,
            $"INSERT INTO ledger ({LedgerColumns}) SELECT {LedgerColumns} FROM ledger_staging ORDER BY request_id " +
            "ON CONFLICT (request_id) DO NOTHING",
            cancellationToken);
        await transaction.CommitAsync(cancellationToken);
    }

    private const string DirectCopySavepoint = "ledger_direct_copy";

    /// <summary>
    /// Streams the rows, encoded by <see cref="PostgresLedgerCopy"/>, in chunks; a failure before the end cancels the
    /// COPY (CopyFail), so the server never takes a half-written stream for a whole one.
    /// </summary>
    private static async Task CopyAsync(NpgsqlConnection connection, string command, IReadOnlyList<LedgerRecord> rows, CancellationToken cancellationToken)
    {
        await using var copy = await connection.BeginRawBinaryCopyAsync(command, cancellationToken);
        using var encoder = new PostgresLedgerCopy();
        try
        {
            encoder.Header();
            for (var i = 0; i < rows.Count; i++)
            {
                encoder.Row(rows[i]);
                if (encoder.Length >= PostgresLedgerCopy.FlushBytes)
                {
                    await copy.WriteAsync(encoder.Written, cancellationToken);
                    encoder.Clear();
                }
            }

            encoder.Trailer();
            await copy.WriteAsync(encoder.Written, cancellationToken);
        }
        catch
        {
            try
            {
                await copy.CancelAsync();
            }
            catch (Exception)
            {
                // The connection is likely gone too; the first failure is the one worth reporting.
            }

            throw;
        }
    }

    public override ValueTask DisposeAsync() => _dataSource.DisposeAsync();
}
