using System.Text;
using System.Text.Json;
using Tollgate.Translation;

namespace Tollgate.Tests.Translation;

public sealed class CodexToolsTests
{
    [Fact]
    public void Responses_namespace_tools_are_offered_as_functions_and_hosted_web_search_is_left_out_for_claude()
    {
        // The tool list Codex 0.169 sends by default (names shortened).
        var body = """
            {"model":"m","input":"hi","tools":[
              {"type":"function","name":"shell","description":"run","parameters":{"type":"object","properties":{}}},
              {"type":"namespace","name":"multi_agent_v1","tools":[
                {"type":"function","name":"spawn_agent","description":"spawn","parameters":{"type":"object","properties":{}}}]},
              {"type":"web_search","external_web_access":false}]}
            """;
        var result = Translator.TranslateRequest(Encoding.UTF8.GetBytes(body), WireFormat.OpenAiResponses, WireFormat.AnthropicMessages, "claude-sonnet-4-6", TranslationOptions.For(false, "claude-sonnet-4-6"));
        result.Error.ShouldBeNull();
        using var doc = JsonDocument.Parse(result.Body!);
        var names = doc.RootElement.GetProperty("tools").EnumerateArray().Select(t => t.GetProperty("name").GetString()).ToList();
        names.ShouldBe(["shell", "spawn_agent"]);
    }

    [Fact]
    public void Other_hosted_tools_are_still_refused_with_the_offending_path()
    {
        var body = """{"model":"m","input":"hi","tools":[{"type":"code_interpreter","container":{"type":"auto"}}]}""";
        var result = Translator.TranslateRequest(Encoding.UTF8.GetBytes(body), WireFormat.OpenAiResponses, WireFormat.AnthropicMessages, "claude-sonnet-4-6", TranslationOptions.For(false, "claude-sonnet-4-6"));
        result.Error.ShouldNotBeNull().ShouldContain("code_interpreter");
        result.ErrorParam.ShouldBe("tools.0.type");
    }
}
