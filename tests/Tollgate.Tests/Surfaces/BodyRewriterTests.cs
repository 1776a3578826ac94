using System.Text;
using Tollgate.Surfaces;

namespace Tollgate.Tests.Surfaces;

public sealed class BodyRewriterTests
{
    private static (string Body, bool Injected) Rewrite(string json, string upstreamModel, bool wantUsage)
    {
        var bytes = Encoding.UTF8.GetBytes(json);
        var peek = RequestPeek.Read(bytes);
        using var rewritten = BodyRewriter.Rewrite(bytes, peek, Encoding.UTF8.GetBytes($"\"{upstreamModel}\""), wantUsage, out var injected);
        return (Encoding.UTF8.GetString(rewritten.Span), injected);
    }

    [Fact]
    public void Only_the_model_changes_and_every_other_byte_is_kept()
    {
        const string json = "{ \"messages\": [ {\"role\":\"user\",\"content\":\"hé\"} ],\n  \"model\": \"alias\", \"x_unknown\": {\"a\": [1, 2.50]} }";
        var (body, injected) = Rewrite(json, "upstream-model", wantUsage: false);
        body.ShouldBe(json.Replace("\"alias\"", "\"upstream-model\"", StringComparison.Ordinal));
        injected.ShouldBeFalse();
    }

    [Fact]
    public void Streamed_chat_without_stream_options_gets_include_usage_and_reports_it()
    {
        var (body, injected) = Rewrite("""{"model":"a","stream":true,"messages":[]}""", "b", wantUsage: true);
        body.ShouldBe("""{"stream_options":{"include_usage":true},"model":"b","stream":true,"messages":[]}""");
        injected.ShouldBeTrue();
    }

    [Fact]
    public void Client_that_asked_for_usage_keeps_its_stream_options_and_sees_the_usage_chunk()
    {
        const string json = """{"model":"a","stream":true,"stream_options":{"include_usage":true},"messages":[]}""";
        var (body, injected) = Rewrite(json, "b", wantUsage: true);
        body.ShouldBe(json.Replace("\"a\"", "\"b\"", StringComparison.Ordinal));
        injected.ShouldBeFalse();
    }

    [Fact]
    public void Stream_options_without_include_usage_are_amended_in_place()
    {
        var (body, injected) = Rewrite("""{"model":"a","stream":true,"stream_options":{"foo":1},"messages":[]}""", "b", wantUsage: true);
        body.ShouldBe("""{"model":"b","stream":true,"stream_options":{"foo":1,"include_usage":true},"messages":[]}""");
        injected.ShouldBeTrue();
    }
}
