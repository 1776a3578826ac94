using System.Collections.Frozen;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;
using Entries = System.Collections.Generic.Dictionary<string, (YamlDotNet.RepresentationModel.YamlNode Key, YamlDotNet.RepresentationModel.YamlNode Value)>;

namespace Tollgate.Configuration;

/// <summary>
/// Loads and validates <c>tollgate.yaml</c> (SPEC §10). Binding is done by hand over YamlDotNet's representation
/// model so that every problem names its YAML path and line; all problems are collected and thrown together as a
/// <see cref="ConfigException"/>. Non-fatal problems end up in <see cref="TollgateConfig.Warnings"/>.
/// </summary>
internal static class ConfigLoader
{
    private static readonly string[] SupportedKinds = ["openai", "anthropic", "gemini"];
    private static readonly string[] LaterKinds = ["bedrock", "vertex", "azure-openai"];
    private static readonly string[] AllKinds = [.. SupportedKinds, .. LaterKinds];

    /// <summary>Reads and validates the file at <paramref name="path"/>.</summary>
    /// <exception cref="ConfigException">The file cannot be read or is invalid; every problem is listed.</exception>
    public static TollgateConfig Load(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var fullPath = Path.GetFullPath(path);
        return Parse(ReadText(fullPath), fullPath);
    }

    /// <summary>Reads the file's text; a missing or unreadable file becomes a <see cref="ConfigException"/>.</summary>
    internal static string ReadText(string fullPath)
    {
        try
        {
            return File.ReadAllText(fullPath);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            var reason = ex is FileNotFoundException or DirectoryNotFoundException ? "the file does not exist" : ex.Message;
            throw new ConfigException([new ConfigError("", 0, $"cannot read {fullPath}: {reason}", Path.GetFileName(fullPath))]);
        }
    }

    /// <summary>
    /// Validates <paramref name="yaml"/> as if it were the file at <paramref name="sourcePath"/>: relative paths are
    /// resolved against that file's folder and errors carry its file name.
    /// </summary>
    /// <exception cref="ConfigException">The text is invalid; every problem is listed.</exception>
    public static TollgateConfig Parse(string yaml, string sourcePath)
    {
        ArgumentNullException.ThrowIfNull(yaml);
        ArgumentException.ThrowIfNullOrEmpty(sourcePath);
        var fullPath = Path.GetFullPath(sourcePath);
        var directory = Path.GetDirectoryName(fullPath) ?? Directory.GetCurrentDirectory();
        var fileName = Path.GetFileName(fullPath);
        var b = new YamlBinder(fileName);

        YamlNode? root = null;
        var scanner = new Scanner(new StringReader(yaml));
        try
        {
            var stream = new YamlStream();
            stream.Load(new Parser(scanner));
            if (stream.Documents.Count > 1)
            {
                b.Error("", stream.Documents[1].RootNode, "the file must hold a single YAML document");
            }

            root = stream.Documents.Count > 0 ? stream.Documents[0].RootNode : null;
        }
        catch (YamlException ex)
        {
            throw new ConfigException([new ConfigError("", (int)Math.Min(ex.Start.Line, int.MaxValue), SyntaxMessage(ex), fileName)]);
        }
        catch (InvalidOperationException)
        {
            // YamlDotNet 16 throws this (not a YamlException) when the text ends inside an unclosed flow { } or [ ].
            var line = (int)Math.Min(scanner.CurrentPosition.Line, int.MaxValue);
            throw new ConfigException([new ConfigError("", line, "YAML syntax error: the text ends inside an unclosed { } or [ ]", fileName)]);
        }

        var binder = new Binding(b, directory);
        var config = binder.Bind(root) with { SourcePath = fullPath, Warnings = [.. b.Warnings] };
        if (b.Errors.Count > 0)
        {
            throw new ConfigException([.. b.Errors.OrderBy(e => e.Line)]);
        }

        return config;
    }

    /// <summary>YamlDotNet prefixes its messages with "(Line: 3, Col: 5, Idx: 20) - (…): "; the line is reported separately.</summary>
    private static string SyntaxMessage(YamlException ex)
    {
        var message = ex.Message;
        var cut = message.IndexOf("): ", StringComparison.Ordinal);
        if (message.StartsWith("(Line", StringComparison.Ordinal) && cut >= 0)
        {
            message = message[(cut + 3)..];
        }

        return "YAML syntax error: " + message;
    }

    private static Uri DefaultBaseUrl(string kind) => kind switch
    {
        "anthropic" => new Uri("https://api.anthropic.com"),
        "gemini" => new Uri("https://generativelanguage.googleapis.com"),
        _ => new Uri("https://api.openai.com/v1"),
    };

    /// <summary>One binding pass: shares the binder and the config folder across the sections.</summary>
    private sealed class Binding(YamlBinder b, string directory)
    {
        private static readonly Entries None = new(StringComparer.Ordinal);

        private static YamlNode? Value(Entries keys, string key) => keys.TryGetValue(key, out var entry) ? entry.Value : null;

        private Entries Section(YamlNode? node, string path, params string[] known)
        {
            var map = b.Map(node, path);
            return map is null ? None : b.Keys(map, path, known);
        }

        private string Absolute(string path) => Path.GetFullPath(Path.Combine(directory, path));

        public TollgateConfig Bind(YamlNode? root)
        {
            if (root is not null and not YamlMappingNode && !YamlBinder.IsNull(root))
            {
                b.Error("", root, "the top level must be a map of sections (server, store, providers, models, …)");
                root = null;
            }

            var top = Section(root, "", "server", "store", "redis", "reporting", "providers", "models", "tiers", "data_classes", "workspaces", "audit", "ledger");

            var server = BindServer(Value(top, "server"), root);
            var store = BindStore(Value(top, "store"));
            var redis = BindRedis(Value(top, "redis"));
            var reporting = BindReporting(Value(top, "reporting"));

            var providerMap = b.Map(Value(top, "providers"), "providers");
            var providerEntries = providerMap is null ? [] : b.Entries(providerMap, "providers");
            var providerNames = providerEntries.Select(e => e.Key).ToArray();

            var modelMap = b.Map(Value(top, "models"), "models");
            var modelEntries = modelMap is null ? [] : b.Entries(modelMap, "models");
            var modelNames = modelEntries.Select(e => e.Key).ToArray();

            var providers = new Dictionary<string, ProviderConfig>(StringComparer.Ordinal);
            foreach (var (name, _, node) in providerEntries)
            {
                if (BindProvider(name, node) is { } provider)
                {
                    providers[name] = provider;
                }
            }

            var models = new Dictionary<string, ModelGroupConfig>(StringComparer.Ordinal);
            foreach (var (name, _, node) in modelEntries)
            {
                if (BindModel(name, node, providerNames, modelNames) is { } model)
                {
                    models[name] = model;
                }
            }

            var tiers = new Dictionary<string, TierConfig>(StringComparer.Ordinal);
            if (b.Map(Value(top, "tiers"), "tiers") is { } tierMap)
            {
                foreach (var (name, _, node) in b.Entries(tierMap, "tiers"))
                {
                    tiers[name] = BindTier(name, node, modelNames);
                }
            }

            var dataClasses = new Dictionary<string, DataClassConfig>(StringComparer.Ordinal);
            if (b.Map(Value(top, "data_classes"), "data_classes") is { } classMap)
            {
                foreach (var (name, _, node) in b.Entries(classMap, "data_classes"))
                {
                    dataClasses[name] = BindDataClass(name, node, providerNames);
                }
            }

            var workspaces = new Dictionary<string, WorkspaceConfig>(StringComparer.Ordinal);
            if (b.Map(Value(top, "workspaces"), "workspaces") is { } workspaceMap)
            {
                foreach (var (name, _, node) in b.Entries(workspaceMap, "workspaces"))
                {
                    if (BindWorkspace(name, node) is { } workspace)
                    {
                        workspaces[name] = workspace;
                    }
                }
            }

            var audit = Section(Value(top, "audit"), "audit", "bodies");
            var ledger = BindLedger(Value(top, "ledger"));

            return new TollgateConfig
            {
                Server = server,
                Store = store,
                Redis = redis,
                Reporting = reporting,
                Providers = providers.ToFrozenDictionary(StringComparer.Ordinal),
                Models = models.ToFrozenDictionary(StringComparer.Ordinal),
                Tiers = tiers.ToFrozenDictionary(StringComparer.Ordinal),
                DataClasses = dataClasses.ToFrozenDictionary(StringComparer.Ordinal),
                Workspaces = workspaces.ToFrozenDictionary(StringComparer.Ordinal),
                Audit = new AuditConfig { Bodies = b.OneOf(Value(audit, "bodies"), "audit.bodies", "off", "metadata", "full") ?? "metadata" },
                Ledger = ledger,
            };
        }

        private ServerConfig BindServer(YamlNode? node, YamlNode? root)
        {
            const string P = "server";
            var keys = Section(node, P, "master_key", "max_body_bytes", "admin", "on_store_down");
            var defaults = new ServerConfig();
            var masterKey = b.Secret(Value(keys, "master_key"), "server.master_key", directory);
            var admin = b.Bool(Value(keys, "admin"), "server.admin") ?? defaults.Admin;
            if (admin && masterKey is null && !keys.ContainsKey("master_key"))
            {
                var line = node is YamlMappingNode ? YamlBinder.LineOf(node) : root is not null ? YamlBinder.LineOf(root) : 1;
                b.Error("server.master_key", line, "is required while server.admin is true (write env:NAME or file:/path, or set admin: false on data-plane replicas)");
            }

            WarnIfUnresolvable(masterKey, Value(keys, "master_key"), "server.master_key", "the admin API will refuse every request");

            return new ServerConfig
            {
                MasterKey = masterKey,
                MaxBodyBytes = b.Long(Value(keys, "max_body_bytes"), "server.max_body_bytes", 1) ?? defaults.MaxBodyBytes,
                Admin = admin,
                OnStoreDown = b.OneOf(Value(keys, "on_store_down"), "server.on_store_down", "serve_cached", "strict") ?? defaults.OnStoreDown,
            };
        }

        private StoreConfig BindStore(YamlNode? node)
        {
            var keys = Section(node, "store", "kind", "path", "connection");
            var defaults = new StoreConfig();
            var kind = b.OneOf(Value(keys, "kind"), "store.kind", "sqlite", "postgres") ?? defaults.Kind;
            var connection = b.Secret(Value(keys, "connection"), "store.connection", directory);
            if (kind == "postgres" && connection is null && !keys.ContainsKey("connection"))
            {
                b.Error("store.connection", node!, "is required when store.kind is postgres (write env:NAME or file:/path)");
            }

            if (kind == "sqlite" && connection is not null)
            {
                b.Warn("store.connection", Value(keys, "connection")!, "is ignored when store.kind is sqlite");
            }

            if (kind == "postgres")
            {
                WarnIfUnresolvable(connection, Value(keys, "connection"), "store.connection", "the store cannot be reached");
            }

            var path = b.String(Value(keys, "path"), "store.path");
            if (path is not null && path.Trim().Length == 0)
            {
                b.Error("store.path", Value(keys, "path")!, "must not be empty");
                path = null;
            }

            return new StoreConfig { Kind = kind, Path = Absolute(path ?? defaults.Path), Connection = connection };
        }

        private RedisConfig? BindRedis(YamlNode? node)
        {
            var keys = Section(node, "redis", "connection", "leases");
            var connection = b.Secret(Value(keys, "connection"), "redis.connection", directory);
            var leases = b.Bool(Value(keys, "leases"), "redis.leases") ?? true;
            if (connection is null)
            {
                return null;
            }

            WarnIfUnresolvable(connection, Value(keys, "connection"), "redis.connection", "Redis cannot be reached");
            return new RedisConfig { Connection = connection, Leases = leases };
        }

        private ReportingConfig BindReporting(YamlNode? node)
        {
            var keys = Section(node, "reporting", "currency", "fx");
            var currency = "USD";
            if (Value(keys, "currency") is { } currencyNode && Currency(currencyNode, "reporting.currency") is { } c)
            {
                currency = c;
            }

            var fx = new Dictionary<string, decimal>(StringComparer.Ordinal);
            var fxNode = Value(keys, "fx");
            if (b.Map(fxNode, "reporting.fx") is { } fxMap)
            {
                foreach (var (code, keyNode, value) in b.Entries(fxMap, "reporting.fx"))
                {
                    var path = YamlBinder.Child("reporting.fx", code);
                    var normalised = Currency(keyNode, path);
                    var rate = b.Decimal(value, path, positive: true);
                    if (normalised is not null && rate is { } r)
                    {
                        fx[normalised] = r;
                    }
                }
            }

            if (currency != "USD" && !fx.ContainsKey("USD"))
            {
                var at = fxNode ?? Value(keys, "currency")!;
                b.Error("reporting.fx.USD", at, $"reporting in {currency} needs an fx rate for USD, because prices are in USD (for example fx: {{ USD: 1.53 }})");
            }

            return new ReportingConfig { Currency = currency, Fx = fx.ToFrozenDictionary(StringComparer.Ordinal) };
        }

        private string? Currency(YamlNode node, string path)
        {
            var text = b.String(node, path);
            if (text is null)
            {
                return null;
            }

            if (text.Length == 3 && text.All(char.IsAsciiLetter))
            {
                return text.ToUpperInvariant();
            }

            b.Error(path, node, $"expected a 3-letter currency code such as USD, got '{text}'");
            return null;
        }

        private ProviderConfig? BindProvider(string name, YamlNode node)
        {
            var path = YamlBinder.Child("providers", name);
            var map = b.Map(node, path);
            if (map is null)
            {
                if (YamlBinder.IsNull(node))
                {
                    b.Error(path, node, "a provider needs at least 'kind' and 'auth'");
                }

                return null;
            }

            var keys = b.Keys(map, path, "kind", "base_url", "billing", "retention", "reject_betas", "connect_timeout", "activity_timeout", "http_client", "auth");
            var defaults = new ProviderConfig { Name = name, Kind = "openai", BaseUrl = DefaultBaseUrl("openai"), Auth = new AuthConfig() };

            var kindPath = YamlBinder.Child(path, "kind");
            var kind = b.RequiredString(keys, "kind", map, path);
            if (kind is not null && Array.IndexOf(SupportedKinds, kind) < 0)
            {
                b.Error(kindPath, Value(keys, "kind")!, Array.IndexOf(LaterKinds, kind) >= 0
                    ? $"provider kind '{kind}' is not supported yet; use one of: {string.Join(", ", SupportedKinds)}"
                    : YamlBinder.UnknownMessage("provider kind", kind, AllKinds));
                kind = null;
            }

            var baseUrlNode = Value(keys, "base_url");
            var baseUrl = b.Url(baseUrlNode, YamlBinder.Child(path, "base_url"));
            if (baseUrl is not null && kind is "anthropic" or "gemini")
            {
                var tail = kind == "anthropic" ? "/v1" : "/v1beta";
                if (baseUrl.AbsolutePath.TrimEnd('/').EndsWith(tail, StringComparison.Ordinal))
                {
                    b.Warn(YamlBinder.Child(path, "base_url"), baseUrlNode!, $"a {kind} base_url is the host root; Tollgate adds {tail} itself");
                }
            }

            var rejectBetas = b.StringList(Value(keys, "reject_betas"), YamlBinder.Child(path, "reject_betas"));
            var retention = b.String(Value(keys, "retention"), YamlBinder.Child(path, "retention"));
            var (auth, disabledReason) = BindAuth(name, path, keys, map);

            if (kind is null || auth is null)
            {
                // Keep binding the remaining fields so their errors are reported too.
                _ = b.OneOf(Value(keys, "billing"), YamlBinder.Child(path, "billing"), "metered", "subscription");
                _ = b.Duration(Value(keys, "connect_timeout"), YamlBinder.Child(path, "connect_timeout"));
                _ = b.Duration(Value(keys, "activity_timeout"), YamlBinder.Child(path, "activity_timeout"));
                _ = b.OneOf(Value(keys, "http_client"), YamlBinder.Child(path, "http_client"), "auto", "system");
                return null;
            }

            return new ProviderConfig
            {
                Name = name,
                Kind = kind,
                BaseUrl = baseUrl ?? DefaultBaseUrl(kind),
                Billing = b.OneOf(Value(keys, "billing"), YamlBinder.Child(path, "billing"), "metered", "subscription") ?? defaults.Billing,
                Retention = retention?.Trim(),
                Auth = auth,
                RejectBetas = rejectBetas?.Select(x => x.Value).ToArray() ?? [],
                ConnectTimeout = b.Duration(Value(keys, "connect_timeout"), YamlBinder.Child(path, "connect_timeout")) ?? defaults.ConnectTimeout,
                ActivityTimeout = b.Duration(Value(keys, "activity_timeout"), YamlBinder.Child(path, "activity_timeout")) ?? defaults.ActivityTimeout,
                HttpClient = b.OneOf(Value(keys, "http_client"), YamlBinder.Child(path, "http_client"), "auto", "system") ?? defaults.HttpClient,
                DisabledReason = disabledReason,
            };
        }

        private (AuthConfig? Auth, string? DisabledReason) BindAuth(string providerName, string providerPath, Entries providerKeys, YamlMappingNode providerMap)
        {
            var path = YamlBinder.Child(providerPath, "auth");
            if (!providerKeys.TryGetValue("auth", out var entry))
            {
                b.Error(path, providerMap, "'auth' is required (write auth: { type: none } for a local server)");
                return (null, null);
            }

            var map = b.Map(entry.Value, path);
            if (map is null)
            {
                if (YamlBinder.IsNull(entry.Value))
                {
                    b.Error(path, entry.Value, "'auth' needs a type (write auth: { type: none } for a local server)");
                }

                return (null, null);
            }

            var keys = b.Keys(map, path, "type", "key", "token", "refresh_token", "token_url", "client_id");
            var type = keys.ContainsKey("type")
                ? b.OneOf(Value(keys, "type"), YamlBinder.Child(path, "type"), "api_key", "bearer", "oauth", "forward", "none")
                : null;
            if (!keys.ContainsKey("type"))
            {
                b.Error(YamlBinder.Child(path, "type"), map, "'type' is required: api_key, bearer, oauth, forward or none");
            }

            // Bind every secret that is present, so literal secrets are refused whatever the type.
            var key = b.Secret(Value(keys, "key"), YamlBinder.Child(path, "key"), directory);
            var token = b.Secret(Value(keys, "token"), YamlBinder.Child(path, "token"), directory);
            var refresh = b.Secret(Value(keys, "refresh_token"), YamlBinder.Child(path, "refresh_token"), directory);
            var tokenUrl = b.Url(Value(keys, "token_url"), YamlBinder.Child(path, "token_url"));
            var clientId = b.String(Value(keys, "client_id"), YamlBinder.Child(path, "client_id"));
            if (type is null)
            {
                return (null, null);
            }

            string[] allowed = type switch
            {
                "api_key" => ["type", "key"],
                "bearer" => ["type", "token"],
                "oauth" => ["type", "token", "refresh_token", "token_url", "client_id"],
                _ => ["type"],
            };
            var ok = true;
            foreach (var (name, (keyNode, _)) in keys)
            {
                if (Array.IndexOf(allowed, name) < 0)
                {
                    var takes = allowed.Length > 1 ? $"; it takes {string.Join(", ", allowed.Skip(1).Select(a => $"'{a}'"))}" : "";
                    b.Error(YamlBinder.Child(path, name), keyNode, $"'{name}' is not used by auth type {type}{takes}");
                    ok = false;
                }
            }

            var secretKey = type == "api_key" ? "key" : "token";
            var secret = type == "api_key" ? key : token;
            if (type is "api_key" or "bearer" or "oauth" && !keys.ContainsKey(secretKey))
            {
                b.Error(YamlBinder.Child(path, secretKey), map, $"'{secretKey}' is required for auth type {type} (write env:NAME or file:/path)");
                ok = false;
            }

            if (!ok || (type is "api_key" or "bearer" or "oauth" && secret is null))
            {
                return (null, null);
            }

            string? disabledReason = null;
            foreach (var (reference, name) in new[] { (secret, secretKey), (type == "oauth" ? refresh : null, "refresh_token") })
            {
                if (disabledReason is null && reference is not null && reference.TryResolve(out var problem) is null)
                {
                    disabledReason = problem;
                    b.Warn(YamlBinder.Child(path, name), Value(keys, name)!, $"provider '{providerName}' is disabled: {problem}");
                }
            }

            var auth = new AuthConfig
            {
                Type = type,
                Secret = secret,
                RefreshToken = type == "oauth" ? refresh : null,
                TokenUrl = type == "oauth" ? tokenUrl : null,
                ClientId = type == "oauth" ? clientId?.Trim() : null,
            };
            return (auth, disabledReason);
        }

        private ModelGroupConfig? BindModel(string name, YamlNode node, string[] providerNames, string[] modelNames)
        {
            var path = YamlBinder.Child("models", name);
            var map = b.Map(node, path);
            if (map is null)
            {
                if (YamlBinder.IsNull(node))
                {
                    b.Error(path, node, "a model group needs 'deployments'");
                }

                return null;
            }

            var keys = b.Keys(map, path, "family", "deployments", "fallback", "balance");
            var family = b.String(Value(keys, "family"), YamlBinder.Child(path, "family"))?.Trim();
            var balance = b.OneOf(Value(keys, "balance"), YamlBinder.Child(path, "balance"), "weighted", "least-busy", "lowest-latency");

            var deploymentsPath = YamlBinder.Child(path, "deployments");
            var deployments = new List<DeploymentConfig>();
            var ok = true;
            if (!keys.TryGetValue("deployments", out var entry))
            {
                b.Error(deploymentsPath, map, "'deployments' is required: a list of { provider, model }");
                ok = false;
            }
            else if (b.Sequence(entry.Value, deploymentsPath) is { } seq && seq.Children.Count > 0)
            {
                for (var i = 0; i < seq.Children.Count; i++)
                {
                    if (BindDeployment(seq.Children[i], YamlBinder.Index(deploymentsPath, i), providerNames) is { } deployment)
                    {
                        deployments.Add(deployment);
                    }
                    else
                    {
                        ok = false;
                    }
                }
            }
            else
            {
                if (entry.Value is YamlSequenceNode || YamlBinder.IsNull(entry.Value))
                {
                    b.Error(deploymentsPath, entry.Value, "must list at least one deployment");
                }

                ok = false;
            }

            var fallback = new List<string>();
            var fallbackPath = YamlBinder.Child(path, "fallback");
            foreach (var (alias, aliasNode, aliasPath) in b.StringList(Value(keys, "fallback"), fallbackPath) ?? [])
            {
                if (alias == name)
                {
                    b.Error(aliasPath, aliasNode, $"model group '{name}' cannot fall back to itself");
                }
                else if (Array.IndexOf(modelNames, alias) < 0)
                {
                    // A warning, not an error: SPEC §10's own example falls back to a group it does not define.
                    // The entry is dropped, so Fallback only ever names defined groups.
                    b.Warn(aliasPath, aliasNode, YamlBinder.UnknownMessage("model group", alias, modelNames)
                        + $"; this fallback of '{name}' is skipped until a model group of that name is defined");
                }
                else if (fallback.Contains(alias, StringComparer.Ordinal))
                {
                    b.Error(aliasPath, aliasNode, $"'{alias}' is listed twice");
                }
                else
                {
                    fallback.Add(alias);
                }
            }

            if (!ok)
            {
                return null;
            }

            return new ModelGroupConfig
            {
                Name = name,
                Family = family is { Length: > 0 } ? family : null,
                Deployments = deployments,
                Fallback = fallback,
                Balance = balance ?? "weighted",
            };
        }

        private DeploymentConfig? BindDeployment(YamlNode node, string path, string[] providerNames)
        {
            var map = b.Map(node, path);
            if (map is null)
            {
                if (YamlBinder.IsNull(node))
                {
                    b.Error(path, node, "expected a map { provider, model }, got nothing");
                }

                return null;
            }

            var keys = b.Keys(map, path, "provider", "model", "priority", "weight", "price");
            var provider = b.RequiredString(keys, "provider", map, path);
            if (provider is not null && Array.IndexOf(providerNames, provider) < 0)
            {
                b.Error(YamlBinder.Child(path, "provider"), Value(keys, "provider")!,
                    YamlBinder.UnknownMessage("provider", provider, providerNames) + " (it must be defined under providers)");
                provider = null;
            }

            var model = b.RequiredString(keys, "model", map, path);
            var priority = b.Int(Value(keys, "priority"), YamlBinder.Child(path, "priority"), 0);
            var weight = b.Int(Value(keys, "weight"), YamlBinder.Child(path, "weight"), 1);
            var (price, priceOk) = BindPrice(Value(keys, "price"), YamlBinder.Child(path, "price"));
            if (provider is null || model is null || !priceOk)
            {
                return null;
            }

            return new DeploymentConfig { Provider = provider, Model = model, Priority = priority, Weight = weight ?? 1, Price = price };
        }

        private (PriceConfig? Price, bool Ok) BindPrice(YamlNode? node, string path)
        {
            var map = b.Map(node, path);
            if (map is null)
            {
                return (null, node is null || YamlBinder.IsNull(node));
            }

            var keys = b.Keys(map, path, "input", "output", "cache_read", "cache_write");
            var errors = b.Errors.Count;
            decimal? Required(string key)
            {
                if (!keys.ContainsKey(key))
                {
                    b.Error(YamlBinder.Child(path, key), map, $"'{key}' is required when a price is given (USD per 1M tokens)");
                    return null;
                }

                var value = b.Decimal(Value(keys, key), YamlBinder.Child(path, key), positive: false);
                if (value is null && YamlBinder.IsNull(Value(keys, key)))
                {
                    b.Error(YamlBinder.Child(path, key), Value(keys, key)!, "must be a number (USD per 1M tokens)");
                }

                return value;
            }

            var input = Required("input");
            var output = Required("output");
            var cacheRead = b.Decimal(Value(keys, "cache_read"), YamlBinder.Child(path, "cache_read"), positive: false);
            var cacheWrite = b.Decimal(Value(keys, "cache_write"), YamlBinder.Child(path, "cache_write"), positive: false);
            if (b.Errors.Count > errors || input is null || output is null)
            {
                return (null, false);
            }

            return (new PriceConfig(input.Value, output.Value, cacheRead, cacheWrite), true);
        }

        private TierConfig BindTier(string name, YamlNode node, string[] modelNames)
        {
            var path = YamlBinder.Child("tiers", name);
            var keys = Section(node, path, "daily_requests", "daily_tokens", "models", "remap", "rpm", "tpm", "max_parallel");

            void WarnIfUnknown(string alias, YamlNode at, string atPath)
            {
                if (Array.IndexOf(modelNames, alias) < 0)
                {
                    b.Warn(atPath, at, $"'{alias}' is not a model group defined under models; tier '{name}' cannot use it until it is");
                }
            }

            IReadOnlyList<string>? models = null;
            if (b.StringList(Value(keys, "models"), YamlBinder.Child(path, "models")) is { } list)
            {
                foreach (var (alias, at, atPath) in list)
                {
                    WarnIfUnknown(alias, at, atPath);
                }

                models = list.Select(x => x.Value).Distinct(StringComparer.Ordinal).ToArray();
            }
            else if (keys.TryGetValue("models", out var modelsEntry) && YamlBinder.IsNull(modelsEntry.Value))
            {
                // "models:" with nothing is read as an empty list: the tier may use no model, which is surely
                // not what was meant when the key is present at all, so say so.
                b.Warn(YamlBinder.Child(path, "models"), modelsEntry.Value, "is empty: this tier may use no model (remove the key to allow every model)");
                models = [];
            }

            var remap = new Dictionary<string, string>(StringComparer.Ordinal);
            var remapPath = YamlBinder.Child(path, "remap");
            if (b.Map(Value(keys, "remap"), remapPath) is { } remapMap)
            {
                foreach (var (from, fromNode, toNode) in b.Entries(remapMap, remapPath))
                {
                    var entryPath = YamlBinder.Child(remapPath, from);
                    var to = b.String(toNode, entryPath)?.Trim();
                    if (to is not { Length: > 0 })
                    {
                        if (toNode is YamlScalarNode)
                        {
                            b.Error(entryPath, toNode, "must name the alias to serve instead");
                        }

                        continue;
                    }

                    WarnIfUnknown(from, fromNode, entryPath);
                    WarnIfUnknown(to, toNode, entryPath);
                    remap[from] = to;
                }
            }

            return new TierConfig
            {
                Name = name,
                DailyRequests = b.Long(Value(keys, "daily_requests"), YamlBinder.Child(path, "daily_requests"), 0),
                DailyTokens = b.Long(Value(keys, "daily_tokens"), YamlBinder.Child(path, "daily_tokens"), 0),
                Models = models,
                Remap = remap.ToFrozenDictionary(StringComparer.Ordinal),
                Rpm = b.Int(Value(keys, "rpm"), YamlBinder.Child(path, "rpm"), 1),
                Tpm = b.Int(Value(keys, "tpm"), YamlBinder.Child(path, "tpm"), 1),
                MaxParallel = b.Int(Value(keys, "max_parallel"), YamlBinder.Child(path, "max_parallel"), 1),
            };
        }

        private DataClassConfig BindDataClass(string name, YamlNode node, string[] providerNames)
        {
            var path = YamlBinder.Child("data_classes", name);
            var keys = Section(node, path, "allow_providers");
            var allowed = new List<string>();
            foreach (var (provider, at, atPath) in b.StringList(Value(keys, "allow_providers"), YamlBinder.Child(path, "allow_providers")) ?? [])
            {
                if (Array.IndexOf(providerNames, provider) < 0)
                {
                    b.Error(atPath, at, YamlBinder.UnknownMessage("provider", provider, providerNames) + " (it must be defined under providers)");
                }
                else if (!allowed.Contains(provider, StringComparer.Ordinal))
                {
                    allowed.Add(provider);
                }
            }

            return new DataClassConfig { Name = name, AllowProviders = allowed };
        }

        private WorkspaceConfig? BindWorkspace(string name, YamlNode node)
        {
            var path = YamlBinder.Child("workspaces", name);
            var keys = Section(node, path, "max_budget", "budget_period", "soft_limit");
            var max = b.Decimal(Value(keys, "max_budget"), YamlBinder.Child(path, "max_budget"), positive: false);
            if (max is null)
            {
                b.Error(YamlBinder.Child(path, "max_budget"), node, "is required: the workspace's budget in the reporting currency");
                return null;
            }

            return new WorkspaceConfig
            {
                Name = name,
                MaxBudget = max.Value,
                BudgetPeriod = b.OneOf(Value(keys, "budget_period"), YamlBinder.Child(path, "budget_period"), "1d", "7d", "30d", "calendar_month"),
                SoftLimit = b.Decimal(Value(keys, "soft_limit"), YamlBinder.Child(path, "soft_limit"), positive: false),
            };
        }

        private LedgerConfig BindLedger(YamlNode? node)
        {
            var keys = Section(node, "ledger", "flush_ms", "queue_capacity", "spool_path");
            var defaults = new LedgerConfig();
            var spool = b.String(Value(keys, "spool_path"), "ledger.spool_path");
            if (spool is not null && spool.Trim().Length == 0)
            {
                b.Error("ledger.spool_path", Value(keys, "spool_path")!, "must not be empty");
                spool = null;
            }

            return new LedgerConfig
            {
                FlushMs = b.Int(Value(keys, "flush_ms"), "ledger.flush_ms", 1) ?? defaults.FlushMs,
                QueueCapacity = b.Int(Value(keys, "queue_capacity"), "ledger.queue_capacity", 1) ?? defaults.QueueCapacity,
                SpoolPath = Absolute(spool ?? defaults.SpoolPath),
            };
        }

        private void WarnIfUnresolvable(SecretRef? reference, YamlNode? node, string path, string consequence)
        {
            if (reference is not null && node is not null && reference.TryResolve(out var problem) is null)
            {
                b.Warn(path, node, $"{problem}; {consequence}");
            }
        }
    }
}
