namespace Tollgate.IntegrationTests.Harness;

/// <summary>Every await in a test runs under one of these: the test's own token, cancelled after a bound.</summary>
internal static class Deadline
{
    public static CancellationTokenSource After(int seconds)
    {
        var source = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        source.CancelAfter(TimeSpan.FromSeconds(seconds));
        return source;
    }
}
