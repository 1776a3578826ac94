using Tollgate.Pipeline;

namespace Tollgate.Tests.Pipeline;

public sealed class RateLimitDurationTests
{
    [Theory]
    [InlineData("20ms", 0.02)]
    [InlineData("1s", 1)]
    [InlineData("6m0s", 360)]
    [InlineData("1h2m3.5s", 3723.5)]
    [InlineData("17", 17)]
    public void Parses_openai_reset_durations(string text, double seconds)
    {
        RateLimitDuration.TryParseSeconds(text).ShouldNotBeNull().ShouldBe(seconds, 1e-9);
    }

    [Theory]
    [InlineData("")]
    [InlineData("soon")]
    [InlineData("5x")]
    public void Rejects_what_is_not_a_duration(string text)
    {
        RateLimitDuration.TryParseSeconds(text).ShouldBeNull();
    }
}
