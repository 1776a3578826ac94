using System.Security.Cryptography;
using System.Text;

namespace Tollgate.Limits;

/// <summary>
/// The Lua behind <see cref="RedisLimiter"/>: one script for a batch of settlements and admissions, one read-only
/// for the quota view, so each is atomic across replicas. Money is integer billionths (<see cref="Nanos"/>), times are
/// Unix milliseconds from the caller's clock. A flight ("id|amount|period") remembers what a hold reserved so
/// settlement and expiry release exactly that. Needs Redis 6.2 or later (ZMSCORE) with its bundled cmsgpack.
/// </summary>
internal static class RedisScripts
{
    /// <summary>
    /// One group commit: many settlements and admissions, of any keys, in one atomic call. No KEYS: the names are
    /// built from the prefixes sent, so a batch spans hash slots (not for Redis Cluster). ARGV[1] is one MessagePack
    /// array (decoded in C: far cheaper than one ARGV string per value and Lua's tonumber):
    /// <list type="number">
    /// <item>header (<see cref="HeaderFields"/>): now (for settlement TTLs), hold TTL, window, then the number of
    /// descriptors, settlements and admissions;</item>
    /// <item>descriptors (<see cref="DescriptorFields"/> each), one per key, limits and periods in the batch: key prefix
    /// <c>{tg:k:ID}:</c>, workspace prefix ('' none), key period ('-' no budget), workspace period, day, day deadline,
    /// max_parallel, rpm, tpm, daily requests, daily tokens, key budget, key soft, key state deadline, key refresh,
    /// ws budget, ws soft, ws state deadline, ws refresh, key seed, ws seed;</item>
    /// <item>settlements (<see cref="SettleFields"/> each): descriptor, key flight, workspace flight ('' none), hold,
    /// actual cost, actual tokens, tpm tokens counted (-1 none);</item>
    /// <item>admissions (<see cref="AdmitFields"/> each): descriptor, now, key flight, workspace flight ('' none), hold, tpm tokens.</item>
    /// </list>
    /// A limit of -1 is unset, a seed of nil none; deadlines are Unix ms of the caller's clock (TTL = deadline - now); "refresh" 1
    /// means the state TTL is relative (a budget with no period) and is renewed on every write. A flight is
    /// "hold id|amount held|period" (the amount is 0 in a key flight when the key has no budget).
    /// <para>
    /// Settlements run first, then the admissions in order, each with exactly the checks of a single admission: a
    /// batch is one sequential history. Each Redis key is read at most once per batch and written once at its end
    /// (the running values live in Lua tables), and a limit that is unset costs nothing.
    /// </para>
    /// Returns one entry per admission: an integer below 16 when admitted (bits: 1 key soft limit crossed, 2 key alert,
    /// 4 workspace crossed, 8 workspace alert); 16 + (1 key, 2 workspace) when a budget has no spend in Redis and no seed
    /// came (nothing recorded); or {1, kind, retryMs, a, b} when refused (kind = <see cref="LimitKind"/> as a number).
    /// </summary>
    public static readonly Script Batch = new("""
        -- The whole batch is one MessagePack array (decoding it in C is far cheaper than ARGV strings and tonumber).
        -- Integers go back to redis.call as Lua numbers, which Redis formats exactly below 1e17 (money stays below 2^53).
        local call, tonumber, find, sub, max = redis.call, tonumber, string.find, string.sub, math.max
        local P = cmsgpack.unpack(ARGV[1])
        local batchNow, holdTtl, window, nDesc, nSettle, nAdmit = P[1], P[2], P[3], P[4], P[5], P[6]
        local DS, SS, AS = 21, 7, 6

        -- A budget period's state (spend:P and held:P), read once per batch and written once at its end.
        local budgets, border = {}, {}
        local function budget(base, period)
          local id = base .. period
          local b = budgets[id]
          if b == nil then
            local spendK, heldK = base .. 'spend:' .. period, base .. 'held:' .. period
            local r = call('MGET', spendK, heldK)
            b = {spendK = spendK, heldK = heldK, softK = base .. 'soft:' .. period, spend = r[1] and tonumber(r[1]),
              held = r[2] and tonumber(r[2]) or 0, heldExists = r[2] and true, heldNew = not r[2], dSpend = 0, dHeld = 0}
            budgets[id] = b
            border[#border + 1] = b
          end
          return b
        end

        -- A key's counts for one UTC day (dreq, dtok): read only when a quota needs them, incremented once per batch.
        local days, dorder = {}, {}
        local function day(base, label, deadline)
          local id = base .. label
          local s = days[id]
          if s == nil then
            s = {reqK = base .. 'dreq:' .. label, tokK = base .. 'dtok:' .. label, dReq = 0, dTok = 0, deadline = deadline}
            days[id] = s
            dorder[#dorder + 1] = s
          end
          return s
        end

        -- Flights: a zset per key (and per workspace) of "id|hold|period" scored by expiry. max_parallel counts them;
        -- a hold whose request never settled is released when it expires. The earliest expiry is known, so a batch
        -- looks for expired flights only when there are some.
        local flights, forder = {}, {}
        local function flightsOf(k)
          local f = flights[k]
          if f == nil then
            local e = call('ZRANGE', k, 0, 0, 'WITHSCORES')
            f = {k = k, early = e[2] and tonumber(e[2]), adds = {}, na = 0, ttl = 0}
            flights[k] = f
            forder[#forder + 1] = f
          end
          return f
        end
        local function prune(f, now, b, period)
          if f.na > 0 then call('ZADD', f.k, unpack(f.adds)); f.adds = {}; f.na = 0 end
          local expired = call('ZRANGEBYSCORE', f.k, '-inf', now)
          for _, m in ipairs(expired) do
            local i = find(m, '|', 1, true)
            local j = find(m, '|', i + 1, true)
            if b and b.heldExists and sub(m, j + 1) == period then
              local amount = tonumber(sub(m, i + 1, j - 1))
              b.held = b.held - amount
              b.dHeld = b.dHeld - amount
            end
          end
          call('ZREMRANGEBYSCORE', f.k, '-inf', now)
          if f.n then f.n = f.n - #expired end
          local e = call('ZRANGE', f.k, 0, 0, 'WITHSCORES')
          f.early = e[2] and tonumber(e[2])
        end
        local function fly(f, now, member, ttl)
          local exp = now + holdTtl
          local na = f.na
          f.adds[na + 1] = exp
          f.adds[na + 2] = member
          f.na = na + 2
          if f.n then f.n = f.n + 1 end
          if not f.early or exp < f.early then f.early = exp end
          if ttl > f.ttl then f.ttl = ttl end
        end

        -- rpm: a zset of admissions by time, pruned and counted once per batch. That count can only be too high (entries
        -- that left the window since), so before a refusal stands it is counted again at the refused request's time.
        local rpms, rorder = {}, {}
        local function rpmCheck(k, limit, now)
          local r = rpms[k]
          if r == nil then
            call('ZREMRANGEBYSCORE', k, '-inf', now - window)
            r = {k = k, n = call('ZCARD', k), adds = {}, na = 0}
            rpms[k] = r
            rorder[#rorder + 1] = r
          end
          if r.n < limit then return r, nil end
          if r.na > 0 then call('ZADD', k, unpack(r.adds)); r.adds = {}; r.na = 0 end
          call('ZREMRANGEBYSCORE', k, '-inf', now - window)
          r.n = call('ZCARD', k)
          if r.n < limit then return r, nil end
          local retry = 1000
          if r.n > 0 then
            local e = call('ZRANGE', k, r.n - limit, r.n - limit, 'WITHSCORES')
            retry = tonumber(e[2]) + window - now
          end
          return r, {1, 1, retry, r.n, 0}
        end

        -- tpm: a zset of admissions by time and a hash of their tokens (the estimate, then the actual).
        local function tpmCheck(k, v, limit, now, tokens)
          local cut = now - window
          local old = call('ZRANGEBYSCORE', k, '-inf', cut)
          for _, h in ipairs(old) do call('HDEL', v, h) end
          if #old > 0 then call('ZREMRANGEBYSCORE', k, '-inf', cut) end
          local total = 0
          for _, t in ipairs(call('HVALS', v)) do total = total + tonumber(t) end
          if total + tokens <= limit then return nil end
          local need = total + tokens - limit
          local entries = call('ZRANGE', k, 0, -1, 'WITHSCORES')
          local freed, retry = 0, 1000
          for j = 1, #entries, 2 do
            freed = freed + tonumber(call('HGET', v, entries[j]) or '0')
            if freed >= need then
              retry = tonumber(entries[j + 1]) + window - now
              break
            end
          end
          return {1, 2, retry, total, 0}
        end

        -- Descriptors: a key's names, periods and limits, shared by its operations in this batch.
        local D = {}
        for i = 1, nDesc do
          local o = 6 + (i - 1) * DS
          local kb, wb = P[o + 1], P[o + 2]
          D[i] = {
            kb = kb, wb = wb, kp = P[o + 3], wp = P[o + 4], day = P[o + 5], dayEnd = P[o + 6],
            parallel = P[o + 7], rpm = P[o + 8], tpm = P[o + 9], dReq = P[o + 10], dTok = P[o + 11],
            kBudget = P[o + 12], kSoft = P[o + 13], kEnd = P[o + 14], kRefresh = P[o + 15] == 1,
            wBudget = P[o + 16], wSoft = P[o + 17], wEnd = P[o + 18], wRefresh = P[o + 19] == 1,
            kSeed = P[o + 20], wSeed = P[o + 21], kOn = P[o + 3] ~= '-', wOn = wb ~= '',
          }
        end

        -- Settlements first (any order of concurrent calls is a valid history): which flights are still live, one
        -- ZMSCORE per flights key; release those, add the costs and tokens.
        local so = 6 + nDesc * DS
        local groups, gorder = {}, {}
        local function want(k, m)
          local g = groups[k]
          if g == nil then
            g = {k = k, n = 0, live = {}}
            groups[k] = g
            gorder[#gorder + 1] = g
          end
          g.n = g.n + 1
          g[g.n] = m
        end
        for i = 1, nSettle do
          local o = so + (i - 1) * SS
          local d = D[P[o + 1]]
          if not d.kfl then d.kfl = d.kb .. 'flights' end
          want(d.kfl, P[o + 2])
          if d.wOn then
            if not d.wfl then d.wfl = d.wb .. 'flights' end
            want(d.wfl, P[o + 3])
          end
        end
        for _, g in ipairs(gorder) do
          local scores = call('ZMSCORE', g.k, unpack(g, 1, g.n))
          local rem, nr = {}, 0
          for j = 1, g.n do
            if scores[j] then
              g.live[g[j]] = true
              nr = nr + 1
              rem[nr] = g[j]
            end
          end
          if nr > 0 then call('ZREM', g.k, unpack(rem, 1, nr)) end
        end
        for i = 1, nSettle do
          local o = so + (i - 1) * SS
          local d = D[P[o + 1]]
          local hold, cost, tokens = P[o + 4], P[o + 5], P[o + 6]
          if d.kOn then
            local b = d.kbud
            if not b then b = budget(d.kb, d.kp); d.kbud = b end
            if groups[d.kfl].live[P[o + 2]] and b.heldExists then
              b.held = b.held - hold
              b.dHeld = b.dHeld - hold
            end
            -- The cost counts only while the period's spend is known; otherwise the next seed (the ledger) has it.
            if b.spend then
              b.spend = b.spend + cost
              b.dSpend = b.dSpend + cost
            end
          end
          if tokens > 0 then
            local s = d.days
            if not s then s = day(d.kb, d.day, d.dayEnd); d.days = s end
            s.dTok = s.dTok + tokens
            if s.tok then s.tok = s.tok + tokens end
          end
          if P[o + 7] >= 0 then
            local v = d.kb .. 'tpmv'
            if call('HEXISTS', v, P[o + 2]) == 1 then call('HSET', v, P[o + 2], tokens) end
          end
          if d.wOn then
            local b = d.wbud
            if not b then b = budget(d.wb, d.wp); d.wbud = b end
            if groups[d.wfl].live[P[o + 3]] and b.heldExists then
              b.held = b.held - hold
              b.dHeld = b.dHeld - hold
            end
            if b.spend then
              b.spend = b.spend + cost
              b.dSpend = b.dSpend + cost
            end
          end
        end

        -- Admissions, in order, each with the checks of a single admission: the first failing one is reported, and a
        -- refusal records nothing.
        local function seed(b, value, deadline, now)
          if b.spend then return true end
          if value == nil then return false end
          call('SET', b.spendK, value, 'PX', max(1, deadline - now))
          b.spend = value
          return true
        end
        -- km / wm: the flight members "id|hold|period" for the key and the workspace ('' without one).
        local function admit(d, now, km, wm, hold, tokens)
          local kb, wb = nil, nil
          if d.kBudget >= 0 then
            kb = d.kbud
            if not kb then kb = budget(d.kb, d.kp); d.kbud = kb end
          end
          if d.wBudget >= 0 then
            wb = d.wbud
            if not wb then wb = budget(d.wb, d.wp); d.wbud = wb end
          end
          -- A budget whose spend Redis lacks: the caller loads it from the store and sends it with a retry.
          local needK = kb and not seed(kb, d.kSeed, d.kEnd, now)
          local needW = wb and not seed(wb, d.wSeed, d.wEnd, now)
          if needK or needW then return 16 + (needK and 1 or 0) + (needW and 2 or 0) end

          local kf = d.kf
          if not kf then
            d.kfl = d.kfl or d.kb .. 'flights'
            kf = flightsOf(d.kfl)
            d.kf = kf
          end
          if kf.early and kf.early <= now then prune(kf, now, kb, d.kp) end
          local wf = nil
          if wb then
            wf = d.wf
            if not wf then
              d.wfl = d.wfl or d.wb .. 'flights'
              wf = flightsOf(d.wfl)
              d.wf = wf
            end
            if wf.early and wf.early <= now then prune(wf, now, wb, d.wp) end
          end

          if d.parallel >= 0 then
            if not kf.n then kf.n = call('ZCARD', kf.k) + kf.na / 2 end
            if kf.n >= d.parallel then return {1, 3, 1000, kf.n, 0} end
          end
          local r = nil
          if d.rpm >= 0 then
            local refused
            d.krpm = d.krpm or d.kb .. 'rpm'
            r, refused = rpmCheck(d.krpm, d.rpm, now)
            if refused then return refused end
          end
          if d.tpm >= 0 then
            local refused = tpmCheck(d.kb .. 'tpm', d.kb .. 'tpmv', d.tpm, now, tokens)
            if refused then return refused end
          end
          local s = d.days
          if not s then s = day(d.kb, d.day, d.dayEnd); d.days = s end
          if d.dReq >= 0 then
            if not s.req then s.req = tonumber(call('GET', s.reqK) or '0') + s.dReq end
            if s.req >= d.dReq then return {1, 4, -1, s.req, 0} end
          end
          if d.dTok >= 0 then
            if not s.tok then s.tok = tonumber(call('GET', s.tokK) or '0') + s.dTok end
            if s.tok >= d.dTok then return {1, 5, -1, s.tok, 0} end
          end
          if kb and kb.spend + kb.held + hold > d.kBudget then return {1, 0, -1, kb.spend, kb.held} end
          if wb and wb.spend + wb.held + hold > d.wBudget then return {1, 6, -1, wb.spend, wb.held} end

          -- Admitted: record everything (written at the end of the batch).
          local flTtl = holdTtl + 60000
          if kb then
            local ttl = d.kEnd - now
            if ttl > flTtl then flTtl = ttl end
            kb.held = kb.held + hold
            kb.dHeld = kb.dHeld + hold
            kb.heldExists = true
            kb.ttl = ttl
            kb.refresh = d.kRefresh
          end
          fly(kf, now, km, flTtl)
          if r then
            local na = r.na
            r.adds[na + 1] = now
            r.adds[na + 2] = km
            r.na = na + 2
            r.n = r.n + 1
          end
          if d.tpm >= 0 then
            local k, v = d.kb .. 'tpm', d.kb .. 'tpmv'
            call('ZADD', k, now, km)
            call('HSET', v, km, tokens)
            call('PEXPIRE', k, window)
            call('PEXPIRE', v, window)
          end
          s.dReq = s.dReq + 1
          if s.req then s.req = s.req + 1 end
          if wb then
            local ttl = d.wEnd - now
            fly(wf, now, wm, max(holdTtl + 60000, ttl))
            wb.held = wb.held + hold
            wb.dHeld = wb.dHeld + hold
            wb.heldExists = true
            wb.ttl = ttl
            wb.refresh = d.wRefresh
          end

          -- Soft limits: crossed once settled spend reaches them; the first admission past the line fires the alert.
          local flags = 0
          if kb and d.kSoft >= 0 and kb.spend >= d.kSoft then
            flags = 1
            if not kb.alerted then
              kb.alerted = true
              if call('SET', kb.softK, '1', 'NX', 'PX', max(1, d.kEnd - now)) then flags = 3 end
            end
          end
          if wb and d.wSoft >= 0 and wb.spend >= d.wSoft then
            flags = flags + 4
            if not wb.alerted then
              wb.alerted = true
              if call('SET', wb.softK, '1', 'NX', 'PX', max(1, d.wEnd - now)) then flags = flags + 8 end
            end
          end
          return flags
        end

        local ao = so + nSettle * SS
        local out = {}
        for i = 1, nAdmit do
          local o = ao + (i - 1) * AS
          out[i] = admit(D[P[o + 1]], P[o + 2], P[o + 3], P[o + 4], P[o + 5], P[o + 6])
        end

        -- Write what the batch changed, once per key. A counter created now gets its TTL; one that existed keeps the
        -- fixed deadline it was given, unless its TTL is relative (a budget with no period) and renewed on each write.
        for _, f in ipairs(forder) do
          if f.na > 0 then call('ZADD', f.k, unpack(f.adds, 1, f.na)) end
          if f.ttl > 0 then call('PEXPIRE', f.k, f.ttl) end
        end
        for _, r in ipairs(rorder) do
          if r.na > 0 then
            call('ZADD', r.k, unpack(r.adds, 1, r.na))
            call('PEXPIRE', r.k, window)
          end
        end
        for _, b in ipairs(border) do
          if b.dSpend ~= 0 then call('INCRBY', b.spendK, b.dSpend) end
          if b.dHeld ~= 0 then
            call('INCRBY', b.heldK, b.dHeld)
            if b.ttl and (b.heldNew or b.refresh) then call('PEXPIRE', b.heldK, max(1, b.ttl)) end
          end
        end
        for _, s in ipairs(dorder) do
          local ttl = max(1000, s.deadline - batchNow)
          if s.dReq > 0 and call('INCRBY', s.reqK, s.dReq) == s.dReq then call('PEXPIRE', s.reqK, ttl) end
          if s.dTok > 0 and call('INCRBY', s.tokK, s.dTok) == s.dTok then call('PEXPIRE', s.tokK, ttl) end
        end
        return out
        """);

    /// <summary>Fields per part of the <see cref="Batch"/> MessagePack array.</summary>
    public const int HeaderFields = 6, DescriptorFields = 21, SettleFields = 7, AdmitFields = 6;

    /// <summary>
    /// Read-only. KEYS: 1 key:flights, 2 key:rpm, 3 key:tpm, 4 key:tpmv, 5 key:spend:P, 6 key:dreq:D, 7 key:dtok:D,
    /// 8 ws:flights, 9 ws:spend:W. ARGV: 1 now, 2 window start, 3 key period, 4 ws period, 5 has workspace.
    /// Returns {keySpend|-1, keyHeld, inFlight, rpmUsed, tpmUsed, requestsToday, tokensToday, wsSpend|-1, wsHeld}:
    /// -1 spend means not loaded yet.
    /// </summary>
    public static readonly Script Quota = new("""
        local function live(k, period)
          local held, n = 0, 0
          for _, m in ipairs(redis.call('ZRANGEBYSCORE', k, '(' .. ARGV[1], '+inf')) do
            n = n + 1
            local a = string.find(m, '|', 1, true)
            local b = string.find(m, '|', a + 1, true)
            if string.sub(m, b + 1) == period then held = held + tonumber(string.sub(m, a + 1, b - 1)) end
          end
          return held, n
        end
        local kHeld, inFlight = live(KEYS[1], ARGV[3])
        local rpm = redis.call('ZCOUNT', KEYS[2], '(' .. ARGV[2], '+inf')
        local tpm = 0
        for _, hid in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], '(' .. ARGV[2], '+inf')) do
          tpm = tpm + tonumber(redis.call('HGET', KEYS[4], hid) or '0')
        end
        local wSpend, wHeld = -1, 0
        if ARGV[5] == '1' then
          wSpend = tonumber(redis.call('GET', KEYS[9]) or '-1')
          wHeld = live(KEYS[8], ARGV[4])
        end
        return {tonumber(redis.call('GET', KEYS[5]) or '-1'), kHeld, inFlight, rpm, tpm,
          tonumber(redis.call('GET', KEYS[6]) or '0'), tonumber(redis.call('GET', KEYS[7]) or '0'), wSpend, wHeld}
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
