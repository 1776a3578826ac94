using System.Text;
using System.Text.RegularExpressions;

namespace Tollgate.Sensitivity;

/// <summary>What a detector found: the data class it implies and a name for the finding (never the value).</summary>
internal readonly record struct Finding(string DataClass, string Kind);

/// <summary>
/// Built-in detectors for sensitive data in a request body. Patterns are source-generated once; checksums
/// (Luhn for cards, mod-97 for IBANs, the ATO weights for TFNs) keep look-alike numbers out.
/// Classes: e-mail, phone and TFN → <c>pii</c>; card and IBAN → <c>financial</c>; keys → <c>secret</c>.
/// </summary>
internal static partial class Detectors
{
    public const string Pii = "pii";
    public const string Financial = "financial";
    public const string Secret = "secret";

    /// <summary>Every class a detector can report.</summary>
    public static readonly IReadOnlyList<string> Classes = [Pii, Financial, Secret];

    /// <summary>
    /// Scans a JSON body the way the model will read it: every string value, unescaped (a client may send
    /// <c>+</c> as <c>\u002B</c> and <c>@</c> as <c>\u0040</c>; .NET's serializer does by default).
    /// </summary>
    public static IReadOnlyList<Finding> ScanJson(ReadOnlySpan<byte> json)
    {
        var text = new StringBuilder(json.Length);
        var reader = new System.Text.Json.Utf8JsonReader(json);
        try
        {
            while (reader.Read())
            {
                if (reader.TokenType is System.Text.Json.JsonTokenType.String or System.Text.Json.JsonTokenType.PropertyName)
                {
                    text.Append(reader.GetString()).Append('\n');
                }
            }
        }
        catch (System.Text.Json.JsonException)
        {
            return ScanText(Encoding.UTF8.GetString(json));
        }

        return ScanText(text.ToString());
    }

    public static IReadOnlyList<Finding> Scan(ReadOnlySpan<byte> utf8) => ScanText(Encoding.UTF8.GetString(utf8));

    private static IReadOnlyList<Finding> ScanText(string text)
    {
        var found = new List<Finding>(2);
        if (EmailPattern().IsMatch(text))
        {
            found.Add(new Finding(Pii, "e-mail address"));
        }

        if (PhonePattern().IsMatch(text))
        {
            found.Add(new Finding(Pii, "phone number"));
        }

        if (AnyMatch(TfnPattern(), text, IsTfnInContext))
        {
            found.Add(new Finding(Pii, "Australian tax file number"));
        }

        if (AnyMatch(CardPattern(), text, m => IsLuhnValid(m.Value)))
        {
            found.Add(new Finding(Financial, "payment card number"));
        }

        if (AnyMatch(IbanPattern(), text, m => IsIbanValid(m.Value)))
        {
            found.Add(new Finding(Financial, "IBAN"));
        }

        if (PrivateKeyPattern().IsMatch(text))
        {
            found.Add(new Finding(Secret, "private key"));
        }

        if (ApiKeyPattern().IsMatch(text))
        {
            found.Add(new Finding(Secret, "API key"));
        }

        return found;
    }

    private static bool AnyMatch(Regex pattern, string text, Func<Match, bool> check)
    {
        for (var m = pattern.Match(text); m.Success; m = m.NextMatch())
        {
            if (check(m))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// Text with every detected secret (private key blocks, API keys) replaced by <c>[redacted]</c>, for the
    /// audit trail's full bodies.
    /// </summary>
    public static string RedactSecrets(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var withoutBlocks = PrivateKeyBlockPattern().Replace(text, "[redacted private key]");
        return ApiKeyPattern().Replace(withoutBlocks, "[redacted]");
    }

    /// <summary>Luhn over the digits of <paramref name="candidate"/> (separators ignored).</summary>
    public static bool IsLuhnValid(string candidate)
    {
        ArgumentNullException.ThrowIfNull(candidate);
        var sum = 0;
        var count = 0;
        var doubleIt = false;
        for (var i = candidate.Length - 1; i >= 0; i--)
        {
            var c = candidate[i];
            if (!char.IsAsciiDigit(c))
            {
                continue;
            }

            var digit = c - '0';
            if (doubleIt)
            {
                digit *= 2;
                if (digit > 9)
                {
                    digit -= 9;
                }
            }

            sum += digit;
            count++;
            doubleIt = !doubleIt;
        }

        return count is >= 13 and <= 19 && sum % 10 == 0;
    }

    /// <summary>ISO 13616: move the first four characters to the end, letters to numbers, mod 97 must be 1.</summary>
    public static bool IsIbanValid(string candidate)
    {
        ArgumentNullException.ThrowIfNull(candidate);
        var compact = candidate.Replace(" ", string.Empty, StringComparison.Ordinal).ToUpperInvariant();
        if (compact.Length is < 15 or > 34)
        {
            return false;
        }

        var rearranged = compact[4..] + compact[..4];
        var remainder = 0;
        foreach (var c in rearranged)
        {
            if (char.IsAsciiDigit(c))
            {
                remainder = ((remainder * 10) + (c - '0')) % 97;
            }
            else if (char.IsAsciiLetterUpper(c))
            {
                remainder = ((remainder * 100) + (c - 'A' + 10)) % 97;
            }
            else
            {
                return false;
            }
        }

        return remainder == 1;
    }

    /// <summary>The ATO check: weights 1,4,3,7,5,8,6,9,10 (9 digits) or 10,7,8,4,6,3,5,1 (8 digits); the sum divides by 11.</summary>
    public static bool IsTfnValid(string candidate)
    {
        ArgumentNullException.ThrowIfNull(candidate);
        var digits = candidate.Where(char.IsAsciiDigit).Select(c => c - '0').ToArray();
        int[] weights = digits.Length switch
        {
            9 => [1, 4, 3, 7, 5, 8, 6, 9, 10],
            8 => [10, 7, 8, 4, 6, 3, 5, 1],
            _ => [],
        };
        if (weights.Length == 0 || digits.All(d => d == 0))
        {
            return false;
        }

        return digits.Select((d, i) => d * weights[i]).Sum() % 11 == 0;
    }

    /// <summary>A checksum-valid number written as a TFN (ddd ddd ddd) or near the words TFN / tax file number.</summary>
    private static bool IsTfnInContext(Match match)
    {
        if (!IsTfnValid(match.Value))
        {
            return false;
        }

        if (match.Value.Contains(' ', StringComparison.Ordinal))
        {
            return true;
        }

        var text = match.Result("$`");
        var window = text.Length > 40 ? text[^40..] : text;
        return window.Contains("tfn", StringComparison.OrdinalIgnoreCase) || window.Contains("tax file", StringComparison.OrdinalIgnoreCase);
    }

    [GeneratedRegex(@"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}\b", RegexOptions.CultureInvariant)]
    private static partial Regex EmailPattern();

    // International (+CC …, 8–15 digits) or Australian mobile / landline formats; bare digit runs are not phones.
    [GeneratedRegex(@"(?<![\w+])(?:\+\d{1,3}[ -]?(?:\(\d{1,4}\)[ -]?)?\d{2,4}(?:[ -]?\d{2,4}){2,3}|04\d{2}[ -]?\d{3}[ -]?\d{3}|\(0[2378]\)[ -]?\d{4}[ -]?\d{4})(?!\w)", RegexOptions.CultureInvariant)]
    private static partial Regex PhonePattern();

    [GeneratedRegex(@"(?<!\d)(?:\d{3} \d{3} \d{3}|\d{3} \d{3} \d{2}|\d{8,9})(?!\d)", RegexOptions.CultureInvariant)]
    private static partial Regex TfnPattern();

    [GeneratedRegex(@"(?<!\d)[2-6]\d{3}(?:[ -]?\d{4}){2}[ -]?\d{1,7}(?!\d)", RegexOptions.CultureInvariant)]
    private static partial Regex CardPattern();

    [GeneratedRegex(@"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b", RegexOptions.CultureInvariant)]
    private static partial Regex IbanPattern();

    [GeneratedRegex(@"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY(?: BLOCK)?-----", RegexOptions.CultureInvariant)]
    private static partial Regex PrivateKeyPattern();

    // A whole key block, header to footer (escaped newlines inside JSON strings included), or to the end when cut.
    [GeneratedRegex(@"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY(?: BLOCK)?-----(?:.*?-----END (?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY(?: BLOCK)?-----|.*$)", RegexOptions.CultureInvariant | RegexOptions.Singleline)]
    private static partial Regex PrivateKeyBlockPattern();

    [GeneratedRegex(@"(?<![\w-])(?:sk-(?:ant-|proj-)?[A-Za-z0-9_-]{20,}|AKIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{36,}|xox[baprs]-[A-Za-z0-9-]{10,}|AIza[0-9A-Za-z_-]{35}|tg-[0-9A-Za-z]{32,})", RegexOptions.CultureInvariant)]
    private static partial Regex ApiKeyPattern();
}
