using System.Net;
using System.Text.Json;
using Tollgate.IntegrationTests.Harness;

namespace Tollgate.IntegrationTests.Routing;

/// <summary>
/// SPEC §4 "Sensitivity routing". Policy (see <see cref="RoutingStack"/>): pii and financial may go only to
/// mock-private (retention: none); secret and legal to no provider. Group rt-sens lists mock (first) then
/// mock-private; rt-sens-public-only has only mock. A blocked request must never reach the upstream.
/// </summary>
public sealed class SensitivityRoutingTests(RoutingStack routing)
{
    private const string Public = "mock/rt-sens-public";
    private const string Private = "mock-private/rt-sens-private";

    /// <summary>A prompt carrying each detector's finding, and the class it implies.</summary>
    public static TheoryData<string, string, string> Detected => new()
    {
        { "email", "write to alice.nguyen@example.com about it", "pii" },
        { "phone", "call me on 0412 345 678 tomorrow", "pii" },
        { "tfn", "my TFN is 123456782 for the form", "pii" },
        { "card", "charge card 4111 1111 1111 1111 please", "financial" },
        { "iban", "pay into GB82 WEST 1234 5698 7654 32 today", "financial" },
    };

    [Fact]
    public async Task Request_without_data_classes_uses_the_first_deployment()
    {
        using var deadline = Deadline.After(30);
        var key = await routing.MintAsync("rt-sens-none", deadline.Token);

        var answer = await routing.ChatAsync(key.Secret, "rt-sens", deadline.Token);

        answer.Status.ShouldBe(HttpStatusCode.OK, answer.Body);
        answer.Header("x-tollgate-deployment").ShouldBe(Public);
    }

    [Fact]
    public async Task Data_class_from_the_header_routes_only_to_an_allowed_provider()
    {
        using var deadline = Deadline.After(30);
        var key = await routing.MintAsync("rt-sens-header", deadline.Token);
        var publicBefore = await routing.UpstreamCallsAsync("rt-sens-public", deadline.Token);

        var answer = await routing.ChatAsync(key.Secret, "rt-sens", deadline.Token, RoutingStack.Prompt, ("x-tollgate-data-class", "pii"));

        answer.Status.ShouldBe(HttpStatusCode.OK, answer.Body);
        answer.Header("x-tollgate-deployment").ShouldBe(Private);
        answer.Header("x-tollgate-attempts").ShouldBe("1", "the disallowed deployment is skipped, not tried");
        (await routing.UpstreamCallsAsync("rt-sens-public", deadline.Token)).ShouldBe(publicBefore, "pii must never reach a provider its policy does not allow");

        var row = await routing.Stack.WaitForLedgerRowAsync(key.Id, answer.Header("x-tollgate-request-id").ShouldNotBeNull(), deadline.Token);
        Classes(row).ShouldBe(["pii"]);
        var skipped = row.GetProperty("attempts")[0];
        skipped.GetProperty("deployment").GetString().ShouldBe(Public);
        skipped.GetProperty("skipped").GetBoolean().ShouldBeTrue(row.ToString());
        skipped.GetProperty("error").GetString().ShouldNotBeNull().ShouldContain("pii");
    }

    [Fact]
    public async Task Data_class_from_the_keys_defaults_routes_only_to_an_allowed_provider()
    {
        using var deadline = Deadline.After(30);
        var key = await routing.MintAsync("rt-sens-key", deadline.Token, dataClasses: ["financial"]);

        var answer = await routing.ChatAsync(key.Secret, "rt-sens", deadline.Token);

        answer.Status.ShouldBe(HttpStatusCode.OK, answer.Body);
        answer.Header("x-tollgate-deployment").ShouldBe(Private);
        var row = await routing.Stack.WaitForLedgerRowAsync(key.Id, answer.Header("x-tollgate-request-id").ShouldNotBeNull(), deadline.Token);
        Classes(row).ShouldBe(["financial"]);
    }

    [Theory]
    [MemberData(nameof(Detected))]
    public async Task Detected_sensitive_data_routes_only_to_an_allowed_provider(string finding, string text, string dataClass)
    {
        using var deadline = Deadline.After(30);
        var key = await routing.MintAsync($"rt-sens-{finding}", deadline.Token);

        var answer = await routing.ChatAsync(key.Secret, "rt-sens", deadline.Token, $"{RoutingStack.Prompt}: {text}");

        answer.Status.ShouldBe(HttpStatusCode.OK, answer.Body);
        answer.Header("x-tollgate-deployment").ShouldBe(Private, $"the {finding} makes the request {dataClass}");
        var row = await routing.Stack.WaitForLedgerRowAsync(key.Id, answer.Header("x-tollgate-request-id").ShouldNotBeNull(), deadline.Token);
        Classes(row).ShouldContain(dataClass);
    }

    [Fact]
    public async Task Luhn_invalid_card_number_is_not_a_card_and_may_go_to_any_provider()
    {
        using var deadline = Deadline.After(30);
        var key = await routing.MintAsync("rt-sens-notcard", deadline.Token);

        var answer = await routing.ChatAsync(key.Secret, "rt-sens", deadline.Token, $"{RoutingStack.Prompt}: order 4111 1111 1111 1112 shipped");

        answer.Status.ShouldBe(HttpStatusCode.OK, answer.Body);
        answer.Header("x-tollgate-deployment").ShouldBe(Public);
        var row = await routing.Stack.WaitForLedgerRowAsync(key.Id, answer.Header("x-tollgate-request-id").ShouldNotBeNull(), deadline.Token);
        Classes(row).ShouldBeEmpty(row.ToString());
    }

    [Fact]
    public async Task No_deployment_allowed_for_the_class_is_403_naming_it_and_nothing_goes_upstream()
    {
        using var deadline = Deadline.After(30);
        var key = await routing.MintAsync("rt-sens-403", deadline.Token);
        var before = await routing.UpstreamCallsAsync("rt-sens-only-public", deadline.Token);

        var answer = await routing.ChatAsync(key.Secret, "rt-sens-public-only", deadline.Token, RoutingStack.Prompt, ("x-tollgate-data-class", "pii"));

        var message = answer.ShouldBeOpenAiError(HttpStatusCode.Forbidden);
        message.ShouldContain("'pii'");
        message.ShouldContain("rt-sens-public-only");
        answer.Json.GetProperty("error").GetProperty("type").GetString().ShouldBe("permission_error");
        answer.Header("x-tollgate-attempts").ShouldBe("0");
        (await routing.UpstreamCallsAsync("rt-sens-only-public", deadline.Token)).ShouldBe(before, "never send the request anyway");
        var row = await routing.Stack.WaitForLedgerRowAsync(key.Id, answer.Header("x-tollgate-request-id").ShouldNotBeNull(), deadline.Token);
        row.GetProperty("status").GetInt32().ShouldBe(403);
        Classes(row).ShouldBe(["pii"]);
    }

    [Fact]
    public async Task Declared_class_that_no_provider_may_receive_is_403_on_every_deployment()
    {
        using var deadline = Deadline.After(30);
        var key = await routing.MintAsync("rt-sens-legal", deadline.Token);
        var publicBefore = await routing.UpstreamCallsAsync("rt-sens-public", deadline.Token);
        var privateBefore = await routing.UpstreamCallsAsync("rt-sens-private", deadline.Token);

        var answer = await routing.ChatAsync(key.Secret, "rt-sens", deadline.Token, RoutingStack.Prompt, ("x-tollgate-data-class", "Legal, pii"));

        answer.ShouldBeOpenAiError(HttpStatusCode.Forbidden).ShouldContain("'legal'");
        (await routing.UpstreamCallsAsync("rt-sens-public", deadline.Token)).ShouldBe(publicBefore);
        (await routing.UpstreamCallsAsync("rt-sens-private", deadline.Token)).ShouldBe(privateBefore);
    }

    [Fact]
    public async Task Detected_private_key_is_class_secret_and_403_when_no_provider_may_receive_secrets()
    {
        using var deadline = Deadline.After(30);
        var key = await routing.MintAsync("rt-sens-secret", deadline.Token);
        var privateBefore = await routing.UpstreamCallsAsync("rt-sens-private", deadline.Token);

        var answer = await routing.ChatAsync(key.Secret, "rt-sens", deadline.Token,
            $"{RoutingStack.Prompt}: -----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----");

        answer.ShouldBeOpenAiError(HttpStatusCode.Forbidden).ShouldContain("'secret'");
        (await routing.UpstreamCallsAsync("rt-sens-private", deadline.Token)).ShouldBe(privateBefore);
    }

    /// <summary>
    /// The detectors must read the text the model will read. JSON lets a client escape any character, and
    /// System.Text.Json (so the OpenAI .NET SDK) writes '+' as \u002B by default: "+61 412 345 678" reaches
    /// the gateway as "\u002B61 412 345 678". Scanning the raw body misses it.
    /// </summary>
    [Fact]
    public async Task Detectors_read_json_escaped_text_the_way_the_model_will()
    {
        using var deadline = Deadline.After(30);
        var key = await routing.MintAsync("rt-sens-escaped", deadline.Token);
        var body = $$"""{"model":"rt-sens","messages":[{"role":"user","content":"{{RoutingStack.Prompt}}: call me on \u002B61 412 345 678, or mail alice.nguyen\u0040example.com"}]}""";
        var request = GatewayStack.DataRequest(HttpMethod.Post, "/v1/chat/completions", key.Secret);
        request.Content = new StringContent(body, System.Text.Encoding.UTF8, "application/json");

        var answer = await routing.Stack.Http.AnswerAsync(request, deadline.Token);

        answer.Status.ShouldBe(HttpStatusCode.OK, answer.Body);
        answer.Header("x-tollgate-deployment").ShouldBe(Private, "the upstream model reads '+61 412 345 678' and 'alice.nguyen@example.com': pii");
    }

    /// <summary>The ledger's <c>data_classes</c> (a JSON array of class names).</summary>
    private static List<string> Classes(JsonElement row)
    {
        var classes = row.GetProperty("data_classes");
        return classes.ValueKind == JsonValueKind.Null ? [] : [.. classes.EnumerateArray().Select(c => c.GetString()!)];
    }
}
