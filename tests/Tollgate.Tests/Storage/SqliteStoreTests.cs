using Tollgate.Storage;
using Tollgate.Storage.Sqlite;

namespace Tollgate.Tests.Storage;

/// <summary>The store contract on SQLite: one temporary database file for the class.</summary>
public sealed class SqliteStoreTests(SqliteStoreFixture fixture) : StoreContractTests, IClassFixture<SqliteStoreFixture>
{
    private protected override IStore Store => fixture.Store;

    private protected override Task<IStore[]> OpenFreshStoresAsync(int count) => Task.FromResult(fixture.OpenFreshStores(count));

    [Fact]
    public async Task Ping_answers_false_when_the_file_cannot_be_opened()
    {
        await using var store = new SqliteStore(Path.Combine(fixture.Folder, "no-such-folder", "x.db"));
        (await store.PingAsync(Ct).WaitAsync(Timeout, Ct)).ShouldBeFalse();
    }

    [Fact]
    public async Task Database_file_is_in_wal_mode_after_migration()
    {
        var stores = fixture.OpenFreshStores(1);
        await using var store = stores[0];
        await store.MigrateAsync(Ct).WaitAsync(Timeout, Ct);

        File.Exists(fixture.LastFreshPath + "-wal").ShouldBeTrue();
    }
}

public sealed class SqliteStoreFixture : IAsyncLifetime
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private readonly List<IStore> _stores = [];

    internal string Folder { get; } = Path.Combine(Path.GetTempPath(), "tollgate-store-tests-" + Guid.NewGuid().ToString("N"));

    internal IStore Store { get; private set; } = null!;

    internal string LastFreshPath { get; private set; } = "";

    public async ValueTask InitializeAsync()
    {
        Directory.CreateDirectory(Folder);
        Store = new SqliteStore(Path.Combine(Folder, "store.db"));
        _stores.Add(Store);
        await Store.MigrateAsync(CancellationToken.None).WaitAsync(Timeout);
    }

    /// <summary>Stores over one new database file; each test disposes its own, and the folder goes at the end.</summary>
    internal IStore[] OpenFreshStores(int count)
    {
        LastFreshPath = Path.Combine(Folder, Guid.NewGuid().ToString("N") + ".db");
        return Enumerable.Range(0, count).Select(_ => (IStore)new SqliteStore(LastFreshPath)).ToArray();
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var store in _stores)
        {
            await store.DisposeAsync().AsTask().WaitAsync(Timeout);
        }

        if (Directory.Exists(Folder))
        {
            Directory.Delete(Folder, recursive: true);
        }
    }
}
