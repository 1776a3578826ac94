using System.Text.Json;
using Tollgate.Pipeline;

namespace Tollgate.Tests.Pipeline;

/// <summary>
/// The ledger's attempts_json. One answered attempt from a plainly named deployment is formatted directly; the
/// text must be exactly what the JSON writer gives for it, for every latency, so the two paths are compared here.
/// </summary>
public sealed class AttemptsJsonTests
{
    [Theory]
    [InlineData("stub/stub-model", 200, 0.0)]
    [InlineData("openai/gpt-4o", 200, 0.4123456)]
    [InlineData("anthropic/claude-sonnet-4.5", 201, 12.5)]
    [InlineData("a_b:c/d-e.f", 299, 1234567.0005)]
    [InlineData("x/y", 200, 0.0004)]
    [InlineData("x/y", 200, 0.001)]
    [InlineData("x/y", 200, 0.00001)]
    [InlineData("x/y", 200, 1e16)]
    [InlineData("x/y", 200, 99999999999999.999)]
    public void One_answered_attempt_is_written_exactly_as_the_json_writer_writes_it(string deployment, int status, double latencyMs)
    {
        var attempts = new List<Attempt> { new(deployment, status, latencyMs, null) };

        var fast = GatewayContext.AttemptsToJson(attempts);

        fast.ShouldBe(ViaWriter(attempts));
        using var parsed = JsonDocument.Parse(fast);
        var only = parsed.RootElement.EnumerateArray().Single();
        only.GetProperty("deployment").GetString().ShouldBe(deployment);
        only.GetProperty("status").GetInt32().ShouldBe(status);
        only.GetProperty("latency_ms").GetDouble().ShouldBe(Math.Round(latencyMs, 3));
        only.GetProperty("error").ValueKind.ShouldBe(JsonValueKind.Null);
    }

    [Fact]
    public void Random_latencies_give_the_same_text_on_both_paths()
    {
        var random = new Random(20261202);
        for (var i = 0; i < 5000; i++)
        {
            var latency = random.Next(4) switch
            {
                0 => random.NextDouble(),
                1 => random.NextDouble() * 100,
                2 => random.NextDouble() * 100_000,
                _ => Math.Round(random.NextDouble() * 1000, random.Next(6)),
            };
            var attempts = new List<Attempt> { new("provider-1/model.v2", 200, latency, null) };
            GatewayContext.AttemptsToJson(attempts).ShouldBe(ViaWriter(attempts), $"latency {latency:R}");
        }
    }

    [Theory]
    [InlineData("we<ird>/model")]
    [InlineData("quote\"d/model")]
    [InlineData("back\\slash/model")]
    [InlineData("plus+/model")]
    [InlineData("ünïcode/model")]
    [InlineData("space d/model")]
    public void A_label_that_needs_escaping_is_still_valid_json_with_the_label_intact(string deployment)
    {
        var attempts = new List<Attempt> { new(deployment, 200, 1.5, null) };

        var json = GatewayContext.AttemptsToJson(attempts);

        json.ShouldBe(ViaWriter(attempts));
        using var parsed = JsonDocument.Parse(json);
        parsed.RootElement[0].GetProperty("deployment").GetString().ShouldBe(deployment);
    }

    [Fact]
    public void Failed_and_skipped_attempts_keep_their_error_and_skip_flag()
    {
        var attempts = new List<Attempt>
        {
            Attempt.Skip("a/one", "cooling down"),
            new("b/two", 529, 12.3456, "overloaded"),
            new("c/three", 200, 3.2, null),
        };

        var json = GatewayContext.AttemptsToJson(attempts);

        json.ShouldBe(ViaWriter(attempts));
        json.ShouldBe("[{\"deployment\":\"a/one\",\"status\":0,\"latency_ms\":0,\"skipped\":true,\"error\":\"cooling down\"},"
            + "{\"deployment\":\"b/two\",\"status\":529,\"latency_ms\":12.346,\"error\":\"overloaded\"},"
            + "{\"deployment\":\"c/three\",\"status\":200,\"latency_ms\":3.2,\"error\":null}]");
    }

    /// <summary>The general path: what the JSON writer writes for these attempts.</summary>
    private static string ViaWriter(List<Attempt> attempts) => GatewayContext.WriteAttemptsJson(attempts);
}
