namespace Tollgate.Pipeline;

/// <summary>One try of one deployment, as the ledger records it. A skipped deployment (cooling down, disabled, not allowed) was not called.</summary>
internal sealed record Attempt(string Deployment, int Status, double LatencyMs, string? Error, bool Skipped = false)
{
    public static Attempt Skip(string deployment, string reason) => new(deployment, 0, 0, reason, Skipped: true);
}
