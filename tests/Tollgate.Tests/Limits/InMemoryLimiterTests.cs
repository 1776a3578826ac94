using Tollgate.Limits;

namespace Tollgate.Tests.Limits;

public sealed class InMemoryLimiterTests : LimiterContractTests
{
    private protected override Task<ILimiter[]> CreateReplicasAsync(LimiterOptions options, SettledSpendLoader loader)
    {
        // One process has one limiter: both "replicas" are it.
        var limiter = new InMemoryLimiter(options, loader);
        return Task.FromResult<ILimiter[]>([limiter, limiter]);
    }
}
