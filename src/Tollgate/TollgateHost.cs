using System.Net.Sockets;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Tollgate.Admin;
using Tollgate.Configuration;
using Tollgate.Keys;
using Tollgate.Ledger;
using Tollgate.Limits;
using Tollgate.Pipeline;
using Tollgate.Providers;
using Tollgate.Routing;
using Tollgate.Storage;
using Tollgate.Surfaces;
using Tollgate.Surfaces.Anthropic;
using Tollgate.Surfaces.OpenAi;
using Tollgate.Telemetry;
using StackExchange.Redis;

namespace Tollgate;

/// <summary>Builds and runs the gateway. Start-up problems are one clear line each on stderr, never a stack trace.</summary>
internal static class TollgateHost
{
    private const int StartupFailed = 2;

    public static int Run(string[] args)
    {
        var configPath = ConfigPath(args);
        TollgateConfig config;
        try
        {
            config = ConfigLoader.Load(configPath);
        }
        catch (ConfigException ex)
        {
            foreach (var error in ex.Errors)
            {
                Console.Error.WriteLine($"error: {error}");
            }

            Console.Error.WriteLine($"error: the config {configPath} is invalid; Tollgate did not start (pass --config PATH or set TOLLGATE_CONFIG).");
            return StartupFailed;
        }

        foreach (var warning in config.Warnings)
        {
            Console.Error.WriteLine($"warning: {warning}");
        }

        if (Resolve(config.Server.MasterKey, "server.master_key", required: config.Server.Admin, out var masterKey) is { } masterProblem)
        {
            Console.Error.WriteLine($"error: {masterProblem}");
            return StartupFailed;
        }

        string? storeConnection = null;
        if (config.Store.Kind == "postgres" && Resolve(config.Store.Connection, "store.connection", required: true, out storeConnection) is { } storeProblem)
        {
            Console.Error.WriteLine($"error: {storeProblem}");
            return StartupFailed;
        }

        IStore store;
        try
        {
            store = StoreFactory.Create(config.Store, storeConnection);
            store.MigrateAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(60)).GetAwaiter().GetResult();
        }
        catch (Exception ex)
        {
            Console.Error.WriteLine($"error: the {config.Store.Kind} store could not be opened: {ex.GetType().Name}: {FirstLine(ex.Message)}");
            return StartupFailed;
        }

        string? redisConnection = null;
        if (config.Redis is { } redis && Resolve(redis.Connection, "redis.connection", required: true, out redisConnection) is { } redisProblem)
        {
            Console.Error.WriteLine($"error: {redisProblem}");
            return StartupFailed;
        }

        ILimiter limiter;
        try
        {
            var options = new LimiterOptions { Currency = config.Reporting.Currency, WorkspaceBudgets = WorkspaceBudgets(config), Leases = config.Redis?.Leases ?? true };
            limiter = LimiterFactory.CreateAsync(config.Redis, redisConnection, options, SpendLoaders.FromStore(store), CancellationToken.None)
                .WaitAsync(TimeSpan.FromSeconds(30)).GetAwaiter().GetResult();
        }
        catch (Exception ex)
        {
            Console.Error.WriteLine($"error: Redis could not be reached: {ex.GetType().Name}: {FirstLine(ex.Message)}");
            return StartupFailed;
        }

        // Durability: key changes fan out over Redis pub/sub on a connection of their own (subscriptions need one anyway).
        IConnectionMultiplexer? keyFanout = null;
        if (config.Redis is not null)
        {
            try
            {
                keyFanout = ConnectionMultiplexer.ConnectAsync(RedisConnection.Parse(redisConnection!))
                    .WaitAsync(TimeSpan.FromSeconds(30)).GetAwaiter().GetResult();
            }
            catch (Exception ex)
            {
                Console.Error.WriteLine($"error: Redis could not be reached for key fan-out: {ex.GetType().Name}: {FirstLine(ex.Message)}");
                return StartupFailed;
            }
        }

        WebApplication app;
        try
        {
            app = Build(args, config, store, masterKey, limiter, keyFanout);
        }
        catch (Exception ex)
        {
            Console.Error.WriteLine($"error: start-up failed: {ex.GetType().Name}: {FirstLine(ex.Message)}");
            return StartupFailed;
        }

        try
        {
            app.Run();
            return 0;
        }
        catch (IOException ex) when (ex.InnerException is SocketException || ex.Message.Contains("address", StringComparison.OrdinalIgnoreCase))
        {
            Console.Error.WriteLine($"error: cannot listen: {FirstLine(ex.Message)} Choose another port with --urls http://127.0.0.1:PORT.");
            return StartupFailed;
        }
    }

    private static WebApplication Build(string[] args, TollgateConfig config, IStore store, string? masterKey, ILimiter limiter, IConnectionMultiplexer? keyFanout)
    {
        var builder = WebApplication.CreateSlimBuilder(args);
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ";
            o.UseUtcTimestamp = true;
        });
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        // Hosting's per-request diagnostics log only at Information and Debug, yet while its category is enabled at
        // all, every request gets an Activity and a logging scope (allocations and CPU on the hot path). Tollgate's
        // own request log is the ledger.
        builder.Logging.AddFilter("Microsoft.AspNetCore.Hosting.Diagnostics", LogLevel.None);
        builder.Logging.AddFilter("Microsoft.Hosting.Lifetime", LogLevel.Information);
        builder.Logging.AddFilter("System.Net.Http", LogLevel.Warning);
        // A failed start (a port taken) is reported as one line by Run; the host's own stack trace is noise.
        builder.Logging.AddFilter("Microsoft.Extensions.Hosting.Internal.Host", LogLevel.Critical);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            // The surfaces enforce server.max_body_bytes themselves, so the error comes in the caller's API shape.
            k.Limits.MaxRequestBodySize = null;
        });
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(30));

        var services = builder.Services;
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton(store);
        services.AddSingleton(config.Ledger);
        services.AddSingleton(sp => new ConfigMonitor(config, sp.GetRequiredService<ILogger<ConfigMonitor>>(), sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton<HealthRegistry>();
        services.AddSingleton<IOAuthTokenStore, InMemoryOAuthTokenStore>();
        services.AddSingleton(sp => new RouteTableHolder(config, sp.GetRequiredService<HealthRegistry>(),
            new ProviderServices(sp.GetRequiredService<IOAuthTokenStore>(), sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILoggerFactory>())));
        services.AddSingleton<KeyCache>();
        services.AddSingleton<KeyChanges>();
        if (keyFanout is not null)
        {
            services.AddSingleton(new RedisKeyChannel(keyFanout));
            services.AddSingleton<IKeyChangePublisher>(sp => sp.GetRequiredService<RedisKeyChannel>());
            services.AddHostedService<KeyChangeSubscriber>();
        }
        else
        {
            services.AddSingleton<IKeyChangePublisher>(NoKeyChangePublisher.Instance);
        }

        services.AddSingleton<KeyService>();
        // Durability (Ledger/): the spooled ledger writer, and the store's health for readiness and on_store_down.
        services.AddSingleton<StoreHealth>();
        services.AddHostedService<StoreHealthMonitor>();
        services.AddSingleton(sp => new LedgerWriter(sp.GetRequiredService<IStore>(), config.Ledger, sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<LedgerWriter>>(), sp.GetRequiredService<StoreHealth>()));
        services.AddHostedService(sp => sp.GetRequiredService<LedgerWriter>());
        services.AddHostedService<KeyRefresher>();
        services.AddSingleton<GatewayPipeline>();
        // Audit records are spooled beside the ledger (audit-*.spool in ledger.spool_path) and drained the same way.
        services.AddSingleton(sp => new AuditWriter(sp.GetRequiredService<IStore>(), config.Ledger, sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<AuditWriter>>()));
        services.AddHostedService(sp => sp.GetRequiredService<AuditWriter>());
        services.AddSingleton(limiter);
        services.AddSingleton<LimitsGate>();
        services.AddSingleton<MetricsRegistry>();
        services.AddSingleton(sp => new GatewayMetrics(sp.GetRequiredService<MetricsRegistry>(), sp.GetRequiredService<HealthRegistry>(),
            () => sp.GetRequiredService<LedgerWriter>().QueueDepth, () => sp.GetRequiredService<LedgerWriter>().SpoolBytes, sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton(new MasterKey(masterKey ?? KeySecrets.NewSecret()));

        var app = builder.Build();
        // Opens (and locks) the ledger and audit spools now, so a spool another process holds stops start-up with one clear line.
        _ = app.Services.GetRequiredService<LedgerWriter>();
        _ = app.Services.GetRequiredService<AuditWriter>();
        var keys = app.Services.GetRequiredService<KeyCache>();
        keys.Load(store.ListKeysAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(60)).GetAwaiter().GetResult());

        var monitor = app.Services.GetRequiredService<ConfigMonitor>();
        var routes = app.Services.GetRequiredService<RouteTableHolder>();
        monitor.Changed += routes.Apply;
        monitor.Changed += next => limiter.UpdateWorkspaceBudgets(WorkspaceBudgets(next));

        app.MapTollgateBasics();
        var metrics = app.Services.GetRequiredService<MetricsRegistry>();
        if (limiter is RedisLimiter redisLimiter)
        {
            metrics.ObservedCounter("gateway_limiter_leases_total", "Leases Redis granted this replica (each admits many requests of a key far from its limits).",
                () => [(redisLimiter.LeaseStats.Granted, [])]);
            metrics.ObservedCounter("gateway_limiter_lease_admissions_total", "Admissions this replica took from its leases, without a Redis call.",
                () => [(redisLimiter.LeaseStats.Admissions, [])]);
            metrics.ObservedCounter("gateway_limiter_settlement_retries_total", "Calls this replica made to send again the settlements of a Redis call that failed.",
                () => [(redisLimiter.Stats.SettlementRetries, [])]);
            metrics.ObservedCounter("gateway_limiter_settlements_abandoned_total", "Settlements this replica gave up on after a minute of retries: Redis's spend misses them until its next seed from the store.",
                () => [(redisLimiter.Stats.SettlementsAbandoned, [])]);
        }

        app.MapGet("/metrics", () => Results.Text(metrics.Render(), MetricsRegistry.ContentType));
        app.MapOpenAi();
        app.MapAnthropic();
        app.MapQuota();
        if (config.Server.Admin)
        {
            app.MapAdmin();
        }

        return app;
    }

    private static Dictionary<string, BudgetSpec> WorkspaceBudgets(TollgateConfig config) =>
        config.Workspaces.Values.ToDictionary(
            w => w.Name,
            w => new BudgetSpec(w.MaxBudget, w.BudgetPeriod, w.SoftLimit, DateTimeOffset.UnixEpoch),
            StringComparer.Ordinal);

    /// <summary><c>--config PATH</c> (or <c>--config=PATH</c>), else <c>TOLLGATE_CONFIG</c>, else <c>./tollgate.yaml</c>.</summary>
    private static string ConfigPath(string[] args)
    {
        for (var i = 0; i < args.Length; i++)
        {
            if (args[i] == "--config" && i + 1 < args.Length)
            {
                return args[i + 1];
            }

            if (args[i].StartsWith("--config=", StringComparison.Ordinal))
            {
                return args[i]["--config=".Length..];
            }
        }

        return Environment.GetEnvironmentVariable("TOLLGATE_CONFIG") is { Length: > 0 } fromEnv ? fromEnv : "tollgate.yaml";
    }

    private static string? Resolve(SecretRef? reference, string path, bool required, out string? value)
    {
        value = null;
        if (reference is null)
        {
            return required ? $"{path} is not set; write it as env:NAME or file:/path (the admin API needs it)." : null;
        }

        value = reference.TryResolve(out var problem);
        return problem is null ? null : $"{path} ({reference}): {problem}.";
    }

    private static string FirstLine(string text)
    {
        var end = text.IndexOfAny(['\r', '\n']);
        return end < 0 ? text : text[..end];
    }
}
