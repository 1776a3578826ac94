using System.Net;
using Tollgate.IntegrationTests.Harness;

namespace Tollgate.IntegrationTests.Routing;

/// <summary>SPEC §4 "Order of attempts": lower priority first whatever the list order; equal priorities are balanced.</summary>
public sealed class OrderTests(RoutingStack routing)
{
    [Fact]
    public async Task Lower_priority_serves_first_whatever_the_list_order()
    {
        using var deadline = Deadline.After(30);
        var key = await routing.MintAsync("rt-priority", deadline.Token);

        for (var i = 0; i < 3; i++)
        {
            var answer = await routing.ChatAsync(key.Secret, "rt-priority", deadline.Token);
            answer.Status.ShouldBe(HttpStatusCode.OK, answer.Body);
            answer.Header("x-tollgate-deployment").ShouldBe("mock/rt-prio-early", "priority 1 comes before priority 2 even though it is listed second");
        }
    }

    [Fact]
    public async Task Deployments_of_equal_priority_share_the_traffic_and_the_lower_tier_is_not_used_while_they_serve()
    {
        using var deadline = Deadline.After(60);
        var key = await routing.MintAsync("rt-balanced", deadline.Token);
        var served = new Dictionary<string, int>(StringComparer.Ordinal);

        // Weighted 1:1, so the chance that 24 calls all land on one deployment is 2^-23.
        for (var i = 0; i < 24; i++)
        {
            var answer = await routing.ChatAsync(key.Secret, "rt-balanced", deadline.Token);
            answer.Status.ShouldBe(HttpStatusCode.OK, answer.Body);
            var deployment = answer.Header("x-tollgate-deployment").ShouldNotBeNull();
            served[deployment] = served.GetValueOrDefault(deployment) + 1;
        }

        string.Join(" ", served.Keys.Order(StringComparer.Ordinal)).ShouldBe("mock-private/rt-bal-b mock/rt-bal-a", $"served: {string.Join(", ", served)}");
    }
}
