using System.Buffers;
using System.Buffers.Binary;
using System.Buffers.Text;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using Microsoft.ML.Tokenizers;

namespace Tollgate.Translation;

/// <summary>
/// Local <c>POST /v1/messages/count_tokens</c> for upstreams that are not Anthropic
/// (https://docs.anthropic.com/en/docs/build-with-claude/token-counting).
/// </summary>
/// <remarks>
/// <para>
/// The count is an <b>estimate</b>: it uses OpenAI's o200k_base encoding (Microsoft.ML.Tokenizers), not Claude's
/// tokenizer, and not the tokenizer of whatever model actually serves the request (a Qwen on vLLM has its own).
/// o200k is used because it ships in a NuGet package, is fast, and is within a few percent of modern BPE
/// vocabularies on English and code. Anthropic upstreams get the real endpoint instead; this is never used for them.
/// </para>
/// <para>
/// What is counted: <c>system</c> (a string or text blocks); in every message, text, thinking, tool_use name and
/// input JSON, tool_result content (recursively), document text and titles; every tool's name, description and
/// input_schema JSON. Structure the model sees but the body does not spell out is added as fixed overheads:
/// <see cref="MessageOverhead"/> per message (and for the system prompt), <see cref="ReplyPrimer"/> once,
/// <see cref="ToolsPreamble"/> once when there are tools and <see cref="PerToolOverhead"/> per tool.
/// When in doubt the estimate leans high: a client that compacts its context on this number (Claude Code does)
/// overflows the upstream's window if it under-reports, and only compacts a little early if it over-reports.
/// </para>
/// <para>
/// Images follow Anthropic's published rule of thumb, tokens ≈ width × height / 750, capped at
/// <see cref="MaxImageTokens"/> because larger images are scaled down before the model sees them
/// (https://docs.anthropic.com/en/docs/build-with-claude/vision#calculate-image-costs). The size is read from the
/// PNG, GIF, JPEG or WebP header of base64 data; a URL or file image, or one whose header cannot be read, counts
/// <see cref="MaxImageTokens"/>. A PDF or other binary document counts <see cref="UnknownDocumentTokens"/>.
/// </para>
/// </remarks>
internal static class TokenCounter
{
    /// <summary>Per message (and per system prompt): role marker and turn boundaries, as chat templates add them.</summary>
    public const int MessageOverhead = 4;

    /// <summary>Once per request: the assistant turn header the model's reply starts from.</summary>
    public const int ReplyPrimer = 3;

    /// <summary>
    /// Once when <c>tools</c> is non-empty: the tool-use instructions a chat template wraps around the definitions.
    /// Anthropic documents 159 to 530 such tokens depending on model and tool_choice; this takes the middle.
    /// </summary>
    public const int ToolsPreamble = 300;

    /// <summary>Per tool: the framing around each definition.</summary>
    public const int PerToolOverhead = 8;

    /// <summary>The most an image costs (Anthropic scales larger images down), and the cost of one of unknown size.</summary>
    public const int MaxImageTokens = 1_600;

    /// <summary>A base64 or URL document (a PDF) whose pages cannot be counted here: treated as one page.</summary>
    public const int UnknownDocumentTokens = 1_600;

    // Created once: loading the o200k vocabulary takes tens of milliseconds and tens of megabytes. The tokenizer is
    // immutable after creation and its internal cache is concurrent, so one instance serves every request
    // (TokenCounterTests checks parallel callers get the sequential answer).
    private static readonly Tokenizer O200k = TiktokenTokenizer.CreateForEncoding("o200k_base");

    private const int StackChars = 512;

    // Enough of the image to reach a JPEG's SOF marker past typical EXIF data; headers of other formats are tiny.
    private const int ImageSniffBytes = 64 * 1024;

    /// <summary>
    /// Estimates the input tokens of an Anthropic Messages request body, the <c>input_tokens</c> of a
    /// count_tokens reply. An estimate with OpenAI's o200k encoding, not Claude's tokenizer: see the remarks on
    /// <see cref="TokenCounter"/>.
    /// </summary>
    /// <exception cref="JsonException">The body is not valid JSON.</exception>
    /// <exception cref="TranslationException">The body is not a JSON object.</exception>
    public static long CountAnthropicRequest(ReadOnlySpan<byte> body)
    {
        var reader = new Utf8JsonReader(body, new JsonReaderOptions { MaxDepth = Json.DocumentOptions.MaxDepth });
        using var document = JsonDocument.ParseValue(ref reader);
        var root = document.RootElement;
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw new TranslationException("The request body must be a JSON object.", null);
        }

        long total = ReplyPrimer;
        if (root.Prop("system") is { } system)
        {
            total += MessageOverhead + CountContent(system);
        }

        if (root.Prop("messages") is { ValueKind: JsonValueKind.Array } messages)
        {
            foreach (var message in messages.EnumerateArray())
            {
                total += MessageOverhead;
                if (message.Prop("content") is { } content)
                {
                    total += CountContent(content);
                }
            }
        }

        if (root.Prop("tools") is { ValueKind: JsonValueKind.Array } tools && tools.GetArrayLength() > 0)
        {
            total += ToolsPreamble;
            foreach (var tool in tools.EnumerateArray())
            {
                total += PerToolOverhead + CountString(tool, "name") + CountString(tool, "description");
                if (tool.Prop("input_schema") is { } schema)
                {
                    total += CountJson(schema);
                }
            }
        }

        return total;
    }

    /// <summary>Content is a string or an array of blocks (message content, system, tool_result content).</summary>
    private static long CountContent(JsonElement content) => content.ValueKind switch
    {
        JsonValueKind.String => CountText(content),
        JsonValueKind.Array => CountBlocks(content),
        _ => 0,
    };

    private static long CountBlocks(JsonElement blocks)
    {
        long total = 0;
        foreach (var block in blocks.EnumerateArray())
        {
            total += CountBlock(block);
        }

        return total;
    }

    /// <summary>
    /// One content block of any type. Rather than list every block type (server tools add new ones often), this
    /// counts the fields that carry model-visible text wherever they appear: text, thinking, a tool call's name and
    /// input, nested content, a document's title and context, and media through their source.
    /// </summary>
    private static long CountBlock(JsonElement block)
    {
        if (block.ValueKind != JsonValueKind.Object)
        {
            return 0;
        }

        var total = CountString(block, "text") + CountString(block, "thinking") + CountString(block, "name")
            + CountString(block, "title") + CountString(block, "context");
        if (block.Prop("input") is { } input)
        {
            total += CountJson(input);
        }

        if (block.Prop("content") is { } content)
        {
            total += CountContent(content);
        }

        if (block.Prop("source") is { ValueKind: JsonValueKind.Object } source)
        {
            total += block.Str("type") == "image" ? CountImage(source) : CountDocumentSource(source);
        }

        return total;
    }

    private static long CountDocumentSource(JsonElement source) => source.Str("type") switch
    {
        "text" => CountString(source, "data"),
        "content" => source.Prop("content") is { } content ? CountContent(content) : 0,
        _ => UnknownDocumentTokens,
    };

    private static long CountImage(JsonElement source)
    {
        if (source.Str("type") != "base64" || source.Prop("data") is not { ValueKind: JsonValueKind.String } data)
        {
            return MaxImageTokens;
        }

        // The raw JSON of a base64 string is its quoted characters; base64 needs no escaping except an optional "\/".
        var raw = JsonMarshal.GetRawUtf8Value(data);
        raw = raw[1..^1];
        if (raw.Contains((byte)'\\'))
        {
            return MaxImageTokens;
        }

        var take = Math.Min(raw.Length, Base64.GetMaxEncodedToUtf8Length(ImageSniffBytes)) & ~3;
        var bytes = ArrayPool<byte>.Shared.Rent(Base64.GetMaxDecodedFromUtf8Length(take));
        try
        {
            Base64.DecodeFromUtf8(raw[..take], bytes, out _, out var written, isFinalBlock: take == raw.Length);
            if (!ImageHeader.TryGetSize(bytes.AsSpan(0, written), out var width, out var height))
            {
                return MaxImageTokens;
            }

            var tokens = ((long)width * height + 749) / 750;
            return Math.Clamp(tokens, 1, MaxImageTokens);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(bytes);
        }
    }

    private static long CountString(JsonElement obj, string name)
        => obj.Prop(name) is { ValueKind: JsonValueKind.String } value ? CountText(value) : 0;

    /// <summary>A string element's text, unescaped.</summary>
    private static long CountText(JsonElement value)
    {
        var raw = JsonMarshal.GetRawUtf8Value(value)[1..^1];
        return raw.Contains((byte)'\\') ? CountChars(value.GetString()) : CountUtf8(raw);
    }

    /// <summary>
    /// A JSON value (tool input, input_schema) counted as compact JSON, the way templates serialise it for the model;
    /// indentation in the client's body is not the model's cost.
    /// </summary>
    private static long CountJson(JsonElement value)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer, Json.WriterOptions))
        {
            value.WriteTo(writer);
        }

        return CountUtf8(buffer.WrittenSpan);
    }

    private static long CountUtf8(ReadOnlySpan<byte> utf8)
    {
        if (utf8.IsEmpty)
        {
            return 0;
        }

        var max = Encoding.UTF8.GetMaxCharCount(utf8.Length);
        char[]? rented = null;
        Span<char> chars = max <= StackChars ? stackalloc char[StackChars] : (rented = ArrayPool<char>.Shared.Rent(max));
        try
        {
            var length = Encoding.UTF8.GetChars(utf8, chars);
            return CountChars(chars[..length]);
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<char>.Shared.Return(rented);
            }
        }
    }

    private static long CountChars(ReadOnlySpan<char> text) => text.IsEmpty ? 0 : O200k.CountTokens(text);

    /// <summary>Reads an image's pixel size from the first bytes of the file.</summary>
    private static class ImageHeader
    {
        public static bool TryGetSize(ReadOnlySpan<byte> data, out int width, out int height)
        {
            width = height = 0;
            if (data.Length >= 24 && data.StartsWith(PngSignature))
            {
                // PNG: the IHDR chunk comes first; width and height are big-endian at 16 and 20.
                width = BinaryPrimitives.ReadInt32BigEndian(data[16..]);
                height = BinaryPrimitives.ReadInt32BigEndian(data[20..]);
            }
            else if (data.Length >= 10 && data.StartsWith("GIF8"u8))
            {
                // GIF: the logical screen size, little-endian at 6 and 8.
                width = BinaryPrimitives.ReadUInt16LittleEndian(data[6..]);
                height = BinaryPrimitives.ReadUInt16LittleEndian(data[8..]);
            }
            else if (data.Length >= 30 && data.StartsWith("RIFF"u8) && data[8..].StartsWith("WEBP"u8))
            {
                TryWebP(data, out width, out height);
            }
            else if (data.Length >= 4 && data[0] == 0xFF && data[1] == 0xD8)
            {
                TryJpeg(data, out width, out height);
            }

            return width > 0 && height > 0;
        }

        private static ReadOnlySpan<byte> PngSignature => [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];

        // https://developers.google.com/speed/webp/docs/riff_container
        private static void TryWebP(ReadOnlySpan<byte> data, out int width, out int height)
        {
            width = height = 0;
            var chunk = data[12..16];
            if (chunk.SequenceEqual("VP8X"u8))
            {
                width = 1 + (data[24] | (data[25] << 8) | (data[26] << 16));
                height = 1 + (data[27] | (data[28] << 8) | (data[29] << 16));
            }
            else if (chunk.SequenceEqual("VP8 "u8))
            {
                // Lossy: after the 3-byte frame tag and the 3-byte start code, 14-bit width and height.
                width = BinaryPrimitives.ReadUInt16LittleEndian(data[26..]) & 0x3FFF;
                height = BinaryPrimitives.ReadUInt16LittleEndian(data[28..]) & 0x3FFF;
            }
            else if (chunk.SequenceEqual("VP8L"u8) && data[20] == 0x2F)
            {
                // Lossless: after the 0x2F signature, 14 bits of width - 1 then 14 bits of height - 1.
                var bits = BinaryPrimitives.ReadUInt32LittleEndian(data[21..]);
                width = 1 + (int)(bits & 0x3FFF);
                height = 1 + (int)((bits >> 14) & 0x3FFF);
            }
        }

        // JPEG: walk the marker segments to the first start-of-frame; its height and width are big-endian at 5 and 7.
        private static void TryJpeg(ReadOnlySpan<byte> data, out int width, out int height)
        {
            width = height = 0;
            var i = 2;
            while (i + 9 < data.Length)
            {
                if (data[i] != 0xFF)
                {
                    return;
                }

                var marker = data[i + 1];
                if (marker == 0xFF)
                {
                    i++; // fill byte
                    continue;
                }

                if (marker is 0x01 or (>= 0xD0 and <= 0xD7))
                {
                    i += 2; // no length
                    continue;
                }

                var length = BinaryPrimitives.ReadUInt16BigEndian(data[(i + 2)..]);
                if (marker is >= 0xC0 and <= 0xCF and not 0xC4 and not 0xC8 and not 0xCC)
                {
                    height = BinaryPrimitives.ReadUInt16BigEndian(data[(i + 5)..]);
                    width = BinaryPrimitives.ReadUInt16BigEndian(data[(i + 7)..]);
                    return;
                }

                i += 2 + length;
            }
        }
    }
}
