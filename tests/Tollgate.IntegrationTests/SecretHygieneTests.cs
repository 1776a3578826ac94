using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Tollgate.IntegrationTests.Harness;

namespace Tollgate.IntegrationTests;

/// <summary>
/// No secret ever leaves the gateway: not the upstream keys, not the master key, not a virtual key, not a
/// credential a caller presented. Checked against everything the gateway printed and every response the
/// suite's .NET clients have seen (save the mint and rotate answers, whose job is to show the new secret once).
/// </summary>
public sealed class SecretHygieneTests(GatewayStack stack)
{
    [Fact]
    public async Task No_secret_appears_in_gateway_output_responses_or_key_listings()
    {
        using var deadline = Deadline.After(60);
        var ct = deadline.Token;
        var key = await stack.MintKeyAsync("secret-hygiene", ct);
        var presentedBogus = "tg-" + GatewayStack.RandomToken() + GatewayStack.RandomToken();
        var presentedWrongMaster = "mk-" + GatewayStack.RandomToken();

        // Served calls, streamed and not.
        (await stack.Http.CallAsync("/v1/chat/completions", key.Secret, RawCall.Chat("gpt-4o-mini", "TG_CHAT_HELLO"), ct)).Status.ShouldBe(HttpStatusCode.OK);
        (await stack.Http.CallAsync("/v1/chat/completions", key.Secret, RawCall.Chat("gpt-4o-mini", "TG_STREAM_STORY", stream: true), ct)).Status.ShouldBe(HttpStatusCode.OK);
        (await stack.Http.CallAsync("/v1/responses", key.Secret, new { model = "gpt-4o-mini", input = "TG_RESPONSES_HELLO", stream = true }, ct)).Status.ShouldBe(HttpStatusCode.OK);
        (await stack.Http.CallAsync("/v1/embeddings", key.Secret, new { model = "text-embedding-3-small", input = "TG_EMBED_ME" }, ct)).Status.ShouldBe(HttpStatusCode.OK);

        // Failing calls: ours, the caller's, and the upstream's.
        (await stack.Http.CallAsync("/v1/chat/completions", presentedBogus, RawCall.Chat("gpt-4o-mini", "TG_PLAIN"), ct)).Status.ShouldBe(HttpStatusCode.Unauthorized);
        (await stack.Http.CallAsync("/v1/chat/completions", key.Secret, RawCall.Chat("gpt-4o-mni", "TG_PLAIN"), ct)).Status.ShouldBe(HttpStatusCode.NotFound);
        var malformed = GatewayStack.DataRequest(HttpMethod.Post, "/v1/chat/completions", key.Secret);
        malformed.Content = new StringContent("{\"model\": ", Encoding.UTF8, "application/json");
        (await stack.Http.AnswerAsync(malformed, ct)).Status.ShouldBe(HttpStatusCode.BadRequest);
        (await stack.Http.CallAsync("/v1/chat/completions", key.Secret, RawCall.Chat("leak-upstream-500", RawCall.FailurePrompt), ct)).Status.ShouldBe(HttpStatusCode.BadGateway);
        (await stack.Http.CallAsync("/v1/chat/completions", key.Secret, RawCall.Chat("leak-bad-credential", RawCall.FailurePrompt), ct)).Status.ShouldBe(HttpStatusCode.Unauthorized);
        var wrongMaster = new HttpRequestMessage(HttpMethod.Get, "/admin/keys");
        wrongMaster.Headers.Authorization = new AuthenticationHeaderValue("Bearer", presentedWrongMaster);
        (await stack.Http.AnswerAsync(wrongMaster, ct)).Status.ShouldBe(HttpStatusCode.Unauthorized);

        // Rotation and revocation, then every admin view of keys and requests.
        var rotated = await stack.RotateKeyAsync(key.Id, ct);
        (await stack.Http.CallAsync("/v1/chat/completions", rotated.Secret, RawCall.Chat("gpt-4o-mini", "TG_PLAIN"), ct)).Status.ShouldBe(HttpStatusCode.OK);
        (await stack.Http.AnswerAsync(stack.AdminRequest(HttpMethod.Delete, $"/admin/keys/{key.Id}"), ct)).Status.ShouldBe(HttpStatusCode.OK);
        (await stack.Http.CallAsync("/v1/chat/completions", rotated.Secret, RawCall.Chat("gpt-4o-mini", "TG_PLAIN"), ct)).Status.ShouldBe(HttpStatusCode.Unauthorized);
        var listing = (await stack.AdminGetAsync("/admin/keys", ct)).ToString();
        var single = (await stack.AdminGetAsync($"/admin/keys/{key.Id}", ct)).ToString();
        await stack.WaitForLedgerRowsAsync(key.Id, rows => rows.Count >= 7, ct);
        await stack.AdminGetAsync("/admin/spend?group_by=key", ct);

        // Console logging is queued; give it a moment to reach stdout.
        await Task.Delay(500, ct);

        var secrets = new List<(string Name, string Value)>
        {
            ("the master key", stack.MasterKey),
            ("the upstream key", stack.UpstreamKey),
            ("the rejected upstream key", stack.WrongUpstreamKey),
            ("the fake Anthropic upstream's API key", stack.FakeAnthropicKey),
            ("the subscription OAuth token", stack.OAuthUpstreamToken),
            ("a presented unknown virtual key", presentedBogus),
            ("a presented wrong master key", presentedWrongMaster),
        };
        secrets.AddRange(stack.IssuedSecrets.Select(s => ("a virtual key", s)));
        secrets.Count.ShouldBeGreaterThan(6);

        var haystacks = new List<(string Where, string Text)>
        {
            ("the gateway's stdout/stderr", stack.Gateway.Output),
            ("GET /admin/keys", listing),
            ("GET /admin/keys/{id}", single),
        };
        haystacks.AddRange(stack.Exchanges
            .Where(e => !ShowsANewSecret(e))
            .Select(e => ($"the response to {e}", e.Headers + "\n" + e.Body)));

        var leaks = new List<string>();
        foreach (var (name, value) in secrets)
        {
            // The tail too: a "masked" secret that still shows most of itself is a leak (a short prefix hint is not).
            var tail = value[^16..];
            foreach (var (where, text) in haystacks)
            {
                if (text.Contains(value, StringComparison.Ordinal) || text.Contains(tail, StringComparison.Ordinal))
                {
                    leaks.Add($"{name} appears in {where}");
                }
            }
        }

        stack.Exchanges.Count.ShouldBeGreaterThan(15, "the responses seen so far should include at least this test's own");
        leaks.ShouldBeEmpty(string.Join("\n", leaks.Distinct()));
        stack.Gateway.Output.ShouldNotBeEmpty("the gateway should log something, or this test proves nothing about its logs");
    }

    private static bool ShowsANewSecret(RecordedExchange exchange) =>
        exchange.Method == HttpMethod.Post
        && exchange.Uri is { } uri
        && (uri.AbsolutePath == "/admin/keys" || uri.AbsolutePath.EndsWith("/rotate", StringComparison.Ordinal));
}
