using System.Net;
using System.Net.Sockets;
using System.Text;
using Tollgate.Upstream;

namespace Tollgate.Tests.Upstream;

/// <summary>
/// Tollgate's own HTTP/1.1 client against a scripted TCP server on 127.0.0.1: the test reads the exact request
/// bytes and writes the exact answer bytes, so framing, pooling and failures are all under its control.
/// </summary>
public sealed class Http1ClientTests : IAsyncDisposable
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly ManualTimeProvider _time = new(new DateTimeOffset(2026, 12, 1, 12, 0, 0, TimeSpan.Zero));
    private readonly Http1Client _client;
    private readonly Uri _url;

    public Http1ClientTests()
    {
        _listener.Start();
        var port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _url = new Uri($"http://127.0.0.1:{port}/v1/chat/completions?x=1");
        _client = new Http1Client(new Uri($"http://127.0.0.1:{port}/v1"), TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(90), _time);
        _deadline.CancelAfter(TimeSpan.FromSeconds(20));
    }

    // Every call is bounded: a client that waits for an answer that never comes fails the test instead of hanging it.
    private readonly CancellationTokenSource _deadline = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);

    private CancellationToken Token => _deadline.Token;

    [Fact]
    public async Task Sends_the_request_as_written_and_reads_a_content_length_answer_then_reuses_the_connection()
    {
        var server = Task.Run(async () =>
        {
            using var peer = await AcceptAsync();
            var first = await ReadRequestAsync(peer);
            await WriteAsync(peer, "HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\nx-request-id: a\r\nVary: one\r\nVary: two\r\nDate: Tue, 01 Dec 2026 12:00:00 GMT\r\nContent-Length: 11\r\n\r\n{\"ok\":true}");
            var second = await ReadRequestAsync(peer);
            await WriteAsync(peer, "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nhi");
            return (first, second);
        }, Token);

        var request = new UpstreamRequest(_url, "{\"model\":\"m\"}"u8.ToArray());
        request.Add("User-Agent", "test/1");
        request.Set("Authorization", "Bearer sk-upstream");
        using (var response = await _client.SendAsync(request, Token))
        {
            response.Status.ShouldBe(200);
            response.MediaType.ShouldBe("application/json");
            response.ContentLength.ShouldBe(11);
            (await ReadBodyAsync(response)).ShouldBe("{\"ok\":true}");
            response.Headers.Where(h => h.Key == "Vary").Select(h => h.Value).ShouldBe(["one", "two"]);
            response.Header("x-request-id").ShouldBe("a");
            response.Header("content-type").ShouldBe("application/json; charset=utf-8");
            // Framing and hop-by-hop headers stay on the gateway's side.
            response.Header("Content-Length").ShouldBeNull();
            response.Header("Date").ShouldBeNull();
        }

        using (var response = await _client.SendAsync(new UpstreamRequest(_url, "{}"u8.ToArray()), Token))
        {
            response.Status.ShouldBe(201);
            (await ReadBodyAsync(response)).ShouldBe("hi");
        }

        var (firstRequest, secondRequest) = await server.WaitAsync(Wait, Token);
        firstRequest.ShouldBe(
            $"POST /v1/chat/completions?x=1 HTTP/1.1\r\nHost: {_url.Authority}\r\nUser-Agent: test/1\r\nAuthorization: Bearer sk-upstream\r\n" +
            "Content-Type: application/json\r\nContent-Length: 13\r\n\r\n{\"model\":\"m\"}");
        secondRequest.ShouldEndWith("Content-Length: 2\r\n\r\n{}");
        _client.Opened.ShouldBe(1, "the second call reused the first call's connection");
    }

    [Fact]
    public async Task Reads_a_chunked_answer_sent_a_few_bytes_at_a_time_with_extensions_and_trailers()
    {
        const string body = "data: {\"a\":1}\n\ndata: [DONE]\n\n";
        var chunked = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
            + $"{15:x};ext=1\r\n{body[..15]}\r\n{(body.Length - 15):X}\r\n{body[15..]}\r\n0\r\nx-trailer: t\r\n\r\n";
        var server = Task.Run(async () =>
        {
            using var peer = await AcceptAsync();
            await ReadRequestAsync(peer);
            var bytes = Encoding.ASCII.GetBytes(chunked);
            for (var i = 0; i < bytes.Length; i += 7)
            {
                await peer.SendAsync(bytes.AsMemory(i, Math.Min(7, bytes.Length - i)));
                await Task.Delay(1);
            }

            await ReadRequestAsync(peer);
            await WriteAsync(peer, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
        }, Token);

        using (var response = await _client.SendAsync(new UpstreamRequest(_url, "{}"u8.ToArray()), Token))
        {
            response.MediaType.ShouldBe("text/event-stream");
            response.ContentLength.ShouldBeNull();
            (await ReadBodyAsync(response)).ShouldBe(body);
        }

        using (var response = await _client.SendAsync(new UpstreamRequest(_url, "{}"u8.ToArray()), Token))
        {
            (await ReadBodyAsync(response)).ShouldBe(string.Empty);
        }

        await server.WaitAsync(Wait, Token);
        _client.Opened.ShouldBe(1, "a chunked answer read to its end leaves the connection reusable");
    }

    [Theory]
    [InlineData("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{\"until\":\"close\"}", "{\"until\":\"close\"}")]
    [InlineData("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 4\r\n\r\nbyeX", "byeX")]
    [InlineData("HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nold", "old")]
    public async Task An_answer_that_ends_its_connection_is_read_whole_and_the_connection_is_not_reused(string answer, string expected)
    {
        var server = Task.Run(async () =>
        {
            for (var i = 0; i < 2; i++)
            {
                using var peer = await AcceptAsync();
                await ReadRequestAsync(peer);
                await WriteAsync(peer, answer);
                peer.Shutdown(SocketShutdown.Send);
            }
        }, Token);

        for (var i = 0; i < 2; i++)
        {
            using var response = await _client.SendAsync(new UpstreamRequest(_url, "{}"u8.ToArray()), Token);
            (await ReadBodyAsync(response)).ShouldBe(expected);
        }

        await server.WaitAsync(Wait, Token);
        _client.Opened.ShouldBe(2);
        _client.IdleCount.ShouldBe(0);
    }

    [Fact]
    public async Task A_pooled_connection_the_upstream_closed_while_idle_is_replaced_and_the_call_goes_through_once()
    {
        var requests = 0;
        var server = Task.Run(async () =>
        {
            using (var peer = await AcceptAsync())
            {
                await ReadRequestAsync(peer);
                Interlocked.Increment(ref requests);
                await WriteAsync(peer, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst");
                await Task.Delay(100);
            }

            // The first connection is closed now (an upstream's keep-alive timeout); the retry arrives on a new one.
            using var again = await AcceptAsync();
            await ReadRequestAsync(again);
            Interlocked.Increment(ref requests);
            await WriteAsync(again, "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond");
        }, Token);

        using (var response = await _client.SendAsync(new UpstreamRequest(_url, "{}"u8.ToArray()), Token))
        {
            (await ReadBodyAsync(response)).ShouldBe("first");
        }

        await Task.Delay(300, Token);
        using (var response = await _client.SendAsync(new UpstreamRequest(_url, "{}"u8.ToArray()), Token))
        {
            (await ReadBodyAsync(response)).ShouldBe("second");
        }

        await server.WaitAsync(Wait, Token);
        requests.ShouldBe(2, "the upstream saw each call once");
        _client.Opened.ShouldBe(2);
    }

    [Fact]
    public async Task A_pooled_connection_the_upstream_closed_is_closed_by_the_sweep_within_seconds_without_a_call()
    {
        var server = Task.Run(async () =>
        {
            using var peer = await AcceptAsync();
            await ReadRequestAsync(peer);
            await WriteAsync(peer, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        }, Token);

        using (var response = await _client.SendAsync(new UpstreamRequest(_url, "{}"u8.ToArray()), Token))
        {
            (await ReadBodyAsync(response)).ShouldBe("ok");
        }

        await server.WaitAsync(Wait, Token);
        _client.IdleCount.ShouldBe(1);

        // The upstream closed its end; the pool's clock (manual here) has not moved, so only the sweep's check of the
        // socket can notice. It runs every 2 s on the real clock (ManualTimeProvider has no timers of its own).
        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (_client.IdleCount > 0 && waited.Elapsed < TimeSpan.FromSeconds(8))
        {
            await Task.Delay(100, Token);
        }

        _client.IdleCount.ShouldBe(0, "a connection the upstream closed must not linger in the pool (and in CLOSE-WAIT)");
    }

    [Fact]
    public async Task A_pooled_connection_idle_past_the_idle_timeout_is_not_used_again()
    {
        var server = Task.Run(async () =>
        {
            using var first = await AcceptAsync();
            await ReadRequestAsync(first);
            await WriteAsync(first, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na");
            using var second = await AcceptAsync();
            await ReadRequestAsync(second);
            await WriteAsync(second, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb");
        }, Token);

        using (var response = await _client.SendAsync(new UpstreamRequest(_url, "{}"u8.ToArray()), Token))
        {
            (await ReadBodyAsync(response)).ShouldBe("a");
        }

        _client.IdleCount.ShouldBe(1);
        _time.Advance(TimeSpan.FromSeconds(91));
        using (var response = await _client.SendAsync(new UpstreamRequest(_url, "{}"u8.ToArray()), Token))
        {
            (await ReadBodyAsync(response)).ShouldBe("b");
        }

        await server.WaitAsync(Wait, Token);
        _client.Opened.ShouldBe(2);
    }

    [Fact]
    public async Task A_new_connection_closed_before_an_answer_fails_as_response_ended_without_a_retry()
    {
        var accepted = 0;
        var server = Task.Run(async () =>
        {
            using var peer = await AcceptAsync();
            Interlocked.Increment(ref accepted);
            await ReadRequestAsync(peer);
        }, Token);

        var error = await Should.ThrowAsync<HttpRequestException>(async () => await _client.SendAsync(new UpstreamRequest(_url, "{}"u8.ToArray()), Token));
        error.HttpRequestError.ShouldBe(HttpRequestError.ResponseEnded);
        await server.WaitAsync(Wait, Token);
        await Task.Delay(200, Token);
        accepted.ShouldBe(1);
        _client.Opened.ShouldBe(1);
    }

    [Fact]
    public async Task A_body_cut_short_throws_an_io_exception_and_the_connection_is_dropped()
    {
        var server = Task.Run(async () =>
        {
            using var peer = await AcceptAsync();
            await ReadRequestAsync(peer);
            await WriteAsync(peer, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"partial\":");
        }, Token);

        using (var response = await _client.SendAsync(new UpstreamRequest(_url, "{}"u8.ToArray()), Token))
        {
            await server.WaitAsync(Wait, Token);
            await Should.ThrowAsync<IOException>(async () => await ReadBodyAsync(response));
        }

        _client.IdleCount.ShouldBe(0);
    }

    [Theory]
    [InlineData("SMTP ready\r\n\r\n")]
    [InlineData("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab")]
    [InlineData("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n")]
    [InlineData("HTTP/1.1 200 OK\r\n folded: header\r\n\r\n")]
    public async Task A_malformed_answer_is_an_invalid_response(string answer)
    {
        var server = Task.Run(async () =>
        {
            using var peer = await AcceptAsync();
            await ReadRequestAsync(peer);
            await WriteAsync(peer, answer);
            await Task.Delay(500);
        }, Token);

        var error = await Should.ThrowAsync<HttpRequestException>(async () => await _client.SendAsync(new UpstreamRequest(_url, "{}"u8.ToArray()), Token));
        error.HttpRequestError.ShouldBe(HttpRequestError.InvalidResponse);
        error.Message.ShouldContain("not valid HTTP/1.1");
        await server.WaitAsync(Wait, Token);
    }

    [Fact]
    public async Task Interim_answers_are_skipped_and_a_large_body_arrives_whole()
    {
        var big = new string('x', 200_000);
        var server = Task.Run(async () =>
        {
            using var peer = await AcceptAsync();
            var request = await ReadRequestAsync(peer);
            await WriteAsync(peer, "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
            return request;
        }, Token);

        using var response = await _client.SendAsync(new UpstreamRequest(_url, Encoding.ASCII.GetBytes(big)), Token);
        response.Status.ShouldBe(200);
        (await ReadBodyAsync(response)).ShouldBe("ok");
        (await server.WaitAsync(Wait, Token)).ShouldEndWith("Content-Length: 200000\r\n\r\n" + big);
    }

    [Fact]
    public async Task A_header_value_with_a_line_break_is_refused_before_anything_is_sent()
    {
        var request = new UpstreamRequest(_url, "{}"u8.ToArray());
        request.Set("x-evil", "a\r\nHost: elsewhere");
        var error = await Should.ThrowAsync<HttpRequestException>(async () => await _client.SendAsync(request, Token));
        error.Message.ShouldContain("x-evil");
        error.Message.ShouldNotContain("elsewhere");
    }

    [Fact]
    public async Task A_host_name_base_url_resolves_and_connects()
    {
        var port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        using var client = new Http1Client(new Uri($"http://localhost:{port}/v1"), TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(90), _time);
        var server = Task.Run(async () =>
        {
            using var peer = await AcceptAsync();
            var request = await ReadRequestAsync(peer);
            await WriteAsync(peer, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
            return request;
        }, Token);

        var url = new Uri($"http://localhost:{port}/v1/chat/completions");
        using var response = await client.SendAsync(new UpstreamRequest(url, "{}"u8.ToArray()), Token);
        (await ReadBodyAsync(response)).ShouldBe("ok");
        (await server.WaitAsync(Wait, Token)).ShouldContain($"\r\nHost: localhost:{port}\r\n");
    }

    [Fact]
    public async Task An_ipv6_literal_base_url_connects()
    {
        if (!Socket.OSSupportsIPv6)
        {
            Assert.Skip("this host has no IPv6");
        }

        using var listener = new TcpListener(IPAddress.IPv6Loopback, 0);
        try
        {
            listener.Start();
        }
        catch (SocketException)
        {
            Assert.Skip("this host has no IPv6 loopback");
        }

        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        using var client = new Http1Client(new Uri($"http://[::1]:{port}/v1"), TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(90), _time);
        var server = Task.Run(async () =>
        {
            using var peer = await listener.AcceptSocketAsync(Token);
            var request = await ReadRequestAsync(peer);
            await WriteAsync(peer, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nv6");
            return request;
        }, Token);

        using var response = await client.SendAsync(new UpstreamRequest(new Uri($"http://[::1]:{port}/v1/chat/completions"), "{}"u8.ToArray()), Token);
        (await ReadBodyAsync(response)).ShouldBe("v6");
        (await server.WaitAsync(Wait, Token)).ShouldContain($"\r\nHost: [::1]:{port}\r\n");
    }

    [Fact]
    public async Task A_refused_connection_is_a_connection_error()
    {
        var port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _listener.Stop();
        using var client = new Http1Client(new Uri($"http://127.0.0.1:{port}/"), TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(90), _time);
        var error = await Should.ThrowAsync<HttpRequestException>(async () => await client.SendAsync(new UpstreamRequest(_url, "{}"u8.ToArray()), Token));
        error.HttpRequestError.ShouldBe(HttpRequestError.ConnectionError);
    }

    [Fact]
    public async Task A_cancelled_call_is_an_operation_cancelled_and_its_connection_is_not_pooled()
    {
        var server = Task.Run(async () =>
        {
            using var peer = await AcceptAsync();
            await ReadRequestAsync(peer);
            await Task.Delay(2000);
        }, Token);

        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));
        await Should.ThrowAsync<OperationCanceledException>(async () => await _client.SendAsync(new UpstreamRequest(_url, "{}"u8.ToArray()), cancel.Token));
        _client.IdleCount.ShouldBe(0);
        await server.WaitAsync(Wait, Token);
    }

    [Fact]
    public async Task An_answer_disposed_before_its_body_was_read_closes_its_connection()
    {
        var server = Task.Run(async () =>
        {
            using var peer = await AcceptAsync();
            await ReadRequestAsync(peer);
            await WriteAsync(peer, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12345");
            await Task.Delay(300);
        }, Token);

        using (var response = await _client.SendAsync(new UpstreamRequest(_url, "{}"u8.ToArray()), Token))
        {
            response.Status.ShouldBe(200);
        }

        _client.IdleCount.ShouldBe(0, "half a body is still on the wire: the connection cannot carry another call");
        await server.WaitAsync(Wait, Token);
    }

    [Fact]
    public async Task An_upstream_that_answers_before_reading_a_large_body_gets_its_answer_relayed_and_the_connection_is_not_reused()
    {
        // 32 MB: more than the loopback socket buffers hold, so the body cannot all be sent while the upstream
        // does not read. The upstream reads only the head, answers 413 and keeps the connection open.
        var large = new byte[32 * 1024 * 1024];
        large.AsSpan().Fill((byte)'a');
        var release = new TaskCompletionSource();
        var server = Task.Run(async () =>
        {
            using var peer = await AcceptAsync();
            await ReadHeadAsync(peer);
            await WriteAsync(peer, "HTTP/1.1 413 Payload Too Large\r\nContent-Type: application/json\r\nContent-Length: 27\r\n\r\n{\"error\":\"body is too big\"}");
            await release.Task.WaitAsync(Wait, Token);
        }, Token);

        using (var response = await _client.SendAsync(new UpstreamRequest(_url, large), Token))
        {
            response.Status.ShouldBe(413);
            (await ReadBodyAsync(response)).ShouldBe("{\"error\":\"body is too big\"}");
        }

        _client.IdleCount.ShouldBe(0, "the request's body was cut short: the connection cannot carry another call");
        release.SetResult();
        await server.WaitAsync(Wait, Token);
    }

    [Fact]
    public async Task An_upstream_that_answers_and_closes_before_reading_a_large_body_gets_its_answer_relayed()
    {
        var large = new byte[32 * 1024 * 1024];
        var server = Task.Run(async () =>
        {
            using var peer = await AcceptAsync();
            await ReadHeadAsync(peer);
            await WriteAsync(peer, "HTTP/1.1 401 Unauthorized\r\nContent-Length: 11\r\nConnection: close\r\n\r\nbad key, no");
            // Closed with the body unread: the kernel resets the connection, and the client's send fails.
            peer.Shutdown(SocketShutdown.Send);
            await Task.Delay(100, Token);
        }, Token);

        using (var response = await _client.SendAsync(new UpstreamRequest(_url, large), Token))
        {
            response.Status.ShouldBe(401);
            (await ReadBodyAsync(response)).ShouldBe("bad key, no");
        }

        _client.IdleCount.ShouldBe(0);
        await server.WaitAsync(Wait, Token);
    }

    /// <summary>Reads up to the end of a request's head, and not a byte of its body beyond what arrived with it.</summary>
    private static async Task ReadHeadAsync(Socket peer)
    {
        var data = new List<byte>();
        var buffer = new byte[4096];
        using var timeout = new CancellationTokenSource(Wait);
        while (Encoding.ASCII.GetString(data.ToArray()).IndexOf("\r\n\r\n", StringComparison.Ordinal) < 0)
        {
            var read = await peer.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
            if (read == 0)
            {
                return;
            }

            data.AddRange(buffer.AsSpan(0, read));
        }
    }

    private async Task<Socket> AcceptAsync()
    {
        using var timeout = new CancellationTokenSource(Wait);
        return await _listener.AcceptSocketAsync(timeout.Token);
    }

    /// <summary>Reads one request (head and Content-Length body) and returns it as text.</summary>
    private static async Task<string> ReadRequestAsync(Socket peer)
    {
        var data = new List<byte>();
        var buffer = new byte[64 * 1024];
        using var timeout = new CancellationTokenSource(Wait);
        while (true)
        {
            var text = Encoding.ASCII.GetString(data.ToArray());
            var end = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
            if (end >= 0)
            {
                var lengthLine = text[..end].Split("\r\n").FirstOrDefault(l => l.StartsWith("Content-Length: ", StringComparison.Ordinal));
                var length = lengthLine is null ? 0 : int.Parse(lengthLine["Content-Length: ".Length..], System.Globalization.CultureInfo.InvariantCulture);
                if (data.Count >= end + 4 + length)
                {
                    return text[..(end + 4 + length)];
                }
            }

            var read = await peer.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
            if (read == 0)
            {
                return Encoding.ASCII.GetString(data.ToArray());
            }

            data.AddRange(buffer.AsSpan(0, read));
        }
    }

    private static async Task WriteAsync(Socket peer, string text) => await peer.SendAsync(Encoding.ASCII.GetBytes(text));

    private async Task<string> ReadBodyAsync(UpstreamResponse response)
    {
        using var copy = new MemoryStream();
        await response.Body.CopyToAsync(copy, Token);
        return Encoding.ASCII.GetString(copy.ToArray());
    }

    public ValueTask DisposeAsync()
    {
        _client.Dispose();
        _deadline.Dispose();
        _listener.Stop();
        _listener.Dispose();
        return ValueTask.CompletedTask;
    }
}
