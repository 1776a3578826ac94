using System.Net;
using System.Text.Json;
using Tollgate.IntegrationTests.Harness;

namespace Tollgate.IntegrationTests.Routing;

/// <summary>audit.bodies: full (the routing stack's config) keeps each request's prompt and answer, secrets redacted.</summary>
public sealed class AuditBodiesTests(RoutingStack routing)
{
    [Fact]
    public async Task Full_audit_keeps_the_prompt_and_answer_with_detected_secrets_redacted()
    {
        using var deadline = Deadline.After(30);
        var key = await routing.MintAsync("rt-audit", deadline.Token);
        const string secret = "sk-proj-AuditMustNotKeepThis1234567890";

        var served = await routing.ChatAsync(key.Secret, "rt-tier-small", deadline.Token);
        served.Status.ShouldBe(HttpStatusCode.OK, served.Body);
        // A prompt carrying a key: the routing stack's secret policy refuses it, and the audit still records it, redacted.
        var refused = await routing.ChatAsync(key.Secret, "rt-tier-small", deadline.Token, prompt: $"deploy with {secret} please");

        var servedRecord = await WaitForAuditAsync(served.Header("x-tollgate-request-id")!, deadline.Token);
        var details = servedRecord.GetProperty("details");
        details.GetProperty("request_body").GetString().ShouldNotBeNull().ShouldContain("rt-tier-small");
        details.GetProperty("response_body").GetString().ShouldNotBeNull().ShouldContain("choices");
        servedRecord.GetProperty("actor").GetString().ShouldBe(key.Id);

        var refusedRecord = await WaitForAuditAsync(refused.Header("x-tollgate-request-id")!, deadline.Token);
        var prompt = refusedRecord.GetProperty("details").GetProperty("request_body").GetString().ShouldNotBeNull();
        prompt.ShouldNotContain(secret);
        prompt.ShouldContain("deploy with [redacted] please");
    }

    private async Task<JsonElement> WaitForAuditAsync(string requestId, CancellationToken cancellationToken)
    {
        while (true)
        {
            var page = await routing.Stack.AdminGetAsync("/admin/audit?limit=500", cancellationToken);
            foreach (var record in page.EnumerateArray())
            {
                if (record.GetProperty("target").GetString() == requestId && record.GetProperty("action").GetString() == "request")
                {
                    return record;
                }
            }

            await Task.Delay(100, cancellationToken);
        }
    }
}
