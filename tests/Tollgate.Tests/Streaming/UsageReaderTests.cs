using System.Text;
using Tollgate.Pipeline;
using Tollgate.Streaming;

namespace Tollgate.Tests.Streaming;

public sealed class UsageReaderTests
{
    private static Usage? Read(string json) => UsageReader.TryRead(Encoding.UTF8.GetBytes(json), out var usage) ? usage : null;

    [Fact]
    public void Chat_usage_with_cached_and_reasoning_details()
    {
        var usage = Read("""{"id":"x","choices":[],"usage":{"prompt_tokens":100,"completion_tokens":20,"total_tokens":120,"prompt_tokens_details":{"cached_tokens":40},"completion_tokens_details":{"reasoning_tokens":7}}}""");
        usage.ShouldBe(new Usage(100, 20, 40, 0, 7));
    }

    [Fact]
    public void Responses_completed_event_usage_inside_response()
    {
        var usage = Read("""{"type":"response.completed","response":{"id":"r","output":[{"usage":"decoy"}],"usage":{"input_tokens":42,"output_tokens":11,"input_tokens_details":{"cached_tokens":2},"output_tokens_details":{"reasoning_tokens":3}}}}""");
        usage.ShouldBe(new Usage(42, 11, 2, 0, 3));
    }

    [Fact]
    public void Null_usage_is_not_usage()
    {
        Read("""{"choices":[{"delta":{}}],"usage":null}""").ShouldBeNull();
    }

    [Fact]
    public void Usage_nested_deeper_than_a_response_is_ignored()
    {
        Read("""{"choices":[{"message":{"usage":{"prompt_tokens":9}}}]}""").ShouldBeNull();
    }
}
