namespace Tollgate.Routing;

/// <summary>
/// Orders a group's deployments for one request: by priority, and among equal priorities by the
/// group's policy — weighted random, least-busy (power of two choices), or lowest-latency.
/// </summary>
internal static class Balancer
{
    public static IReadOnlyList<Deployment> Order(ModelGroup group, Random random)
    {
        ArgumentNullException.ThrowIfNull(group);
        if (!group.HasPriorityTies)
        {
            return group.Deployments;
        }

        var ordered = new List<Deployment>(group.Deployments.Count);
        var source = group.Deployments;
        for (var start = 0; start < source.Count;)
        {
            var end = start + 1;
            while (end < source.Count && source[start].HasExplicitPriority && source[end].HasExplicitPriority && source[end].Priority == source[start].Priority)
            {
                end++;
            }

            var tier = new List<Deployment>(end - start);
            for (var i = start; i < end; i++)
            {
                tier.Add(source[i]);
            }

            ordered.AddRange(group.Balance switch
            {
                "least-busy" => LeastBusy(tier, random),
                "lowest-latency" => LowestLatency(tier),
                _ => Weighted(tier, random),
            });
            start = end;
        }

        return ordered;
    }

    /// <summary>A weighted random permutation: each pick in proportion to the weights left.</summary>
    internal static List<Deployment> Weighted(List<Deployment> tier, Random random)
    {
        var result = new List<Deployment>(tier.Count);
        var left = new List<Deployment>(tier);
        while (left.Count > 0)
        {
            var total = left.Sum(d => d.Weight);
            var pick = random.Next(total);
            var index = 0;
            while (pick >= left[index].Weight)
            {
                pick -= left[index].Weight;
                index++;
            }

            result.Add(left[index]);
            left.RemoveAt(index);
        }

        return result;
    }

    /// <summary>Power of two choices for the first pick, then the rest by fewest requests in flight.</summary>
    internal static List<Deployment> LeastBusy(List<Deployment> tier, Random random)
    {
        var a = tier[random.Next(tier.Count)];
        var b = tier[random.Next(tier.Count)];
        var first = b.Health.InFlight < a.Health.InFlight ? b : a;
        var rest = tier.Where(d => !ReferenceEquals(d, first)).OrderBy(d => d.Health.InFlight);
        return [first, .. rest];
    }

    /// <summary>Fastest mean latency first; deployments never measured go first so they get measured.</summary>
    internal static List<Deployment> LowestLatency(List<Deployment> tier) =>
        [.. tier.OrderBy(d => double.IsNaN(d.Health.LatencyEwmaMs) ? -1 : d.Health.LatencyEwmaMs)];
}
