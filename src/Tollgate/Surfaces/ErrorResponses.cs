using System.Globalization;
using Tollgate.Pipeline;

namespace Tollgate.Surfaces;

/// <summary>What every surface's error response shares: status, JSON content type, retry-after, a sized body.</summary>
internal static class ErrorResponses
{
    public static Task WriteAsync(HttpResponse response, GatewayError error, ReadOnlyMemory<byte> body)
    {
        ArgumentNullException.ThrowIfNull(response);
        ArgumentNullException.ThrowIfNull(error);
        response.StatusCode = error.Status;
        response.ContentType = "application/json";
        if (error.RetryAfterSeconds is { } retryAfter)
        {
            response.Headers.RetryAfter = retryAfter.ToString(CultureInfo.InvariantCulture);
        }

        response.ContentLength = body.Length;
        return response.Body.WriteAsync(body).AsTask();
    }
}
