using Tollgate.Configuration;
using Tollgate.Storage;
using Tollgate.Storage.Postgres;
using Tollgate.Storage.Sqlite;

namespace Tollgate.Tests.Storage;

public sealed class StoreFactoryTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Sqlite_store_creates_the_missing_folder_and_migrates()
    {
        var root = Path.Combine(Path.GetTempPath(), "tollgate-factory-" + Guid.NewGuid().ToString("N"));
        try
        {
            var path = Path.Combine(root, "nested", "data", "tollgate.db");
            await using (var store = StoreFactory.Create(new StoreConfig { Kind = "sqlite", Path = path }, null))
            {
                store.ShouldBeOfType<SqliteStore>().Dialect.ShouldBe("sqlite");
                Directory.Exists(Path.GetDirectoryName(path)).ShouldBeTrue();
                await store.MigrateAsync(TestContext.Current.CancellationToken).WaitAsync(Timeout, TestContext.Current.CancellationToken);
            }

            File.Exists(path).ShouldBeTrue();
        }
        finally
        {
            if (Directory.Exists(root))
            {
                Directory.Delete(root, recursive: true);
            }
        }
    }

    [Fact]
    public async Task Postgres_store_is_built_from_the_resolved_connection()
    {
        await using var store = StoreFactory.Create(new StoreConfig { Kind = "postgres" }, "postgresql://u:p@127.0.0.1:1/d");
        store.ShouldBeOfType<PostgresStore>().Dialect.ShouldBe("postgres");
    }

    [Fact]
    public void Postgres_without_a_connection_is_refused()
    {
        Should.Throw<ArgumentException>(() => StoreFactory.Create(new StoreConfig { Kind = "postgres" }, null));
    }

    [Fact]
    public void Unknown_kind_is_refused()
    {
        Should.Throw<ArgumentException>(() => StoreFactory.Create(new StoreConfig { Kind = "mysql" }, null));
    }
}
