using Tollgate.Configuration;

namespace Tollgate.Tests.Configuration;

public sealed class ConfigErrorTests
{
    [Fact]
    public void Error_prints_file_line_path_and_message()
    {
        var error = new ConfigError("providers.cloud-qwen.auth.token", 12, "a literal secret is not allowed here; write env:NAME or file:/path", "tollgate.yaml");

        error.ToString().ShouldBe("tollgate.yaml:12: providers.cloud-qwen.auth.token: a literal secret is not allowed here; write env:NAME or file:/path");
    }

    [Fact]
    public void Error_without_a_path_or_line_leaves_them_out()
    {
        new ConfigError("", 0, "cannot read it", "gw.yaml").ToString().ShouldBe("gw.yaml: cannot read it");
        new ConfigError("", 4, "YAML syntax error: x", "gw.yaml").ToString().ShouldBe("gw.yaml:4: YAML syntax error: x");
    }

    [Fact]
    public void Exception_message_lists_every_error_one_per_line()
    {
        var ex = new ConfigException([new ConfigError("a", 1, "one"), new ConfigError("b", 2, "two")]);

        ex.Message.ShouldBe("The config file has 2 errors:\ntollgate.yaml:1: a: one\ntollgate.yaml:2: b: two");
    }

    [Theory]
    [InlineData("base_ulr", "base_url", 1)]
    [InlineData("kind", "kind", 0)]
    [InlineData("ab", "ba", 1)]
    [InlineData("", "abc", 3)]
    [InlineData("kitten", "sitting", 3)]
    public void Edit_distance_counts_a_swap_of_neighbours_as_one_edit(string a, string b, int expected)
    {
        EditDistance.Between(a, b).ShouldBe(expected);
    }

    [Fact]
    public void Closest_suggests_only_plausible_typos()
    {
        string[] known = ["base_url", "billing", "retention", "auth"];

        EditDistance.Closest("base_ulr", known).ShouldBe("base_url");
        EditDistance.Closest("Billing", known).ShouldBe("billing");
        EditDistance.Closest("telemetry", known).ShouldBeNull();
        EditDistance.Closest("c", ["a", "b"]).ShouldBeNull();
    }
}
