using System.Buffers;
using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Tollgate.Translation;

/// <summary>Input a reader cannot translate; carries what to fix and the JSON path of the culprit.</summary>
internal sealed class TranslationException(string message, string? param) : Exception(message)
{
    public string? Param { get; } = param;
}

/// <summary>Small helpers shared by every format's reader and writer.</summary>
internal static class Json
{
    /// <summary>Writer options: no HTML escaping and no escaping of non-ASCII text, as the providers write it.</summary>
    public static readonly JsonWriterOptions WriterOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static readonly JsonDocumentOptions DocumentOptions = new() { MaxDepth = 256 };

    /// <summary>Serialises with <paramref name="write"/> into a fresh array.</summary>
    public static byte[] Write<TState>(TState state, Action<Utf8JsonWriter, TState> write)
    {
        var buffer = new ArrayBufferWriter<byte>(4096);
        using (var writer = new Utf8JsonWriter(buffer, WriterOptions))
        {
            write(writer, state);
        }

        return buffer.WrittenSpan.ToArray();
    }

    public static string? Str(this JsonElement obj, string name)
        => obj.ValueKind == JsonValueKind.Object && obj.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    public static JsonElement? Prop(this JsonElement obj, string name)
        => obj.ValueKind == JsonValueKind.Object && obj.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null ? v : null;

    public static long Long(this JsonElement obj, string name)
        => obj.ValueKind == JsonValueKind.Object && obj.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out var n) ? n : 0;

    public static bool Bool(this JsonElement obj, string name)
        => obj.ValueKind == JsonValueKind.Object && obj.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.True;

    public static double? Double(this JsonElement obj, string name, string param)
    {
        if (obj.Prop(name) is not { } v)
        {
            return null;
        }

        return v.ValueKind == JsonValueKind.Number ? v.GetDouble() : throw new TranslationException($"'{param}' must be a number.", param);
    }

    public static int? Int(this JsonElement obj, string name, string param)
    {
        if (obj.Prop(name) is not { } v)
        {
            return null;
        }

        return v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var n) && n >= 0
            ? n
            : throw new TranslationException($"'{param}' must be a non-negative integer.", param);
    }

    /// <summary>A string, or a string array (OpenAI <c>stop</c>).</summary>
    public static List<string>? Strings(this JsonElement obj, string name, string param)
    {
        if (obj.Prop(name) is not { } v)
        {
            return null;
        }

        if (v.ValueKind == JsonValueKind.String)
        {
            return [v.GetString()!];
        }

        if (v.ValueKind != JsonValueKind.Array)
        {
            throw new TranslationException($"'{param}' must be a string or an array of strings.", param);
        }

        var list = new List<string>();
        foreach (var s in v.EnumerateArray())
        {
            list.Add(s.ValueKind == JsonValueKind.String ? s.GetString()! : throw new TranslationException($"'{param}' must hold only strings.", param));
        }

        return list;
    }

    public static JsonElement Require(this JsonElement obj, string name, JsonValueKind kind, string param)
    {
        if (!obj.TryGetProperty(name, out var v))
        {
            throw new TranslationException($"'{param}' is required.", param);
        }

        if (v.ValueKind != kind)
        {
            throw new TranslationException($"'{param}' must be {Describe(kind)}.", param);
        }

        return v;
    }

    public static string RequireString(this JsonElement obj, string name, string param) => obj.Require(name, JsonValueKind.String, param).GetString()!;

    private static string Describe(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        _ => kind.ToString().ToLowerInvariant(),
    };

    /// <summary>Splits <c>data:&lt;media type&gt;;base64,&lt;data&gt;</c>; false for any other URL.</summary>
    public static bool TryParseDataUrl(string url, out string mediaType, out string data)
    {
        mediaType = "";
        data = "";
        if (!url.StartsWith("data:", StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        var comma = url.IndexOf(',', StringComparison.Ordinal);
        var marker = url.LastIndexOf(";base64", comma < 0 ? url.Length - 1 : comma, StringComparison.OrdinalIgnoreCase);
        if (comma < 0 || marker < 0)
        {
            return false;
        }

        mediaType = url[5..marker];
        data = url[(comma + 1)..];
        return true;
    }

    public static string DataUrl(string mediaType, string data) => string.Concat("data:", mediaType, ";base64,", data);

    /// <summary>
    /// Writes tool-call arguments held as text as a JSON object. Text that is not a JSON object (a model can
    /// emit broken JSON) is kept, as a string, under the key <c>_raw_arguments</c> rather than dropped.
    /// </summary>
    public static void WriteArgumentsObject(Utf8JsonWriter writer, string arguments)
    {
        if (string.IsNullOrWhiteSpace(arguments))
        {
            writer.WriteStartObject();
            writer.WriteEndObject();
            return;
        }

        if (IsJsonObject(arguments))
        {
            writer.WriteRawValue(arguments, skipInputValidation: true);
            return;
        }

        writer.WriteStartObject();
        writer.WriteString("_raw_arguments", arguments);
        writer.WriteEndObject();
    }

    private static bool IsJsonObject(string text)
    {
        var max = System.Text.Encoding.UTF8.GetMaxByteCount(text.Length);
        var rented = ArrayPool<byte>.Shared.Rent(max);
        try
        {
            var n = System.Text.Encoding.UTF8.GetBytes(text, rented);
            var reader = new Utf8JsonReader(rented.AsSpan(0, n));
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return false;
            }

            reader.Skip();
            return !reader.Read();
        }
        catch (JsonException)
        {
            return false;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <summary>The element as compact JSON text (tool arguments are compared and shown as text downstream).</summary>
    public static string Compact(JsonElement element)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer, WriterOptions))
        {
            element.WriteTo(writer);
        }

        return System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    /// <summary>Writes a number the way JSON wants it, without a trailing ".0" for whole values.</summary>
    public static void WriteNumberValue(Utf8JsonWriter writer, string name, double value)
    {
        if (value == Math.Floor(value) && Math.Abs(value) < 1e15)
        {
            writer.WriteNumber(name, (long)value);
        }
        else
        {
            writer.WriteNumber(name, value);
        }
    }

    public static string Invariant(long value) => value.ToString(CultureInfo.InvariantCulture);
}
