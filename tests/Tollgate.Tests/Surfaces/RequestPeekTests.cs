using System.Text;
using Tollgate.Surfaces;

namespace Tollgate.Tests.Surfaces;

public sealed class RequestPeekTests
{
    private static RequestPeek Peek(string json) => RequestPeek.Read(Encoding.UTF8.GetBytes(json));

    [Fact]
    public void Reads_model_stream_and_max_tokens_from_the_top_level_only()
    {
        var peek = Peek("""{"messages":[{"role":"user","content":"x","model":"inner"}],"model":"gpt-4o","stream":true,"max_tokens":64}""");
        peek.Error.ShouldBeNull();
        peek.Model.ShouldBe("gpt-4o");
        peek.Stream.ShouldBeTrue();
        peek.MaxTokens.ShouldBe(64);
        (peek.Present & RequestPeek.Field.Messages).ShouldBe(RequestPeek.Field.Messages);
    }

    [Fact]
    public void Model_span_covers_the_raw_token_including_quotes()
    {
        const string json = """{ "model" : "gpt-4o-mini" , "messages": [] }""";
        var peek = Peek(json);
        json.Substring(peek.ModelStart, peek.ModelLength).ShouldBe("\"gpt-4o-mini\"");
    }

    [Fact]
    public void Escaped_model_span_is_measured_on_the_raw_bytes()
    {
        const string json = """{"model":"a\"b\u0041","messages":[]}""";
        var peek = Peek(json);
        peek.Model.ShouldBe("a\"bA");
        json.Substring(peek.ModelStart, peek.ModelLength).ShouldBe("\"a\\\"b\\u0041\"");
    }

    [Theory]
    [InlineData("{\"model\":\"m\",", "not valid JSON")]
    [InlineData("[1,2]", "must be a JSON object")]
    [InlineData("", "empty")]
    [InlineData("{\"model\":42}", "'model' must be a string")]
    [InlineData("{\"model\":\"m\",\"stream\":\"yes\"}", "'stream' must be true or false")]
    [InlineData("{\"model\":\"m\",\"max_tokens\":-1}", "'max_tokens' must be a positive integer")]
    [InlineData("{\"model\":\"m\",\"messages\":\"hi\"}", "'messages' must be an array")]
    [InlineData("{\"model\":\"m\"} trailing", "not valid JSON")]
    public void Bad_bodies_are_rejected_with_a_message_that_says_what_to_fix(string json, string expected)
    {
        Peek(json).Error.ShouldNotBeNull().ShouldContain(expected);
    }

    [Fact]
    public void Stream_options_with_include_usage_are_seen()
    {
        var peek = Peek("""{"model":"m","stream_options":{"include_usage":true}}""");
        peek.HasStreamOptions.ShouldBeTrue();
        peek.IncludeUsage.ShouldBeTrue();
    }
}
