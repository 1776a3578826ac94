using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using Npgsql;

namespace Tollgate.IntegrationTests.Replicas;

/// <summary>The answer to one chat call through a replica.</summary>
internal sealed record ChatAnswer(HttpStatusCode Status, string? RequestId, string Body, DateTimeOffset CompletedAt)
{
    public string? ErrorType
    {
        get
        {
            try
            {
                using var json = JsonDocument.Parse(Body);
                return json.RootElement.TryGetProperty("error", out var error) && error.TryGetProperty("type", out var type) ? type.GetString() : null;
            }
            catch (JsonException)
            {
                return null;
            }
        }
    }
}

/// <summary>
/// Two (or more) Tollgate replicas sharing one PostgreSQL database and one Redis database, in front of an
/// in-process OpenAI stub (<see cref="OpenAiStub"/>), with admin and data-plane helpers. Each replica has
/// its own folder and spool, as separate machines would.
/// </summary>
internal sealed class ReplicaSet : IAsyncDisposable
{
    public const string Model = "stub-chat";
    /// <summary>USD per million tokens, input and output: one stub call (10 in, 20 out) costs 0.03.</summary>
    public const decimal Price = 1000m;

    private readonly string _root;
    private readonly OpenAiStub _stub;

    private ReplicaSet(string root, OpenAiStub stub, string storeConnection, IReadOnlyList<Replica> replicas, string masterKey)
    {
        _root = root;
        _stub = stub;
        StoreConnection = storeConnection;
        Replicas = replicas;
        MasterKey = masterKey;
    }

    public IReadOnlyList<Replica> Replicas { get; }

    public Replica this[int index] => Replicas[index];

    public string StoreConnection { get; }

    public string MasterKey { get; }

    public OpenAiStub Stub => _stub;

    public HttpClient Http { get; } = new(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromSeconds(30) }) { Timeout = TimeSpan.FromSeconds(30) };

    /// <param name="storeConnection">Npgsql connection string of the (fresh) database the replicas share.</param>
    /// <param name="redisConnection">host:port,defaultDatabase=N — a database number of this class's own.</param>
    /// <param name="flushMs">ledger.flush_ms.</param>
    public static async Task<ReplicaSet> StartAsync(string storeConnection, string redisConnection, int count, int flushMs, CancellationToken cancellationToken)
    {
        var stub = await OpenAiStub.StartAsync(cancellationToken);
        var root = Directory.CreateTempSubdirectory("tollgate-replicas-").FullName;
        var masterKey = "mk-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        var env = new Dictionary<string, string?>
        {
            ["TOLLGATE_MASTER_KEY"] = masterKey,
            ["TG_STORE"] = storeConnection,
            ["TG_REDIS"] = redisConnection,
            ["STUB_KEY"] = "sk-stub",
        };
        var config = $$"""
            server: { master_key: env:TOLLGATE_MASTER_KEY }
            store: { kind: postgres, connection: env:TG_STORE }
            redis: { connection: env:TG_REDIS }
            reporting: { currency: USD }
            ledger: { flush_ms: {{flushMs}}, spool_path: "{dir}/spool" }
            providers:
              stub: { kind: openai, base_url: "{{stub.OpenAiBaseUrl}}", auth: { type: api_key, key: env:STUB_KEY } }
            models:
              {{Model}}: { family: gpt, deployments: [ { provider: stub, model: {{Model}}, price: { input: {{Price}}, output: {{Price}} } } ] }
            """;
        var replicas = new List<Replica>();
        for (var i = 0; i < count; i++)
        {
            var dir = Path.Combine(root, "replica-" + (char)('a' + i));
            Directory.CreateDirectory(dir);
            replicas.Add(new Replica(((char)('a' + i)).ToString(), dir, config, env));
        }

        var set = new ReplicaSet(root, stub, storeConnection, replicas, masterKey);
        try
        {
            // The first replica migrates the database; the others then start side by side.
            await replicas[0].StartAsync().WaitAsync(TimeSpan.FromSeconds(60), cancellationToken);
            await Task.WhenAll(replicas.Skip(1).Select(r => r.StartAsync())).WaitAsync(TimeSpan.FromSeconds(60), cancellationToken);
        }
        catch
        {
            await set.DisposeAsync();
            throw;
        }

        return set;
    }

    public async Task<(string Id, string Secret)> MintKeyAsync(Replica replica, object body, CancellationToken cancellationToken)
    {
        using var response = await Http.SendAsync(Admin(replica, HttpMethod.Post, "/admin/keys", body), cancellationToken);
        var text = await response.Content.ReadAsStringAsync(cancellationToken);
        response.StatusCode.ShouldBe(HttpStatusCode.Created, $"POST /admin/keys on {replica.Name}: {text}");
        using var json = JsonDocument.Parse(text);
        var minted = (json.RootElement.GetProperty("id").GetString()!, json.RootElement.GetProperty("key").GetString()!);
        await WaitUntilEveryReplicaKnowsAsync(minted.Item2, cancellationToken);
        return minted;
    }

    /// <summary>
    /// A key minted on one replica reaches the others through the Redis fan-out, within about a second. Tests that
    /// spread a fresh key over replicas wait for that first (GET /v1/models authenticates, writes no ledger row and
    /// counts against no limit), so a 401 from a replica that has not heard yet is not mistaken for a limit's answer.
    /// </summary>
    private async Task WaitUntilEveryReplicaKnowsAsync(string secret, CancellationToken cancellationToken)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        foreach (var replica in Replicas.Where(r => r.Running))
        {
            while (true)
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(replica.BaseUrl, "/v1/models"));
                request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", secret);
                using var response = await Http.SendAsync(request, cancellationToken);
                if (response.StatusCode != HttpStatusCode.Unauthorized)
                {
                    break;
                }

                clock.Elapsed.ShouldBeLessThan(TimeSpan.FromSeconds(5), $"a minted key should reach {replica.Name} within seconds");
                await Task.Delay(20, cancellationToken);
            }
        }
    }

    public async Task RevokeKeyAsync(Replica replica, string id, CancellationToken cancellationToken)
    {
        using var response = await Http.SendAsync(Admin(replica, HttpMethod.Delete, $"/admin/keys/{id}"), cancellationToken);
        response.IsSuccessStatusCode.ShouldBeTrue($"DELETE /admin/keys/{id} on {replica.Name}: {await response.Content.ReadAsStringAsync(cancellationToken)}");
    }

    public async Task<JsonElement> AdminGetAsync(Replica replica, string path, CancellationToken cancellationToken)
    {
        using var response = await Http.SendAsync(Admin(replica, HttpMethod.Get, path), cancellationToken);
        var text = await response.Content.ReadAsStringAsync(cancellationToken);
        response.IsSuccessStatusCode.ShouldBeTrue($"GET {path} on {replica.Name}: {text}");
        using var json = JsonDocument.Parse(text);
        return json.RootElement.Clone();
    }

    /// <summary><c>GET /quota</c> on <paramref name="replica"/> as the key's own caller.</summary>
    public async Task<JsonElement> QuotaAsync(Replica replica, string secret, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(replica.BaseUrl, "/quota"));
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", secret);
        using var response = await Http.SendAsync(request, cancellationToken);
        var text = await response.Content.ReadAsStringAsync(cancellationToken);
        response.IsSuccessStatusCode.ShouldBeTrue($"GET /quota on {replica.Name}: {text}");
        using var json = JsonDocument.Parse(text);
        return json.RootElement.Clone();
    }

    /// <summary>The value of an unlabelled series on <paramref name="replica"/>'s <c>/metrics</c>.</summary>
    public async Task<double> MetricAsync(Replica replica, string name, CancellationToken cancellationToken)
    {
        var text = await Http.GetStringAsync(new Uri(replica.BaseUrl, "/metrics"), cancellationToken);
        var line = text.Split('\n').FirstOrDefault(l => l.StartsWith(name + " ", StringComparison.Ordinal))
            ?? throw new ShouldAssertException($"{name} is not on /metrics of {replica.Name}");
        return double.Parse(line.AsSpan(name.Length + 1), System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>One chat completion through <paramref name="replica"/> with the virtual key.</summary>
    public async Task<ChatAnswer> ChatAsync(Replica replica, string secret, CancellationToken cancellationToken, int maxTokens = OpenAiStub.CompletionTokens)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(replica.BaseUrl, "/v1/chat/completions"))
        {
            Content = JsonContent.Create(new { model = Model, max_tokens = maxTokens, messages = new[] { new { role = "user", content = "hi" } } }),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", secret);
        using var response = await Http.SendAsync(request, cancellationToken);
        var body = await response.Content.ReadAsStringAsync(cancellationToken);
        var id = response.Headers.TryGetValues("x-tollgate-request-id", out var ids) ? ids.FirstOrDefault() : null;
        return new ChatAnswer(response.StatusCode, id, body, DateTimeOffset.UtcNow);
    }

    /// <summary>The request ids of a key's ledger rows, straight from the shared database.</summary>
    public async Task<HashSet<string>> LedgerIdsAsync(string keyId, CancellationToken cancellationToken)
    {
        // No pooling: a pooled connection would be dead after a test restarts PostgreSQL.
        await using var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(StoreConnection) { Pooling = false }.ConnectionString);
        await connection.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand("SELECT request_id FROM ledger WHERE key_id = @k", connection);
        command.Parameters.AddWithValue("k", keyId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var ids = new HashSet<string>(StringComparer.Ordinal);
        while (await reader.ReadAsync(cancellationToken))
        {
            ids.Add(reader.GetString(0));
        }

        return ids;
    }

    /// <summary>Polls until <paramref name="done"/> holds for the key's ledger ids; returns them either way after <paramref name="within"/>.</summary>
    public async Task<HashSet<string>> WaitForLedgerAsync(string keyId, Func<HashSet<string>, bool> done, TimeSpan within, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            HashSet<string> ids;
            try
            {
                ids = await LedgerIdsAsync(keyId, cancellationToken);
            }
            catch (NpgsqlException) when (clock.Elapsed < within)
            {
                await Task.Delay(200, cancellationToken);
                continue;
            }

            if (done(ids) || clock.Elapsed > within)
            {
                return ids;
            }

            await Task.Delay(100, cancellationToken);
        }
    }

    public HttpRequestMessage Admin(Replica replica, HttpMethod method, string path, object? body = null)
    {
        var request = new HttpRequestMessage(method, new Uri(replica.BaseUrl, path));
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", MasterKey);
        if (body is not null)
        {
            request.Content = JsonContent.Create(body);
        }

        return request;
    }

    public async ValueTask DisposeAsync()
    {
        await Task.WhenAll(Replicas.Select(r => r.DisposeAsync().AsTask()));
        await _stub.DisposeAsync();
        Http.Dispose();
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    /// <summary>The failure message tail: what each replica printed.</summary>
    public string Outputs() => string.Join("\n", Replicas.Select(r => $"==== replica {r.Name} ====\n{Tail(r.Output, 4000)}"));

    private static string Tail(string text, int chars) => text.Length <= chars ? text : text[^chars..];
}
