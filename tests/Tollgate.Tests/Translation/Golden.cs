using System.Buffers;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using Tollgate.Tests.Configuration;
using Tollgate.Translation;

namespace Tollgate.Tests.Translation;

/// <summary>
/// Golden files under tests/fixtures/translation: {kind}/{client}-{upstream}/{case}.in.* and {case}.out.*.
/// Requests go client → upstream; responses and streams go upstream → client. A case whose name contains
/// ".stream" is translated as a streaming request.
/// </summary>
internal static class Golden
{
    public const string ClientModel = "my-alias";
    public const long Created = 1767225600;

    private static readonly JsonSerializerOptions Compact = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, WriteIndented = false };
    private static readonly JsonSerializerOptions Indented = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, WriteIndented = true };

    public static string Root => Path.Combine(ConfigTestFiles.RepositoryRoot(), "tests", "fixtures", "translation");

    public static TheoryData<string> Cases(string kind)
    {
        var data = new TheoryData<string>();
        foreach (var file in Directory.EnumerateFiles(Path.Combine(Root, kind), "*.in.*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            data.Add(Path.GetRelativePath(Path.Combine(Root, kind), file).Replace('\\', '/'));
        }

        return data;
    }

    public static WireFormat Format(string name) => name switch
    {
        "chat" => WireFormat.OpenAiChat,
        "responses" => WireFormat.OpenAiResponses,
        "anthropic" => WireFormat.AnthropicMessages,
        "gemini" => WireFormat.Gemini,
        _ => throw new ArgumentException("unknown format folder " + name),
    };

    /// <summary>The pair folder "client-upstream".</summary>
    public static (WireFormat Client, WireFormat Upstream) Pair(string relative)
    {
        var folder = relative.Split('/')[0].Split('-');
        return (Format(folder[0]), Format(folder[1]));
    }

    public static string UpstreamModel(WireFormat upstream) => upstream switch
    {
        WireFormat.OpenAiChat => "qwen3-coder",
        WireFormat.OpenAiResponses => "gpt-5",
        WireFormat.AnthropicMessages => "claude-sonnet-4-5",
        _ => "gemini-2.5-flash",
    };

    public static string Normalize(string json) => JsonNode.Parse(json)!.ToJsonString(Compact);

    public static string Pretty(ReadOnlySpan<byte> json) => JsonNode.Parse(json)!.ToJsonString(Indented);

    public static string OutPath(string kind, string relative) => Path.Combine(Root, kind, relative.Replace(".in.", ".out.", StringComparison.Ordinal));

    public static string Read(string kind, string relative) => File.ReadAllText(Path.Combine(Root, kind, relative));

    /// <summary>
    /// Compares JSON with property order significant (our writer fixes it) and whitespace not. With
    /// TOLLGATE_GOLDEN_WRITE=1 a missing expected file is written for review instead.
    /// </summary>
    public static void AssertJson(string expectedPath, ReadOnlySpan<byte> actual)
    {
        var actualText = Pretty(actual);
        if (!File.Exists(expectedPath) && Environment.GetEnvironmentVariable("TOLLGATE_GOLDEN_WRITE") == "1")
        {
            File.WriteAllText(expectedPath, actualText + "\n");
        }

        Same(Normalize(File.ReadAllText(expectedPath)), Normalize(actualText), expectedPath);
    }

    /// <summary>Fails with the first difference in context, not a character table.</summary>
    public static void Same(string expected, string actual, string path)
    {
        if (expected == actual)
        {
            return;
        }

        var i = 0;
        while (i < expected.Length && i < actual.Length && expected[i] == actual[i])
        {
            i++;
        }

        var from = Math.Max(0, i - 120);
        Assert.Fail($"golden {path} differs at {i}:\nexpected …{expected[from..Math.Min(expected.Length, i + 120)]}\nactual   …{actual[from..Math.Min(actual.Length, i + 120)]}");
    }

    public static List<(string Event, string Data)> ParseSse(string text)
    {
        var events = new List<(string, string)>();
        var scratch = new ArrayBufferWriter<byte>();
        foreach (var raw in text.Replace("\r\n", "\n", StringComparison.Ordinal).Split("\n\n", StringSplitOptions.RemoveEmptyEntries))
        {
            if (string.IsNullOrWhiteSpace(raw))
            {
                continue;
            }

            SseEvents.Split(Encoding.UTF8.GetBytes(raw + "\n\n"), out var name, out var data, scratch);
            var dataText = Encoding.UTF8.GetString(data);
            events.Add((Encoding.UTF8.GetString(name), dataText.StartsWith('{') ? Normalize(dataText) : dataText));
        }

        return events;
    }

    public static string RenderSse(List<(string Event, string Data)> events)
    {
        var sb = new StringBuilder();
        foreach (var (name, data) in events)
        {
            if (name.Length > 0)
            {
                sb.Append("event: ").Append(name).Append('\n');
            }

            sb.Append("data: ").Append(data).Append("\n\n");
        }

        return sb.ToString();
    }
}
