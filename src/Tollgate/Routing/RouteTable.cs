using System.Collections.Frozen;
using System.Text;
using System.Text.Json;
using Tollgate.Configuration;
using Tollgate.Pricing;
using Tollgate.Providers;

namespace Tollgate.Routing;

/// <summary>A deployment ready to serve: its provider's pool, the upstream model, its price.</summary>
internal sealed class Deployment
{
    public Deployment(ProviderRuntime provider, DeploymentConfig config, int index, HealthRegistry health)
    {
        ArgumentNullException.ThrowIfNull(health);
        Provider = provider;
        Model = config.Model;
        Priority = config.Priority ?? 0;
        HasExplicitPriority = config.Priority is not null;
        Weight = config.Weight;
        Index = index;
        Price = PriceTable.Resolve(config.Price, config.Model);
        Label = $"{provider.Name}/{config.Model}";
        ModelJson = JsonSerializer.SerializeToUtf8Bytes(config.Model, RoutingJson.Default.String);
        Health = health.For(Label);
    }

    /// <summary>Cooldown circuit, in-flight count and latency; shared by every config version.</summary>
    public DeploymentHealth Health { get; }

    public ProviderRuntime Provider { get; }

    public string Model { get; }

    public int Priority { get; }

    /// <summary>Only deployments that name the same priority are balanced; without one, list order decides.</summary>
    public bool HasExplicitPriority { get; }

    public int Weight { get; }

    public int Index { get; }

    /// <summary>List price; null when neither the config nor the built-in table knows the model.</summary>
    public ModelPrice? Price { get; }

    /// <summary><c>provider/model</c>, as in <c>x-tollgate-deployment</c> and the ledger.</summary>
    public string Label { get; }

    /// <summary>The upstream model as a JSON string token, ready to splice into a body.</summary>
    public byte[] ModelJson { get; }
}

/// <summary>An alias and its deployments in the order they are tried.</summary>
internal sealed class ModelGroup
{
    public ModelGroup(ModelGroupConfig config, IReadOnlyList<Deployment> deployments)
    {
        Name = config.Name;
        Family = config.Family;
        Fallback = config.Fallback;
        Balance = config.Balance;
        // Lower priority first; list order among equals (a stable sort).
        Deployments = [.. deployments.OrderBy(d => d.Priority).ThenBy(d => d.Index)];
        HasPriorityTies = Deployments.Where(d => d.HasExplicitPriority).GroupBy(d => d.Priority).Any(g => g.Count() > 1);
    }

    /// <summary>weighted | least-busy | lowest-latency, among deployments of equal priority.</summary>
    public string Balance { get; }

    /// <summary>Whether some deployments share a priority (only then does balancing reorder them).</summary>
    public bool HasPriorityTies { get; }

    public string Name { get; }

    public string? Family { get; }

    public IReadOnlyList<Deployment> Deployments { get; }

    public IReadOnlyList<string> Fallback { get; }
}

/// <summary>
/// Everything the request path needs from one version of the config: providers with their pools, model
/// groups, the reporting currency. Built once per (re)load and swapped atomically.
/// </summary>
internal sealed class RouteTable : IDisposable
{
    public RouteTable(TollgateConfig config, HealthRegistry? health = null, IReadOnlyDictionary<string, ProviderRuntime>? reuse = null, ProviderServices? services = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        Health = health ?? new HealthRegistry();
        Services = services;
        Config = config;
        Currency = new Currency(config.Reporting);
        var providers = new Dictionary<string, ProviderRuntime>(StringComparer.Ordinal);
        foreach (var (name, providerConfig) in config.Providers)
        {
            providers[name] = reuse is not null && reuse.TryGetValue(name, out var existing) && existing.Config == providerConfig
                ? existing
                : new ProviderRuntime(providerConfig, services);
        }

        Providers = providers.ToFrozenDictionary(StringComparer.Ordinal);
        var groups = new Dictionary<string, ModelGroup>(StringComparer.Ordinal);
        foreach (var (alias, groupConfig) in config.Models)
        {
            var deployments = groupConfig.Deployments
                .Select((d, i) => new Deployment(Providers[d.Provider], d, i, Health))
                .ToList();
            groups[alias] = new ModelGroup(groupConfig, deployments);
        }

        Groups = groups.ToFrozenDictionary(StringComparer.Ordinal);
        Aliases = [.. Groups.Keys.Order(StringComparer.Ordinal)];
        Created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        ScansForDataClasses = Sensitivity.Detectors.Classes.Any(config.DataClasses.ContainsKey);
    }

    /// <summary>True when some detectable data class has a policy, so request bodies must be scanned.</summary>
    public bool ScansForDataClasses { get; }

    /// <summary>When this version of the config was loaded (unix seconds), shown as the models' <c>created</c>.</summary>
    public long Created { get; }

    public TollgateConfig Config { get; }

    public HealthRegistry Health { get; }

    public ProviderServices? Services { get; }

    public Currency Currency { get; }

    public FrozenDictionary<string, ProviderRuntime> Providers { get; }

    public FrozenDictionary<string, ModelGroup> Groups { get; }

    /// <summary>Every alias, sorted.</summary>
    public IReadOnlyList<string> Aliases { get; }

    /// <summary>Disposes the pools of providers that <paramref name="next"/> does not reuse.</summary>
    public void DisposeUnshared(RouteTable next)
    {
        foreach (var (name, provider) in Providers)
        {
            if (!next.Providers.TryGetValue(name, out var kept) || !ReferenceEquals(kept, provider))
            {
                provider.Dispose();
            }
        }
    }

    public void Dispose()
    {
        foreach (var provider in Providers.Values)
        {
            provider.Dispose();
        }
    }
}

[System.Text.Json.Serialization.JsonSerializable(typeof(string))]
internal sealed partial class RoutingJson : System.Text.Json.Serialization.JsonSerializerContext;
