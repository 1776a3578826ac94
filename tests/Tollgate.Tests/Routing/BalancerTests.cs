using System.Collections.Frozen;
using Tollgate.Configuration;
using Tollgate.Routing;

namespace Tollgate.Tests.Routing;

public sealed class BalancerTests
{
    private static TollgateConfig Config(string balance, params DeploymentConfig[] deployments) => new()
    {
        Server = new ServerConfig(),
        Store = new StoreConfig(),
        Reporting = new ReportingConfig(),
        Providers = new Dictionary<string, ProviderConfig>
        {
            ["a"] = new() { Name = "a", Kind = "openai", BaseUrl = new Uri("http://127.0.0.1:1/v1"), Auth = new AuthConfig() },
            ["b"] = new() { Name = "b", Kind = "openai", BaseUrl = new Uri("http://127.0.0.1:2/v1"), Auth = new AuthConfig() },
            ["c"] = new() { Name = "c", Kind = "openai", BaseUrl = new Uri("http://127.0.0.1:3/v1"), Auth = new AuthConfig() },
        }.ToFrozenDictionary(),
        Models = new Dictionary<string, ModelGroupConfig>
        {
            ["g"] = new() { Name = "g", Deployments = deployments, Balance = balance },
        }.ToFrozenDictionary(),
        Tiers = FrozenDictionary<string, TierConfig>.Empty,
        DataClasses = FrozenDictionary<string, DataClassConfig>.Empty,
        Audit = new AuditConfig(),
        Ledger = new LedgerConfig(),
    };

    [Fact]
    public void Without_priorities_list_order_decides_and_nothing_is_shuffled()
    {
        using var table = new RouteTable(Config("weighted", new() { Provider = "b", Model = "m" }, new() { Provider = "a", Model = "m" }));
        for (var i = 0; i < 20; i++)
        {
            Balancer.Order(table.Groups["g"], new Random(i)).Select(d => d.Provider.Name).ShouldBe(["b", "a"]);
        }
    }

    [Fact]
    public void Lower_priority_goes_first_whatever_the_list_order()
    {
        using var table = new RouteTable(Config("weighted",
            new() { Provider = "a", Model = "m", Priority = 2 },
            new() { Provider = "b", Model = "m", Priority = 1 }));
        Balancer.Order(table.Groups["g"], new Random(1)).Select(d => d.Provider.Name).ShouldBe(["b", "a"]);
    }

    [Fact]
    public void Equal_priorities_are_shared_in_proportion_to_weight()
    {
        using var table = new RouteTable(Config("weighted",
            new() { Provider = "a", Model = "m", Priority = 1, Weight = 3 },
            new() { Provider = "b", Model = "m", Priority = 1, Weight = 1 },
            new() { Provider = "c", Model = "m", Priority = 2 }));
        var random = new Random(42);
        var firsts = Enumerable.Range(0, 4000).Select(_ => Balancer.Order(table.Groups["g"], random)).ToList();
        firsts.ShouldAllBe(o => o[2].Provider.Name == "c");
        var shareA = firsts.Count(o => o[0].Provider.Name == "a") / 4000.0;
        shareA.ShouldBeInRange(0.70, 0.80);
    }

    [Fact]
    public void Least_busy_prefers_the_deployment_with_fewer_requests_in_flight()
    {
        using var table = new RouteTable(Config("least-busy",
            new() { Provider = "a", Model = "m", Priority = 1 },
            new() { Provider = "b", Model = "m", Priority = 1 }));
        var group = table.Groups["g"];
        group.Deployments[0].Health.Enter();
        group.Deployments[0].Health.Enter();
        var random = new Random(7);
        // Power of two choices: whenever both are sampled, the idle one wins; it is never behind the busy one in the rest.
        var idleFirst = Enumerable.Range(0, 200).Count(_ => Balancer.Order(group, random)[0].Provider.Name == "b");
        idleFirst.ShouldBeGreaterThan(120);
    }

    [Fact]
    public void Lowest_latency_tries_the_unmeasured_then_the_fastest()
    {
        using var table = new RouteTable(Config("lowest-latency",
            new() { Provider = "a", Model = "m", Priority = 1 },
            new() { Provider = "b", Model = "m", Priority = 1 },
            new() { Provider = "c", Model = "m", Priority = 1 }));
        var group = table.Groups["g"];
        group.Deployments[0].Health.ReportSuccess(300);
        group.Deployments[1].Health.ReportSuccess(50);
        Balancer.Order(group, new Random(1)).Select(d => d.Provider.Name).ShouldBe(["c", "b", "a"]);
    }
}
