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

    /// <summary>How many ledger rows the batch insert writes between two yields of its thread.</summary>
    private const int YieldEveryRows = 32;

    public override async Task WriteLedgerAsync(IReadOnlyList<LedgerRecord> rows, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(rows);
        if (rows.Count == 0)
        {
            return;
        }

        await using var connection = await OpenConnectionAsync(forAggregates: false, cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        // One statement for the batch, bound by position on the native handle (see SqliteLedgerInsert for why).
        using (var insert = new SqliteLedgerInsert((SqliteConnection)connection))
        {
            for (var i = 0; i < rows.Count; i++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                insert.Insert(rows[i]);
                if (i % YieldEveryRows == YieldEveryRows - 1)
                {
                    // A 1000-row batch is several milliseconds of CPU on one thread. Without a yield, a request
                    // thread woken on this core waits out the scheduler's slice (p99 at one connection was 2.6-2.9 ms;
                    // with a yield every 32 rows 0.7-1.2 ms). A yield with nothing else runnable returns at once.
                    Thread.Yield();
                }
            }
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

    private static string FormatMoney(decimal value) => value.ToString(CultureInfo.InvariantCulture);

    private static decimal ParseMoney(string text) => decimal.Parse(text, NumberStyles.Number, CultureInfo.InvariantCulture);
}
