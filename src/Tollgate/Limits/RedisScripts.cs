using System.Security.Cryptography;
using System.Text;

namespace Tollgate.Limits;

/// <summary>
/// The Lua behind <see cref="RedisLimiter"/>: one script per admission, one per settlement, one read-only for the
/// quota view, so each is atomic across replicas. Money is integer billionths (<see cref="Nanos"/>), times are
/// Unix milliseconds from the caller's clock. A flight record ("period|amount") remembers what a hold reserved so
/// settlement and expiry release exactly that.
/// </summary>
internal static class RedisScripts
{
    /// <summary>
    /// KEYS: 1 key:fl, 2 key:exp, 3 key:rpm, 4 key:tpm, 5 key:tpmv, 6 key:spend:P, 7 key:held:P, 8 key:soft:P,
    /// 9 key:dreq:D, 10 key:dtok:D, 11 ws:fl, 12 ws:exp, 13 ws:spend:W, 14 ws:held:W, 15 ws:soft:W.
    /// ARGV: 1 now, 2 hold id, 3 hold expiry, 4 key flight ttl (≥ its period ttl), 5 max_parallel, 6 rpm, 7 tpm, 8 tokens, 9 daily requests,
    /// 10 daily tokens, 11 day ttl, 12 key budget, 13 key soft, 14 key hold, 15 key period, 16 key period ttl,
    /// 17 key seed, 18 ws budget, 19 ws soft, 20 ws hold, 21 ws period, 22 ws period ttl, 23 ws seed, 24 window.
    /// A limit of -1 is unset; a seed of '' is none.
    /// Returns {0, keyCrossed, keyAlert, wsCrossed, wsAlert} admitted; {1, kind, retryMs, a, b} refused
    /// (kind = <see cref="LimitKind"/> as a number); {2, needKeySeed, needWsSeed} when a budget has no spend yet.
    /// </summary>
    public static readonly Script Admit = new("""
        local now = tonumber(ARGV[1])
        local id = ARGV[2]
        local window = tonumber(ARGV[24])
        local kBudget = tonumber(ARGV[12])
        local wBudget = tonumber(ARGV[18])

        local needKey = kBudget >= 0 and redis.call('EXISTS', KEYS[6]) == 0
        local needWs = wBudget >= 0 and redis.call('EXISTS', KEYS[13]) == 0
        if (needKey and ARGV[17] == '') or (needWs and ARGV[23] == '') then
          return {2, needKey and 1 or 0, needWs and 1 or 0}
        end
        if needKey then redis.call('SET', KEYS[6], ARGV[17], 'PX', ARGV[16]) end
        if needWs then redis.call('SET', KEYS[13], ARGV[23], 'PX', ARGV[22]) end

        -- Holds past their TTL belong to requests that never settled (a replica died): forget them.
        local function prune(fl, exp, held, period)
          local expired = redis.call('ZRANGEBYSCORE', exp, '-inf', ARGV[1])
          for _, hid in ipairs(expired) do
            local rec = redis.call('HGET', fl, hid)
            if rec then
              local sep = string.find(rec, '|', 1, true)
              if string.sub(rec, 1, sep - 1) == period and redis.call('EXISTS', held) == 1 then
                redis.call('DECRBY', held, string.sub(rec, sep + 1))
              end
              redis.call('HDEL', fl, hid)
            end
            redis.call('ZREM', exp, hid)
          end
        end
        prune(KEYS[1], KEYS[2], KEYS[7], ARGV[15])
        if wBudget >= 0 then prune(KEYS[11], KEYS[12], KEYS[14], ARGV[21]) end

        local parallel = tonumber(ARGV[5])
        if parallel >= 0 then
          local n = redis.call('ZCARD', KEYS[2])
          if n >= parallel then return {1, 3, 1000, n, 0} end
        end

        local rpm = tonumber(ARGV[6])
        if rpm >= 0 then
          redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - window)
          local n = redis.call('ZCARD', KEYS[3])
          if n >= rpm then
            local retry = 1000
            if n > 0 then
              local e = redis.call('ZRANGE', KEYS[3], n - rpm, n - rpm, 'WITHSCORES')
              retry = tonumber(e[2]) + window - now
            end
            return {1, 1, retry, n, 0}
          end
        end

        local tpm = tonumber(ARGV[7])
        local tokens = tonumber(ARGV[8])
        if tpm >= 0 then
          local old = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', now - window)
          for _, hid in ipairs(old) do redis.call('HDEL', KEYS[5], hid) end
          redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now - window)
          local total = 0
          for _, t in ipairs(redis.call('HVALS', KEYS[5])) do total = total + tonumber(t) end
          if total + tokens > tpm then
            local need = total + tokens - tpm
            local entries = redis.call('ZRANGE', KEYS[4], 0, -1, 'WITHSCORES')
            local freed, retry = 0, 1000
            for i = 1, #entries, 2 do
              freed = freed + tonumber(redis.call('HGET', KEYS[5], entries[i]) or '0')
              if freed >= need then
                retry = tonumber(entries[i + 1]) + window - now
                break
              end
            end
            return {1, 2, retry, total, 0}
          end
        end

        local dreq = tonumber(redis.call('GET', KEYS[9]) or '0')
        if tonumber(ARGV[9]) >= 0 and dreq >= tonumber(ARGV[9]) then return {1, 4, -1, dreq, 0} end
        local dtok = tonumber(redis.call('GET', KEYS[10]) or '0')
        if tonumber(ARGV[10]) >= 0 and dtok >= tonumber(ARGV[10]) then return {1, 5, -1, dtok, 0} end

        local kSpend, wSpend = 0, 0
        if kBudget >= 0 then
          kSpend = tonumber(redis.call('GET', KEYS[6]))
          local held = tonumber(redis.call('GET', KEYS[7]) or '0')
          if kSpend + held + tonumber(ARGV[14]) > kBudget then return {1, 0, -1, kSpend, held} end
        end
        if wBudget >= 0 then
          wSpend = tonumber(redis.call('GET', KEYS[13]))
          local held = tonumber(redis.call('GET', KEYS[14]) or '0')
          if wSpend + held + tonumber(ARGV[20]) > wBudget then return {1, 6, -1, wSpend, held} end
        end

        -- Admitted: record everything.
        redis.call('ZADD', KEYS[2], ARGV[3], id)
        redis.call('HSET', KEYS[1], id, ARGV[15] .. '|' .. ARGV[14])
        redis.call('PEXPIRE', KEYS[1], ARGV[4])
        redis.call('PEXPIRE', KEYS[2], ARGV[4])
        if kBudget >= 0 then
          redis.call('INCRBY', KEYS[7], ARGV[14])
          redis.call('PEXPIRE', KEYS[7], ARGV[16])
        end
        if rpm >= 0 then
          redis.call('ZADD', KEYS[3], now, id)
          redis.call('PEXPIRE', KEYS[3], window)
        end
        if tpm >= 0 then
          redis.call('ZADD', KEYS[4], now, id)
          redis.call('HSET', KEYS[5], id, tokens)
          redis.call('PEXPIRE', KEYS[4], window)
          redis.call('PEXPIRE', KEYS[5], window)
        end
        redis.call('INCR', KEYS[9])
        redis.call('PEXPIRE', KEYS[9], ARGV[11])
        if wBudget >= 0 then
          redis.call('ZADD', KEYS[12], ARGV[3], id)
          redis.call('HSET', KEYS[11], id, ARGV[21] .. '|' .. ARGV[20])
          redis.call('PEXPIRE', KEYS[11], ARGV[22])
          redis.call('PEXPIRE', KEYS[12], ARGV[22])
          redis.call('INCRBY', KEYS[14], ARGV[20])
          redis.call('PEXPIRE', KEYS[14], ARGV[22])
        end

        local kCross, kAlert, wCross, wAlert = 0, 0, 0, 0
        if kBudget >= 0 and tonumber(ARGV[13]) >= 0 and kSpend >= tonumber(ARGV[13]) then
          kCross = 1
          if redis.call('SET', KEYS[8], '1', 'NX', 'PX', ARGV[16]) then kAlert = 1 end
        end
        if wBudget >= 0 and tonumber(ARGV[19]) >= 0 and wSpend >= tonumber(ARGV[19]) then
          wCross = 1
          if redis.call('SET', KEYS[15], '1', 'NX', 'PX', ARGV[22]) then wAlert = 1 end
        end
        return {0, kCross, kAlert, wCross, wAlert}
        """);

    /// <summary>
    /// KEYS: 1 key:fl, 2 key:exp, 3 key:tpmv, 4 key:spend:P, 5 key:held:P, 6 key:dtok:D, 7 ws:fl, 8 ws:exp,
    /// 9 ws:spend:W, 10 ws:held:W. ARGV: 1 hold id, 2 actual cost, 3 actual tokens, 4 day ttl, 5 has workspace.
    /// The cost goes into the hold's period only while that period's spend is known; when it is not (Redis was
    /// flushed), the next admission reloads it from the store, whose ledger has this request.
    /// </summary>
    public static readonly Script Settle = new("""
        local id = ARGV[1]
        local function release(fl, exp, held, spend)
          local rec = redis.call('HGET', fl, id)
          if rec then
            local sep = string.find(rec, '|', 1, true)
            if redis.call('EXISTS', held) == 1 then redis.call('DECRBY', held, string.sub(rec, sep + 1)) end
            redis.call('HDEL', fl, id)
          end
          redis.call('ZREM', exp, id)
          if redis.call('EXISTS', spend) == 1 then redis.call('INCRBY', spend, ARGV[2]) end
        end
        release(KEYS[1], KEYS[2], KEYS[5], KEYS[4])
        if redis.call('HEXISTS', KEYS[3], id) == 1 then redis.call('HSET', KEYS[3], id, ARGV[3]) end
        redis.call('INCRBY', KEYS[6], ARGV[3])
        redis.call('PEXPIRE', KEYS[6], ARGV[4])
        if ARGV[5] == '1' then release(KEYS[7], KEYS[8], KEYS[10], KEYS[9]) end
        return 1
        """);

    /// <summary>
    /// Read-only. KEYS: 1 key:fl, 2 key:exp, 3 key:rpm, 4 key:tpm, 5 key:tpmv, 6 key:spend:P, 7 key:dreq:D,
    /// 8 key:dtok:D, 9 ws:fl, 10 ws:exp, 11 ws:spend:W. ARGV: 1 now, 2 window start, 3 key period, 4 ws period,
    /// 5 has workspace. Returns {keySpend|-1, keyHeld, inFlight, rpmUsed, tpmUsed, requestsToday, tokensToday,
    /// wsSpend|-1, wsHeld}: -1 spend means not loaded yet.
    /// </summary>
    public static readonly Script Quota = new("""
        local function live(fl, exp, period)
          local held, n = 0, 0
          for _, hid in ipairs(redis.call('ZRANGEBYSCORE', exp, '(' .. ARGV[1], '+inf')) do
            n = n + 1
            local rec = redis.call('HGET', fl, hid)
            if rec then
              local sep = string.find(rec, '|', 1, true)
              if string.sub(rec, 1, sep - 1) == period then held = held + tonumber(string.sub(rec, sep + 1)) end
            end
          end
          return held, n
        end
        local kHeld, inFlight = live(KEYS[1], KEYS[2], ARGV[3])
        local rpm = redis.call('ZCOUNT', KEYS[3], '(' .. ARGV[2], '+inf')
        local tpm = 0
        for _, hid in ipairs(redis.call('ZRANGEBYSCORE', KEYS[4], '(' .. ARGV[2], '+inf')) do
          tpm = tpm + tonumber(redis.call('HGET', KEYS[5], hid) or '0')
        end
        local wSpend, wHeld = -1, 0
        if ARGV[5] == '1' then
          wSpend = tonumber(redis.call('GET', KEYS[11]) or '-1')
          wHeld = live(KEYS[9], KEYS[10], ARGV[4])
        end
        return {tonumber(redis.call('GET', KEYS[6]) or '-1'), kHeld, inFlight, rpm, tpm,
          tonumber(redis.call('GET', KEYS[7]) or '0'), tonumber(redis.call('GET', KEYS[8]) or '0'), wSpend, wHeld}
        """);

    /// <summary>A script's text and the SHA-1 Redis knows it by (EVALSHA first, EVAL when the server has forgotten it).</summary>
    internal sealed class Script(string text)
    {
        public string Text { get; } = text;

#pragma warning disable CA5350 // Redis names scripts by SHA-1; this is an identifier, not security.
        public byte[] Sha1 { get; } = SHA1.HashData(Encoding.UTF8.GetBytes(text));
#pragma warning restore CA5350
    }
}
