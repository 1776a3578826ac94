using Tollgate.Storage;

namespace Tollgate.Limits;

internal static class SpendLoaders
{
    /// <summary>Settled spend from the ledger: a key's <see cref="IStore.SumKeySpendAsync"/>, a workspace's summed spend groups.</summary>
    public static SettledSpendLoader FromStore(IStore store)
    {
        ArgumentNullException.ThrowIfNull(store);
        return async (scope, id, from, to, cancellationToken) =>
        {
            if (scope == BudgetScope.Key)
            {
                return await store.SumKeySpendAsync(id, from, to, cancellationToken);
            }

            var groups = await store.QuerySpendAsync(new SpendQuery("key", from, to, Workspace: id), cancellationToken);
            return groups.Sum(g => g.Cost);
        };
    }
}
