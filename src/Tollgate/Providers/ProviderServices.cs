namespace Tollgate.Providers;

/// <summary>What provider runtimes need from the host: the OAuth token store, the clock, loggers.</summary>
internal sealed record ProviderServices(IOAuthTokenStore TokenStore, TimeProvider Time, ILoggerFactory Loggers);
