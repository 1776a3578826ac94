namespace Tollgate.Telemetry;

/// <summary>Every log line Tollgate writes, source-generated. None carries a secret or a prompt.</summary>
internal static partial class Log
{
    [LoggerMessage(1001, LogLevel.Warning, "Ledger write of {Count} rows failed (attempt {Attempt}): {ErrorType}: {Error}")]
    public static partial void LedgerWriteFailed(ILogger logger, int count, int attempt, string errorType, string error);

    [LoggerMessage(1002, LogLevel.Information, "Ledger store reachable again; wrote {Count} delayed rows")]
    public static partial void LedgerStoreRecovered(ILogger logger, int count);

    [LoggerMessage(1003, LogLevel.Error, "Ledger gave up on {Count} rows at shutdown after repeated store failures")]
    public static partial void LedgerRowsAbandoned(ILogger logger, int count);

    [LoggerMessage(2001, LogLevel.Warning, "Upstream attempt failed: {Deployment} for group {Group}: status {Status}: {Reason}")]
    public static partial void AttemptFailed(ILogger logger, string deployment, string group, int status, string reason);

    [LoggerMessage(2002, LogLevel.Warning, "Stream from {Deployment} broke after the first byte: {Reason}")]
    public static partial void StreamBroken(ILogger logger, string deployment, string reason);

    [LoggerMessage(3001, LogLevel.Information, "Config reloaded from {Path}")]
    public static partial void ConfigApplied(ILogger logger, string path);

    [LoggerMessage(3002, LogLevel.Warning, "{Message}")]
    public static partial void StartupWarning(ILogger logger, string message);

    [LoggerMessage(4001, LogLevel.Information, "Admin {Action} on key {KeyId}")]
    public static partial void AdminAction(ILogger logger, string action, string keyId);

    [LoggerMessage(5001, LogLevel.Warning, "Budget alert: key {KeyId} ({Alias}, workspace {Workspace}) passed its soft limit this period")]
    public static partial void BudgetSoftLimitCrossed(ILogger logger, string keyId, string alias, string workspace);

    [LoggerMessage(5002, LogLevel.Warning, "Settling the hold of request {RequestId} failed ({ErrorType}); it expires with the hold TTL")]
    public static partial void SettleFailed(ILogger logger, string requestId, string errorType);

    [LoggerMessage(4002, LogLevel.Warning, "Key cache refresh from the store failed: {Error}")]
    public static partial void KeyRefreshFailed(ILogger logger, string error);
}
