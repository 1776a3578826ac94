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
    /// <item>header (<see cref="HeaderFields"/>): now (for settlement TTLs), hold TTL, rate window (60 000 ms), then the
    /// number of descriptors, settlements and admissions;</item>
    /// <item>descriptors (<see cref="DescriptorFields"/> each), one per key, limits and periods in the batch: key prefix
    /// <c>{tg:k:ID}:</c>, workspace prefix ('' none), key period ('-' no budget), workspace period, day, day deadline,
    /// max_parallel, rpm, tpm, daily requests, daily tokens, key budget, key soft, key state deadline, key refresh,
    /// ws budget, ws soft, ws state deadline, ws refresh, key seed, ws seed;</item>
    /// <item>settlements (<see cref="SettleFields"/> each): descriptor, key flight, workspace flight ('' none), hold,
    /// actual cost, actual tokens, tpm tokens counted (-1 none), the rate bucket (Unix second) they were counted in;</item>
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
        local call, tonumber, find, sub, max, floor = redis.call, tonumber, string.find, string.sub, math.max, math.floor
        local P = cmsgpack.unpack(ARGV[1])
        local batchNow, holdTtl, window, nDesc, nSettle, nAdmit = P[1], P[2], P[3], P[4], P[5], P[6]
        local DS, SS, AS = 21, 8, 6

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

        -- rpm and tpm: per-second buckets (RateWindow). A hash per key and limit: field <second> = what was admitted in
        -- that second (requests, or tokens: the estimates, then the actuals), "t" = the total of the buckets kept and "o" the
        -- oldest second kept. An admission counts for the rest of its second plus 60 s, so the window at second c is the
        -- buckets c-60 .. c: conservative, no 60-second span ever holds more than the limit. Older buckets are pruned (at
        -- most once a second per key), so a hash holds at most 63 fields however high the rate.
        local span = window / 1000
        local rates, rorder = {}, {}
        local function rateOf(k, s)
          local r = rates[k]
          if r == nil then
            local v = call('HMGET', k, 't', 'o', s)
            r = {k = k, t = tonumber(v[1] or '0'), o = v[2] and tonumber(v[2]), b = {[s] = tonumber(v[3] or '0')},
              dirty = {}, ds = {}, nd = 0}
            rates[k] = r
            rorder[#rorder + 1] = r
          end
          return r
        end
        local function bucket(r, s)
          local v = r.b[s]
          if v == nil then
            v = tonumber(call('HGET', r.k, s) or '0')
            r.b[s] = v
          end
          return v
        end
        local function rateAdd(r, s, n)
          r.b[s] = bucket(r, s) + n
          r.t = r.t + n
          if not r.dirty[s] then
            r.dirty[s] = true
            r.nd = r.nd + 1
            r.ds[r.nd] = s
          end
          if not r.o or s < r.o then r.o = s; r.oDirty = true end
        end
        local function rateWrite(r)
          if r.nd == 0 and not r.oDirty then return end
          local a, n = {'t', r.t, 'o', r.o}, 4
          for i = 1, r.nd do
            local s = r.ds[i]
            a[n + 1] = s
            a[n + 2] = r.b[s]
            n = n + 2
          end
          call('HSET', r.k, unpack(a, 1, n))
          call('PEXPIRE', r.k, window + 2000)
          r.dirty, r.ds, r.nd, r.oDirty = {}, {}, 0, false
        end
        -- Drops the buckets that have left the window at second c.
        local function ratePrune(r, c)
          local low = c - span
          if not r.o or r.o >= low then return end
          rateWrite(r)
          local gone, dead, nd = 0, {}, 0
          if low - r.o <= 2 * (span + 1) then
            local fields = {}
            for s = r.o, low - 1 do fields[s - r.o + 1] = s end
            local vals = call('HMGET', r.k, unpack(fields))
            for i = 1, #fields do
              if vals[i] then
                gone = gone + tonumber(vals[i])
                nd = nd + 1
                dead[nd] = fields[i]
              end
            end
          else
            local all = call('HGETALL', r.k)
            for i = 1, #all, 2 do
              local s = tonumber(all[i])
              if s and s < low then
                gone = gone + tonumber(all[i + 1])
                nd = nd + 1
                dead[nd] = all[i]
              end
            end
          end
          if nd > 0 then call('HDEL', r.k, unpack(dead, 1, nd)) end
          r.t = r.t - gone
          r.o = low
          r.oDirty = true
          r.b, r.all, r.mc = {}, nil, nil
        end
        -- Milliseconds until `need` of what is counted has left the window (the oldest buckets leave first); 1 s if never.
        local function rateRetry(r, c, now, need)
          if r.mc == c and r.mn == need then return r.mf - now end
          if not r.all then
            local all = call('HGETALL', r.k)
            for i = 1, #all, 2 do
              local s = tonumber(all[i])
              if s and r.b[s] == nil then r.b[s] = tonumber(all[i + 1]) end
            end
            r.all = true
          end
          local freed = 0
          for s = c - span, c do
            local v = r.b[s]
            if v then
              freed = freed + v
              if freed >= need then
                r.mc, r.mn, r.mf = c, need, (s + span + 1) * 1000
                return r.mf - now
              end
            end
          end
          return 1000
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
          local est = P[o + 7]
          if est >= 0 then
            -- The estimate tpm counted becomes the actual, in the bucket it was counted in, while that still counts.
            local s = P[o + 8]
            d.ktpm = d.ktpm or d.kb .. 'tpms'
            local r = rateOf(d.ktpm, s)
            if r.o and s >= r.o and s >= floor(batchNow / 1000) - span and bucket(r, s) >= est then rateAdd(r, s, tokens - est) end
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
          local c, rr, tr = floor(now / 1000), nil, nil
          if d.rpm >= 0 then
            d.krpm = d.krpm or d.kb .. 'rpms'
            rr = rateOf(d.krpm, c)
            ratePrune(rr, c)
            if rr.t >= d.rpm then return {1, 1, rateRetry(rr, c, now, rr.t - d.rpm + 1), rr.t, 0} end
          end
          if d.tpm >= 0 then
            d.ktpm = d.ktpm or d.kb .. 'tpms'
            tr = rateOf(d.ktpm, c)
            ratePrune(tr, c)
            if tr.t + tokens > d.tpm then return {1, 2, rateRetry(tr, c, now, tr.t + tokens - d.tpm), tr.t, 0} end
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
          if rr then rateAdd(rr, c, 1) end
          if tr then rateAdd(tr, c, tokens) end
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
        for _, r in ipairs(rorder) do rateWrite(r) end
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
    public const int HeaderFields = 6, DescriptorFields = 21, SettleFields = 8, AdmitFields = 6;

    /// <summary>
    /// Read-only. KEYS: 1 key:flights, 2 key:rpms, 3 key:tpms, 4 key:spend:P, 5 key:dreq:D, 6 key:dtok:D,
    /// 7 ws:flights, 8 ws:spend:W. ARGV: 1 now, 2 the oldest rate bucket (Unix second) still in the window, 3 key period,
    /// 4 ws period, 5 has workspace. Returns {keySpend|-1, keyHeld, inFlight, rpmUsed, tpmUsed, requestsToday,
    /// tokensToday, wsSpend|-1, wsHeld}: -1 spend means not loaded yet.
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
        local low = tonumber(ARGV[2])
        local function windowed(k)
          local n, all = 0, redis.call('HGETALL', k)
          for i = 1, #all, 2 do
            local s = tonumber(all[i])
            if s and s >= low then n = n + tonumber(all[i + 1]) end
          end
          return n
        end
        local kHeld, inFlight = live(KEYS[1], ARGV[3])
        local wSpend, wHeld = -1, 0
        if ARGV[5] == '1' then
          wSpend = tonumber(redis.call('GET', KEYS[8]) or '-1')
          wHeld = live(KEYS[7], ARGV[4])
        end
        return {tonumber(redis.call('GET', KEYS[4]) or '-1'), kHeld, inFlight, windowed(KEYS[2]), windowed(KEYS[3]),
          tonumber(redis.call('GET', KEYS[5]) or '0'), tonumber(redis.call('GET', KEYS[6]) or '0'), wSpend, wHeld}
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
