using Microsoft.Extensions.Primitives;

namespace Tollgate.Upstream;

/// <summary>
/// One call to an upstream, as the pipeline builds it: a POST of <see cref="Body"/> to <see cref="Url"/> with the
/// headers that cross the gateway plus the deployment's credential. The client adds <c>Host</c>, <c>Content-Type</c>
/// and <c>Content-Length</c> itself. Header names compare case-insensitively.
/// </summary>
internal sealed class UpstreamRequest
{
    private readonly List<KeyValuePair<string, StringValues>> _headers = new(8);

    public UpstreamRequest(Uri url, ReadOnlyMemory<byte> body)
    {
        ArgumentNullException.ThrowIfNull(url);
        Url = url;
        Body = body;
    }

    public Uri Url { get; }

    public ReadOnlyMemory<byte> Body { get; }

    public string ContentType { get; init; } = "application/json";

    public IReadOnlyList<KeyValuePair<string, StringValues>> Headers => _headers;

    /// <summary>Adds values to a header (after any values it has already).</summary>
    public void Add(string name, StringValues values)
    {
        var i = IndexOf(name);
        if (i < 0)
        {
            _headers.Add(new(name, values));
        }
        else
        {
            _headers[i] = new(_headers[i].Key, StringValues.Concat(_headers[i].Value, values));
        }
    }

    /// <summary>Sets a header to one value, replacing what it had.</summary>
    public void Set(string name, string value)
    {
        var i = IndexOf(name);
        if (i < 0)
        {
            _headers.Add(new(name, value));
        }
        else
        {
            _headers[i] = new(name, value);
        }
    }

    public bool Remove(string name)
    {
        var i = IndexOf(name);
        if (i < 0)
        {
            return false;
        }

        _headers.RemoveAt(i);
        return true;
    }

    public bool TryGet(string name, out StringValues values)
    {
        var i = IndexOf(name);
        values = i < 0 ? StringValues.Empty : _headers[i].Value;
        return i >= 0;
    }

    public bool Contains(string name) => IndexOf(name) >= 0;

    private int IndexOf(string name)
    {
        for (var i = 0; i < _headers.Count; i++)
        {
            if (string.Equals(_headers[i].Key, name, StringComparison.OrdinalIgnoreCase))
            {
                return i;
            }
        }

        return -1;
    }
}
