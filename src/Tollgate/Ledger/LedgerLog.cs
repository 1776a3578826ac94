namespace Tollgate.Ledger;

/// <summary>The ledger's durability events (6000s).</summary>
internal static partial class LedgerLog
{
    [LoggerMessage(6001, LogLevel.Information, "Ledger spool holds {Rows} rows from an earlier run in {Path}; writing them to the store")]
    public static partial void SpoolReplay(ILogger logger, long rows, string path);

    [LoggerMessage(6002, LogLevel.Error, "Ledger spool append to {Path} failed ({ErrorType}: {Error}); rows wait in memory and the append is retried every flush")]
    public static partial void SpoolAppendFailed(ILogger logger, string path, string errorType, string error);

    [LoggerMessage(6003, LogLevel.Warning, "Ledger queue is full ({Capacity} rows); further rows are kept in the spool only until the store catches up")]
    public static partial void QueueFull(ILogger logger, int capacity);

    [LoggerMessage(6004, LogLevel.Warning, "Ledger stopped with {Rows} rows not yet in the store; they stay in the spool {Path} and are written at the next start")]
    public static partial void LeftInSpool(ILogger logger, long rows, string path);

    [LoggerMessage(6005, LogLevel.Information, "Ledger drained: every row is in the store")]
    public static partial void Drained(ILogger logger);
}
