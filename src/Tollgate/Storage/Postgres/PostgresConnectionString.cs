using System.Globalization;
using Npgsql;

namespace Tollgate.Storage.Postgres;

/// <summary>
/// Turns the <c>store.connection</c> setting into an Npgsql connection string. It accepts a libpq-style URI
/// (<c>postgresql://user:pass@host:port/db?sslmode=require</c>, also <c>postgres://</c>) or an Npgsql
/// <c>Key=Value;…</c> string. Error messages name the problem, never the setting's value: it holds a password.
/// </summary>
/// <remarks>URI syntax: https://www.postgresql.org/docs/current/libpq-connect.html#LIBPQ-CONNSTRING-URIS</remarks>
internal static class PostgresConnectionString
{
    private const string Invalid = "The PostgreSQL connection setting is invalid";

    public static string ToNpgsql(string setting)
    {
        if (string.IsNullOrWhiteSpace(setting))
        {
            throw new ArgumentException("The PostgreSQL connection setting is empty.", nameof(setting));
        }

        setting = setting.Trim();
        return IsUri(setting) ? FromUri(setting) : FromKeyValue(setting);
    }

    private static bool IsUri(string setting) =>
        setting.StartsWith("postgresql://", StringComparison.OrdinalIgnoreCase)
        || setting.StartsWith("postgres://", StringComparison.OrdinalIgnoreCase);

    private static string FromKeyValue(string setting)
    {
        try
        {
            // Parsing validates keywords and values; the builder's own messages can echo a value, so they are dropped.
            return new NpgsqlConnectionStringBuilder(setting).ConnectionString;
        }
        catch (Exception ex) when (ex is ArgumentException or FormatException or InvalidCastException or OverflowException)
        {
            throw new ArgumentException($"{Invalid}: it is neither a postgresql:// URI nor a valid Npgsql Key=Value string.");
        }
    }

    private static string FromUri(string uri)
    {
        var rest = uri[(uri.IndexOf("://", StringComparison.Ordinal) + 3)..];
        var fragment = rest.IndexOf('#', StringComparison.Ordinal);
        if (fragment >= 0)
        {
            rest = rest[..fragment];
        }

        var query = "";
        var questionMark = rest.IndexOf('?', StringComparison.Ordinal);
        if (questionMark >= 0)
        {
            query = rest[(questionMark + 1)..];
            rest = rest[..questionMark];
        }

        var path = "";
        var slash = rest.IndexOf('/', StringComparison.Ordinal);
        if (slash >= 0)
        {
            path = rest[(slash + 1)..];
            rest = rest[..slash];
        }

        var builder = new NpgsqlConnectionStringBuilder();

        // The password may contain '@' only percent-encoded, so the last '@' ends the user info.
        var at = rest.LastIndexOf('@');
        if (at >= 0)
        {
            var userInfo = rest[..at];
            rest = rest[(at + 1)..];
            var colon = userInfo.IndexOf(':', StringComparison.Ordinal);
            var user = colon >= 0 ? userInfo[..colon] : userInfo;
            if (user.Length > 0)
            {
                builder.Username = Decode(user, "user name");
            }

            if (colon >= 0)
            {
                builder.Password = Decode(userInfo[(colon + 1)..], "password");
            }
        }

        SetHosts(builder, rest);

        if (path.Length > 0)
        {
            builder.Database = Decode(path, "database name");
        }

        if (query.Length > 0)
        {
            foreach (var pair in query.Split('&', StringSplitOptions.RemoveEmptyEntries))
            {
                var equals = pair.IndexOf('=', StringComparison.Ordinal);
                if (equals <= 0)
                {
                    throw new ArgumentException($"{Invalid}: a query parameter of the postgresql:// URI has no name or no value.");
                }

                var name = Decode(pair[..equals], "parameter name");
                var value = Decode(pair[(equals + 1)..], "parameter value");
                SetParameter(builder, name, value);
            }
        }

        return builder.ConnectionString;
    }

    private static void SetHosts(NpgsqlConnectionStringBuilder builder, string hostSpec)
    {
        if (hostSpec.Length == 0)
        {
            return; // libpq defaults to localhost; so does Npgsql.
        }

        var hosts = hostSpec.Split(',');
        if (hosts.Length > 1)
        {
            // Npgsql takes several hosts as "host[:port],host[:port]" in Host.
            builder.Host = string.Join(',', hosts.Select(h => Decode(h, "host")));
            return;
        }

        var host = hostSpec;
        string? port = null;
        if (host.StartsWith('['))
        {
            var close = host.IndexOf(']', StringComparison.Ordinal);
            if (close < 0)
            {
                throw new ArgumentException($"{Invalid}: an IPv6 host in the postgresql:// URI lacks its closing ']'.");
            }

            port = close + 1 < host.Length && host[close + 1] == ':' ? host[(close + 2)..] : null;
            host = host[1..close];
        }
        else
        {
            var colon = host.LastIndexOf(':');
            if (colon >= 0)
            {
                port = host[(colon + 1)..];
                host = host[..colon];
            }
        }

        if (host.Length > 0)
        {
            builder.Host = Decode(host, "host");
        }

        if (!string.IsNullOrEmpty(port))
        {
            if (!int.TryParse(port, NumberStyles.None, CultureInfo.InvariantCulture, out var portNumber) || portNumber is < 1 or > 65535)
            {
                throw new ArgumentException($"{Invalid}: the port in the postgresql:// URI is not a number from 1 to 65535.");
            }

            builder.Port = portNumber;
        }
    }

    private static void SetParameter(NpgsqlConnectionStringBuilder builder, string name, string value)
    {
        try
        {
            switch (name)
            {
                case "sslmode":
                    builder.SslMode = value switch
                    {
                        "disable" => SslMode.Disable,
                        "allow" => SslMode.Allow,
                        "prefer" => SslMode.Prefer,
                        "require" => SslMode.Require,
                        "verify-ca" => SslMode.VerifyCA,
                        "verify-full" => SslMode.VerifyFull,
                        _ => throw new ArgumentException(
                            $"{Invalid}: sslmode must be disable, allow, prefer, require, verify-ca or verify-full."),
                    };
                    break;
                case "application_name":
                    builder.ApplicationName = value;
                    break;
                case "connect_timeout":
                    builder.Timeout = int.Parse(value, NumberStyles.None, CultureInfo.InvariantCulture);
                    break;
                case "sslrootcert":
                    builder.RootCertificate = value;
                    break;
                case "sslcert":
                    builder.SslCertificate = value;
                    break;
                case "sslkey":
                    builder.SslKey = value;
                    break;
                case "sslpassword":
                    builder.SslPassword = value;
                    break;
                case "target_session_attrs":
                    builder["Target Session Attributes"] = value;
                    break;
                case "options":
                    builder.Options = value;
                    break;
                case "user":
                    builder.Username = value;
                    break;
                case "password":
                    builder.Password = value;
                    break;
                case "dbname":
                    builder.Database = value;
                    break;
                case "host":
                    builder.Host = value;
                    break;
                case "port":
                    builder.Port = int.Parse(value, NumberStyles.None, CultureInfo.InvariantCulture);
                    break;
                default:
                    // Npgsql's own keywords (e.g. "Maximum Pool Size") are accepted too.
                    builder[name] = value;
                    break;
            }
        }
        catch (ArgumentException ex) when (ex.Message.StartsWith(Invalid, StringComparison.Ordinal))
        {
            throw;
        }
        catch (Exception ex) when (ex is ArgumentException or FormatException or InvalidCastException or OverflowException or KeyNotFoundException)
        {
            // The name is safe to show (it is not a password); the value may not be.
            throw new ArgumentException($"{Invalid}: the postgresql:// URI parameter '{name}' is unknown or has an invalid value.");
        }
    }

    private static string Decode(string text, string what)
    {
        try
        {
            return Uri.UnescapeDataString(text);
        }
        catch (UriFormatException)
        {
            throw new ArgumentException($"{Invalid}: the {what} in the postgresql:// URI is not valid percent-encoding.");
        }
    }
}
