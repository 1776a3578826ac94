using System.Collections.Concurrent;
using Tollgate.Storage;

namespace Tollgate.Tests.Ledger;

/// <summary>A temporary spool folder, deleted afterwards.</summary>
internal sealed class TempDir : IDisposable
{
    public TempDir() => Path = Directory.CreateTempSubdirectory("tollgate-spool-").FullName;

    public string Path { get; }

    public string[] Segments(string prefix = "ledger-") => [.. Directory.GetFiles(Path, prefix + "*.spool").Order(StringComparer.Ordinal)];

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>
/// The ledger and audit half of a store: rows by request id and audit records by id (a duplicate id is
/// skipped, as the real stores do), and a switch that makes writes fail like an unreachable database.
/// </summary>
internal sealed class FakeLedgerStore : IStore
{
    private readonly ConcurrentDictionary<string, LedgerRecord> _rows = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<string> _order = new();

    public volatile bool Down;

    public int Attempts;

    public IReadOnlyCollection<string> Ids => [.. _rows.Keys];

    /// <summary>Request ids in the order they were first written.</summary>
    public IReadOnlyList<string> Order => [.. _order];

    public int Count => _rows.Count;

    public LedgerRecord Row(string requestId) => _rows[requestId];

    private readonly ConcurrentDictionary<string, AuditRecord> _audit = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<string> _auditOrder = new();

    public int AuditAttempts;

    public int AuditCount => _audit.Count;

    /// <summary>Audit ids in the order they were first written.</summary>
    public IReadOnlyList<string> AuditOrder => [.. _auditOrder];

    public AuditRecord Audit(string id) => _audit[id];

    public string Dialect => "fake";

    public Task WriteLedgerAsync(IReadOnlyList<LedgerRecord> rows, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref Attempts);
        if (Down)
        {
            throw new IOException("the fake store is down");
        }

        foreach (var row in rows)
        {
            if (_rows.TryAdd(row.RequestId, row))
            {
                _order.Enqueue(row.RequestId);
            }
        }

        return Task.CompletedTask;
    }

    public Task<bool> PingAsync(CancellationToken cancellationToken) => Task.FromResult(!Down);

    public Task MigrateAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task InsertKeyAsync(VirtualKeyRecord key, CancellationToken cancellationToken) => throw new NotSupportedException();

    public Task<bool> UpdateKeyAsync(VirtualKeyRecord key, CancellationToken cancellationToken) => throw new NotSupportedException();

    public Task<VirtualKeyRecord?> GetKeyAsync(string id, CancellationToken cancellationToken) => throw new NotSupportedException();

    public Task<IReadOnlyList<VirtualKeyRecord>> ListKeysAsync(CancellationToken cancellationToken) => throw new NotSupportedException();

    public Task WriteAuditAsync(IReadOnlyList<AuditRecord> rows, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref AuditAttempts);
        if (Down)
        {
            throw new IOException("the fake store is down");
        }

        foreach (var row in rows)
        {
            if (_audit.TryAdd(row.Id, row))
            {
                _auditOrder.Enqueue(row.Id);
            }
        }

        return Task.CompletedTask;
    }

    public Task<IReadOnlyList<LedgerRecord>> QueryRequestsAsync(RequestQuery query, CancellationToken cancellationToken) => throw new NotSupportedException();

    public Task<IReadOnlyList<SpendGroup>> QuerySpendAsync(SpendQuery query, CancellationToken cancellationToken) => throw new NotSupportedException();

    public Task<decimal> SumKeySpendAsync(string keyId, DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken) => throw new NotSupportedException();

    public Task<IReadOnlyList<AuditRecord>> QueryAuditAsync(int limit, CancellationToken cancellationToken) => throw new NotSupportedException();

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}

internal static class Rows
{
    private static readonly DateTimeOffset Epoch = new(2025, 3, 1, 12, 0, 0, TimeSpan.Zero);

    public static LedgerRecord Row(int i) => new()
    {
        RequestId = $"req_{i:D6}",
        Time = Epoch.AddMilliseconds(i),
        KeyId = "key_test",
        Status = 200,
        InputTokens = i,
        OutputTokens = 2 * i,
        Cost = i * 0.001m,
        ModelRequested = "gpt-4o-mini",
    };

    /// <summary>A row with every field set (the values the format-1 fixture in LedgerSpoolTests uses too).</summary>
    public static LedgerRecord Full(string requestId) => new()
    {
        RequestId = requestId,
        Time = Epoch,
        KeyId = "key_1",
        KeyAlias = "knowledge-os",
        Workspace = "research",
        Tier = "pro",
        Endpoint = "anthropic.messages",
        ModelRequested = "sonnet",
        ModelGroup = "claude-sonnet",
        AttemptsJson = "[{\"deployment\":\"anthropic/claude-sonnet-4\",\"status\":529,\"latency_ms\":12.5,\"error\":\"overloaded\"}]",
        Deployment = "bedrock/claude-sonnet-4",
        Provider = "bedrock",
        Fallback = "anthropic/claude-sonnet-4 -> bedrock/claude-sonnet-4",
        Status = 200,
        ErrorType = "none",
        InputTokens = 123_456_789_012,
        OutputTokens = 2,
        CacheReadTokens = 3,
        CacheWriteTokens = 4,
        ReasoningTokens = 5,
        Cost = 0.10m,
        NotionalCost = 1.23456789m,
        Currency = "AUD",
        LatencyMs = 1234.5678,
        TtftMs = 0.1 + 0.2,
        Streamed = true,
        UserAgent = "claude-cli/2.0 (external, cli)",
        SessionId = "sess-1",
        DataClasses = "public,internal",
    };

    public static List<LedgerRecord> Range(int from, int count) => [.. Enumerable.Range(from, count).Select(Row)];

    /// <summary>A per-request audit record as <c>audit.bodies: full</c> makes it, with a body of some size.</summary>
    public static AuditRecord Audit(int i) => new()
    {
        Id = $"aud_req_{i:D6}",
        Time = Epoch.AddMilliseconds(i),
        Actor = "key_test",
        Action = "request",
        Target = $"req_{i:D6}",
        DetailsJson = $"{{\"endpoint\":\"openai.chat\",\"status\":200,\"request_body\":\"{new string('p', 200 + (i % 50))} ✓\",\"response_body\":null}}",
    };

    public static List<AuditRecord> Audits(int from, int count) => [.. Enumerable.Range(from, count).Select(Audit)];
}
