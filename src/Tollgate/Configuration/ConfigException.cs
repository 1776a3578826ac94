namespace Tollgate.Configuration;

/// <summary>
/// One problem in a config file: the dotted YAML path (for example
/// <c>models.claude-sonnet-4-6.deployments[1].price.input</c>), the 1-based line, and what is wrong.
/// Messages never contain secret values.
/// </summary>
/// <param name="Path">Dotted YAML path; empty for problems with the file as a whole (syntax errors, unreadable file).</param>
/// <param name="Line">1-based line in the file; 0 when there is no line (the file cannot be read).</param>
/// <param name="Message">What is wrong, and where possible how to fix it.</param>
/// <param name="File">The file's name (not its folder), used by <see cref="ToString"/>.</param>
internal sealed record ConfigError(string Path, int Line, string Message, string? File = null)
{
    /// <summary>Formats as <c>tollgate.yaml:12: providers.cloud-qwen.auth.token: message</c>.</summary>
    public override string ToString()
    {
        var file = File ?? "tollgate.yaml";
        var where = Line > 0 ? $"{file}:{Line}" : file;
        return Path.Length == 0 ? $"{where}: {Message}" : $"{where}: {Path}: {Message}";
    }
}

/// <summary>A config file that cannot be used. <see cref="Exception.Message"/> lists every error, one per line.</summary>
internal sealed class ConfigException : Exception
{
    public ConfigException(IReadOnlyList<ConfigError> errors)
        : base(Format(errors))
    {
        Errors = errors;
    }

    public ConfigException()
        : this([])
    {
    }

    public ConfigException(string message)
        : base(message)
    {
        Errors = [new ConfigError("", 0, message)];
    }

    public ConfigException(string message, Exception innerException)
        : base(message, innerException)
    {
        Errors = [new ConfigError("", 0, message)];
    }

    /// <summary>Every problem found, in file order as far as binding allows.</summary>
    public IReadOnlyList<ConfigError> Errors { get; }

    private static string Format(IReadOnlyList<ConfigError> errors)
    {
        ArgumentNullException.ThrowIfNull(errors);
        if (errors.Count == 0)
        {
            return "The config file is invalid.";
        }

        var noun = errors.Count == 1 ? "error" : "errors";
        return $"The config file has {errors.Count} {noun}:\n" + string.Join('\n', errors);
    }
}
