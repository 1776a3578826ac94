using Microsoft.Extensions.Logging;

namespace Tollgate.Configuration;

/// <summary>The outcome of a reload: the new config, or the errors that kept the old one running.</summary>
/// <param name="Success">True when the new config is now <see cref="ConfigMonitor.Current"/>.</param>
/// <param name="Config">The config now in force (the new one on success, the unchanged one on failure).</param>
/// <param name="Errors">Why the reload was refused; empty on success.</param>
/// <param name="Warnings">The new config's warnings; empty on failure.</param>
internal sealed record ReloadResult(bool Success, TollgateConfig Config, IReadOnlyList<ConfigError> Errors, IReadOnlyList<string> Warnings);

/// <summary>
/// Holds the config in force and swaps it when <c>tollgate.yaml</c> changes (a file watcher with a short debounce)
/// or when asked (<c>POST /admin/config/reload</c> calls <see cref="TryReload"/>). A bad file never replaces a good
/// config: the errors are logged and returned, and the last good config keeps running (SPEC §10).
/// </summary>
internal sealed partial class ConfigMonitor : IDisposable
{
    /// <summary>Editors write in bursts (truncate, write, chmod; or write a temp file and rename it over): wait for quiet.</summary>
    public static readonly TimeSpan DebounceDelay = TimeSpan.FromMilliseconds(300);

    private readonly ILogger<ConfigMonitor> _logger;
    private readonly Lock _reloadLock = new();
    private readonly FileSystemWatcher? _watcher;
    private readonly ITimer? _debounce;
    private readonly string? _path;
    private TollgateConfig _current;
    private string? _lastText;
    private volatile bool _disposed;

    /// <summary>
    /// Starts watching <see cref="TollgateConfig.SourcePath"/> of <paramref name="initial"/> (when it has one).
    /// </summary>
    /// <param name="initial">The config loaded at startup.</param>
    /// <param name="logger">Where reloads and refused edits are logged; secrets never are.</param>
    /// <param name="timeProvider">Drives the debounce timer; <see cref="TimeProvider.System"/> when null.</param>
    public ConfigMonitor(TollgateConfig initial, ILogger<ConfigMonitor> logger, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(initial);
        ArgumentNullException.ThrowIfNull(logger);
        _current = initial;
        _logger = logger;
        _path = initial.SourcePath is null ? null : Path.GetFullPath(initial.SourcePath);
        if (_path is null)
        {
            return;
        }

        _lastText = TryReadText(_path);
        _debounce = (timeProvider ?? TimeProvider.System).CreateTimer(_ => OnQuiet(), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        try
        {
            // Watch the folder, not the file: editors that save by writing a temp file and renaming it over the
            // original replace the inode, and a watch on the old file would go silent.
            _watcher = new FileSystemWatcher(Path.GetDirectoryName(_path)!, Path.GetFileName(_path))
            {
                NotifyFilter = NotifyFilters.LastWrite | NotifyFilters.FileName | NotifyFilters.Size | NotifyFilters.CreationTime,
                IncludeSubdirectories = false,
            };
            _watcher.Changed += OnFileEvent;
            _watcher.Created += OnFileEvent;
            _watcher.Deleted += OnFileEvent;
            _watcher.Renamed += OnFileEvent;
            _watcher.Error += OnWatcherError;
            _watcher.EnableRaisingEvents = true;
        }
        catch (Exception ex) when (ex is IOException or ArgumentException or PlatformNotSupportedException or UnauthorizedAccessException)
        {
            // For example the inotify watch limit is reached. Manual reload still works.
            _watcher?.Dispose();
            _watcher = null;
            LogWatchFailed(_logger, ex, _path);
        }
    }

    /// <summary>The config in force. Read it afresh for each request; never cache it across a request boundary.</summary>
    public TollgateConfig Current => Volatile.Read(ref _current);

    /// <summary>Raised after <see cref="Current"/> has been swapped, with the new config. Handlers should be quick.</summary>
    public event Action<TollgateConfig>? Changed;

    /// <summary>
    /// Re-reads the file now. On success the new config is swapped in and <see cref="Changed"/> is raised; on failure
    /// the current config stays and the errors are returned (and logged).
    /// </summary>
    public ReloadResult TryReload() => Reload(onlyIfTextChanged: false);

    private ReloadResult Reload(bool onlyIfTextChanged)
    {
        lock (_reloadLock)
        {
            var current = Current;
            if (_path is null)
            {
                var error = new ConfigError("", 0, "the config was not loaded from a file, so there is nothing to reload");
                LogReloadFailed(_logger, "(none)", 1, error.ToString());
                return new ReloadResult(false, current, [error], []);
            }

            TollgateConfig next;
            string text;
            try
            {
                text = ConfigLoader.ReadText(_path);
                if (onlyIfTextChanged && string.Equals(text, _lastText, StringComparison.Ordinal))
                {
                    return new ReloadResult(true, current, [], current.Warnings);
                }

                next = ConfigLoader.Parse(text, _path);
            }
            catch (ConfigException ex)
            {
                LogReloadFailed(_logger, _path, ex.Errors.Count, string.Join('\n', ex.Errors));
                return new ReloadResult(false, current, ex.Errors, []);
            }

            _lastText = text;
            Volatile.Write(ref _current, next);
            LogReloaded(_logger, _path, next.Providers.Count, next.Models.Count, next.Warnings.Count);
            foreach (var warning in next.Warnings)
            {
                LogWarning(_logger, warning);
            }

            RaiseChanged(next);
            return new ReloadResult(true, next, [], next.Warnings);
        }
    }

    private void RaiseChanged(TollgateConfig next)
    {
        if (Changed is not { } handlers)
        {
            return;
        }

        // One failing subscriber must not stop the others from seeing the new config.
        foreach (var handler in handlers.GetInvocationList().Cast<Action<TollgateConfig>>())
        {
            try
            {
                handler(next);
            }
            catch (Exception ex)
            {
                LogSubscriberFailed(_logger, ex);
            }
        }
    }

    private void OnFileEvent(object sender, FileSystemEventArgs e)
    {
        if (!_disposed)
        {
            // Restart the countdown on every event; the reload runs once the burst is over.
            _debounce?.Change(DebounceDelay, Timeout.InfiniteTimeSpan);
        }
    }

    private void OnWatcherError(object sender, ErrorEventArgs e)
    {
        LogWatcherError(_logger, e.GetException());
        OnFileEvent(sender, new FileSystemEventArgs(WatcherChangeTypes.Changed, Path.GetDirectoryName(_path)!, Path.GetFileName(_path)));
    }

    private void OnQuiet()
    {
        if (_disposed || _path is null)
        {
            return;
        }

        if (!File.Exists(_path))
        {
            // Mid-rename, or deleted: the Created/Renamed event for the new file will bring us back.
            LogFileMissing(_logger, _path);
            return;
        }

        try
        {
            Reload(onlyIfTextChanged: true);
        }
        catch (Exception ex)
        {
            // A timer callback must not throw; the reason is logged and the old config stays.
            LogReloadCrashed(_logger, ex, _path);
        }
    }

    private static string? TryReadText(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _watcher?.Dispose();
        _debounce?.Dispose();
    }

    [LoggerMessage(EventId = 1000, Level = LogLevel.Information, Message = "Config reloaded from {Path}: {ProviderCount} providers, {ModelCount} model groups, {WarningCount} warnings")]
    private static partial void LogReloaded(ILogger logger, string path, int providerCount, int modelCount, int warningCount);

    [LoggerMessage(EventId = 1001, Level = LogLevel.Error, Message = "Config reload from {Path} refused; the last good config keeps running. {ErrorCount} errors:\n{Errors}")]
    private static partial void LogReloadFailed(ILogger logger, string path, int errorCount, string errors);

    [LoggerMessage(EventId = 1002, Level = LogLevel.Warning, Message = "Config warning: {Warning}")]
    private static partial void LogWarning(ILogger logger, string warning);

    [LoggerMessage(EventId = 1003, Level = LogLevel.Warning, Message = "Cannot watch {Path} for changes; reload with POST /admin/config/reload instead")]
    private static partial void LogWatchFailed(ILogger logger, Exception exception, string path);

    [LoggerMessage(EventId = 1004, Level = LogLevel.Warning, Message = "The config file watcher reported an error; reloading to catch up")]
    private static partial void LogWatcherError(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 1005, Level = LogLevel.Error, Message = "A config change subscriber threw; the new config is in force regardless")]
    private static partial void LogSubscriberFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 1006, Level = LogLevel.Information, Message = "Config file {Path} is missing; keeping the current config until it reappears")]
    private static partial void LogFileMissing(ILogger logger, string path);

    [LoggerMessage(EventId = 1007, Level = LogLevel.Error, Message = "Config reload from {Path} failed unexpectedly; the last good config keeps running")]
    private static partial void LogReloadCrashed(ILogger logger, Exception exception, string path);
}
