using System.Collections.Concurrent;
using Tollgate.Limits;

namespace Tollgate.Tests.Limits;

/// <summary>Stands in for the store's ledger: settled costs by key and workspace, summed by the spend loader.</summary>
internal sealed class FakeLedger
{
    private readonly ConcurrentQueue<(BudgetScope Scope, string Id, DateTimeOffset Time, decimal Cost)> _rows = new();
    private int _loads;

    public int Loads => Volatile.Read(ref _loads);

    public SettledSpendLoader Loader => (scope, id, from, to, _) =>
    {
        Interlocked.Increment(ref _loads);
        return Task.FromResult(_rows.Where(r => r.Scope == scope && r.Id == id && r.Time >= from && r.Time < to).Sum(r => r.Cost));
    };

    public void Record(string keyId, string? workspace, DateTimeOffset time, decimal cost)
    {
        _rows.Enqueue((BudgetScope.Key, keyId, time, cost));
        if (workspace is not null)
        {
            _rows.Enqueue((BudgetScope.Workspace, workspace, time, cost));
        }
    }
}
