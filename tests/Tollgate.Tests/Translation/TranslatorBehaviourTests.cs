using System.Buffers;
using System.Text;
using Tollgate.Pipeline;
using Tollgate.Translation;

namespace Tollgate.Tests.Translation;

public sealed class TranslatorBehaviourTests
{
    private static RequestTranslation Request(string json, WireFormat from, WireFormat to, bool stream = false)
        => Translator.TranslateRequest(Encoding.UTF8.GetBytes(json), from, to, "claude-sonnet-4-5", new TranslationOptions(stream));

    private static (IStreamTranslator Translator, string Output) Stream(WireFormat upstream, WireFormat client, params (string Event, string Data)[] events)
    {
        var translator = Translator.CreateStreamTranslator(upstream, client, "my-alias", 1);
        var output = new ArrayBufferWriter<byte>();
        foreach (var (name, data) in events)
        {
            translator.OnEvent(Encoding.UTF8.GetBytes(name), Encoding.UTF8.GetBytes(data), output);
        }

        return (translator, Encoding.UTF8.GetString(output.WrittenSpan));
    }

    [Fact]
    public void Malformed_json_is_an_error_that_says_to_fix_the_syntax()
    {
        var result = Request("{\"messages\": [", WireFormat.AnthropicMessages, WireFormat.OpenAiChat);
        result.Body.ShouldBeNull();
        result.Error.ShouldNotBeNull().ShouldContain("not valid JSON");
    }

    [Fact]
    public void Missing_messages_names_the_field()
    {
        var result = Request("""{"model":"m","max_tokens":10}""", WireFormat.AnthropicMessages, WireFormat.OpenAiChat);
        result.Error.ShouldBe("'messages' is required.");
        result.ErrorParam.ShouldBe("messages");
    }

    [Fact]
    public void Unknown_content_block_type_names_its_path()
    {
        var result = Request("""{"max_tokens":10,"messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"bogus"}]}]}""", WireFormat.AnthropicMessages, WireFormat.OpenAiChat);
        result.ErrorParam.ShouldBe("messages.0.content.1.type");
        result.Error.ShouldNotBeNull().ShouldContain("'bogus'");
    }

    [Fact]
    public void Anthropic_server_tools_cannot_go_to_another_provider()
    {
        var result = Request("""{"max_tokens":10,"messages":[{"role":"user","content":"hi"}],"tools":[{"type":"web_search_20250305","name":"web_search"}]}""", WireFormat.AnthropicMessages, WireFormat.OpenAiChat);
        result.ErrorParam.ShouldBe("tools.0");
    }

    [Fact]
    public void Previous_response_id_is_refused_because_nothing_is_stored()
    {
        var result = Request("""{"input":"hi","previous_response_id":"resp_1"}""", WireFormat.OpenAiResponses, WireFormat.AnthropicMessages);
        result.ErrorParam.ShouldBe("previous_response_id");
    }

    [Fact]
    public void More_than_one_choice_is_refused()
    {
        Request("""{"messages":[{"role":"user","content":"hi"}],"n":2}""", WireFormat.OpenAiChat, WireFormat.AnthropicMessages).ErrorParam.ShouldBe("n");
    }

    [Fact]
    public void Json_schema_output_cannot_go_to_anthropic()
    {
        var result = Request("""{"messages":[{"role":"user","content":"hi"}],"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{}}}}""", WireFormat.OpenAiChat, WireFormat.AnthropicMessages);
        result.ErrorParam.ShouldBe("response_format");
    }

    [Fact]
    public void Anthropic_target_gets_the_default_max_tokens_when_the_client_gave_none()
    {
        var result = Translator.TranslateRequest("""{"messages":[{"role":"user","content":"hi"}]}"""u8, WireFormat.OpenAiChat, WireFormat.AnthropicMessages, "claude-opus-4-1", TranslationOptions.For(false, "claude-opus-4-1"));
        Encoding.UTF8.GetString(result.Body!).ShouldContain("\"max_tokens\":32000");
    }

    [Theory]
    [InlineData("claude-opus-4-1-20250805", 32000)]
    [InlineData("claude-sonnet-4-5", 64000)]
    [InlineData("claude-haiku-4-5", 64000)]
    [InlineData("claude-3-5-haiku-latest", 8192)]
    [InlineData("some-unknown-model", 8192)]
    public void Model_limits_give_the_largest_accepted_output(string model, int expected)
    {
        ModelLimits.MaxOutputTokens(model).ShouldBe(expected);
    }

    [Fact]
    public void Openai_chat_upstream_is_asked_for_stream_usage()
    {
        var result = Request("""{"max_tokens":10,"messages":[{"role":"user","content":"hi"}],"stream":true}""", WireFormat.AnthropicMessages, WireFormat.OpenAiChat, stream: true);
        Encoding.UTF8.GetString(result.Body!).ShouldEndWith("\"stream\":true,\"stream_options\":{\"include_usage\":true}}");
    }

    [Fact]
    public void Anthropic_usage_repeated_in_message_delta_is_not_counted_twice()
    {
        var (translator, _) = Stream(WireFormat.AnthropicMessages, WireFormat.OpenAiChat,
            ("message_start", """{"type":"message_start","message":{"id":"msg_1","usage":{"input_tokens":10,"cache_read_input_tokens":100,"cache_creation_input_tokens":5,"output_tokens":1}}}"""),
            ("message_delta", """{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"input_tokens":10,"cache_read_input_tokens":100,"cache_creation_input_tokens":5,"output_tokens":42}}"""),
            ("message_stop", """{"type":"message_stop"}"""));

        translator.Completed.ShouldBeTrue();
        translator.Usage.ShouldBe(new Usage(115, 42, 100, 5, 0));
    }

    [Fact]
    public void Upstream_error_event_mid_stream_is_reported_and_the_stream_is_not_complete()
    {
        var (translator, output) = Stream(WireFormat.AnthropicMessages, WireFormat.OpenAiChat,
            ("message_start", """{"type":"message_start","message":{"id":"msg_1","usage":{"input_tokens":3,"output_tokens":1}}}"""),
            ("content_block_start", """{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"""),
            ("content_block_delta", """{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}"""),
            ("error", """{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"""));

        translator.Completed.ShouldBeFalse();
        translator.UpstreamError.ShouldBe("Overloaded");
        output.ShouldNotContain("[DONE]");
        output.ShouldNotContain("finish_reason\":\"stop");
    }

    [Fact]
    public void Chat_stream_cut_before_finish_is_not_complete_and_writes_no_message_stop()
    {
        var (translator, output) = Stream(WireFormat.OpenAiChat, WireFormat.AnthropicMessages,
            ("", """{"id":"c1","choices":[{"index":0,"delta":{"content":"Hel"}}]}"""));

        translator.Completed.ShouldBeFalse();
        output.ShouldNotContain("message_stop");
        output.ShouldNotContain("message_delta");
    }

    [Fact]
    public void Finish_after_a_complete_stream_writes_nothing_more()
    {
        var (translator, _) = Stream(WireFormat.OpenAiChat, WireFormat.AnthropicMessages,
            ("", """{"id":"c1","choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":"stop"}]}"""),
            ("", "[DONE]"));
        translator.Completed.ShouldBeTrue();
        var tail = new ArrayBufferWriter<byte>();
        translator.Finish(tail);
        tail.WrittenCount.ShouldBe(0);
    }

    [Fact]
    public void Chat_tool_call_whose_name_arrives_late_starts_its_block_once_named()
    {
        var (_, output) = Stream(WireFormat.OpenAiChat, WireFormat.AnthropicMessages,
            ("", """{"id":"c1","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_9","function":{"arguments":"{\"a\":"}}]}}]}"""),
            ("", """{"id":"c1","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"name":"f","arguments":"1}"}}]}}]}"""),
            ("", """{"id":"c1","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":1,"completion_tokens":2}}"""));

        output.ShouldContain("\"content_block\":{\"type\":\"tool_use\",\"id\":\"call_9\",\"name\":\"f\",\"input\":{}}");
        output.ShouldContain("\"partial_json\":\"{\\\"a\\\":1}\"");
        output.ShouldContain("\"stop_reason\":\"tool_use\"");
    }

    [Fact]
    public void Anthropic_response_usage_counts_the_whole_prompt()
    {
        var result = Translator.TranslateResponse("""{"id":"msg_1","content":[],"stop_reason":"end_turn","usage":{"input_tokens":10,"cache_read_input_tokens":20,"cache_creation_input_tokens":30,"output_tokens":4}}"""u8,
            WireFormat.AnthropicMessages, WireFormat.OpenAiChat, "a");
        result.Usage.ShouldBe(new Usage(60, 4, 20, 30, 0));
    }

    [Fact]
    public void Sse_split_joins_data_lines_and_skips_comments()
    {
        var scratch = new ArrayBufferWriter<byte>();
        SseEvents.Split(": keep-alive\r\nevent: message_delta\r\ndata: {\"a\":\r\ndata:1}\r\n\r\n"u8, out var name, out var data, scratch);
        Encoding.UTF8.GetString(name).ShouldBe("message_delta");
        Encoding.UTF8.GetString(data).ShouldBe("{\"a\":\n1}");
    }

    [Fact]
    public void Sse_split_of_a_single_data_line_points_into_the_event()
    {
        var scratch = new ArrayBufferWriter<byte>();
        SseEvents.Split("data: [DONE]\n\n"u8, out var name, out var data, scratch);
        name.IsEmpty.ShouldBeTrue();
        Encoding.UTF8.GetString(data).ShouldBe("[DONE]");
        scratch.WrittenCount.ShouldBe(0);
    }
}
