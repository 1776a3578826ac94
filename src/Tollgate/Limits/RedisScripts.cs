using System.Security.Cryptography;
using System.Text;

namespace Tollgate.Limits;

/// <summary>
/// The Lua behind <see cref="RedisLimiter"/>: one script for a batch of settlements and admissions, one read-only
/// for the quota view, so each is atomic across replicas. Money is integer billionths (<see cref="Nanos"/>), times are
/// Unix milliseconds from the caller's clock. Flight groups (count and amount held per minute of expiry and
/// period) remember what holds reserved, so settlement and expiry release exactly that. Needs Redis 6.0 or later
/// (SET KEEPTTL) with its bundled cmsgpack.
/// </summary>
internal static class RedisScripts
{
    /// <summary>
    /// One group commit: many settlements and admissions, of any keys, in one atomic call. No KEYS: the names are
    /// built from the prefixes sent, so a batch spans hash slots (not for Redis Cluster). ARGV[1] is one MessagePack
    /// array (decoded in C: far cheaper than one ARGV string per value and Lua's tonumber):
    /// <list type="number">
    /// <item>header (<see cref="HeaderFields"/>): now (for settlement TTLs), hold TTL, rate window (60 000 ms), flight
    /// grain (60 000 ms), then the number of descriptors, settlements and admissions, then the settlement record: its
    /// key ('' when the batch has no settlements), the batch's sequence number, 1 when this is a retry, and the record's
    /// TTL (ms);</item>
    /// <item>descriptors (<see cref="DescriptorFields"/> each), one per key, limits and periods in the batch: key prefix
    /// <c>{tg:k:ID}:</c>, workspace prefix ('' none), key period ('-' no budget), workspace period, day, day deadline,
    /// max_parallel, rpm, tpm, daily requests, daily tokens, key budget, key soft, key state deadline, key refresh,
    /// ws budget, ws soft, ws state deadline, ws refresh, key seed, ws seed;</item>
    /// <item>settlements (<see cref="SettleFields"/> each): descriptor, hold, actual cost, actual tokens, tpm tokens
    /// counted (-1 none), the rate second they were counted in, the hold's expiry (ms, a whole grain), the requests
    /// counted but not used (a lease closing; 0 otherwise), and 1 when partial (a lease shrinking: its hold goes down by
    /// the amount, and it stays in flight);</item>
    /// <item>admissions (<see cref="AdmitFields"/> each): descriptor, now, hold, tpm tokens, the hold's expiry (ms, a whole
    /// grain), the requests it counts (1; a lease more), and the lease guard (0 for a request).</item>
    /// </list>
    /// A limit of -1 is unset, a seed of nil none; deadlines are Unix ms of the caller's clock (TTL = deadline - now);
    /// "refresh" 1 means the state TTL is relative (a budget with no period) and is renewed on every write.
    /// <para>
    /// Settlements run first, then the admissions in order, each with exactly the checks of a single admission: a
    /// batch is one sequential history. Each Redis key is read at most once per batch and written once at its end
    /// (the running values live in Lua tables); a limit that is unset costs nothing. Flights and rate windows are one
    /// small MessagePack string each (a GET and a SET per batch): Redis's small-hash and small-zset encodings scan
    /// linearly, which made per-request members cost more than everything else together.
    /// </para>
    /// <para>
    /// The settlement record makes a retry of settlements exact: each replica numbers its batches that carry
    /// settlements, and a batch that is applied sets its bit (number mod 2^20) in the replica's record. When a call
    /// fails without a reply (a timeout, a dropped connection), the script may or may not have run; the replica sends
    /// the same settlements again under the same number, with the retry flag, and the script applies them only if
    /// the bit is still 0. A bit is cleared half the record (524 288 batches) before its number comes round again.
    /// </para>
    /// Returns one entry per admission (none when a retry finds its batch already applied): an integer below 16 when admitted (bits: 1 key soft limit crossed, 2 key alert,
    /// 4 workspace crossed, 8 workspace alert); 16 + (1 key, 2 workspace) when a budget has no spend in Redis and no seed
    /// came (nothing recorded); 32 when a lease was asked for too close to a limit (nothing recorded); or
    /// {1, kind, retryMs, a, b} when refused (kind = <see cref="LimitKind"/> as a number).
    /// </summary>
    public static readonly Script Batch = new("""
        -- The batch is one MessagePack array (decoded in C: far cheaper than one ARGV string per value and tonumber).
        -- Numbers go back to redis.call as Lua numbers, which Redis formats exactly below 1e17 (money stays below 2^53).
        local call, tonumber, max, floor, mpack, munpack = redis.call, tonumber, math.max, math.floor, cmsgpack.pack, cmsgpack.unpack
        local P = munpack(ARGV[1])
        local batchNow, holdTtl, window, grain, nDesc, nSettle, nAdmit = P[1], P[2], P[3], P[4], P[5], P[6], P[7]
        local markK, markSeq, markRetry, markTtl = P[8], P[9], P[10], P[11]
        local MB = 1048576
        -- A settlement batch sent again after an error: if its first call did reach Redis, its bit is set; do nothing.
        if markRetry == 1 and call('GETBIT', markK, markSeq % MB) == 1 then return {} end
        local DS, SS, AS = 21, 9, 7
        local span = window / 1000
        local NB = span + 1

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

        -- Flights: one string per key (and per workspace), MessagePack {n, E, p, c, h, E, p, c, h, ...}: the n requests
        -- in flight, grouped by the grain (minute) E their hold expires at and the budget period p they hold against:
        -- how many (c) and how much they hold (h). max_parallel counts n. A settlement leaves its group; a group whose
        -- time has come holds requests that never settled (a replica died), and is released whole.
        local fls, florder = {}, {}
        local function flightsOf(k)
          local f = fls[k]
          if f == nil then
            f = {k = k, n = 0, g = {}, ttl = 0}
            local raw = call('GET', k)
            if raw then
              local t = munpack(raw)
              f.n = t[1]
              for i = 2, #t, 4 do
                local e = t[i]
                local ge = f.g[e]
                if not ge then ge = {}; f.g[e] = ge end
                ge[t[i + 1]] = {c = t[i + 2], h = t[i + 3]}
                if not f.early or e < f.early then f.early = e end
              end
            end
            fls[k] = f
            florder[#florder + 1] = f
          end
          return f
        end
        -- Releases the groups due at `now`: what they held in the current period goes back to the budget b.
        local function prune(f, now, b, period)
          local early = nil
          for e, ge in pairs(f.g) do
            if e * grain <= now then
              for p, grp in pairs(ge) do
                f.n = f.n - grp.c
                if b and b.heldExists and p == period then
                  b.held = b.held - grp.h
                  b.dHeld = b.dHeld - grp.h
                end
              end
              f.g[e] = nil
            elseif not early or e < early then
              early = e
            end
          end
          f.early = early
          f.dirty = true
        end
        local function fly(f, e, p, hold, ttl)
          local ge = f.g[e]
          if not ge then ge = {}; f.g[e] = ge end
          local grp = ge[p]
          if not grp then grp = {c = 0, h = 0}; ge[p] = grp end
          grp.c = grp.c + 1
          grp.h = grp.h + hold
          f.n = f.n + 1
          if not f.early or e < f.early then f.early = e end
          if ttl > f.ttl then f.ttl = ttl end
          f.dirty = true
        end
        -- A settled request leaves its group; false if the group was released already (its hold with it). Partial (a
        -- lease shrinking to what its requests in flight hold): only the amount leaves, the lease stays in flight.
        local function land(f, e, p, hold, partial)
          local ge = f.g[e]
          local grp = ge and ge[p]
          if not grp or grp.c <= 0 then return false end
          if partial == 1 then
            grp.h = grp.h - hold
            f.dirty = true
            return true
          end
          grp.c = grp.c - 1
          grp.h = grp.h - hold
          f.n = f.n - 1
          if grp.c == 0 then
            ge[p] = nil
            if next(ge) == nil then f.g[e] = nil end
          end
          f.dirty = true
          return true
        end

        -- rpm and tpm: per-second buckets (RateWindow), one string per key and limit, MessagePack {top, total, 61 slots}:
        -- slot s % 61 holds what was admitted in second s (requests; or tokens: estimates, then actuals) for the seconds
        -- top-60 .. top. An admission counts for the rest of its second plus 60 s, so the window at second c is c-60 .. c:
        -- conservative, no 60-second span ever holds more than the limit, and the state is 63 numbers whatever the rate.
        local rts, rorder = {}, {}
        local function rateOf(k)
          local r = rts[k]
          if r == nil then
            local raw = call('GET', k)
            local a
            if raw then
              a = munpack(raw)
            else
              a = {0, 0}
              for i = 3, NB + 2 do a[i] = 0 end
            end
            r = {k = k, a = a}
            rts[k] = r
            rorder[#rorder + 1] = r
          end
          return r
        end
        -- Moves the window to second c: the slots of seconds that left it are emptied.
        local function advance(r, c)
          local a = r.a
          local top = a[1]
          if c <= top then return end
          if c - top >= NB then
            for i = 3, NB + 2 do a[i] = 0 end
            a[2] = 0
          else
            for s = top + 1, c do
              local i = s % NB + 3
              a[2] = a[2] - a[i]
              a[i] = 0
            end
          end
          a[1] = c
          r.dirty = true
        end
        local function rateAdd(r, s, n)
          local a = r.a
          local i = s % NB + 3
          a[i] = a[i] + n
          a[2] = a[2] + n
          r.dirty = true
        end
        -- Milliseconds until `need` of what is counted has left the window (the oldest seconds leave first); 1 s if never.
        local function rateRetry(r, c, now, need)
          if r.mc == c and r.mn == need then return r.mf - now end
          local a, freed = r.a, 0
          for s = c - span, c do
            freed = freed + a[s % NB + 3]
            if freed >= need then
              r.mc, r.mn, r.mf = c, need, (s + NB) * 1000
              return r.mf - now
            end
          end
          return 1000
        end

        -- Descriptors: a key's names, periods and limits, shared by its operations in this batch.
        local D = {}
        for i = 1, nDesc do
          local o = 11 + (i - 1) * DS
          local kb, wb = P[o + 1], P[o + 2]
          D[i] = {
            kb = kb, wb = wb, kp = P[o + 3], wp = P[o + 4], day = P[o + 5], dayEnd = P[o + 6],
            parallel = P[o + 7], rpm = P[o + 8], tpm = P[o + 9], dReq = P[o + 10], dTok = P[o + 11],
            kBudget = P[o + 12], kSoft = P[o + 13], kEnd = P[o + 14], kRefresh = P[o + 15] == 1,
            wBudget = P[o + 16], wSoft = P[o + 17], wEnd = P[o + 18], wRefresh = P[o + 19] == 1,
            kSeed = P[o + 20], wSeed = P[o + 21], kOn = P[o + 3] ~= '-', wOn = wb ~= '',
          }
        end
        local function keyFlights(d)
          local f = d.kf
          if not f then f = flightsOf(d.kb .. 'flights'); d.kf = f end
          return f
        end
        local function wsFlights(d)
          local f = d.wf
          if not f then f = flightsOf(d.wb .. 'flights'); d.wf = f end
          return f
        end

        -- Settlements first (any order of concurrent calls is a valid history): leave the flight group, release the
        -- hold if the group was still live, add the cost and the tokens, correct tpm.
        local so = 11 + nDesc * DS
        local batchSecond = floor(batchNow / 1000)
        for i = 1, nSettle do
          local o = so + (i - 1) * SS
          local d = D[P[o + 1]]
          local hold, cost, tokens, est, second, e, unused, partial = P[o + 2], P[o + 3], P[o + 4], P[o + 5], P[o + 6], P[o + 7] / grain, P[o + 8], P[o + 9]
          if d.kOn then
            local b = d.kbud
            if not b then b = budget(d.kb, d.kp); d.kbud = b end
            if land(keyFlights(d), e, d.kp, hold, partial) and b.heldExists then
              b.held = b.held - hold
              b.dHeld = b.dHeld - hold
            end
            -- The cost counts only while the period's spend is known; otherwise the next seed (the ledger) has it.
            if b.spend then
              b.spend = b.spend + cost
              b.dSpend = b.dSpend + cost
            end
          else
            land(keyFlights(d), e, d.kp, 0, partial)
          end
          if tokens > 0 then
            local s = d.days
            if not s then s = day(d.kb, d.day, d.dayEnd); d.days = s end
            s.dTok = s.dTok + tokens
            if s.tok then s.tok = s.tok + tokens end
          end
          if est >= 0 and second >= batchSecond - span then
            -- The estimate tpm counted becomes the actual, in the second it was counted in, while that still counts.
            local r = d.tr
            if not r then r = rateOf(d.kb .. 'tpms'); d.tr = r end
            local a = r.a
            if second <= a[1] and second > a[1] - NB and a[second % NB + 3] >= est then rateAdd(r, second, tokens - est) end
          end
          if unused > 0 then
            -- A lease closing: the requests it counted and did not use leave today's count and its rpm second.
            local s = d.days
            if not s then s = day(d.kb, d.day, d.dayEnd); d.days = s end
            s.dReq = s.dReq - unused
            if s.req then s.req = s.req - unused end
            if second >= batchSecond - span then
              local r = d.rr
              if not r then r = rateOf(d.kb .. 'rpms'); d.rr = r end
              local a = r.a
              if second <= a[1] and second > a[1] - NB and a[second % NB + 3] >= unused then rateAdd(r, second, -unused) end
            end
          end
          if d.wOn then
            local b = d.wbud
            if not b then b = budget(d.wb, d.wp); d.wbud = b end
            if land(wsFlights(d), e, d.wp, hold, partial) and b.heldExists then
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
        local function admit(d, now, hold, tokens, expires, n, guard)
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

          local kf = keyFlights(d)
          if kf.early and kf.early * grain <= now then prune(kf, now, kb, d.kp) end
          local wf = nil
          if wb then
            wf = wsFlights(d)
            if wf.early and wf.early * grain <= now then prune(wf, now, wb, d.wp) end
          end
          if d.parallel >= 0 and kf.n >= d.parallel then return {1, 3, 1000, kf.n, 0} end

          local c, rr, tr = floor(now / 1000), nil, nil
          if d.rpm >= 0 then
            rr = d.rr
            if not rr then rr = rateOf(d.kb .. 'rpms'); d.rr = rr end
            advance(rr, c)
            local used = rr.a[2]
            if used + n > d.rpm then return {1, 1, rateRetry(rr, c, now, used + n - d.rpm), used, 0} end
          end
          if d.tpm >= 0 then
            tr = d.tr
            if not tr then tr = rateOf(d.kb .. 'tpms'); d.tr = tr end
            advance(tr, c)
            local used = tr.a[2]
            if used + tokens > d.tpm then return {1, 2, rateRetry(tr, c, now, used + tokens - d.tpm), used, 0} end
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
          -- A lease (guard > 0) is granted only far from every limit: guard times its requests and its hold still fit,
          -- and its hold stays below the soft limit. Otherwise 32: nothing recorded, the replica admits one by one.
          if guard > 0 then
            if rr and rr.a[2] + n * guard > d.rpm then return 32 end
            if kb and kb.spend + kb.held + hold * guard > d.kBudget then return 32 end
            if kb and d.kSoft >= 0 and kb.spend + kb.held + hold >= d.kSoft then return 32 end
          end

          -- Admitted: record everything (written at the end of the batch). The hold expires at the end of the grain
          -- its TTL runs out in (the caller rounds it so).
          local e = expires / grain
          local flTtl = holdTtl + grain + 60000
          if kb then
            local ttl = d.kEnd - now
            if ttl > flTtl then flTtl = ttl end
            kb.held = kb.held + hold
            kb.dHeld = kb.dHeld + hold
            kb.heldExists = true
            kb.ttl = ttl
            kb.refresh = d.kRefresh
            fly(kf, e, d.kp, hold, flTtl)
          else
            fly(kf, e, d.kp, 0, flTtl)
          end
          if rr then rateAdd(rr, c, n) end
          if tr then rateAdd(tr, c, tokens) end
          s.dReq = s.dReq + n
          if s.req then s.req = s.req + n end
          if wb then
            local ttl = d.wEnd - now
            fly(wf, e, d.wp, hold, max(holdTtl + grain + 60000, ttl))
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
          out[i] = admit(D[P[o + 1]], P[o + 2], P[o + 3], P[o + 4], P[o + 5], P[o + 6], P[o + 7])
        end

        -- Write what the batch changed, once per key. A counter created now gets its TTL; one that existed keeps the
        -- fixed deadline it was given, unless its TTL is relative (a budget with no period) and renewed on each write.
        for _, f in ipairs(florder) do
          if f.dirty then
            if f.n == 0 and next(f.g) == nil then
              call('DEL', f.k)
            else
              local t, n = {f.n}, 1
              for e, ge in pairs(f.g) do
                for p, grp in pairs(ge) do
                  t[n + 1], t[n + 2], t[n + 3], t[n + 4] = e, p, grp.c, grp.h
                  n = n + 4
                end
              end
              -- Flights outlive the holds they release; a batch that only settled keeps the TTL the key has.
              if f.ttl > 0 then call('SET', f.k, mpack(t), 'PX', f.ttl) else call('SET', f.k, mpack(t), 'KEEPTTL') end
            end
          end
        end
        for _, r in ipairs(rorder) do
          if r.dirty then call('SET', r.k, mpack(r.a), 'PX', window + 2000) end
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
          if s.dReq < 0 and call('EXISTS', s.reqK) == 1 then call('INCRBY', s.reqK, s.dReq) end
          if s.dTok > 0 and call('INCRBY', s.tokK, s.dTok) == s.dTok then call('PEXPIRE', s.tokK, ttl) end
        end
        -- This batch's settlements are applied: set its bit in the replica's record, and clear the 64 bits half the
        -- record ahead, so a bit reused a million batches later starts at 0.
        if markK ~= '' then
          call('BITFIELD', markK, 'SET', 'i64', '#' .. floor(((markSeq + MB / 2) % MB) / 64), 0, 'SET', 'u1', markSeq % MB, 1)
          call('PEXPIRE', markK, markTtl)
        end
        return out
        """);

    /// <summary>Fields per part of the <see cref="Batch"/> MessagePack array.</summary>
    public const int HeaderFields = 11, DescriptorFields = 21, SettleFields = 9, AdmitFields = 7;

    /// <summary>
    /// Read-only. KEYS: 1 key:flights, 2 key:rpms, 3 key:tpms, 4 key:spend:P, 5 key:dreq:D, 6 key:dtok:D,
    /// 7 ws:flights, 8 ws:spend:W. ARGV: 1 now, 2 flight grain (ms), 3 key period, 4 ws period, 5 has workspace.
    /// Returns {keySpend|-1, keyHeld, inFlight, rpmUsed, tpmUsed, requestsToday, tokensToday, wsSpend|-1, wsHeld}:
    /// -1 spend means not loaded yet.
    /// </summary>
    public static readonly Script Quota = new("""
        local now, grain = tonumber(ARGV[1]), tonumber(ARGV[2])
        local function live(k, period)
          local raw = redis.call('GET', k)
          if not raw then return 0, 0 end
          local t, held, n = cmsgpack.unpack(raw), 0, 0
          for i = 2, #t, 4 do
            if t[i] * grain > now then
              n = n + t[i + 2]
              if t[i + 1] == period then held = held + t[i + 3] end
            end
          end
          return held, n
        end
        local c = math.floor(now / 1000)
        local function windowed(k)
          local raw = redis.call('GET', k)
          if not raw then return 0 end
          local a, n = cmsgpack.unpack(raw), 0
          for s = math.max(c - 60, a[1] - 60), math.min(c, a[1]) do n = n + a[s % 61 + 3] end
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
