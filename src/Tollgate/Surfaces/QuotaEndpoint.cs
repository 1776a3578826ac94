using System.Buffers;
using System.Text.Json;
using Tollgate.Keys;
using Tollgate.Limits;
using Tollgate.Pipeline;
using Tollgate.Routing;
using Tollgate.Surfaces.OpenAi;

namespace Tollgate.Surfaces;

/// <summary><c>GET /quota</c>: the caller's own headroom — today's requests under its tier, its budget, its rate limits.</summary>
internal static class QuotaEndpoint
{
    public static void MapQuota(this IEndpointRouteBuilder app) => app.MapGet("/quota", QuotaAsync);

    private static async Task QuotaAsync(HttpContext http)
    {
        var table = http.RequestServices.GetRequiredService<RouteTableHolder>().Current;
        var secret = KeyCache.PresentedSecret(http.Request.Headers);
        var key = secret.IsEmpty ? null : http.RequestServices.GetRequiredService<KeyCache>().Authenticate(secret);
        if (key is null)
        {
            await OpenAiErrors.Instance.WriteAsync(http.Response, new GatewayError(
                secret.IsEmpty ? GatewayErrorKind.MissingKey : GatewayErrorKind.InvalidKey,
                "GET /quota needs your Tollgate key as 'Authorization: Bearer tg-…' or 'x-api-key'."));
            return;
        }

        var record = key.Record;
        var tier = record.Tier is { } name && table.Config.Tiers.TryGetValue(name, out var tierConfig) ? TierLimits.From(tierConfig) : null;
        var limiter = http.RequestServices.GetRequiredService<ILimiter>();
        var quota = await limiter.GetQuotaAsync(KeyLimits.From(record), tier, http.RequestAborted);

        var buffer = new ArrayBufferWriter<byte>(512);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("key_id", record.Id);
            WriteStringOrNull(w, "alias", record.Alias);
            WriteStringOrNull(w, "tier", record.Tier);
            if (quota.DailyRequests is { } daily)
            {
                w.WriteNumber("remaining", daily.Remaining);
                w.WriteNumber("daily_requests", daily.Limit);
            }
            else
            {
                w.WriteNull("remaining");
                w.WriteNull("daily_requests");
            }

            w.WriteString("resets_at", quota.DailyResetsAt);
            w.WriteNumber("requests_today", quota.RequestsToday);
            w.WriteNumber("tokens_today", quota.TokensToday);
            WriteCounter(w, "daily_tokens", quota.DailyTokens);
            w.WriteString("currency", table.Currency.Code);
            if (quota.Budget is { } budget)
            {
                w.WriteNumber("max_budget", budget.MaxBudget);
                w.WriteNumber("spend", budget.Spend);
                w.WriteNumber("held", budget.Held);
                w.WriteNumber("budget_remaining", budget.Remaining);
                if (budget.ResetsAt is { } resets)
                {
                    w.WriteString("budget_resets_at", resets);
                }
                else
                {
                    w.WriteNull("budget_resets_at");
                }
            }
            else
            {
                w.WriteNull("max_budget");
                w.WriteNull("spend");
            }

            WriteCounter(w, "rpm", quota.Rpm);
            WriteCounter(w, "tpm", quota.Tpm);
            WriteCounter(w, "max_parallel", quota.Parallel);
            w.WriteEndObject();
        }

        http.Response.ContentType = "application/json";
        http.Response.ContentLength = buffer.WrittenCount;
        await http.Response.Body.WriteAsync(buffer.WrittenMemory, http.RequestAborted);
    }

    private static void WriteCounter(Utf8JsonWriter w, string name, CounterView? counter)
    {
        if (counter is null)
        {
            w.WriteNull(name);
            return;
        }

        w.WriteStartObject(name);
        w.WriteNumber("limit", counter.Limit);
        w.WriteNumber("used", counter.Used);
        w.WriteNumber("remaining", counter.Remaining);
        w.WriteEndObject();
    }

    private static void WriteStringOrNull(Utf8JsonWriter w, string name, string? value)
    {
        if (value is null)
        {
            w.WriteNull(name);
        }
        else
        {
            w.WriteString(name, value);
        }
    }
}
