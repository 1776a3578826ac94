using System.Text;
using System.Text.Json;
using Microsoft.ML.Tokenizers;
using Tollgate.Translation;

namespace Tollgate.Tests.Translation;

public sealed class TokenCounterTests
{
    private static readonly Tokenizer O200k = TiktokenTokenizer.CreateForEncoding("o200k_base");

    private static long Count(string json) => TokenCounter.CountAnthropicRequest(Encoding.UTF8.GetBytes(json));

    private static int Tokens(string text) => O200k.CountTokens(text);

    [Fact]
    public void Request_without_messages_costs_only_the_reply_primer()
    {
        Count("""{"model":"m","max_tokens":16,"messages":[]}""").ShouldBe(TokenCounter.ReplyPrimer);
        Count("""{"model":"m","max_tokens":16,"messages":[{"role":"user","content":""}]}""")
            .ShouldBe(TokenCounter.ReplyPrimer + TokenCounter.MessageOverhead);
    }

    [Fact]
    public void Plain_text_costs_its_o200k_tokens_plus_the_per_message_overhead()
    {
        const string Text = "The quick brown fox jumps over the lazy dog, then asks Tollgate how many tokens that was.";
        var expected = Tokens(Text) + TokenCounter.MessageOverhead + TokenCounter.ReplyPrimer;

        Count($$"""{"model":"m","max_tokens":16,"messages":[{"role":"user","content":"{{Text}}"}]}""").ShouldBe(expected);
        Count($$"""{"model":"m","max_tokens":16,"messages":[{"role":"user","content":[{"type":"text","text":"{{Text}}"}]}]}""")
            .ShouldBe(expected);
    }

    [Fact]
    public void Escaped_text_is_counted_unescaped()
    {
        const string Text = "Café\n\"quoted\"\ttab";
        var body = JsonSerializer.Serialize(new { messages = new[] { new { role = "user", content = Text } } });
        body.ShouldContain("\\u0022"); // the default encoder escapes quotes this way: the test exercises unescaping

        Count(body).ShouldBe(Tokens(Text) + TokenCounter.MessageOverhead + TokenCounter.ReplyPrimer);
    }

    [Fact]
    public void System_prompt_as_string_or_blocks_costs_the_same()
    {
        const string System = "You are a terse assistant.";
        var asString = Count($$"""{"system":"{{System}}","messages":[{"role":"user","content":"hi"}]}""");
        var asBlocks = Count($$$"""{"system":[{"type":"text","text":"{{{System}}}","cache_control":{"type":"ephemeral"}}],"messages":[{"role":"user","content":"hi"}]}""");

        asString.ShouldBe(asBlocks);
        asString.ShouldBe(Tokens(System) + Tokens("hi") + (2 * TokenCounter.MessageOverhead) + TokenCounter.ReplyPrimer);
    }

    [Fact]
    public void Tools_add_their_name_description_compact_schema_and_overheads()
    {
        const string Messages = "\"messages\":[{\"role\":\"user\",\"content\":\"What is the weather in Oslo?\"}]";
        const string Schema = """{"type":"object","properties":{"city":{"type":"string","description":"City name"}},"required":["city"]}""";
        var without = Count($$$"""{{{{Messages}}}}""");
        var with = Count($$$"""
            {{{{Messages}}},
             "tools":[{"name":"get_weather","description":"Current weather for a city.",
                       "input_schema": {
                           "type": "object",
                           "properties": { "city": { "type": "string", "description": "City name" } },
                           "required": [ "city" ]
                       }}]}
            """);

        // The indented schema in the body is counted as its compact form.
        (with - without).ShouldBe(TokenCounter.ToolsPreamble + TokenCounter.PerToolOverhead
            + Tokens("get_weather") + Tokens("Current weather for a city.") + Tokens(Schema));
    }

    [Fact]
    public void Tool_use_input_and_tool_result_content_are_counted()
    {
        const string Input = """{"command":"ls -la /tmp"}""";
        var body = $$"""
            {"messages":[
              {"role":"user","content":"list tmp"},
              {"role":"assistant","content":[
                {"type":"thinking","thinking":"I should run ls.","signature":"c2ln"},
                {"type":"tool_use","id":"toolu_1","name":"Bash","input":{{Input}}}]},
              {"role":"user","content":[
                {"type":"tool_result","tool_use_id":"toolu_1","content":[{"type":"text","text":"total 0"}]},
                {"type":"tool_result","tool_use_id":"toolu_2","content":"done","is_error":true}]}]}
            """;

        Count(body).ShouldBe(TokenCounter.ReplyPrimer + (3 * TokenCounter.MessageOverhead)
            + Tokens("list tmp") + Tokens("I should run ls.") + Tokens("Bash") + Tokens(Input)
            + Tokens("total 0") + Tokens("done"));
    }

    [Fact]
    public void Image_of_known_size_costs_width_times_height_over_750()
    {
        // A PNG signature and IHDR chunk are all the counter reads: 1000 x 600 pixels.
        var png = new byte[33];
        new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13, (byte)'I', (byte)'H', (byte)'D', (byte)'R' }.CopyTo(png, 0);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(png.AsSpan(16), 1000);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(png.AsSpan(20), 600);

        ImageTokens(png, "image/png").ShouldBe(800); // 1000 * 600 / 750
    }

    [Fact]
    public void Jpeg_size_is_read_from_its_start_of_frame_past_other_segments()
    {
        // SOI, an APP0 segment of 16 bytes, then SOF0 for 300 x 200 pixels.
        byte[] jpeg =
        [
            0xFF, 0xD8,
            0xFF, 0xE0, 0x00, 0x10, (byte)'J', (byte)'F', (byte)'I', (byte)'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0,
            0xFF, 0xC0, 0x00, 0x11, 0x08, 0x00, 0xC8, 0x01, 0x2C, 0x03, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1,
        ];

        ImageTokens(jpeg, "image/jpeg").ShouldBe(80); // 300 * 200 / 750
    }

    [Fact]
    public void Large_unreadable_or_url_images_cost_the_flat_maximum()
    {
        var gif = "GIF89a"u8.ToArray().Concat(new byte[] { 0x10, 0x27, 0x10, 0x27, 0, 0, 0 }).ToArray(); // 10000 x 10000
        ImageTokens(gif, "image/gif").ShouldBe(TokenCounter.MaxImageTokens);
        ImageTokens([1, 2, 3, 4, 5, 6], "image/png").ShouldBe(TokenCounter.MaxImageTokens);

        var url = Count("""{"messages":[{"role":"user","content":[{"type":"image","source":{"type":"url","url":"https://example.com/a.png"}}]}]}""");
        (url - TokenCounter.ReplyPrimer - TokenCounter.MessageOverhead).ShouldBe(TokenCounter.MaxImageTokens);
    }

    [Fact]
    public void Claude_code_hello_captures_count_as_a_large_tool_heavy_prompt()
    {
        var bodies = CaptureBodies("claude-code-hello.jsonl");
        bodies.ShouldNotBeEmpty();
        foreach (var body in bodies)
        {
            var count = TokenCounter.CountAnthropicRequest(body);

            // Claude Code's first request carries ~6 KB of system prompt and ~74 KB of tool schemas. JSON and prose
            // run about 3 to 5 bytes per o200k token, so a count between bytes/6 and bytes/2 is plausible; outside
            // that, something was skipped (tools, system) or double counted. The floor of 10,000 guards against the
            // tools going uncounted: they alone are over 70 KB.
            count.ShouldBeGreaterThan(10_000);
            count.ShouldBeInRange(body.Length / 6, body.Length / 2);
        }
    }

    [Fact]
    public void Concurrent_callers_share_one_tokenizer_and_get_the_sequential_answer()
    {
        var body = CaptureBodies("claude-code-hello.jsonl")[0];
        var expected = TokenCounter.CountAnthropicRequest(body);
        var results = new long[16];

        Parallel.For(0, results.Length, i => results[i] = TokenCounter.CountAnthropicRequest(body));

        results.ShouldAllBe(r => r == expected);
    }

    [Fact]
    public void Malformed_json_throws_json_exception()
    {
        Should.Throw<JsonException>(() => Count("""{"messages":["""));
        Should.Throw<TranslationException>(() => Count("[1,2]"));
    }

    private static long ImageTokens(byte[] file, string mediaType)
    {
        var body = $$$"""{"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"{{{mediaType}}}","data":"{{{Convert.ToBase64String(file)}}}"}}]}]}""";
        return Count(body) - TokenCounter.ReplyPrimer - TokenCounter.MessageOverhead;
    }

    /// <summary>The request bodies recorded in ../shared/captures (lines with a body; response lines have none).</summary>
    private static List<byte[]> CaptureBodies(string file)
    {
        var path = FindCapture(file);
        var bodies = new List<byte[]>();
        foreach (var line in File.ReadLines(path))
        {
            using var doc = JsonDocument.Parse(line);
            if (doc.RootElement.TryGetProperty("body", out var body) && body.ValueKind == JsonValueKind.Object)
            {
                bodies.Add(Encoding.UTF8.GetBytes(body.GetRawText()));
            }
        }

        return bodies;
    }

    private static string FindCapture(string file)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "shared", "captures", file);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new FileNotFoundException($"shared/captures/{file} was not found above {AppContext.BaseDirectory}.");
    }
}
