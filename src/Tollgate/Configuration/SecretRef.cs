namespace Tollgate.Configuration;

/// <summary>
/// A reference to a secret, written in config as <c>env:NAME</c> or <c>file:/path</c>.
/// The value is resolved on demand and never printed: <see cref="ToString"/> shows only the reference.
/// </summary>
internal sealed record SecretRef
{
    private SecretRef(string scheme, string target)
    {
        Scheme = scheme;
        Target = target;
    }

    /// <summary><c>env</c> or <c>file</c>.</summary>
    public string Scheme { get; }

    /// <summary>The variable name or file path.</summary>
    public string Target { get; }

    /// <summary>Parses a reference; returns false for anything that is not <c>env:</c> or <c>file:</c> (a literal secret).</summary>
    public static bool TryParse(string? text, out SecretRef? reference)
    {
        reference = null;
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }

        if (text.StartsWith("env:", StringComparison.Ordinal) && text.Length > 4)
        {
            reference = new SecretRef("env", text[4..].Trim());
            return true;
        }

        if (text.StartsWith("file:", StringComparison.Ordinal) && text.Length > 5)
        {
            reference = new SecretRef("file", text[5..].Trim());
            return true;
        }

        return false;
    }

    /// <summary>Resolves the secret; returns null with a reason (that names the reference, never the value) when it cannot.</summary>
    public string? TryResolve(out string? problem)
    {
        problem = null;
        if (Scheme == "env")
        {
            var value = Environment.GetEnvironmentVariable(Target);
            if (string.IsNullOrEmpty(value))
            {
                problem = $"environment variable {Target} is not set";
                return null;
            }

            return value;
        }

        try
        {
            var value = File.ReadAllText(Target).Trim();
            if (value.Length == 0)
            {
                problem = $"secret file {Target} is empty";
                return null;
            }

            return value;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            problem = $"secret file {Target} cannot be read ({ex.GetType().Name})";
            return null;
        }
    }

    public override string ToString() => $"{Scheme}:{Target}";
}
