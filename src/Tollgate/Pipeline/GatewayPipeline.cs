using System.Buffers;
using System.Globalization;
using System.Net;
using Tollgate.Keys;
using Tollgate.Ledger;
using Tollgate.Providers;
using Tollgate.Routing;
using Tollgate.Sensitivity;
using Tollgate.Streaming;
using Tollgate.Surfaces;
using Tollgate.Telemetry;
using Tollgate.Translation;
using Tollgate.Upstream;

namespace Tollgate.Pipeline;

/// <summary>
/// The one path a request takes: admission (key, body, model) → routing → the attempt loop → relay →
/// accounting. Failures are data (<see cref="GatewayError"/>); the surface renders them.
/// </summary>
internal sealed class GatewayPipeline
{
    private const int MaxErrorBodyBytes = 64 * 1024;
    private readonly RouteTableHolder _routes;
    private readonly KeyCache _keys;
    private readonly LedgerWriter _ledger;
    private readonly TimeProvider _time;
    private readonly GatewayMetrics _metrics;
    private readonly LimitsGate _limits;
    private readonly StoreHealth _storeHealth;
    private readonly AuditWriter _audit;
    private readonly ILogger<GatewayPipeline> _logger;

    public GatewayPipeline(RouteTableHolder routes, KeyCache keys, LedgerWriter ledger, TimeProvider time, GatewayMetrics metrics, LimitsGate limits, StoreHealth storeHealth, AuditWriter audit, ILogger<GatewayPipeline> logger)
    {
        _audit = audit;
        _storeHealth = storeHealth;
        _limits = limits;
        _metrics = metrics;
        _routes = routes;
        _keys = keys;
        _ledger = ledger;
        _time = time;
        _logger = logger;
    }

    public async Task RunAsync(HttpContext http, Operation operation)
    {
        var table = _routes.Current;
        var ctx = new GatewayContext(http, operation, _time.GetUtcNow());
        http.Response.Headers["x-tollgate-request-id"] = ctx.RequestId;

        var secret = KeyCache.PresentedSecret(http.Request.Headers);
        if (secret.IsEmpty)
        {
            await operation.Errors.WriteAsync(http.Response, new GatewayError(GatewayErrorKind.MissingKey,
                "No API key was sent. Send your Tollgate virtual key as 'Authorization: Bearer tg-…' or 'x-api-key: tg-…'."));
            return;
        }

        ctx.Key = _keys.Authenticate(secret);
        if (ctx.Key is null)
        {
            // Not authenticated, so no ledger row: an unknown caller must not be able to fill the ledger.
            await operation.Errors.WriteAsync(http.Response, new GatewayError(GatewayErrorKind.InvalidKey,
                "The API key is not valid: it is unknown, revoked or expired. Ask your operator for a current Tollgate key."));
            return;
        }

        PooledBytes body = default;
        Limits.Admission? admission = null;
        try
        {
            if (_storeHealth.RefuseRequests)
            {
                // on_store_down: strict — the store is unreachable, so nothing is served (the row still spools).
                await FailAsync(ctx, StoreHealth.Refusal);
                return;
            }

            var (read, tooLarge) = await ReadBodyAsync(http, table.Config.Server.MaxBodyBytes);
            body = read;
            if (tooLarge)
            {
                await FailAsync(ctx, new GatewayError(GatewayErrorKind.BodyTooLarge,
                    $"The request body is larger than this gateway accepts ({table.Config.Server.MaxBodyBytes.ToString(CultureInfo.InvariantCulture)} bytes, server.max_body_bytes). Send a smaller request."));
                return;
            }

            var peek = RequestPeek.Read(body.Span);
            if (peek.Error is not null)
            {
                await FailAsync(ctx, new GatewayError(GatewayErrorKind.BadRequest, peek.Error, peek.ErrorParam));
                return;
            }

            if ((Validate(operation, peek) ?? operation.Validate?.Invoke(body.Memory)) is { } invalid)
            {
                await FailAsync(ctx, invalid);
                return;
            }

            ctx.ModelRequested = peek.Model;
            http.Response.Headers["x-tollgate-model-group"] = peek.Model;
            if (Route(ctx, table, peek.Model!) is { } routeError)
            {
                await FailAsync(ctx, routeError);
                return;
            }

            var (admitted, refused) = await _limits.AdmitAsync(ctx, table, body.Length, peek.MaxTokens, http.RequestAborted);
            admission = admitted;
            if (refused is not null)
            {
                await FailAsync(ctx, refused);
                return;
            }

            ctx.Streamed = peek.Stream;
            await DispatchAsync(ctx, table, body, peek);
        }
        catch (OperationCanceledException) when (http.RequestAborted.IsCancellationRequested)
        {
            ctx.Status = 499;
            ctx.ErrorType ??= "client_closed";
        }
        catch (BadHttpRequestException ex)
        {
            await FailAsync(ctx, new GatewayError(GatewayErrorKind.BadRequest, $"The request could not be read: {ex.Message}"));
        }
        finally
        {
            if (table.Config.Audit.Bodies == "full" && ctx.Key is not null)
            {
                _audit.Enqueue(AuditBodies.Record(ctx, body.Span, _time.GetUtcNow()));
            }

            body.Dispose();
            if (http.Response.HasStarted)
            {
                // The client has its whole answer before accounting runs.
                try
                {
                    await http.Response.CompleteAsync();
                }
                catch (Exception ex) when (ex is IOException or InvalidOperationException or OperationCanceledException)
                {
                }
            }

            _ledger.Enqueue(ctx.ToLedgerRecord(table.Currency.Code));
            _metrics.RecordRequest(ctx);
            if (admission is { Admitted: true })
            {
                // Off the hot path: the hold already kept the budget exact, and Kestrel takes the connection's
                // next request only when this handler returns. SettleAsync never throws.
                _ = _limits.SettleAsync(admission, ctx);
            }
        }
    }

    private static GatewayError? Validate(Operation operation, in RequestPeek peek)
    {
        if (peek.Model is null)
        {
            return new GatewayError(GatewayErrorKind.BadRequest, "'model' is required: name one of the model aliases from GET /v1/models.", "model");
        }

        if ((operation.Required & RequiredField.Messages) != 0 && (peek.Present & RequestPeek.Field.Messages) == 0)
        {
            return new GatewayError(GatewayErrorKind.BadRequest, "'messages' is required: send an array of messages.", "messages");
        }

        if ((operation.Required & RequiredField.Input) != 0 && (peek.Present & RequestPeek.Field.Input) == 0)
        {
            return new GatewayError(GatewayErrorKind.BadRequest, "'input' is required: send the text (or array of texts) to embed.", "input");
        }

        if ((operation.Required & RequiredField.MaxTokens) != 0 && peek.MaxTokens is null)
        {
            return new GatewayError(GatewayErrorKind.BadRequest, "'max_tokens' is required: the most tokens the answer may have, a positive integer.", "max_tokens");
        }

        return null;
    }

    /// <summary>Alias → model group, then the key's allow-list. Sets the group on the context.</summary>
    private static GatewayError? Route(GatewayContext ctx, RouteTable table, string model)
    {
        var key = ctx.Key!;
        if (key.Record.Tier is { } tierName && table.Config.Tiers.TryGetValue(tierName, out var tier)
            && tier.Remap.TryGetValue(model, out var remapped))
        {
            // The tier serves another alias in place of the one asked for; the allow-list applies to what is served.
            model = remapped;
        }

        if (!table.Groups.TryGetValue(model, out var group))
        {
            var allowed = table.Aliases.Where(a => ModelAccess.IsAllowed(key, table, a));
            var close = NameSuggestions.Closest(model, allowed);
            var hint = close.Count > 0
                ? $" Did you mean {string.Join(", ", close.Select(c => $"'{c}'"))}?"
                : " GET /v1/models lists the models this key may use.";
            return new GatewayError(GatewayErrorKind.UnknownModel, $"The model '{model}' does not exist on this gateway.{hint}", "model");
        }

        ctx.Group = group;
        if (!ModelAccess.IsAllowed(key, table, model))
        {
            return new GatewayError(GatewayErrorKind.ModelNotAllowed,
                $"This key may not use the model '{model}'. GET /v1/models lists the models it may use; ask your operator to allow more.", "model");
        }

        return null;
    }

    private async ValueTask DispatchAsync(GatewayContext ctx, RouteTable table, PooledBytes body, RequestPeek peek)
    {
        var http = ctx.Http;
        var operation = ctx.Operation;
        var requested = ctx.Group!;
        GatewayError? lastError = null;
        string? blockedClass = null;
        DateTimeOffset? coolingUntil = null;
        var wantUsage = peek.Stream && operation.StreamFormat == StreamFormat.ChatCompletions;
        var classes = DataClassPolicy.Classify(http.Request.Headers, ctx.Key!, body.Span, table);
        ctx.DataClasses = classes.Count == 0 ? null : string.Join(',', classes.Select(c => c.Class));

        // Indexed loops, not iterators: no enumerator allocations on the request path.
        for (var g = -1; g < requested.Fallback.Count; g++)
        {
            var group = g < 0 ? requested : table.Groups.GetValueOrDefault(requested.Fallback[g]);
            if (group is null)
            {
                continue;
            }

            var order = Balancer.Order(group, Random.Shared);
            for (var d = 0; d < order.Count; d++)
            {
                var deployment = order[d];
                var provider = deployment.Provider;
                if (provider.DisabledReason is { } disabled)
                {
                    ctx.Attempts.Add(Attempt.Skip(deployment.Label, disabled));
                    lastError ??= new GatewayError(GatewayErrorKind.NoDeployment, disabled);
                    continue;
                }

                if (operation.Format == ApiFormat.AnthropicCountTokens && provider.Kind != "anthropic")
                {
                    await CountTokensLocallyAsync(ctx, group, deployment, body);
                    return;
                }

                if (provider.Kind != operation.NativeKind && Formats.Plan(operation, provider.Kind) is null)
                {
                    var reason = $"provider kind '{provider.Kind}' cannot serve {operation.Endpoint} requests";
                    ctx.Attempts.Add(Attempt.Skip(deployment.Label, reason));
                    lastError ??= new GatewayError(GatewayErrorKind.NoDeployment, reason);
                    continue;
                }

                if (DataClassPolicy.Blocking(table, classes, provider.Name) is { } blocking)
                {
                    ctx.Attempts.Add(Attempt.Skip(deployment.Label, $"data class '{blocking}' may not go to provider {provider.Name}"));
                    blockedClass ??= blocking;
                    continue;
                }

                var health = deployment.Health;
                if (!health.TryAcquire(_time.GetUtcNow()))
                {
                    ctx.Attempts.Add(Attempt.Skip(deployment.Label, $"cooling down until {health.CooldownUntil:O} after: {health.LastError}"));
                    coolingUntil = coolingUntil is { } known && known < health.CooldownUntil ? known : health.CooldownUntil;
                    continue;
                }

                var outcome = await AttemptAsync(ctx, group, deployment, body, peek, wantUsage);
                if (outcome is null || outcome.Kind == GatewayErrorKind.UpstreamClientError)
                {
                    // Served, or the caller's own fault (400/404/422) relayed as the upstream sent it: no fallback.
                    return;
                }

                lastError = outcome;
            }
        }

        GatewayError error;
        if (lastError is not null && lastError.Kind != GatewayErrorKind.NoDeployment)
        {
            error = lastError with { Message = FinalMessage(ctx, lastError) };
        }
        else if (blockedClass is not null)
        {
            var reason = classes.First(c => c.Class == blockedClass).Reason;
            error = new GatewayError(GatewayErrorKind.DataClassBlocked,
                $"This request carries data class '{blockedClass}' ({reason}), and no deployment of model group '{requested.Name}' may receive it. Remove the data, or ask your operator to allow a provider for '{blockedClass}' in data_classes.");
        }
        else if (coolingUntil is { } until)
        {
            var seconds = (int)Math.Ceiling(Math.Max(1, (until - _time.GetUtcNow()).TotalSeconds));
            error = new GatewayError(GatewayErrorKind.AllCoolingDown, string.Empty, RetryAfterSeconds: seconds);
            error = error with { Message = $"Every deployment of model group '{requested.Name}' is cooling down after failures; retry in {seconds.ToString(CultureInfo.InvariantCulture)}s. {FinalMessage(ctx, error)}" };
        }
        else
        {
            error = lastError ?? new GatewayError(GatewayErrorKind.NoDeployment, "the model group has no deployments");
            error = error with { Message = FinalMessage(ctx, error) };
        }

        await FailAsync(ctx, error);
    }

    /// <summary>
    /// count_tokens for an upstream that has no such endpoint: counted here with the o200k tokenizer, an
    /// estimate (see <see cref="TokenCounter"/>). No upstream is called and nothing is billed.
    /// </summary>
    private static async Task CountTokensLocallyAsync(GatewayContext ctx, ModelGroup group, Deployment deployment, PooledBytes body)
    {
        long count;
        try
        {
            count = TokenCounter.CountAnthropicRequest(body.Span);
        }
        catch (Exception ex) when (ex is System.Text.Json.JsonException or TranslationException)
        {
            await FailAsync(ctx, new GatewayError(GatewayErrorKind.BadRequest, $"The request cannot be counted: {ex.Message}"));
            return;
        }

        ctx.ServedBy = deployment;
        if (!ReferenceEquals(group, ctx.Group))
        {
            ctx.Fallback = $"{ctx.Group!.Name} -> {group.Name}";
        }

        ctx.Status = 200;
        var http = ctx.Http;
        http.Response.Headers["x-tollgate-deployment"] = deployment.Label;
        http.Response.Headers["x-tollgate-attempts"] = "0";
        http.Response.Headers["x-tollgate-token-count"] = "estimate (o200k)";
        var json = System.Text.Encoding.UTF8.GetBytes($"{{\"input_tokens\":{count.ToString(CultureInfo.InvariantCulture)}}}");
        http.Response.ContentType = "application/json";
        http.Response.ContentLength = json.Length;
        ctx.TtftMs = ctx.ElapsedMs;
        await http.Response.Body.WriteAsync(json, http.RequestAborted);
    }

    private static string FinalMessage(GatewayContext ctx, GatewayError error)
    {
        var tried = ctx.Attempts.Count == 0
            ? "no deployment was tried"
            : string.Join("; ", ctx.Attempts.Select(a => a.Status == 0 ? $"{a.Deployment}: {a.Error}" : $"{a.Deployment}: {a.Status.ToString(CultureInfo.InvariantCulture)} {a.Error}"));

        var what = error.Kind switch
        {
            GatewayErrorKind.UpstreamAuth => "The upstream rejected the gateway's credential",
            GatewayErrorKind.UpstreamRateLimited => "The upstream is rate-limiting this model",
            GatewayErrorKind.NoDeployment => "No deployment could serve this model",
            GatewayErrorKind.AllCoolingDown => "No upstream was called",
            _ => "The upstream failed",
        };
        if (error.Kind == GatewayErrorKind.AllCoolingDown)
        {
            return $"{what}: {tried}.";
        }

        return $"{what} for model group '{ctx.Group!.Name}'. Tried {ctx.TriedCount.ToString(CultureInfo.InvariantCulture)}: {tried}.";
    }

    /// <summary>One try of one deployment. Returns null when it served (or the client went away), else the failure.</summary>
    private async ValueTask<GatewayError?> AttemptAsync(GatewayContext ctx, ModelGroup group, Deployment deployment, PooledBytes body, RequestPeek peek, bool wantUsage)
    {
        var health = deployment.Health;
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        health.Enter();
        GatewayError? outcome;
        try
        {
            outcome = await CallAsync(ctx, group, deployment, body, peek, wantUsage);
        }
        catch
        {
            // The client went away (or something unexpected): the deployment was not judged either way.
            health.ReleaseProbe();
            throw;
        }
        finally
        {
            health.Leave();
        }

        if (outcome is null && ctx.ErrorType == "stream_interrupted")
        {
            health.ReportFailure(_time.GetUtcNow(), CooldownPolicy.Default, null, "the stream broke mid-way");
        }
        else if (outcome is null || outcome.Kind == GatewayErrorKind.UpstreamClientError)
        {
            health.ReportSuccess(System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        }
        else
        {
            var now = _time.GetUtcNow();
            DateTimeOffset? reset = outcome.RetryAfterSeconds is { } seconds ? now.AddSeconds(seconds) : null;
            var until = health.ReportFailure(now, CooldownPolicy.Default, reset, outcome.Message);
            if (outcome.Kind == GatewayErrorKind.UpstreamRateLimited && outcome.RetryAfterSeconds is null)
            {
                // The upstream named no reset time; this deployment is out until its cooldown ends, so say that.
                outcome = outcome with { RetryAfterSeconds = (int)Math.Ceiling(Math.Max(1, (until - now).TotalSeconds)) };
            }
        }

        return outcome;
    }

    /// <summary>One call to one deployment and, when it serves, the relay of its answer.</summary>
    private async ValueTask<GatewayError?> CallAsync(GatewayContext ctx, ModelGroup group, Deployment deployment, PooledBytes body, RequestPeek peek, bool wantUsage, bool retriedAfterRefresh = false)
    {
        var http = ctx.Http;
        var provider = deployment.Provider;
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var translation = Formats.Plan(ctx.Operation, provider.Kind);
        PooledBytes upstreamBody = default;
        byte[]? translatedBody = null;
        var injectedUsage = false;
        Uri url;
        if (translation is { } plan)
        {
            var translated = Translator.TranslateRequest(body.Span, plan.Client, plan.Upstream, deployment.Model, TranslationOptions.For(peek.Stream, deployment.Model));
            if (translated.Error is { } problem)
            {
                // The caller's request cannot be expressed for this upstream: their fault, no fallback.
                await FailAsync(ctx, new GatewayError(GatewayErrorKind.BadRequest, problem, translated.ErrorParam));
                return new GatewayError(GatewayErrorKind.UpstreamClientError, problem);
            }

            translatedBody = translated.Body!;
            url = Formats.UpstreamUrl(provider, plan.Upstream, deployment.Model, peek.Stream);
        }
        else
        {
            upstreamBody = BodyRewriter.Rewrite(body.Span, peek, deployment.ModelJson, wantUsage, out injectedUsage);
            var query = ctx.Operation.ForwardQuery ? http.Request.QueryString.Value : null;
            url = provider.UpstreamUri(string.IsNullOrEmpty(query) ? ctx.Operation.UpstreamPath : ctx.Operation.UpstreamPath + query);
        }

        using var ownedBody = upstreamBody;
        var request = new UpstreamRequest(url, translatedBody is null ? upstreamBody.Memory : translatedBody);
        HeaderPolicy.CopyRequestHeaders(http.Request.Headers, request, dropAnthropic: translation is not null && provider.Kind != "anthropic");
        string? sentToken;
        try
        {
            sentToken = await provider.ApplyCredentialAsync(request, http.Request.Headers, http.RequestAborted);
        }
        catch (OAuthRefreshException ex)
        {
            Record(ctx, deployment, 0, started, ex.Message);
            return new GatewayError(GatewayErrorKind.UpstreamAuth, ex.Message);
        }

        using var activity = new ActivityTimeout(provider.Config.ActivityTimeout, http.RequestAborted);
        UpstreamResponse response;
        try
        {
            response = await provider.Client.SendAsync(request, activity.Token);
        }
        catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException && !http.RequestAborted.IsCancellationRequested)
        {
            var reason = ex is OperationCanceledException
                ? $"no response within {provider.Config.ActivityTimeout.TotalSeconds.ToString(CultureInfo.InvariantCulture)}s"
                : $"connect error: {Describe((HttpRequestException)ex)}";
            Record(ctx, deployment, 0, started, reason);
            return new GatewayError(GatewayErrorKind.UpstreamFailed, reason);
        }

        using (response)
        {
            var status = response.Status;
            if (status is >= 200 and < 300)
            {
                Record(ctx, deployment, status, started, null);
                ctx.ServedBy = deployment;
                if (!ReferenceEquals(group, ctx.Group))
                {
                    ctx.Fallback = $"{ctx.Group!.Name} -> {group.Name}";
                }

                SetServedHeaders(ctx, deployment);
                var isSse = response.MediaType == "text/event-stream";
                if (peek.Stream && isSse && ctx.Operation.StreamFormat != StreamFormat.None)
                {
                    if (translation is { } streamPlan)
                    {
                        var translator = Translator.CreateStreamTranslator(streamPlan.Upstream, streamPlan.Client, ctx.ModelRequested ?? group.Name);
                        await SseRelay.RelayTranslatedAsync(ctx, response, activity, translator, _logger);
                    }
                    else
                    {
                        await SseRelay.RelayAsync(ctx, response, activity, injectedUsage, _logger);
                    }

                    Account(ctx, deployment);
                }
                else
                {
                    ctx.Streamed = false;
                    await RelayJsonAsync(ctx, response, activity, translation);
                }

                return null;
            }

            if (status == 401 && sentToken is not null && !retriedAfterRefresh
                && await provider.TokenSource!.RefreshAfterUnauthorizedAsync(sentToken, http.RequestAborted))
            {
                // The subscription token was refused and a fresh one is now at hand: one more try, same deployment.
                return await CallAsync(ctx, group, deployment, body, peek, wantUsage, retriedAfterRefresh: true);
            }

            var (errorBody, message, retryAfter) = await ReadUpstreamErrorAsync(response, provider, activity.Token);
            Record(ctx, deployment, status, started, message);
            Log.AttemptFailed(_logger, deployment.Label, ctx.Group!.Name, status, message);
            switch (status)
            {
                case 401 or 403:
                    return new GatewayError(GatewayErrorKind.UpstreamAuth, message);
                case 429:
                    return new GatewayError(GatewayErrorKind.UpstreamRateLimited, message, RetryAfterSeconds: retryAfter);
                case 408 or 409 or >= 500:
                    return new GatewayError(GatewayErrorKind.UpstreamFailed, message);
                default:
                    // 400, 404, 422 and other 4xx: the request itself is at fault, so no fallback.
                    ctx.ServedBy = null;
                    SetServedHeaders(ctx, deployment);
                    if (translation is not null)
                    {
                        // Another format's error body: say it in the caller's own error shape, with the upstream's message.
                        await FailAsync(ctx, new GatewayError(GatewayErrorKind.UpstreamClientError,
                            $"{deployment.Label} rejected the request ({status.ToString(CultureInfo.InvariantCulture)}): {message}", StatusOverride: status));
                        ctx.ErrorType = "upstream_rejected_request";
                        return new GatewayError(GatewayErrorKind.UpstreamClientError, message);
                    }

                    ctx.Status = status;
                    ctx.ErrorType = "upstream_rejected_request";
                    http.Response.StatusCode = status;
                    HeaderPolicy.CopyResponseHeaders(response, http.Response);
                    var bytes = System.Text.Encoding.UTF8.GetBytes(errorBody);
                    http.Response.ContentLength = bytes.Length;
                    await http.Response.Body.WriteAsync(bytes, http.RequestAborted);
                    return new GatewayError(GatewayErrorKind.UpstreamClientError, message);
            }
        }
    }

    private void Record(GatewayContext ctx, Deployment deployment, int status, long started, string? error)
    {
        ctx.Attempts.Add(new Attempt(deployment.Label, status, System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds, error));
        _metrics.RecordAttempt(deployment.Label, status, error is not null);
    }

    private static void SetServedHeaders(GatewayContext ctx, Deployment deployment)
    {
        var headers = ctx.Http.Response.Headers;
        headers["x-tollgate-deployment"] = deployment.Label;
        headers["x-tollgate-attempts"] = ctx.TriedCount.ToString(CultureInfo.InvariantCulture);
        if (ctx.Fallback is not null)
        {
            // Served by a fallback group: say so before the body starts.
            headers["x-tollgate-fallback"] = ctx.Fallback;
        }
    }

    private async ValueTask RelayJsonAsync(GatewayContext ctx, UpstreamResponse response, ActivityTimeout activity, TranslationPlan? translation)
    {
        var http = ctx.Http;
        using var content = await ReadAllAsync(response, activity, int.MaxValue);
        ReadOnlyMemory<byte> answer = content.Memory;
        if (translation is { } plan)
        {
            var translated = Translator.TranslateResponse(content.Span, plan.Upstream, plan.Client, ctx.ModelRequested ?? ctx.Group!.Name);
            if (translated.Error is { } problem)
            {
                ctx.ServedBy = null;
                await FailAsync(ctx, new GatewayError(GatewayErrorKind.UpstreamFailed, $"The answer from {ctx.Attempts[^1].Deployment} could not be read: {problem}"));
                return;
            }

            ctx.Usage = translated.Usage;
            answer = translated.Body;
        }
        else if (UsageReader.TryReadAnswer(content.Span, out var usage))
        {
            ctx.Usage = usage;
        }

        ctx.Status = response.Status;
        Account(ctx, ctx.ServedBy!);
        http.Response.StatusCode = ctx.Status;
        if (translation is null)
        {
            HeaderPolicy.CopyResponseHeaders(response, http.Response);
        }
        else
        {
            http.Response.ContentType = "application/json";
        }

        if (ctx.ServedBy!.Price is not null)
        {
            http.Response.Headers["x-tollgate-cost"] = ctx.Cost.ToString("0.##########", CultureInfo.InvariantCulture);
        }

        http.Response.ContentLength = answer.Length;
        ctx.TtftMs = ctx.ElapsedMs;
        if (_routes.Current.Config.Audit.Bodies == "full")
        {
            ctx.ResponseTextForAudit = AuditBodies.Text(answer.Span);
        }

        await http.Response.Body.WriteAsync(answer, http.RequestAborted);
    }

    /// <summary>Prices the usage at the deployment's list price; a subscription call costs 0 at the margin.</summary>
    private void Account(GatewayContext ctx, Deployment deployment)
    {
        if (deployment.Price is not { } price)
        {
            return;
        }

        var notional = _routes.Current.Currency.FromUsd(price.CostUsd(ctx.Usage));
        ctx.NotionalCost = notional;
        ctx.Cost = deployment.Provider.IsSubscription ? 0m : notional;
    }

    private static async ValueTask<PooledBytes> ReadAllAsync(UpstreamResponse response, ActivityTimeout activity, int limit)
    {
        var length = response.ContentLength;
        var buffer = ArrayPool<byte>.Shared.Rent(length is > 0 and < int.MaxValue ? (int)length.Value : 16 * 1024);
        var filled = 0;
        try
        {
            var stream = response.Body;
            while (true)
            {
                if (filled == buffer.Length)
                {
                    if (buffer.Length >= limit)
                    {
                        break;
                    }

                    PooledBytes.Grow(ref buffer, filled);
                }

                var read = await stream.ReadAsync(buffer.AsMemory(filled, Math.Min(buffer.Length, limit) - filled), activity.Token);
                if (read == 0)
                {
                    break;
                }

                filled += read;
                activity.Touch();
            }

            return new PooledBytes(buffer, filled);
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(buffer);
            throw;
        }
    }

    private async Task<(string Body, string Message, int? RetryAfter)> ReadUpstreamErrorAsync(UpstreamResponse response, Providers.ProviderRuntime provider, CancellationToken cancellationToken)
    {
        string text;
        try
        {
            using var activity = new ActivityTimeout(TimeSpan.FromSeconds(10), cancellationToken);
            using var content = await ReadAllAsync(response, activity, MaxErrorBodyBytes);
            text = System.Text.Encoding.UTF8.GetString(content.Span);
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException or OperationCanceledException)
        {
            text = string.Empty;
        }

        text = provider.Redact(text);
        return (text, UpstreamErrorText.Extract(text, response.Status), RetryAfterSeconds(response));
    }

    /// <summary>
    /// Seconds until the upstream says to retry: <c>retry-after</c> (seconds or a date), else Anthropic's
    /// <c>anthropic-ratelimit-*-reset</c> times, else OpenAI's <c>x-ratelimit-reset-*</c> durations; null when none.
    /// </summary>
    private int? RetryAfterSeconds(UpstreamResponse response)
    {
        var now = _time.GetUtcNow();
        if (response.Header("retry-after") is { } retry)
        {
            if (double.TryParse(retry, NumberStyles.Float, CultureInfo.InvariantCulture, out var delta))
            {
                return (int)Math.Ceiling(Math.Max(0, delta));
            }

            if (DateTimeOffset.TryParse(retry, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var date))
            {
                return (int)Math.Ceiling(Math.Max(0, (date - now).TotalSeconds));
            }
        }

        double? latest = null;
        foreach (var (name, value) in response.Headers)
        {
            if (!name.EndsWith("-reset", StringComparison.OrdinalIgnoreCase) && !name.StartsWith("x-ratelimit-reset", StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            double? seconds = DateTimeOffset.TryParse(value, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var at)
                ? (at - now).TotalSeconds
                : RateLimitDuration.TryParseSeconds(value);
            if (seconds is { } s && (latest is null || s > latest))
            {
                latest = s;
            }
        }

        return latest is { } l ? (int)Math.Ceiling(Math.Max(0, l)) : null;
    }

    private static string Describe(HttpRequestException ex) => ex.HttpRequestError switch
    {
        HttpRequestError.ConnectionError => "connection refused or unreachable",
        HttpRequestError.NameResolutionError => "host name not found",
        HttpRequestError.SecureConnectionError => "TLS handshake failed",
        HttpRequestError.ResponseEnded => "the upstream closed the connection",
        _ => ex.HttpRequestError.ToString(),
    };

    private static async ValueTask FailAsync(GatewayContext ctx, GatewayError error)
    {
        ctx.Status = error.Status;
        ctx.ErrorType = error.Code;
        var response = ctx.Http.Response;
        if (response.HasStarted)
        {
            return;
        }

        response.Headers["x-tollgate-attempts"] = ctx.TriedCount.ToString(CultureInfo.InvariantCulture);
        await ctx.Operation.Errors.WriteAsync(response, error);
    }

    /// <summary>Reads the request body into pooled memory, stopping at <paramref name="limit"/>.</summary>
    private static async ValueTask<(PooledBytes Body, bool TooLarge)> ReadBodyAsync(HttpContext http, long limit)
    {
        var declared = http.Request.ContentLength;
        if (declared > limit)
        {
            return (default, true);
        }

        var size = declared is > 0 ? (int)declared.Value : 4096;
        var buffer = ArrayPool<byte>.Shared.Rent(size);
        var filled = 0;
        var stream = http.Request.Body;
        try
        {
            while (true)
            {
                if (filled == buffer.Length)
                {
                    if (filled > limit)
                    {
                        break;
                    }

                    PooledBytes.Grow(ref buffer, filled);
                }

                var read = await stream.ReadAsync(buffer.AsMemory(filled), http.RequestAborted);
                if (read == 0)
                {
                    break;
                }

                filled += read;
                if (filled == declared)
                {
                    // A Content-Length body is complete: no second read just to be told so.
                    break;
                }
            }

            var body = new PooledBytes(buffer, filled);
            return filled > limit ? (body, true) : (body, false);
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(buffer);
            throw;
        }
    }
}

