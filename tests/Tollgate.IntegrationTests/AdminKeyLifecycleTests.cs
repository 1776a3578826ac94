using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.RegularExpressions;
using Tollgate.IntegrationTests.Harness;

namespace Tollgate.IntegrationTests;

/// <summary>The admin API's key lifecycle (SPEC §5, §7): mint, read without the secret, patch, rotate, revoke.</summary>
public sealed partial class AdminKeyLifecycleTests(GatewayStack stack)
{
    [Fact]
    public async Task Mint_answers_201_with_the_record_an_id_and_a_tg_secret()
    {
        using var deadline = Deadline.After(30);
        var alias = "lifecycle-mint-" + GatewayStack.RandomToken()[..8];
        var expires = DateTimeOffset.UtcNow.AddDays(30);

        var key = await stack.MintKeyAsync(new
        {
            alias,
            workspace = "ws-integration",
            models = new[] { "gpt-4o-mini" },
            max_budget = 25,
            budget_period = "30d",
            soft_limit = 0.8,
            rpm = 600,
            tpm = 1_000_000,
            max_parallel = 16,
            expires_at = expires.ToString("O"),
            metadata = new { team = "qa", ticket = 2 },
        }, deadline.Token);

        key.Secret.ShouldMatch(SecretShape().ToString(), "a virtual key is tg- and at least 32 base62 characters");
        key.Id.ShouldNotBeNullOrWhiteSpace();
        key.Record.GetProperty("alias").GetString().ShouldBe(alias);
        key.Record.GetProperty("workspace").GetString().ShouldBe("ws-integration");
        key.Record.GetProperty("models").EnumerateArray().Select(m => m.GetString()).ShouldBe(["gpt-4o-mini"]);
        key.Record.GetProperty("max_budget").GetDecimal().ShouldBe(25m);
        key.Record.GetProperty("budget_period").GetString().ShouldBe("30d");
        key.Record.GetProperty("rpm").GetInt32().ShouldBe(600);
        key.Record.GetProperty("tpm").GetInt32().ShouldBe(1_000_000);
        key.Record.GetProperty("max_parallel").GetInt32().ShouldBe(16);
        key.Record.GetProperty("metadata").GetProperty("team").GetString().ShouldBe("qa");
        DateTimeOffset.Parse(key.Record.GetProperty("expires_at").GetString()!, System.Globalization.CultureInfo.InvariantCulture)
            .ShouldBe(expires, TimeSpan.FromSeconds(1));
    }

    [Fact]
    public async Task Get_shows_the_record_with_spend_and_status_but_never_the_secret()
    {
        using var deadline = Deadline.After(30);
        var key = await stack.MintKeyAsync(new { alias = "lifecycle-get-" + GatewayStack.RandomToken()[..8], max_budget = 5, budget_period = "1d" }, deadline.Token);

        var one = await stack.AdminGetAsync($"/admin/keys/{key.Id}", deadline.Token);
        var all = await stack.AdminGetAsync("/admin/keys", deadline.Token);

        one.GetProperty("id").GetString().ShouldBe(key.Id);
        one.GetProperty("alias").GetString().ShouldBe(key.Alias);
        one.GetProperty("status").GetString().ShouldBe("active");
        one.GetProperty("spend").GetDecimal().ShouldBe(0m);
        one.GetProperty("period_resets_at").ValueKind.ShouldBe(JsonValueKind.String);
        HasSecretField(one).ShouldBeFalse($"the secret is shown only when minted or rotated: {one}");
        one.ToString().ShouldNotContain(key.Secret);
        var listed = KeysOf(all).Where(k => k.GetProperty("id").GetString() == key.Id).ShouldHaveSingleItem();
        HasSecretField(listed).ShouldBeFalse($"listings never carry the secret: {listed}");
        all.ToString().ShouldNotContain(key.Secret);
    }

    [Fact]
    public async Task Patch_models_changes_what_the_key_may_call_at_once()
    {
        using var deadline = Deadline.After(30);
        var key = await stack.MintKeyAsync("lifecycle-patch", deadline.Token, "gpt-4o-mini");
        (await stack.Http.CallAsync("/v1/chat/completions", key.Secret, RawCall.Chat("gpt-4o", "TG_PLAIN"), deadline.Token))
            .Status.ShouldBe(HttpStatusCode.Forbidden);

        var patch = await stack.Http.AnswerAsync(stack.AdminRequest(HttpMethod.Patch, $"/admin/keys/{key.Id}", new { models = new[] { "gpt-4o-mini", "gpt-4o" } }), deadline.Token);

        patch.Status.ShouldBe(HttpStatusCode.OK, patch.Body);
        patch.Json.GetProperty("models").EnumerateArray().Select(m => m.GetString()).Order(StringComparer.Ordinal).ShouldBe(["gpt-4o", "gpt-4o-mini"]);
        var after = await stack.Http.CallAsync("/v1/chat/completions", key.Secret, RawCall.Chat("gpt-4o", "TG_PLAIN"), deadline.Token);
        after.Status.ShouldBe(HttpStatusCode.OK, after.Body);
        after.Header("x-tollgate-deployment").ShouldBe("mock/gpt-4o");
        var stored = await stack.AdminGetAsync($"/admin/keys/{key.Id}", deadline.Token);
        stored.GetProperty("models").GetArrayLength().ShouldBe(2);
    }

    [Fact]
    public async Task Rotate_issues_a_new_secret_that_works()
    {
        using var deadline = Deadline.After(30);
        var key = await stack.MintKeyAsync("lifecycle-rotate", deadline.Token);

        var rotated = await stack.RotateKeyAsync(key.Id, deadline.Token);

        rotated.Secret.ShouldMatch(SecretShape().ToString());
        rotated.Secret.ShouldNotBe(key.Secret);
        var answer = await stack.Http.CallAsync("/v1/chat/completions", rotated.Secret, RawCall.Chat("gpt-4o-mini", "TG_PLAIN"), deadline.Token);
        answer.Status.ShouldBe(HttpStatusCode.OK, answer.Body);
        var row = await stack.WaitForLedgerRowAsync(key.Id, answer.Header("x-tollgate-request-id").ShouldNotBeNull(), deadline.Token);
        row.GetProperty("key_id").GetString().ShouldBe(key.Id, "a rotated key keeps its id");
        HasSecretField(await stack.AdminGetAsync($"/admin/keys/{key.Id}", deadline.Token)).ShouldBeFalse();
    }

    [Fact]
    public async Task Revoke_answers_the_revoked_record_and_the_key_is_refused_at_once()
    {
        using var deadline = Deadline.After(30);
        var key = await stack.MintKeyAsync("lifecycle-revoke", deadline.Token);
        (await stack.Http.CallAsync("/v1/chat/completions", key.Secret, RawCall.Chat("gpt-4o-mini", "TG_PLAIN"), deadline.Token))
            .Status.ShouldBe(HttpStatusCode.OK);

        var revoke = await stack.Http.AnswerAsync(stack.AdminRequest(HttpMethod.Delete, $"/admin/keys/{key.Id}"), deadline.Token);
        var refused = await stack.Http.CallAsync("/v1/chat/completions", key.Secret, RawCall.Chat("gpt-4o-mini", "TG_PLAIN"), deadline.Token);

        revoke.Status.ShouldBe(HttpStatusCode.OK, revoke.Body);
        revoke.Json.GetProperty("status").GetString().ShouldBe("revoked");
        HasSecretField(revoke.Json).ShouldBeFalse(revoke.Body);
        refused.ShouldBeOpenAiError(HttpStatusCode.Unauthorized);
        (await stack.AdminGetAsync($"/admin/keys/{key.Id}", deadline.Token)).GetProperty("status").GetString().ShouldBe("revoked");
    }

    [Fact]
    public async Task Admin_api_refuses_a_missing_or_wrong_master_key_and_accepts_x_api_key()
    {
        using var deadline = Deadline.After(30);
        var virtualKey = await stack.MintKeyAsync("lifecycle-not-master", deadline.Token);

        var none = await stack.Http.AnswerAsync(new HttpRequestMessage(HttpMethod.Get, "/admin/keys"), deadline.Token);
        var wrong = new HttpRequestMessage(HttpMethod.Get, "/admin/keys");
        wrong.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "mk-" + GatewayStack.RandomToken());
        var wrongAnswer = await stack.Http.AnswerAsync(wrong, deadline.Token);
        var notMaster = new HttpRequestMessage(HttpMethod.Post, "/admin/keys") { Content = System.Net.Http.Json.JsonContent.Create(new { alias = "nope" }) };
        notMaster.Headers.Authorization = new AuthenticationHeaderValue("Bearer", virtualKey.Secret);
        var notMasterAnswer = await stack.Http.AnswerAsync(notMaster, deadline.Token);
        var viaXApiKey = new HttpRequestMessage(HttpMethod.Get, "/admin/keys");
        viaXApiKey.Headers.Add("x-api-key", stack.MasterKey);
        var viaXApiKeyAnswer = await stack.Http.AnswerAsync(viaXApiKey, deadline.Token);

        none.Status.ShouldBe(HttpStatusCode.Unauthorized);
        wrongAnswer.Status.ShouldBe(HttpStatusCode.Unauthorized);
        notMasterAnswer.Status.ShouldBe(HttpStatusCode.Unauthorized, "a virtual key is not the master key");
        viaXApiKeyAnswer.Status.ShouldBe(HttpStatusCode.OK, viaXApiKeyAnswer.Body);
    }

    /// <summary>A <c>key</c> field with a value; <c>"key": null</c> carries nothing and is tolerated.</summary>
    private static bool HasSecretField(JsonElement record) =>
        record.TryGetProperty("key", out var key) && key.ValueKind != JsonValueKind.Null;

    private static IEnumerable<JsonElement> KeysOf(JsonElement listing) => listing.ValueKind switch
    {
        JsonValueKind.Array => listing.EnumerateArray(),
        JsonValueKind.Object when listing.TryGetProperty("data", out var data) => data.EnumerateArray(),
        JsonValueKind.Object when listing.TryGetProperty("keys", out var keys) => keys.EnumerateArray(),
        _ => throw new ShouldAssertException($"GET /admin/keys should list keys: {listing}"),
    };

    [GeneratedRegex("^tg-[0-9A-Za-z]{32,}$")]
    private static partial Regex SecretShape();
}
