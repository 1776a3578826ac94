namespace Tollgate.Ledger;

/// <summary>The durability events of the spooled writers (6000s); <c>Journal</c> is "Ledger" or "Audit".</summary>
internal static partial class LedgerLog
{
    [LoggerMessage(6001, LogLevel.Information, "{Journal} spool holds {Rows} rows from an earlier run in {Path}; writing them to the store")]
    public static partial void SpoolReplay(ILogger logger, string journal, long rows, string path);

    [LoggerMessage(6002, LogLevel.Error, "{Journal} spool append to {Path} failed ({ErrorType}: {Error}); rows wait in memory and the append is retried every flush")]
    public static partial void SpoolAppendFailed(ILogger logger, string journal, string path, string errorType, string error);

    [LoggerMessage(6003, LogLevel.Warning, "{Journal} queue is full ({Capacity} rows); further rows are kept in the spool only until the store catches up")]
    public static partial void QueueFull(ILogger logger, string journal, int capacity);

    [LoggerMessage(6004, LogLevel.Warning, "{Journal} stopped with {Rows} rows not yet in the store; they stay in the spool {Path} and are written at the next start")]
    public static partial void LeftInSpool(ILogger logger, string journal, long rows, string path);

    [LoggerMessage(6005, LogLevel.Information, "{Journal} drained: every row is in the store")]
    public static partial void Drained(ILogger logger, string journal);

    [LoggerMessage(6006, LogLevel.Warning, "Audit write of {Count} records failed (attempt {Attempt}): {ErrorType}: {Error}; they stay in the spool and the write is retried")]
    public static partial void AuditWriteFailed(ILogger logger, int count, int attempt, string errorType, string error);

    [LoggerMessage(6007, LogLevel.Information, "Audit store reachable again; wrote {Count} delayed records")]
    public static partial void AuditStoreRecovered(ILogger logger, int count);
}
