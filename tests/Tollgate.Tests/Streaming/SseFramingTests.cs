using System.Text;
using Tollgate.Streaming;

namespace Tollgate.Tests.Streaming;

public sealed class SseFramingTests
{
    [Theory]
    [InlineData("data: a\n\ndata: b\n\n", 0, 9)]
    [InlineData("data: a\r\n\r\ndata: b", 0, 11)]
    [InlineData("event: x\ndata: a\n\n", 0, 18)]
    [InlineData("data: a\ndata: b\n\n", 0, 17)]
    public void Event_end_includes_the_blank_line(string text, int from, int expectedEnd)
    {
        SseRelay.FindEventEnd(Encoding.UTF8.GetBytes(text), from, out var end).ShouldBeTrue();
        end.ShouldBe(expectedEnd);
    }

    [Fact]
    public void Incomplete_event_is_not_an_event()
    {
        SseRelay.FindEventEnd("data: {\"partial\":"u8, 0, out _).ShouldBeFalse();
        SseRelay.FindEventEnd("data: a\n"u8, 0, out _).ShouldBeFalse();
    }
}
