using Tollgate.Configuration;
using Tollgate.Storage.Postgres;
using Tollgate.Storage.Sqlite;

namespace Tollgate.Storage;

/// <summary>Builds the configured store. Call <see cref="IStore.MigrateAsync"/> on the result before use.</summary>
internal static class StoreFactory
{
    /// <param name="config">The <c>store</c> section. For SQLite, <see cref="StoreConfig.Path"/> should already be resolved against the config file's folder.</param>
    /// <param name="connectionString">The resolved <c>store.connection</c> secret for postgres (a <c>postgresql://</c> URI or an Npgsql string); null for sqlite.</param>
    /// <param name="timeProvider">Clock for migration timestamps; the system clock when null.</param>
    public static IStore Create(StoreConfig config, string? connectionString, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        switch (config.Kind)
        {
            case "sqlite":
                var path = Path.GetFullPath(config.Path);
                var folder = Path.GetDirectoryName(path);
                if (!string.IsNullOrEmpty(folder))
                {
                    Directory.CreateDirectory(folder);
                }

                return new SqliteStore(path, timeProvider);
            case "postgres":
                if (string.IsNullOrWhiteSpace(connectionString))
                {
                    throw new ArgumentException("store.kind is postgres but store.connection resolved to nothing.", nameof(connectionString));
                }

                return new PostgresStore(connectionString, timeProvider);
            default:
                throw new ArgumentException($"Unknown store.kind '{config.Kind}'; expected sqlite or postgres.", nameof(config));
        }
    }
}
