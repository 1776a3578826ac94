using Tollgate.Configuration;
using static Tollgate.Tests.Configuration.ConfigTestFiles;

namespace Tollgate.Tests.Configuration;

public sealed class ConfigLoaderTests
{
    // Verbatim from SPEC §10 (the contract that tests and docs use).
    private const string SpecExample = """
        server:
          master_key: env:TOLLGATE_MASTER_KEY
          max_body_bytes: 33554432
        store:
          kind: sqlite                 # sqlite (embedded default) | postgres
          path: data/tollgate.db
          # connection: env:TOLLGATE_DATABASE_URL   # a postgresql:// URI or an Npgsql connection string
        redis:                          # optional; required for exact limits across replicas
          # connection: env:TOLLGATE_REDIS_URL      # host:port or a redis:// URI
        reporting:
          currency: AUD
          fx: { USD: 1.53 }
        providers:
          claude-max:    { kind: anthropic, billing: subscription, auth: { type: oauth, token: env:CLAUDE_MAX_TOKEN } }
          anthropic-api: { kind: anthropic, auth: { type: api_key, key: env:ANTHROPIC_API_KEY } }
          cloud-qwen:    { kind: openai, base_url: https://qwen.example/v1, retention: none, auth: { type: bearer, token: env:QWEN_TOKEN } }
          local-vllm:    { kind: openai, base_url: http://127.0.0.1:8000/v1, auth: { type: none } }
        models:
          claude-sonnet-4-6:
            family: claude
            deployments:
              - { provider: claude-max, model: claude-sonnet-4-6 }
              - { provider: anthropic-api, model: claude-sonnet-4-6, price: { input: 3, output: 15, cache_read: 0.3, cache_write: 3.75 } }   # USD per 1M tokens; overrides the built-in table
          qwen-3.6-omni:
            family: qwen
            deployments: [ { provider: cloud-qwen, model: qwen-3.6-omni } ]
            fallback: [ claude-haiku-4-5 ]          # explicit, visible cross-family fallback
        tiers:
          free:       { daily_requests: 10,   models: [qwen3-32b], remap: { claude-opus-4-7: qwen3-32b } }
          pro:        { daily_requests: 1000, models: [qwen3-32b, claude-haiku-4-5], remap: { claude-opus-4-7: claude-haiku-4-5 } }
          enterprise: { }                            # unlimited, every model
        data_classes:
          pii: { allow_providers: [cloud-qwen, local-vllm] }
        audit:
          bodies: metadata                           # off | metadata | full
        """;

    [Fact]
    public void Spec_example_loads_and_providers_with_unset_secrets_are_disabled_with_warnings()
    {
        foreach (var name in new[] { "CLAUDE_MAX_TOKEN", "ANTHROPIC_API_KEY", "QWEN_TOKEN" })
        {
            Assert.SkipWhen(Environment.GetEnvironmentVariable(name) is not null, $"{name} is set in this environment");
        }

        var config = Parse(SpecExample);

        config.Providers.Count.ShouldBe(4);
        config.Providers["claude-max"].DisabledReason.ShouldBe("environment variable CLAUDE_MAX_TOKEN is not set");
        config.Providers["anthropic-api"].DisabledReason.ShouldBe("environment variable ANTHROPIC_API_KEY is not set");
        config.Providers["cloud-qwen"].DisabledReason.ShouldBe("environment variable QWEN_TOKEN is not set");
        config.Providers["local-vllm"].DisabledReason.ShouldBeNull();
        config.Warnings.ShouldContain(w => w.StartsWith("tollgate.yaml:16: providers.cloud-qwen.auth.token:", StringComparison.Ordinal)
            && w.Contains("provider 'cloud-qwen' is disabled", StringComparison.Ordinal));

        var claudeMax = config.Providers["claude-max"];
        claudeMax.Kind.ShouldBe("anthropic");
        claudeMax.Billing.ShouldBe("subscription");
        claudeMax.BaseUrl.ShouldBe(new Uri("https://api.anthropic.com"));
        claudeMax.Auth.Type.ShouldBe("oauth");
        claudeMax.Auth.Secret!.ToString().ShouldBe("env:CLAUDE_MAX_TOKEN");
        config.Providers["cloud-qwen"].Retention.ShouldBe("none");

        var sonnet = config.Models["claude-sonnet-4-6"];
        sonnet.Family.ShouldBe("claude");
        sonnet.Deployments.Count.ShouldBe(2);
        sonnet.Deployments[1].Price.ShouldBe(new PriceConfig(3m, 15m, 0.3m, 3.75m));
        sonnet.Deployments[0].Price.ShouldBeNull();

        // The example falls back to a group it does not define: warned and dropped, not an error.
        config.Models["qwen-3.6-omni"].Fallback.ShouldBeEmpty();
        config.Warnings.ShouldContain(w => w.Contains("qwen-3.6-omni.fallback[0]", StringComparison.Ordinal));

        config.Redis.ShouldBeNull();
        config.Reporting.Currency.ShouldBe("AUD");
        config.Reporting.Fx["USD"].ShouldBe(1.53m);
        config.Tiers["free"].Remap["claude-opus-4-7"].ShouldBe("qwen3-32b");
        config.Tiers["free"].DailyRequests.ShouldBe(10);
        config.Tiers["enterprise"].Models.ShouldBeNull();
        config.Tiers["enterprise"].DailyRequests.ShouldBeNull();
        config.Warnings.ShouldContain(w => w.Contains("tiers.free.models[0]", StringComparison.Ordinal));
        config.DataClasses["pii"].AllowProviders.ShouldBe(["cloud-qwen", "local-vllm"]);
        config.Audit.Bodies.ShouldBe("metadata");
        config.Server.MaxBodyBytes.ShouldBe(33554432);
        config.Store.Path.ShouldBe(Path.Combine(SourceFolder, "data", "tollgate.db"));
        config.SourcePath.ShouldBe(SourcePath);
    }

    [Fact]
    public void Sample_tollgate_yaml_at_the_repository_root_loads()
    {
        var path = Path.Combine(RepositoryRoot(), "tollgate.yaml");

        var config = ConfigLoader.Load(path);

        config.Providers["local-openai"].BaseUrl.ShouldBe(new Uri("http://127.0.0.1:4010/v1"));
        config.Providers["local-openai"].Auth.Type.ShouldBe("none");
        config.Providers["local-openai"].DisabledReason.ShouldBeNull();
        config.Models.Keys.Order(StringComparer.Ordinal).ShouldBe(["gpt-4o-mini", "text-embedding-3-small"]);
        config.Tiers.Keys.Order(StringComparer.Ordinal).ShouldBe(["enterprise", "free", "pro"]);
        config.Store.Kind.ShouldBe("sqlite");
        config.Store.Path.ShouldBe(Path.Combine(RepositoryRoot(), "data", "tollgate.db"));
        config.Server.MasterKey!.ToString().ShouldBe("env:TOLLGATE_MASTER_KEY");
        config.Reporting.Currency.ShouldBe("AUD");
        config.Reporting.Fx["USD"].ShouldBe(1.53m);
        config.Audit.Bodies.ShouldBe("metadata");
        // At most the master-key warning (when TOLLGATE_MASTER_KEY is unset); nothing else is amiss.
        config.Warnings.ShouldAllBe(w => w.Contains("server.master_key", StringComparison.Ordinal));
    }

    [Fact]
    public void Empty_providers_and_models_are_allowed_and_everything_else_defaults()
    {
        var config = Parse("""
            server: { master_key: env:TG_TEST_UNSET_MASTER }
            providers: {}
            models: {}
            """);

        config.Providers.ShouldBeEmpty();
        config.Models.ShouldBeEmpty();
        config.Server.MaxBodyBytes.ShouldBe(33554432);
        config.Server.Admin.ShouldBeTrue();
        config.Server.OnStoreDown.ShouldBe("serve_cached");
        config.Store.Kind.ShouldBe("sqlite");
        config.Reporting.Currency.ShouldBe("USD");
        config.Audit.Bodies.ShouldBe("metadata");
        config.Ledger.FlushMs.ShouldBe(200);
        config.Ledger.QueueCapacity.ShouldBe(100_000);
        config.Ledger.SpoolPath.ShouldBe(Path.Combine(SourceFolder, "data", "spool"));
        config.Redis.ShouldBeNull();
    }

    [Fact]
    public void Master_key_is_required_while_admin_is_on_but_not_when_it_is_off()
    {
        var error = SingleError("""
            store: { kind: sqlite }
            server:
              max_body_bytes: 10
            """);
        error.Path.ShouldBe("server.master_key");
        error.Line.ShouldBe(3);

        Parse("server: { admin: false }").Server.MasterKey.ShouldBeNull();
    }

    [Fact]
    public void Unknown_key_suggests_the_close_match()
    {
        var error = SingleError("""
            server: { master_key: env:TG_TEST_UNSET_MASTER }
            providers:
              local:
                kind: openai
                base_ulr: http://127.0.0.1:8000/v1
                auth: { type: none }
            """);

        error.Path.ShouldBe("providers.local.base_ulr");
        error.Line.ShouldBe(5);
        error.Message.ShouldBe("unknown key 'base_ulr'; did you mean 'base_url'?");
        error.ToString().ShouldBe("tollgate.yaml:5: providers.local.base_ulr: unknown key 'base_ulr'; did you mean 'base_url'?");
    }

    [Fact]
    public void Unknown_key_with_no_close_match_lists_the_known_keys()
    {
        var error = SingleError("""
            server: { master_key: env:TG_TEST_UNSET_MASTER }
            telemetry: { on: true }
            """);

        error.Path.ShouldBe("telemetry");
        error.Line.ShouldBe(2);
        error.Message.ShouldStartWith("unknown key 'telemetry'; expected one of: server, store, redis");
    }

    [Fact]
    public void String_where_a_number_goes_names_path_and_line()
    {
        var error = SingleError("""
            server:
              master_key: env:TG_TEST_UNSET_MASTER
              max_body_bytes: lots
            """);

        error.Path.ShouldBe("server.max_body_bytes");
        error.Line.ShouldBe(3);
        error.Message.ShouldBe("expected a whole number, got 'lots'");
    }

    [Fact]
    public void Quoted_number_is_a_string_and_is_refused()
    {
        var error = SingleError("""
            server: { master_key: env:TG_TEST_UNSET_MASTER }
            ledger:
              flush_ms: "200"
            """);

        error.Path.ShouldBe("ledger.flush_ms");
        error.Line.ShouldBe(3);
        error.Message.ShouldBe("expected a whole number, got a quoted string");
    }

    [Fact]
    public void List_where_a_map_goes_names_path_and_line()
    {
        var error = SingleError("""
            server: { master_key: env:TG_TEST_UNSET_MASTER }
            providers:
              local:
                kind: openai
                auth:
                  - none
            """);

        error.Path.ShouldBe("providers.local.auth");
        error.Line.ShouldBe(6);
        error.Message.ShouldBe("expected a map, got a list");
    }

    [Fact]
    public void Negative_price_names_the_deployment_index_and_line()
    {
        var error = SingleError("""
            server: { master_key: env:TG_TEST_UNSET_MASTER }
            providers:
              local: { kind: openai, auth: { type: none } }
            models:
              claude-sonnet-4-6:
                deployments:
                  - { provider: local, model: a }
                  - provider: local
                    model: b
                    price:
                      input: -3
                      output: 15
            """);

        error.Path.ShouldBe("models.claude-sonnet-4-6.deployments[1].price.input");
        error.Line.ShouldBe(11);
        error.Message.ShouldBe("must not be negative");
    }

    [Fact]
    public void Zero_or_negative_where_positive_is_required_is_refused()
    {
        var errors = Fails("""
            server: { master_key: env:TG_TEST_UNSET_MASTER, max_body_bytes: 0 }
            ledger: { flush_ms: -5 }
            """).Errors;

        errors.Select(e => (e.Path, e.Line, e.Message)).ShouldBe([
            ("server.max_body_bytes", 1, "must be greater than 0"),
            ("ledger.flush_ms", 2, "must be greater than 0"),
        ]);
    }

    [Fact]
    public void Price_without_output_is_refused()
    {
        var error = SingleError("""
            server: { master_key: env:TG_TEST_UNSET_MASTER }
            providers:
              local: { kind: openai, auth: { type: none } }
            models:
              m:
                deployments:
                  - { provider: local, model: a, price: { input: 1 } }
            """);

        error.Path.ShouldBe("models.m.deployments[0].price.output");
        error.Line.ShouldBe(7);
    }

    [Fact]
    public void Literal_secret_is_refused_without_echoing_the_value()
    {
        const string Literal = "sk-live-0123456789abcdef";
        var ex = Fails($$"""
            server: { master_key: env:TG_TEST_UNSET_MASTER }
            providers:
              cloud-qwen:
                kind: openai
                auth: { type: bearer, token: {{Literal}} }
            """);

        ex.Errors.Count.ShouldBe(1);
        ex.Errors[0].ToString().ShouldBe("tollgate.yaml:5: providers.cloud-qwen.auth.token: a literal secret is not allowed here; write env:NAME or file:/path");
        ex.Message.ShouldNotContain(Literal);
        ex.Message.ShouldNotContain("sk-live");
    }

    [Theory]
    [InlineData("server: { master_key: hunter2-literal }", "server.master_key")]
    [InlineData("server: { admin: false }\nstore: { kind: postgres, connection: 'Host=db;Password=hunter2-literal' }", "store.connection")]
    [InlineData("server: { admin: false }\nredis: { connection: 'redis://:hunter2-literal@cache:6379' }", "redis.connection")]
    [InlineData("server: { admin: false }\nproviders: { p: { kind: openai, auth: { type: api_key, key: hunter2-literal } } }", "providers.p.auth.key")]
    [InlineData("server: { admin: false }\nproviders: { p: { kind: anthropic, auth: { type: oauth, token: env:X_TG_UNSET, refresh_token: hunter2-literal } } }", "providers.p.auth.refresh_token")]
    public void Every_secret_field_refuses_a_literal(string yaml, string path)
    {
        var ex = Fails(yaml);

        ex.Errors.ShouldHaveSingleItem().Path.ShouldBe(path);
        ex.Errors[0].Message.ShouldContain("a literal secret is not allowed here");
        ex.Message.ShouldNotContain("hunter2");
    }

    [Fact]
    public void Yaml_syntax_error_gives_its_line()
    {
        var error = SingleError("""
            server:
              master_key: env:TG_TEST_UNSET_MASTER
            providers:
              local: { kind: openai, auth: { type: none }
            models: {}
            """);

        error.Path.ShouldBe("");
        error.Line.ShouldBeInRange(4, 5);
        error.Message.ShouldStartWith("YAML syntax error: ");
        error.Message.ShouldNotContain("(Line");
    }

    [Fact]
    public void Duplicate_key_is_a_syntax_error_with_its_line()
    {
        var error = SingleError("""
            server: { master_key: env:TG_TEST_UNSET_MASTER }
            audit: { bodies: off }
            audit: { bodies: full }
            """);

        error.Line.ShouldBe(3);
    }

    [Fact]
    public void All_errors_are_collected_sorted_by_line_and_listed_one_per_line_in_the_message()
    {
        var ex = Fails("""
            server: { master_key: env:TG_TEST_UNSET_MASTER, admin: maybe }
            audit: { bodies: everything }
            ledger: { queue_capacity: many }
            providers:
              p: { kind: openai, auth: { type: none }, billing: free }
            """);

        ex.Errors.Select(e => e.Line).ShouldBe([1, 2, 3, 5]);
        ex.Message.Split('\n').Length.ShouldBe(5);
        ex.Message.ShouldContain("tollgate.yaml:2: audit.bodies: 'everything' is not one of: off, metadata, full");
        ex.Message.ShouldContain("tollgate.yaml:1: server.admin: expected true or false, got 'maybe'");
        ex.Message.ShouldContain("tollgate.yaml:5: providers.p.billing:");
    }

    [Theory]
    [InlineData("openai", "https://api.openai.com/v1")]
    [InlineData("anthropic", "https://api.anthropic.com")]
    [InlineData("gemini", "https://generativelanguage.googleapis.com")]
    public void Base_url_defaults_per_kind(string kind, string expected)
    {
        var config = Parse($"server: {{ admin: false }}\nproviders: {{ p: {{ kind: {kind}, auth: {{ type: none }} }} }}");

        config.Providers["p"].BaseUrl.ShouldBe(new Uri(expected));
    }

    [Theory]
    [InlineData("ftp://example.com/v1")]
    [InlineData("example.com/v1")]
    public void Base_url_must_be_absolute_http(string url)
    {
        var error = SingleError($"server: {{ admin: false }}\nproviders: {{ p: {{ kind: openai, base_url: '{url}', auth: {{ type: none }} }} }}");

        error.Path.ShouldBe("providers.p.base_url");
        error.Line.ShouldBe(2);
    }

    [Theory]
    [InlineData("bedrock")]
    [InlineData("vertex")]
    [InlineData("azure-openai")]
    public void Later_provider_kinds_are_recognised_but_not_supported_yet(string kind)
    {
        var error = SingleError($"server: {{ admin: false }}\nproviders: {{ p: {{ kind: {kind}, auth: {{ type: none }} }} }}");

        error.Path.ShouldBe("providers.p.kind");
        error.Message.ShouldStartWith($"provider kind '{kind}' is not supported yet");
    }

    [Fact]
    public void Misspelt_provider_kind_suggests_the_close_match()
    {
        var error = SingleError("server: { admin: false }\nproviders: { p: { kind: antropic, auth: { type: none } } }");

        error.Message.ShouldBe("unknown provider kind 'antropic'; did you mean 'anthropic'?");
    }

    [Fact]
    public void Relative_paths_resolve_against_the_config_folder_and_absolute_ones_are_kept()
    {
        var absoluteSpool = Path.Combine(Path.GetTempPath(), "somewhere", "spool");
        var config = Parse($$"""
            server: { admin: false }
            store: { path: state/gateway.db }
            ledger: { spool_path: '{{absoluteSpool}}' }
            """);

        config.Store.Path.ShouldBe(Path.Combine(SourceFolder, "state", "gateway.db"));
        config.Ledger.SpoolPath.ShouldBe(absoluteSpool);
    }

    [Theory]
    [InlineData("500ms", 500)]
    [InlineData("10s", 10_000)]
    [InlineData("5m", 300_000)]
    [InlineData("1h", 3_600_000)]
    [InlineData("30", 30_000)]
    [InlineData("1.5", 1_500)]
    [InlineData("2.5s", 2_500)]
    public void Durations_accept_seconds_or_a_unit(string text, int milliseconds)
    {
        var config = Parse($"server: {{ admin: false }}\nproviders: {{ p: {{ kind: openai, auth: {{ type: none }}, activity_timeout: {text}, connect_timeout: {text} }} }}");

        config.Providers["p"].ActivityTimeout.ShouldBe(TimeSpan.FromMilliseconds(milliseconds));
        config.Providers["p"].ConnectTimeout.ShouldBe(TimeSpan.FromMilliseconds(milliseconds));
    }

    [Fact]
    public void A_provider_http_client_is_auto_unless_set_to_system_and_anything_else_is_refused_with_path_and_line()
    {
        var config = Parse("server: { admin: false }\nproviders:\n  a: { kind: openai, base_url: http://127.0.0.1:9/v1, auth: { type: none } }\n  s: { kind: openai, base_url: http://127.0.0.1:9/v1, auth: { type: none }, http_client: system }");
        config.Providers["a"].HttpClient.ShouldBe("auto");
        config.Providers["s"].HttpClient.ShouldBe("system");
        using (var auto = new Tollgate.Providers.ProviderRuntime(config.Providers["a"]))
        {
            auto.Client.ShouldBeOfType<Tollgate.Upstream.Http1Client>();
        }

        using (var system = new Tollgate.Providers.ProviderRuntime(config.Providers["s"]))
        {
            system.Client.ShouldBeOfType<Tollgate.Upstream.SystemUpstreamClient>();
        }

        using (var https = new Tollgate.Providers.ProviderRuntime(Parse("server: { admin: false }\nproviders: { h: { kind: openai, base_url: https://example.invalid/v1, auth: { type: none } } }").Providers["h"]))
        {
            https.Client.ShouldBeOfType<Tollgate.Upstream.SystemUpstreamClient>("HTTPS upstreams keep .NET's handler");
        }

        var error = SingleError("server: { admin: false }\nproviders:\n  p:\n    kind: openai\n    auth: { type: none }\n    http_client: curl");
        error.Path.ShouldBe("providers.p.http_client");
        error.Line.ShouldBe(6);
        error.Message.ShouldContain("system");
    }

    [Theory]
    [InlineData("fast")]
    [InlineData("10 parsecs")]
    [InlineData("-5s")]
    [InlineData("0")]
    public void Bad_durations_are_refused_with_path_and_line(string text)
    {
        var error = SingleError($"server: {{ admin: false }}\nproviders:\n  p:\n    kind: openai\n    auth: {{ type: none }}\n    connect_timeout: {text}");

        error.Path.ShouldBe("providers.p.connect_timeout");
        error.Line.ShouldBe(6);
    }

    [Fact]
    public void Provider_timeouts_default_when_absent()
    {
        var provider = Parse("server: { admin: false }\nproviders: { p: { kind: openai, auth: { type: none } } }").Providers["p"];

        provider.ConnectTimeout.ShouldBe(TimeSpan.FromSeconds(10));
        provider.ActivityTimeout.ShouldBe(TimeSpan.FromSeconds(300));
        provider.Billing.ShouldBe("metered");
    }

    [Fact]
    public void Fallback_to_an_unknown_group_is_warned_with_a_suggestion_and_dropped()
    {
        var config = Parse("""
            server: { admin: false }
            providers: { p: { kind: openai, auth: { type: none } } }
            models:
              claude-haiku-4-5: { deployments: [ { provider: p, model: h } ] }
              qwen:
                deployments: [ { provider: p, model: q } ]
                fallback: [ claude-haiku-4.5, claude-haiku-4-5 ]
            """);

        config.Models["qwen"].Fallback.ShouldBe(["claude-haiku-4-5"]);
        config.Warnings.ShouldHaveSingleItem().ShouldStartWith(
            "tollgate.yaml:7: models.qwen.fallback[0]: unknown model group 'claude-haiku-4.5'; did you mean 'claude-haiku-4-5'?");
    }

    [Fact]
    public void Fallback_to_itself_is_an_error()
    {
        var error = SingleError("""
            server: { admin: false }
            providers: { p: { kind: openai, auth: { type: none } } }
            models:
              qwen:
                deployments: [ { provider: p, model: q } ]
                fallback:
                  - qwen
            """);

        error.Path.ShouldBe("models.qwen.fallback[0]");
        error.Line.ShouldBe(7);
        error.Message.ShouldBe("model group 'qwen' cannot fall back to itself");
    }

    [Fact]
    public void Deployment_naming_an_unknown_provider_is_an_error_with_a_suggestion()
    {
        var error = SingleError("""
            server: { admin: false }
            providers:
              local-vllm: { kind: openai, auth: { type: none } }
            models:
              qwen:
                deployments:
                  - { provider: local-vllm, model: q }
                  - { provider: local-vlm, model: q }
            """);

        error.Path.ShouldBe("models.qwen.deployments[1].provider");
        error.Line.ShouldBe(8);
        error.Message.ShouldStartWith("unknown provider 'local-vlm'; did you mean 'local-vllm'?");
    }

    [Fact]
    public void Model_group_needs_at_least_one_deployment()
    {
        var error = SingleError("""
            server: { admin: false }
            models:
              qwen:
                family: qwen
                deployments: []
            """);

        error.Path.ShouldBe("models.qwen.deployments");
        error.Line.ShouldBe(5);
        error.Message.ShouldBe("must list at least one deployment");
    }

    [Fact]
    public void Deployment_fields_bind_with_defaults()
    {
        var group = Parse("""
            server: { admin: false }
            providers: { p: { kind: openai, auth: { type: none } } }
            models:
              m:
                balance: least-busy
                deployments:
                  - { provider: p, model: a, priority: 0, weight: 3 }
                  - { provider: p, model: b }
            """).Models["m"];

        group.Balance.ShouldBe("least-busy");
        group.Deployments[0].ShouldBe(new DeploymentConfig { Provider = "p", Model = "a", Priority = 0, Weight = 3 });
        group.Deployments[1].ShouldBe(new DeploymentConfig { Provider = "p", Model = "b", Priority = null, Weight = 1 });
    }

    [Fact]
    public void Data_class_naming_an_unknown_provider_is_an_error()
    {
        var error = SingleError("""
            server: { admin: false }
            providers: { cloud-qwen: { kind: openai, auth: { type: none } } }
            data_classes:
              pii: { allow_providers: [cloud-qwen, local-vllm] }
            """);

        error.Path.ShouldBe("data_classes.pii.allow_providers[1]");
        error.Line.ShouldBe(4);
    }

    [Fact]
    public void Tier_aliases_that_name_no_model_group_are_warnings_not_errors()
    {
        var config = Parse("""
            server: { admin: false }
            tiers:
              free: { daily_requests: 10, models: [qwen3-32b], remap: { claude-opus-4-7: qwen3-32b }, rpm: 5, tpm: 1000, max_parallel: 2 }
            """);

        var free = config.Tiers["free"];
        free.Models.ShouldBe(["qwen3-32b"]);
        free.Rpm.ShouldBe(5);
        free.Tpm.ShouldBe(1000);
        free.MaxParallel.ShouldBe(2);
        config.Warnings.Count.ShouldBe(3);
        config.Warnings.ShouldAllBe(w => w.StartsWith("tollgate.yaml:3: tiers.free.", StringComparison.Ordinal));
    }

    [Fact]
    public void Api_key_auth_without_a_key_is_an_error_at_the_auth_line()
    {
        var error = SingleError("""
            server: { admin: false }
            providers:
              anthropic-api:
                kind: anthropic
                auth:
                  type: api_key
            """);

        error.Path.ShouldBe("providers.anthropic-api.auth.key");
        error.Line.ShouldBe(6);
        error.Message.ShouldBe("'key' is required for auth type api_key (write env:NAME or file:/path)");
    }

    [Fact]
    public void Key_given_to_a_bearer_auth_is_an_error_that_names_what_bearer_takes()
    {
        var error = SingleError("""
            server: { admin: false }
            providers:
              p:
                kind: openai
                auth: { type: bearer, token: env:TG_UNSET_1, key: env:TG_UNSET_2 }
            """);

        error.Path.ShouldBe("providers.p.auth.key");
        error.Message.ShouldBe("'key' is not used by auth type bearer; it takes 'token'");
    }

    [Fact]
    public void Provider_without_auth_is_an_error()
    {
        var error = SingleError("server: { admin: false }\nproviders:\n  p: { kind: openai }");

        error.Path.ShouldBe("providers.p.auth");
        error.Line.ShouldBe(3);
    }

    [Fact]
    public void Resolvable_secret_leaves_the_provider_enabled_and_never_appears_in_output()
    {
        const string Value = "tg-test-secret-value-7f3a";
        var variable = "TG_TEST_TOKEN_" + Guid.NewGuid().ToString("N");
        Environment.SetEnvironmentVariable(variable, Value);
        try
        {
            var config = Parse($"server: {{ admin: false }}\nproviders: {{ p: {{ kind: openai, auth: {{ type: bearer, token: env:{variable} }} }} }}");

            var provider = config.Providers["p"];
            provider.DisabledReason.ShouldBeNull();
            provider.Auth.Secret!.TryResolve(out _).ShouldBe(Value);
            config.Warnings.ShouldBeEmpty();
            config.ToString().ShouldNotContain(Value);
            provider.ToString().ShouldNotContain(Value);
        }
        finally
        {
            Environment.SetEnvironmentVariable(variable, null);
        }
    }

    [Fact]
    public void Relative_file_secret_resolves_against_the_config_folder()
    {
        var folder = Directory.CreateTempSubdirectory("tollgate-config-");
        try
        {
            File.WriteAllText(Path.Combine(folder.FullName, "token.txt"), "tg-file-secret\n");
            var config = ConfigLoader.Parse(
                "server: { admin: false }\nproviders: { p: { kind: openai, auth: { type: bearer, token: file:token.txt } } }",
                Path.Combine(folder.FullName, "tollgate.yaml"));

            var secret = config.Providers["p"].Auth.Secret!;
            secret.ToString().ShouldBe("file:" + Path.Combine(folder.FullName, "token.txt"));
            secret.TryResolve(out _).ShouldBe("tg-file-secret");
            config.Providers["p"].DisabledReason.ShouldBeNull();
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    [Fact]
    public void Missing_secret_file_disables_the_provider_with_a_warning()
    {
        var config = Parse("server: { admin: false }\nproviders: { p: { kind: openai, auth: { type: bearer, token: file:/nonexistent/tg/token } } }");

        config.Providers["p"].DisabledReason.ShouldNotBeNull().ShouldContain("/nonexistent/tg/token");
        config.Warnings.ShouldHaveSingleItem().ShouldContain("provider 'p' is disabled");
    }

    [Fact]
    public void Reporting_in_another_currency_needs_a_usd_rate()
    {
        var error = SingleError("""
            server: { admin: false }
            reporting:
              currency: AUD
              fx: { EUR: 1.6 }
            """);

        error.Path.ShouldBe("reporting.fx.USD");
        error.Line.ShouldBe(4);
    }

    [Fact]
    public void Currency_must_be_three_letters_and_fx_rates_positive()
    {
        var errors = Fails("""
            server: { admin: false }
            reporting:
              currency: dollars
              fx: { USD: 0 }
            """).Errors;

        errors.Select(e => (e.Path, e.Line)).ShouldBe([("reporting.currency", 3), ("reporting.fx.USD", 4)]);
    }

    [Fact]
    public void Postgres_store_needs_a_connection()
    {
        var error = SingleError("""
            server: { admin: false }
            store:
              kind: postgres
            """);

        error.Path.ShouldBe("store.connection");
        error.Line.ShouldBe(3);
    }

    [Fact]
    public void Empty_redis_section_means_no_redis_and_a_connection_means_redis()
    {
        Parse("server: { admin: false }\nredis:\n").Redis.ShouldBeNull();
        Parse("server: { admin: false }\nredis: {}\n").Redis.ShouldBeNull();
        Parse("server: { admin: false }\nredis: { connection: env:TG_TEST_UNSET_REDIS }\n")
            .Redis.ShouldNotBeNull().Connection!.ToString().ShouldBe("env:TG_TEST_UNSET_REDIS");
    }

    [Fact]
    public void Redis_leases_are_on_unless_turned_off_and_must_be_a_boolean()
    {
        Parse("server: { admin: false }\nredis: { connection: env:TG_TEST_UNSET_REDIS }\n").Redis!.Leases.ShouldBeTrue();
        Parse("server: { admin: false }\nredis: { connection: env:TG_TEST_UNSET_REDIS, leases: false }\n").Redis!.Leases.ShouldBeFalse();

        var error = Fails("server: { admin: false }\nredis:\n  connection: env:TG_TEST_UNSET_REDIS\n  leases: sometimes\n").Errors.ShouldHaveSingleItem();
        error.Path.ShouldBe("redis.leases");
        error.Line.ShouldBe(4);
    }

    [Fact]
    public void Missing_file_is_a_config_exception()
    {
        var ex = Should.Throw<ConfigException>(() => ConfigLoader.Load(Path.Combine(Path.GetTempPath(), "tg-no-such-dir", "tollgate.yaml")));

        ex.Errors.ShouldHaveSingleItem().Message.ShouldContain("does not exist");
    }

    [Fact]
    public void A_scalar_at_the_top_level_is_an_error()
    {
        var error = Fails("just a string").Errors[0];

        error.Line.ShouldBe(1);
        error.Message.ShouldStartWith("the top level must be a map");
    }
}
