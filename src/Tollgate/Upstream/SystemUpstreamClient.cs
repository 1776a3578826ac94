using System.Net;

namespace Tollgate.Upstream;

/// <summary>
/// The upstream client over .NET's <see cref="SocketsHttpHandler"/>: HTTPS upstreams, and any provider set to
/// <c>http_client: system</c>. One invoker per provider, never <c>HttpClient</c> buffering.
/// </summary>
internal sealed class SystemUpstreamClient(HttpMessageInvoker invoker) : IUpstreamClient
{
    public async ValueTask<UpstreamResponse> SendAsync(UpstreamRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var message = new HttpRequestMessage(HttpMethod.Post, request.Url)
        {
            Content = new ReadOnlyMemoryContent(request.Body),
            Version = HttpVersion.Version11,
        };
        try
        {
            message.Content.Headers.TryAddWithoutValidation("Content-Type", request.ContentType);
            foreach (var (name, values) in request.Headers)
            {
                var added = values.Count == 1
                    ? message.Headers.TryAddWithoutValidation(name, (string?)values)
                    : message.Headers.TryAddWithoutValidation(name, (IEnumerable<string?>)values);
                if (!added)
                {
                    message.Content.Headers.TryAddWithoutValidation(name, (IEnumerable<string?>)values);
                }
            }

            var response = await invoker.SendAsync(message, cancellationToken);
            return new SystemUpstreamResponse(message, response);
        }
        catch
        {
            message.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        // The invoker belongs to the provider, which also lends it to its OAuth token source.
    }

    private sealed class SystemUpstreamResponse : UpstreamResponse
    {
        private readonly HttpRequestMessage _request;
        private readonly HttpResponseMessage _response;
        private Stream? _body;

        public SystemUpstreamResponse(HttpRequestMessage request, HttpResponseMessage response)
        {
            _request = request;
            _response = response;
            Status = (int)response.StatusCode;
        }

        public override string? MediaType => _response.Content.Headers.ContentType?.MediaType?.ToLowerInvariant();

        public override long? ContentLength => _response.Content.Headers.ContentLength;

        // SocketsHttpHandler's content already holds its stream: the synchronous call does no I/O.
        public override Stream Body => _body ??= _response.Content.ReadAsStream();

        public override IEnumerable<KeyValuePair<string, string>> Headers
        {
            get
            {
                // NonValidated: the values as the upstream sent them, without parsing them into typed headers first.
                foreach (var (name, values) in _response.Headers.NonValidated)
                {
                    foreach (var value in values)
                    {
                        yield return new(name, value);
                    }
                }

                foreach (var (name, values) in _response.Content.Headers.NonValidated)
                {
                    foreach (var value in values)
                    {
                        yield return new(name, value);
                    }
                }
            }
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                _body?.Dispose();
                _response.Dispose();
                _request.Dispose();
            }
        }
    }
}
