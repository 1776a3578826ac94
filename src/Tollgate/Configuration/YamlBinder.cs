using System.Globalization;
using YamlDotNet.RepresentationModel;

namespace Tollgate.Configuration;

/// <summary>
/// Reads typed values out of YamlDotNet's representation model by hand, so that every problem is
/// reported with its dotted path and line, and all problems are collected before anything throws.
/// Methods return null (or a default) after recording an error; callers carry on binding.
/// </summary>
internal sealed class YamlBinder
{
    private readonly List<ConfigError> _errors = [];
    private readonly List<string> _warnings = [];

    public YamlBinder(string fileName)
    {
        FileName = fileName;
    }

    public string FileName { get; }

    public IReadOnlyList<ConfigError> Errors => _errors;

    public IReadOnlyList<string> Warnings => _warnings;

    public static string Child(string path, string key) => path.Length == 0 ? key : $"{path}.{key}";

    public static string Index(string path, int index) => $"{path}[{index.ToString(CultureInfo.InvariantCulture)}]";

    public static int LineOf(YamlNode node) => (int)Math.Min(node.Start.Line, int.MaxValue);

    public void Error(string path, YamlNode node, string message) => Error(path, LineOf(node), message);

    public void Error(string path, int line, string message) => _errors.Add(new ConfigError(path, line, message, FileName));

    public void Warn(string path, YamlNode node, string message) =>
        _warnings.Add(new ConfigError(path, LineOf(node), message, FileName).ToString());

    /// <summary>A plain <c>~</c>, <c>null</c> or nothing at all: the key is present with no value.</summary>
    public static bool IsNull(YamlNode? node) =>
        node is null
        || (node is YamlScalarNode { Style: YamlDotNet.Core.ScalarStyle.Plain or YamlDotNet.Core.ScalarStyle.Any } s
            && s.Value is null or "" or "~" or "null" or "Null" or "NULL");

    private static string Describe(YamlNode node) => node switch
    {
        YamlMappingNode => "a map",
        YamlSequenceNode => "a list",
        YamlScalarNode s when IsNull(s) => "nothing",
        YamlScalarNode { Style: YamlDotNet.Core.ScalarStyle.SingleQuoted or YamlDotNet.Core.ScalarStyle.DoubleQuoted } => "a quoted string",
        _ => "a scalar",
    };

    private void WrongType(string path, YamlNode node, string expected) =>
        Error(path, node, $"expected {expected}, got {Describe(node)}");

    /// <summary>A map, or null when absent or written empty (<c>redis:</c>). Anything else is an error.</summary>
    public YamlMappingNode? Map(YamlNode? node, string path)
    {
        if (IsNull(node))
        {
            return null;
        }

        if (node is YamlMappingNode map)
        {
            return map;
        }

        WrongType(path, node!, "a map");
        return null;
    }

    /// <summary>The entries of a map whose keys are names the user chooses (providers, models, …).</summary>
    public List<(string Key, YamlNode KeyNode, YamlNode Value)> Entries(YamlMappingNode map, string path)
    {
        var result = new List<(string, YamlNode, YamlNode)>(map.Children.Count);
        foreach (var (keyNode, value) in map.Children)
        {
            if (keyNode is not YamlScalarNode { Value: { Length: > 0 } key } || IsNull(keyNode))
            {
                Error(path, keyNode, "a key must be a non-empty name");
                continue;
            }

            result.Add((key, keyNode, value));
        }

        return result;
    }

    /// <summary>
    /// Checks a map against the keys its schema allows; unknown keys are errors that suggest the closest known key.
    /// Returns a lookup of the known keys that are present.
    /// </summary>
    public Dictionary<string, (YamlNode Key, YamlNode Value)> Keys(YamlMappingNode map, string path, params string[] known)
    {
        var present = new Dictionary<string, (YamlNode, YamlNode)>(StringComparer.Ordinal);
        foreach (var (keyNode, value) in map.Children)
        {
            if (keyNode is not YamlScalarNode { Value: { } key } || IsNull(keyNode))
            {
                Error(path, keyNode, "a key must be a plain name");
                continue;
            }

            if (Array.IndexOf(known, key) >= 0)
            {
                present[key] = (keyNode, value);
                continue;
            }

            Error(Child(path, key), keyNode, UnknownMessage("key", key, known));
        }

        return present;
    }

    /// <summary>"unknown key 'base_ulr'; did you mean 'base_url'?" or the list of what is allowed.</summary>
    public static string UnknownMessage(string what, string given, IReadOnlyList<string> known)
    {
        var suggestion = EditDistance.Closest(given, known);
        if (suggestion is not null)
        {
            return $"unknown {what} '{given}'; did you mean '{suggestion}'?";
        }

        return known.Count == 0
            ? $"unknown {what} '{given}'"
            : $"unknown {what} '{given}'; expected one of: {string.Join(", ", known)}";
    }

    /// <summary>A scalar as text. Numbers and booleans are accepted as their text (a model named <c>4</c> is fine).</summary>
    public string? String(YamlNode? node, string path)
    {
        if (IsNull(node))
        {
            return null;
        }

        if (node is YamlScalarNode s)
        {
            return s.Value;
        }

        WrongType(path, node!, "a string");
        return null;
    }

    /// <summary>A required non-empty string: absence is reported at the parent map's line.</summary>
    public string? RequiredString(Dictionary<string, (YamlNode Key, YamlNode Value)> keys, string key, YamlNode parent, string path)
    {
        var childPath = Child(path, key);
        if (!keys.TryGetValue(key, out var entry))
        {
            Error(childPath, parent, $"'{key}' is required");
            return null;
        }

        var value = String(entry.Value, childPath);
        if (value is null || value.Trim().Length == 0)
        {
            if (entry.Value is YamlScalarNode || IsNull(entry.Value))
            {
                Error(childPath, entry.Value, "must not be empty");
            }

            return null;
        }

        return value.Trim();
    }

    private YamlScalarNode? Number(YamlNode? node, string path, string expected)
    {
        if (IsNull(node))
        {
            return null;
        }

        if (node is YamlScalarNode { Style: YamlDotNet.Core.ScalarStyle.Plain or YamlDotNet.Core.ScalarStyle.Any } s)
        {
            return s;
        }

        WrongType(path, node!, expected);
        return null;
    }

    /// <summary>A whole number no smaller than <paramref name="min"/>.</summary>
    public long? Long(YamlNode? node, string path, long min, long max = long.MaxValue)
    {
        var s = Number(node, path, "a whole number");
        if (s is null)
        {
            return null;
        }

        var text = s.Value!.Replace("_", "", StringComparison.Ordinal);
        if (!long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value))
        {
            Error(path, s, $"expected a whole number, got '{s.Value}'");
            return null;
        }

        if (value < min)
        {
            Error(path, s, min == 1 ? "must be greater than 0" : $"must be at least {min.ToString(CultureInfo.InvariantCulture)}");
            return null;
        }

        if (value > max)
        {
            Error(path, s, $"must be at most {max.ToString(CultureInfo.InvariantCulture)}");
            return null;
        }

        return value;
    }

    public int? Int(YamlNode? node, string path, int min) => (int?)Long(node, path, min, int.MaxValue);

    /// <summary>A decimal number; <paramref name="positive"/> excludes 0, otherwise 0 is allowed and negatives are not.</summary>
    public decimal? Decimal(YamlNode? node, string path, bool positive)
    {
        var s = Number(node, path, "a number");
        if (s is null)
        {
            return null;
        }

        if (!decimal.TryParse(s.Value, NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint | NumberStyles.AllowExponent,
                CultureInfo.InvariantCulture, out var value))
        {
            Error(path, s, $"expected a number, got '{s.Value}'");
            return null;
        }

        if (positive ? value <= 0 : value < 0)
        {
            Error(path, s, positive ? "must be greater than 0" : "must not be negative");
            return null;
        }

        return value;
    }

    public bool? Bool(YamlNode? node, string path)
    {
        var s = Number(node, path, "true or false");
        if (s is null)
        {
            return null;
        }

        switch (s.Value)
        {
            case "true" or "True" or "TRUE":
                return true;
            case "false" or "False" or "FALSE":
                return false;
            default:
                Error(path, s, $"expected true or false, got '{s.Value}'");
                return null;
        }
    }

    /// <summary>One of a fixed set of words; a near miss gets a suggestion.</summary>
    public string? OneOf(YamlNode? node, string path, params string[] allowed)
    {
        var value = String(node, path);
        if (value is null)
        {
            return null;
        }

        if (Array.IndexOf(allowed, value) >= 0)
        {
            return value;
        }

        var suggestion = EditDistance.Closest(value, allowed);
        var hint = suggestion is null ? "" : $"; did you mean '{suggestion}'?";
        Error(path, node!, $"'{value}' is not one of: {string.Join(", ", allowed)}{hint}");
        return null;
    }

    /// <summary>
    /// A duration: a number of seconds (<c>30</c>, <c>1.5</c>) or a number with a unit (<c>500ms</c>, <c>10s</c>, <c>5m</c>, <c>1h</c>).
    /// Must be greater than zero.
    /// </summary>
    public TimeSpan? Duration(YamlNode? node, string path)
    {
        var text = String(node, path);
        if (text is null)
        {
            return null;
        }

        if (TryParseDuration(text, out var value))
        {
            if (value <= TimeSpan.Zero)
            {
                Error(path, node!, "must be greater than 0");
                return null;
            }

            return value;
        }

        Error(path, node!, $"expected a duration such as 10 (seconds), 500ms, 10s, 5m or 1h, got '{text}'");
        return null;
    }

    public static bool TryParseDuration(string text, out TimeSpan value)
    {
        value = default;
        text = text.Trim();
        (string Suffix, double Scale)[] units = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)];
        var scale = 1.0;
        foreach (var (suffix, unitScale) in units)
        {
            if (text.EndsWith(suffix, StringComparison.Ordinal))
            {
                text = text[..^suffix.Length].TrimEnd();
                scale = unitScale;
                break;
            }
        }

        if (!double.TryParse(text, NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var number)
            || double.IsNaN(number) || double.IsInfinity(number))
        {
            return false;
        }

        var seconds = number * scale;
        if (seconds > TimeSpan.MaxValue.TotalSeconds / 2)
        {
            return false;
        }

        value = TimeSpan.FromMilliseconds(Math.Round(seconds * 1000));
        return true;
    }

    /// <summary>An absolute http or https URL.</summary>
    public Uri? Url(YamlNode? node, string path)
    {
        var text = String(node, path);
        if (text is null)
        {
            return null;
        }

        if (Uri.TryCreate(text.Trim(), UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps))
        {
            return uri;
        }

        Error(path, node!, $"expected an absolute http:// or https:// URL, got '{text}'");
        return null;
    }

    /// <summary>A list, or null when absent/empty. A single scalar where a list goes is an error.</summary>
    public YamlSequenceNode? Sequence(YamlNode? node, string path)
    {
        if (IsNull(node))
        {
            return null;
        }

        if (node is YamlSequenceNode seq)
        {
            return seq;
        }

        WrongType(path, node!, "a list");
        return null;
    }

    /// <summary>A list of non-empty strings, each with the node it came from (for cross-reference errors).</summary>
    public List<(string Value, YamlNode Node, string Path)>? StringList(YamlNode? node, string path)
    {
        var seq = Sequence(node, path);
        if (seq is null)
        {
            return null;
        }

        var result = new List<(string, YamlNode, string)>(seq.Children.Count);
        for (var i = 0; i < seq.Children.Count; i++)
        {
            var itemPath = Index(path, i);
            var item = seq.Children[i];
            var value = String(item, itemPath);
            if (value is null || value.Trim().Length == 0)
            {
                if (item is YamlScalarNode)
                {
                    Error(itemPath, item, "must not be empty");
                }

                continue;
            }

            result.Add((value.Trim(), item, itemPath));
        }

        return result;
    }

    /// <summary>
    /// A secret reference, <c>env:NAME</c> or <c>file:/path</c>. Anything else is refused without echoing it.
    /// A relative <c>file:</c> path is taken relative to <paramref name="baseDirectory"/>.
    /// </summary>
    public SecretRef? Secret(YamlNode? node, string path, string baseDirectory)
    {
        if (IsNull(node))
        {
            return null;
        }

        if (node is not YamlScalarNode s)
        {
            WrongType(path, node!, "a secret reference (env:NAME or file:/path)");
            return null;
        }

        if (!SecretRef.TryParse(s.Value, out var reference) || reference!.Target.Length == 0)
        {
            // Deliberately no echo of the value: it may be a real credential.
            Error(path, s, "a literal secret is not allowed here; write env:NAME or file:/path");
            return null;
        }

        if (reference.Scheme == "file" && !System.IO.Path.IsPathRooted(reference.Target))
        {
            var absolute = System.IO.Path.GetFullPath(System.IO.Path.Combine(baseDirectory, reference.Target));
            if (SecretRef.TryParse("file:" + absolute, out var resolved))
            {
                reference = resolved;
            }
        }

        return reference;
    }
}
