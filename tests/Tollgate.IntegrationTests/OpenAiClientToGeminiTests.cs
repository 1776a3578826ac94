using System.Text;
using OpenAI.Chat;
using Tollgate.IntegrationTests.Harness;

namespace Tollgate.IntegrationTests;

/// <summary>
/// The official OpenAI .NET SDK against a model group served by a Gemini upstream (aimock's generateContent and
/// streamGenerateContent?alt=sse): chat completions are translated to Gemini and back.
/// </summary>
public sealed class OpenAiClientToGeminiTests(GatewayStack stack)
{
    [Fact]
    public async Task Dotnet_openai_chat_to_gemini_upstream_returns_the_text_and_stop()
    {
        using var deadline = Deadline.After(30);
        var key = await stack.MintKeyAsync("oai2gemini-json", deadline.Token, "anth-gemini");
        var chat = stack.SdkClient(key.Secret).GetChatClient("anth-gemini");

        var result = await chat.CompleteChatAsync(
            [new SystemChatMessage("You are terse."), new UserChatMessage("TG_ANTH_HELLO from the .NET OpenAI SDK to Gemini")],
            cancellationToken: deadline.Token);

        result.Value.Content.ShouldHaveSingleItem().Text.ShouldBe("Claude answered the OpenAI client through Tollgate: anth-hello-ok");
        result.Value.FinishReason.ShouldBe(ChatFinishReason.Stop);
        result.GetRawResponse().Headers.TryGetValue("x-tollgate-deployment", out var deployment).ShouldBeTrue();
        deployment.ShouldBe("anth-aimock-gemini/gemini-2.5-flash");
    }

    [Fact]
    public async Task Dotnet_openai_chat_stream_from_gemini_upstream_arrives_in_chunks_with_the_whole_text()
    {
        using var deadline = Deadline.After(30);
        var key = await stack.MintKeyAsync("oai2gemini-stream", deadline.Token, "anth-gemini");
        var chat = stack.SdkClient(key.Secret).GetChatClient("anth-gemini");

        var text = new StringBuilder();
        var updates = 0;
        ChatFinishReason? finish = null;
        await foreach (var update in chat.CompleteChatStreamingAsync([new UserChatMessage("TG_ANTH_STREAM from Gemini")], cancellationToken: deadline.Token))
        {
            updates++;
            foreach (var part in update.ContentUpdate)
            {
                text.Append(part.Text);
            }

            finish ??= update.FinishReason;
        }

        text.ToString().ShouldBe("A streamed Claude answer crossed the translator chunk by chunk and arrived whole: anth-stream-ok");
        updates.ShouldBeGreaterThan(3, "the answer should arrive as several chunks");
        finish.ShouldBe(ChatFinishReason.Stop);
    }
}
