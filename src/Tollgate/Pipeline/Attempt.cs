namespace Tollgate.Pipeline;

/// <summary>One try of one deployment, as the ledger records it.</summary>
internal sealed record Attempt(string Deployment, int Status, double LatencyMs, string? Error);
