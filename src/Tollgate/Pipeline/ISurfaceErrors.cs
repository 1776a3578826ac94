namespace Tollgate.Pipeline;

/// <summary>How a surface renders failures in its own API's shape.</summary>
internal interface ISurfaceErrors
{
    /// <summary>Writes a whole error response (status, headers, body).</summary>
    Task WriteAsync(HttpResponse response, GatewayError error);

    /// <summary>The SSE event that ends a stream which broke after its first byte.</summary>
    byte[] StreamErrorEvent(GatewayError error, StreamFormat format);
}
