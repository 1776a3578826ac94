using System.Buffers;
using System.Text;
using Tollgate.Pipeline;
using Tollgate.Translation;

namespace Tollgate.Tests.Translation;

public sealed class GoldenTranslationTests
{
    public static TheoryData<string> RequestCases => Golden.Cases("requests");

    public static TheoryData<string> ResponseCases => Golden.Cases("responses");

    public static TheoryData<string> StreamCases => Golden.Cases("streams");

    [Theory]
    [MemberData(nameof(RequestCases))]
    public void Request_translates_to_the_golden_upstream_body(string relative)
    {
        var (client, upstream) = Golden.Pair(relative);
        var model = Golden.UpstreamModel(upstream);
        var options = TranslationOptions.For(relative.Contains(".stream", StringComparison.Ordinal), model);
        var result = Translator.TranslateRequest(Encoding.UTF8.GetBytes(Golden.Read("requests", relative)), client, upstream, model, options);

        result.Error.ShouldBeNull();
        Golden.AssertJson(Golden.OutPath("requests", relative), result.Body);
    }

    [Theory]
    [MemberData(nameof(ResponseCases))]
    public void Response_translates_to_the_golden_client_body(string relative)
    {
        var (client, upstream) = Golden.Pair(relative);
        var result = Translator.TranslateResponse(Encoding.UTF8.GetBytes(Golden.Read("responses", relative)), upstream, client, Golden.ClientModel, Golden.Created);

        result.Error.ShouldBeNull();
        Golden.AssertJson(Golden.OutPath("responses", relative), result.Body);
    }

    [Theory]
    [MemberData(nameof(StreamCases))]
    public void Stream_translates_to_the_golden_client_events(string relative)
    {
        var (client, upstream) = Golden.Pair(relative);
        var translator = Translator.CreateStreamTranslator(upstream, client, Golden.ClientModel, Golden.Created);
        var output = new ArrayBufferWriter<byte>();
        var scratch = new ArrayBufferWriter<byte>();
        foreach (var (name, data) in Golden.ParseSse(Golden.Read("streams", relative)))
        {
            translator.OnEvent(Encoding.UTF8.GetBytes(name), Encoding.UTF8.GetBytes(data), output);
        }

        translator.Completed.ShouldBeTrue();
        translator.Finish(output);
        var actual = Golden.RenderSse(Golden.ParseSse(Encoding.UTF8.GetString(output.WrittenSpan)));
        var expectedPath = Golden.OutPath("streams", relative);
        if (!File.Exists(expectedPath) && Environment.GetEnvironmentVariable("TOLLGATE_GOLDEN_WRITE") == "1")
        {
            File.WriteAllText(expectedPath, actual);
        }

        Golden.Same(Golden.RenderSse(Golden.ParseSse(File.ReadAllText(expectedPath))), actual, expectedPath);

        // Usage is also reported to the pipeline: the golden output's usage must match what the translator says.
        translator.Usage.ShouldNotBe(default(Usage));
    }
}
