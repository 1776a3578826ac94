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
    public void A_usage_that_is_not_an_object_hides_nothing_inside_it()
    {
        // Found by UsageReaderAnswerTests' generated documents: an array-valued usage (or message) was read into,
        // and a usage nested in it passed for the top-level one.
        Read("""{"usage":[{"usage":{"prompt_tokens":1}}],"choices":[]}""").ShouldBeNull();
        Read("""{"message":[{"usage":{"prompt_tokens":1}}],"usage":{"prompt_tokens":2}}""").ShouldBe(new Usage(2, 0, 0, 0, 0));
    }

    [Fact]
    public void Usage_nested_deeper_than_a_response_is_ignored()
    {
        Read("""{"choices":[{"message":{"usage":{"prompt_tokens":9}}}]}""").ShouldBeNull();
    }
}

/// <summary>
/// <see cref="UsageReader.TryReadAnswer"/> walks a whole answer backwards to its top-level usage. It must agree with
/// the forward reader on every document: real answers, tricky strings, and many generated ones.
/// </summary>
public sealed class UsageReaderAnswerTests
{
    private static (bool Found, Usage Usage) Forward(string json) => (UsageReader.TryRead(Encoding.UTF8.GetBytes(json), out var u), u);

    private static (bool Found, Usage Usage) Backward(string json) => (UsageReader.TryReadAnswer(Encoding.UTF8.GetBytes(json), out var u), u);

    public static TheoryData<string, string> Documents => new()
    {
        { "chat completion, usage near the end", """{"id":"c","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"hi"}}],"usage":{"prompt_tokens":9,"completion_tokens":17,"total_tokens":26,"prompt_tokens_details":{"cached_tokens":3},"completion_tokens_details":{"reasoning_tokens":2}},"service_tier":"default","system_fingerprint":"fp"}""" },
        { "usage first", """{"usage":{"prompt_tokens":5,"completion_tokens":6},"choices":[{"message":{"content":"}}]]"}}]}""" },
        { "Anthropic message", """{"id":"msg","type":"message","content":[{"type":"text","text":"x"}],"usage":{"input_tokens":9,"cache_creation_input_tokens":24,"cache_read_input_tokens":2048,"output_tokens":17}}""" },
        { "Responses object", """{"id":"resp","object":"response","output":[{"type":"message","content":[{"type":"output_text","text":"y"}]}],"usage":{"input_tokens":42,"output_tokens":11,"input_tokens_details":{"cached_tokens":2},"output_tokens_details":{"reasoning_tokens":3}}}""" },
        { "embeddings", """{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.1,-0.2,3e-5]}],"model":"m","usage":{"prompt_tokens":4,"total_tokens":4}}""" },
        { "escaped quotes and a decoy usage inside the content", """{"choices":[{"message":{"content":"say \"usage\":{\"prompt_tokens\":999} and \\\"}"}}],"usage":{"prompt_tokens":1,"completion_tokens":2}}""" },
        { "a string ending in a backslash", """{"choices":[{"message":{"content":"path C:\\"}}],"usage":{"prompt_tokens":3,"completion_tokens":4},"note":"\\\\"}""" },
        { "a nested usage only (tool arguments)", """{"choices":[{"message":{"tool_calls":[{"function":{"arguments":{"usage":{"prompt_tokens":8}}}}]}}]}""" },
        { "a nested usage after the top-level one", """{"usage":{"prompt_tokens":1,"completion_tokens":1},"choices":[{"message":{"usage":{"prompt_tokens":8}}}]}""" },
        { "usage null", """{"choices":[],"usage":null}""" },
        { "usage inside response (an event)", """{"type":"response.completed","response":{"usage":{"input_tokens":5,"output_tokens":6}}}""" },
        { "the name written with an escape", """{"choices":[],"\u0075sage":{"prompt_tokens":7,"completion_tokens":8}}""" },
        { "a string value 'usage'", """{"object":"usage","choices":[],"usage":{"prompt_tokens":2,"completion_tokens":3}}""" },
        { "pretty-printed", "{\n  \"choices\": [],\n  \"usage\" :\n    {\"prompt_tokens\": 11, \"completion_tokens\": 12}\n}\n" },
        { "not an object", """[{"usage":{"prompt_tokens":1}}]""" },
        { "malformed (no opening quote)", """usage":{"prompt_tokens":1}}""" },
        { "empty", "" },
    };

    [Theory]
    [MemberData(nameof(Documents))]
    public void Agrees_with_the_forward_reader(string what, string json)
    {
        Backward(json).ShouldBe(Forward(json), what);
        UsageReader.FindTopLevelUsageObject(Encoding.UTF8.GetBytes(json)).ShouldBe(TopLevelUsageOffset(json), what);
    }

    /// <summary>
    /// Where the backward walk must land, found forward with the framework's reader: the start of the value of
    /// the top-level "usage" member written without escapes, if it is an object; else -1 (the fallback's case).
    /// </summary>
    private static int TopLevelUsageOffset(string json)
    {
        var bytes = Encoding.UTF8.GetBytes(json);
        var reader = new System.Text.Json.Utf8JsonReader(bytes);
        try
        {
            if (!reader.Read() || reader.TokenType != System.Text.Json.JsonTokenType.StartObject)
            {
                return -1;
            }

            var found = -1;
            while (reader.Read() && reader.TokenType == System.Text.Json.JsonTokenType.PropertyName)
            {
                var plainUsage = !reader.ValueIsEscaped && reader.ValueTextEquals("usage"u8);
                reader.Read();
                if (plainUsage)
                {
                    // The last one counts (see Of_two_top_level_usage_members_the_last_counts).
                    found = reader.TokenType == System.Text.Json.JsonTokenType.StartObject ? (int)reader.TokenStartIndex : -1;
                }

                reader.Skip();
            }

            return found;
        }
        catch (System.Text.Json.JsonException)
        {
            return -1;
        }
    }

    [Fact]
    public void Finds_the_top_level_usage_without_reading_from_the_start()
    {
        // Broken JSON ahead of the usage: the forward reader fails on it, the backward walk never gets there.
        var json = Encoding.UTF8.GetBytes("""{"choices":[{"message":{"content":"x"}}, BROKEN ],"usage":{"prompt_tokens":5,"completion_tokens":6}}""");
        UsageReader.TryRead(json, out _).ShouldBeFalse();
        UsageReader.FindTopLevelUsageObject(json).ShouldBe(json.AsSpan().IndexOf("{\"prompt_tokens\""u8));
        UsageReader.TryReadAnswer(json, out var usage).ShouldBeTrue();
        usage.ShouldBe(new Usage(5, 6, 0, 0, 0));
    }

    [Fact]
    public void Of_two_top_level_usage_members_the_last_counts()
    {
        // Duplicate names are not valid in practice (RFC 8259 says they should be unique); JSON.parse and
        // System.Text.Json's deserializer keep the last, and so does the backward walk. The forward reader, used
        // for stream events, keeps the first.
        var json = """{"usage":{"prompt_tokens":1,"completion_tokens":1},"choices":[],"usage":{"prompt_tokens":2,"completion_tokens":3}}""";
        Backward(json).ShouldBe((true, new Usage(2, 3, 0, 0, 0)));
        Forward(json).ShouldBe((true, new Usage(1, 1, 0, 0, 0)));
    }

    [Fact]
    public void Agrees_with_the_forward_reader_on_generated_documents()
    {
        var random = new Random(20261201);
        for (var n = 0; n < 3000; n++)
        {
            var json = Document(random);
            Backward(json).ShouldBe(Forward(json), json);
            UsageReader.FindTopLevelUsageObject(Encoding.UTF8.GetBytes(json)).ShouldBe(TopLevelUsageOffset(json), json);
        }
    }

    /// <summary>A random object: strings full of quotes, backslashes and brackets, nested values, and a usage
    /// object at the top level, nested deeper, both, or neither.</summary>
    private static string Document(Random random)
    {
        var members = new List<string>();
        for (var i = random.Next(0, 5); i > 0; i--)
        {
            // Top-level names other than "usage": a second top-level usage is the one case where the two readers
            // differ (see the test above), so generated documents have at most one.
            members.Add($"{Json(Text(random))}:{Value(random, 0)}");
        }

        var usage = $$$"""{"prompt_tokens":{{{random.Next(1000)}}},"completion_tokens":{{{random.Next(1000)}}},"prompt_tokens_details":{"cached_tokens":{{{random.Next(10)}}}}}""";
        switch (random.Next(4))
        {
            case 0:
                members.Insert(random.Next(members.Count + 1), $"\"usage\":{usage}");
                break;
            case 1:
                members.Insert(random.Next(members.Count + 1), $$$"""{{{Json(Name(random))}}}:{"usage":{{{usage}}}}""");
                break;
            case 2:
                members.Insert(random.Next(members.Count + 1), $"\"usage\":{usage}");
                members.Insert(random.Next(members.Count + 1), Json(Name(random)) + """:[{"usage":{"prompt_tokens":1}}]""");
                break;
        }

        return "{" + string.Join(random.Next(2) == 0 ? "," : " ,\n ", members) + "}";
    }

    private static string Value(Random random, int depth) => (depth > 3 ? random.Next(3) : random.Next(6)) switch
    {
        0 => Json(Text(random)),
        1 => random.Next(-5, 100000).ToString(System.Globalization.CultureInfo.InvariantCulture),
        2 => random.Next(2) == 0 ? "null" : "true",
        3 => "[" + string.Join(",", Enumerable.Range(0, random.Next(3)).Select(_ => Value(random, depth + 1))) + "]",
        _ => "{" + string.Join(",", Enumerable.Range(0, random.Next(3)).Select(_ => $"{Json(Name(random))}:{Value(random, depth + 1)}")) + "}",
    };

    private static string Name(Random random) => random.Next(5) == 0 ? "usage" : Text(random);

    private static string Text(Random random)
    {
        const string alphabet = "ab\"\\{}[]:, usage";
        return new string([.. Enumerable.Range(0, random.Next(12)).Select(_ => alphabet[random.Next(alphabet.Length)])]);
    }

    /// <summary>A JSON string with quotes and backslashes escaped as \" and \\ (the serializer would write \u0022).</summary>
    private static string Json(string text) => "\"" + text.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal) + "\"";
}
