using Npgsql;
using Tollgate.Storage;
using Tollgate.Storage.Postgres;

namespace Tollgate.Tests.Storage;

/// <summary>
/// The store contract on a real PostgreSQL. <c>TOLLGATE_TEST_PG</c> names a superuser connection
/// (Npgsql Key=Value); the fixture creates a fresh database for the class and drops it afterwards.
/// </summary>
public sealed class PostgresStoreTests(PostgresStoreFixture fixture) : StoreContractTests, IClassFixture<PostgresStoreFixture>
{
    private protected override IStore Store => fixture.Store;

    private protected override async Task<IStore[]> OpenFreshStoresAsync(int count)
    {
        var connectionString = await fixture.CreateDatabaseAsync();
        return Enumerable.Range(0, count).Select(_ => (IStore)new PostgresStore(connectionString)).ToArray();
    }

    [Fact]
    public async Task Store_opens_with_a_postgresql_uri_as_well()
    {
        var b = new NpgsqlConnectionStringBuilder(fixture.ConnectionString);
        var uri = $"postgresql://{Uri.EscapeDataString(b.Username!)}:{Uri.EscapeDataString(b.Password ?? "")}@{b.Host}:{b.Port}/{Uri.EscapeDataString(b.Database!)}?sslmode=disable&application_name=tollgate-test";
        await using var store = new PostgresStore(uri);

        (await store.PingAsync(Ct).WaitAsync(Timeout, Ct)).ShouldBeTrue();
        await store.MigrateAsync(Ct).WaitAsync(Timeout, Ct);
    }

    [Fact]
    public async Task The_ledger_keys_compare_bytewise_also_after_an_upgrade_from_version_1()
    {
        var connectionString = await fixture.CreateDatabaseAsync();
        await using var store = new PostgresStore(connectionString);
        await store.MigrateAsync(Ct).WaitAsync(Timeout, Ct);
        (await LedgerKeyCollationsAsync(connectionString)).ShouldBe(["C", "C"]);

        // Back to version 1 as it shipped (the database's default collation), with a row in the ledger.
        await ExecuteAsync(connectionString,
            "ALTER TABLE ledger ALTER COLUMN request_id TYPE TEXT COLLATE \"default\", ALTER COLUMN key_id TYPE TEXT COLLATE \"default\"; " +
            "DELETE FROM schema_migrations WHERE version = 2");
        (await LedgerKeyCollationsAsync(connectionString)).ShouldBe([null, null]);
        var at = DateTimeOffset.FromUnixTimeMilliseconds(1_790_000_000_000);
        await store.WriteLedgerAsync([new LedgerRecord { RequestId = "req_before_upgrade", Time = at, KeyId = "key-up", Cost = 0.25m }], Ct).WaitAsync(Timeout, Ct);

        await store.MigrateAsync(Ct).WaitAsync(Timeout, Ct);
        (await LedgerKeyCollationsAsync(connectionString)).ShouldBe(["C", "C"]);
        (await store.SumKeySpendAsync("key-up", at.AddDays(-1), at.AddDays(1), Ct).WaitAsync(Timeout, Ct)).ShouldBe(0.25m);

        // The unique key still refuses a second row with the same id (a replayed batch skips it).
        await store.WriteLedgerAsync([new LedgerRecord { RequestId = "req_before_upgrade", Time = at, KeyId = "key-up", Cost = 9m }], Ct).WaitAsync(Timeout, Ct);
        (await store.SumKeySpendAsync("key-up", at.AddDays(-1), at.AddDays(1), Ct).WaitAsync(Timeout, Ct)).ShouldBe(0.25m);
    }

    private static async Task<string?[]> LedgerKeyCollationsAsync(string connectionString)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(Ct);
        await using var command = new NpgsqlCommand(
            "SELECT collation_name FROM information_schema.columns WHERE table_name = 'ledger' AND column_name IN ('request_id', 'key_id') ORDER BY column_name DESC",
            connection);
        await using var reader = await command.ExecuteReaderAsync(Ct);
        var names = new List<string?>();
        while (await reader.ReadAsync(Ct))
        {
            names.Add(reader.IsDBNull(0) ? null : reader.GetString(0));
        }

        return [.. names];
    }

    private static async Task ExecuteAsync(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(Ct);
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync(Ct);
    }

    [Fact]
    public async Task Ping_answers_false_when_nothing_listens()
    {
        await using var store = new PostgresStore("Host=127.0.0.1;Port=1;Username=nobody;Password=nothing;Timeout=3");
        (await store.PingAsync(Ct).WaitAsync(Timeout, Ct)).ShouldBeFalse();
    }
}

public sealed class PostgresStoreFixture : IAsyncLifetime
{
    internal const string EnvironmentVariable = "TOLLGATE_TEST_PG";
    internal const string Missing = "TOLLGATE_TEST_PG is not set; run the README test command, which starts PostgreSQL";
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private readonly Lock _lock = new();
    private readonly List<string> _databases = [];
    private string? _admin;

    internal IStore Store { get; private set; } = null!;

    /// <summary>The class database's connection string.</summary>
    internal string ConnectionString { get; private set; } = "";

    public async ValueTask InitializeAsync()
    {
        _admin = Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (string.IsNullOrWhiteSpace(_admin))
        {
            // Fail, never skip: a green run must mean the PostgreSQL dialect was tested.
            throw new InvalidOperationException(Missing);
        }

        ConnectionString = await CreateDatabaseAsync();
        Store = new PostgresStore(ConnectionString);
        await Store.MigrateAsync(CancellationToken.None).WaitAsync(Timeout);
    }

    /// <summary>Creates an empty database with a random name, dropped when the class is done.</summary>
    internal async Task<string> CreateDatabaseAsync()
    {
        var name = "tollgate_test_" + Guid.NewGuid().ToString("N");
        await using (var connection = new NpgsqlConnection(_admin))
        {
            await connection.OpenAsync().WaitAsync(Timeout);
            await using var command = new NpgsqlCommand($"CREATE DATABASE \"{name}\"", connection);
            await command.ExecuteNonQueryAsync().WaitAsync(Timeout);
        }

        lock (_lock)
        {
            _databases.Add(name);
        }

        return new NpgsqlConnectionStringBuilder(_admin) { Database = name }.ConnectionString;
    }

    public async ValueTask DisposeAsync()
    {
        if (Store is not null)
        {
            await Store.DisposeAsync().AsTask().WaitAsync(Timeout);
        }

        if (_admin is null || _databases.Count == 0)
        {
            return;
        }

        await using var connection = new NpgsqlConnection(_admin);
        await connection.OpenAsync().WaitAsync(Timeout);
        foreach (var name in _databases)
        {
            await using var command = new NpgsqlCommand($"DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)", connection);
            await command.ExecuteNonQueryAsync().WaitAsync(Timeout);
        }
    }
}
