using System.Data.Common;
using Tollgate.Storage;

namespace Tollgate.Tests.Storage;

/// <summary>
/// The behaviour every <see cref="IStore"/> dialect must have. Each derived class runs all of it against a
/// real database that its fixture creates for the class. Tests share that database, so each one works in
/// its own time window (<see cref="NewWindow"/>) with its own ids, and never depends on another's rows.
/// </summary>
public abstract class StoreContractTests
{
    protected static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private static int s_windows;

    /// <summary>The class's migrated store.</summary>
    private protected abstract IStore Store { get; }

    /// <summary>Opens <paramref name="count"/> stores on one new, empty, unmigrated database. The caller disposes them.</summary>
    private protected abstract Task<IStore[]> OpenFreshStoresAsync(int count);

    protected static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>A UTC midnight no other test uses, ten days apart, so time-filtered queries see only this test's rows.</summary>
    protected static DateTimeOffset NewWindow() =>
        new DateTimeOffset(2031, 1, 1, 0, 0, 0, TimeSpan.Zero).AddDays(10 * Interlocked.Increment(ref s_windows));

    protected static string NewId(string prefix) => $"{prefix}-{Guid.NewGuid():N}";

    // ---- migrations ----

    [Fact]
    public async Task Migrate_twice_is_idempotent_and_keeps_data()
    {
        var stores = await OpenFreshStoresAsync(1).WaitAsync(Timeout, Ct);
        await using var store = stores[0];
        await store.MigrateAsync(Ct).WaitAsync(Timeout, Ct);
        var key = FullKey(NewId("k"), NewWindow());
        await store.InsertKeyAsync(key, Ct).WaitAsync(Timeout, Ct);

        await store.MigrateAsync(Ct).WaitAsync(Timeout, Ct);

        (await store.GetKeyAsync(key.Id, Ct).WaitAsync(Timeout, Ct)).ShouldNotBeNull();
        await Store.MigrateAsync(Ct).WaitAsync(Timeout, Ct);
    }

    [Fact]
    public async Task Migrations_started_at_once_by_several_processes_all_succeed()
    {
        var stores = await OpenFreshStoresAsync(4).WaitAsync(Timeout, Ct);
        try
        {
            await Task.WhenAll(stores.Select(s => s.MigrateAsync(Ct))).WaitAsync(Timeout, Ct);
            var key = FullKey(NewId("k"), NewWindow());
            await stores[0].InsertKeyAsync(key, Ct).WaitAsync(Timeout, Ct);
            (await stores[3].GetKeyAsync(key.Id, Ct).WaitAsync(Timeout, Ct)).ShouldNotBeNull();
        }
        finally
        {
            foreach (var store in stores)
            {
                await store.DisposeAsync().AsTask().WaitAsync(Timeout, Ct);
            }
        }
    }

    [Fact]
    public async Task Ping_answers_true_when_the_database_is_there()
    {
        (await Store.PingAsync(Ct).WaitAsync(Timeout, Ct)).ShouldBeTrue();
    }

    // ---- keys ----

    [Fact]
    public async Task Key_with_every_field_set_round_trips()
    {
        var key = FullKey(NewId("k"), NewWindow());
        await Store.InsertKeyAsync(key, Ct).WaitAsync(Timeout, Ct);

        var read = await Store.GetKeyAsync(key.Id, Ct).WaitAsync(Timeout, Ct);

        ShouldMatch(read, key);
    }

    [Fact]
    public async Task Key_with_nulls_and_empty_lists_round_trips_and_keeps_null_apart_from_empty()
    {
        var t = NewWindow();
        var bare = new VirtualKeyRecord
        {
            Id = NewId("k"),
            CreatedAt = t,
            SecretHash = Hash(1),
            Models = null,
            DataClasses = [],
        };
        var emptyModels = bare with { Id = NewId("k"), SecretHash = Hash(2), Models = [] };
        await Store.InsertKeyAsync(bare, Ct).WaitAsync(Timeout, Ct);
        await Store.InsertKeyAsync(emptyModels, Ct).WaitAsync(Timeout, Ct);

        var readBare = await Store.GetKeyAsync(bare.Id, Ct).WaitAsync(Timeout, Ct);
        var readEmpty = await Store.GetKeyAsync(emptyModels.Id, Ct).WaitAsync(Timeout, Ct);

        ShouldMatch(readBare, bare);
        readBare!.Models.ShouldBeNull();
        readBare.DataClasses.ShouldBeEmpty();
        ShouldMatch(readEmpty, emptyModels);
        readEmpty!.Models.ShouldNotBeNull().ShouldBeEmpty();
    }

    [Fact]
    public async Task Missing_key_reads_as_null()
    {
        (await Store.GetKeyAsync(NewId("missing"), Ct).WaitAsync(Timeout, Ct)).ShouldBeNull();
    }

    [Fact]
    public async Task Inserting_a_key_id_twice_fails()
    {
        var key = FullKey(NewId("k"), NewWindow());
        await Store.InsertKeyAsync(key, Ct).WaitAsync(Timeout, Ct);

        await Should.ThrowAsync<DbException>(
            Store.InsertKeyAsync(key with { SecretHash = Hash(9) }, Ct).WaitAsync(Timeout, Ct));
    }

    [Fact]
    public async Task Update_replaces_every_column()
    {
        var t = NewWindow();
        var key = FullKey(NewId("k"), t);
        await Store.InsertKeyAsync(key, Ct).WaitAsync(Timeout, Ct);
        var changed = new VirtualKeyRecord
        {
            Id = key.Id,
            Alias = "renamed",
            Workspace = "ws-other",
            Tier = "free",
            Models = ["haiku"],
            MaxBudget = 0.000000001m,
            BudgetPeriod = "calendar_month",
            SoftLimit = 0.5m,
            Rpm = 1,
            Tpm = 2,
            MaxParallel = 3,
            DataClasses = ["internal"],
            ExpiresAt = t.AddDays(99).AddMilliseconds(7),
            MetadataJson = "{\"owner\":\"someone else\"}",
            CreatedAt = t.AddMilliseconds(1),
            RotatedAt = t.AddHours(1).AddMilliseconds(2),
            RevokedAt = t.AddHours(2).AddMilliseconds(3),
            Status = "revoked",
            SecretHash = Hash(77),
            PreviousSecretHash = key.SecretHash,
            PreviousSecretExpiresAt = t.AddHours(3).AddMilliseconds(4),
            Hint = "tg-Zz",
        };

        (await Store.UpdateKeyAsync(changed, Ct).WaitAsync(Timeout, Ct)).ShouldBeTrue();
        ShouldMatch(await Store.GetKeyAsync(key.Id, Ct).WaitAsync(Timeout, Ct), changed);

        // And back to nulls: an update clears what the new record leaves out.
        var cleared = new VirtualKeyRecord { Id = key.Id, CreatedAt = t, SecretHash = Hash(78), DataClasses = [] };
        (await Store.UpdateKeyAsync(cleared, Ct).WaitAsync(Timeout, Ct)).ShouldBeTrue();
        ShouldMatch(await Store.GetKeyAsync(key.Id, Ct).WaitAsync(Timeout, Ct), cleared);
    }

    [Fact]
    public async Task Update_of_an_unknown_id_returns_false()
    {
        var key = FullKey(NewId("k"), NewWindow());
        (await Store.UpdateKeyAsync(key, Ct).WaitAsync(Timeout, Ct)).ShouldBeFalse();
        (await Store.GetKeyAsync(key.Id, Ct).WaitAsync(Timeout, Ct)).ShouldBeNull();
    }

    [Fact]
    public async Task List_returns_every_key_revoked_ones_too_ordered_by_creation_time()
    {
        var t = NewWindow();
        var third = FullKey(NewId("k"), t.AddMinutes(3)) with { SecretHash = Hash(3) };
        var first = FullKey(NewId("k"), t.AddMinutes(1)) with { SecretHash = Hash(4), Status = "revoked", RevokedAt = t.AddMinutes(5) };
        var second = FullKey(NewId("k"), t.AddMinutes(2)) with { SecretHash = Hash(5) };
        foreach (var key in new[] { third, first, second })
        {
            await Store.InsertKeyAsync(key, Ct).WaitAsync(Timeout, Ct);
        }

        var listed = await Store.ListKeysAsync(Ct).WaitAsync(Timeout, Ct);

        var mine = listed.Where(k => k.Id == first.Id || k.Id == second.Id || k.Id == third.Id).ToList();
        mine.Select(k => k.Id).ShouldBe([first.Id, second.Id, third.Id]);
        ShouldMatch(mine[0], first);
        listed.Select(k => k.CreatedAt).ShouldBeInOrder(SortDirection.Ascending);
    }

    // ---- ledger ----

    [Fact]
    public async Task Ledger_row_with_every_field_round_trips()
    {
        var t = NewWindow();
        var key = NewId("k");
        var full = FullLedger(NewId("r"), t.AddMilliseconds(123), key);
        var minimal = new LedgerRecord { RequestId = NewId("r"), Time = t.AddMilliseconds(100), KeyId = key };

        await Store.WriteLedgerAsync([full, minimal], Ct).WaitAsync(Timeout, Ct);
        var rows = await Store.QueryRequestsAsync(new RequestQuery(KeyId: key), Ct).WaitAsync(Timeout, Ct);

        rows.Count.ShouldBe(2);
        rows[0].ShouldBe(full);
        rows[1].ShouldBe(minimal);
    }

    [Fact]
    public async Task Replayed_and_duplicate_request_ids_are_ignored()
    {
        var t = NewWindow();
        var key = NewId("k");
        var a = Row(NewId("a"), t.AddSeconds(1), key, cost: 1m);
        var b = Row(NewId("b"), t.AddSeconds(2), key, cost: 2m);
        var c = Row(NewId("c"), t.AddSeconds(3), key, cost: 4m);

        await Store.WriteLedgerAsync([a, b], Ct).WaitAsync(Timeout, Ct);
        await Store.WriteLedgerAsync([a, b], Ct).WaitAsync(Timeout, Ct);
        await Store.WriteLedgerAsync([a with { Cost = 100m }, c, c], Ct).WaitAsync(Timeout, Ct);
        await Store.WriteLedgerAsync([], Ct).WaitAsync(Timeout, Ct);

        var rows = await Store.QueryRequestsAsync(new RequestQuery(KeyId: key), Ct).WaitAsync(Timeout, Ct);
        rows.Select(r => r.RequestId).ShouldBe([c.RequestId, b.RequestId, a.RequestId]);
        rows.Single(r => r.RequestId == a.RequestId).Cost.ShouldBe(1m);
        (await Store.SumKeySpendAsync(key, t, t.AddDays(1), Ct).WaitAsync(Timeout, Ct)).ShouldBe(7m);
    }

    [Fact]
    public async Task Consecutive_rows_keep_their_own_values_as_columns_change_between_null_empty_and_text()
    {
        // Rows in a batch share most values, and the batch writers may reuse what the previous row sent: every
        // change between a value, another value, the empty string and NULL must still land in its own row.
        var t = NewWindow();
        var key = NewId("k");
        var longText = string.Concat(Enumerable.Repeat("[{\"deployment\":\"é/模型\"}]", 400));
        string?[] texts = ["a", "a", null, "", "", "b", null, null, "a", "café ✓ 日本", longText, longText, ""];
        double?[] ttfts = [null, 0.5, 0.5, null, 0, 0, 1e-3, null, null, 12.25, 12.25, null, 3];
        decimal[] costs = [0.10m, 0.1m, 0.1m, 0m, 0.10m, 0.100m, 1m, 1m, 0.000001m, 0m, 5m, 5m, 0.1m];
        var rows = texts.Select((text, i) => FullLedger(NewId("r"), t.AddMilliseconds(i), key) with
        {
            KeyAlias = text,
            Fallback = text,
            UserAgent = i % 3 == 0 ? text : "same agent",
            AttemptsJson = text,
            InputTokens = i / 2,
            Status = i % 2 == 0 ? 200 : 429,
            Streamed = i % 4 < 2,
            TtftMs = ttfts[i],
            Cost = costs[i],
            NotionalCost = costs[^(i + 1)],
        }).ToList();

        await Store.WriteLedgerAsync(rows, Ct).WaitAsync(Timeout, Ct);

        var read = (await Store.QueryRequestsAsync(new RequestQuery(KeyId: key), Ct).WaitAsync(Timeout, Ct)).Reverse().ToList();
        read.Count.ShouldBe(rows.Count);
        for (var i = 0; i < rows.Count; i++)
        {
            read[i].ShouldBe(rows[i], $"row {i}");
            // Equal decimals may differ in scale (0.1 and 0.10): each row keeps its own.
            read[i].Cost.ToString(System.Globalization.CultureInfo.InvariantCulture).ShouldBe(rows[i].Cost.ToString(System.Globalization.CultureInfo.InvariantCulture), $"row {i}");
        }
    }

    [Fact]
    public async Task A_duplicate_inside_one_batch_is_skipped_and_the_rows_after_it_are_stored_whole()
    {
        var t = NewWindow();
        var key = NewId("k");
        var first = FullLedger(NewId("r"), t.AddMilliseconds(1), key);
        var duplicate = first with { Cost = 99m, KeyAlias = null, TtftMs = null, Time = t.AddMilliseconds(2) };
        var after = FullLedger(NewId("r"), t.AddMilliseconds(3), key) with { KeyAlias = null, SessionId = "other" };

        await Store.WriteLedgerAsync([first, duplicate, after, after], Ct).WaitAsync(Timeout, Ct);

        var read = await Store.QueryRequestsAsync(new RequestQuery(KeyId: key), Ct).WaitAsync(Timeout, Ct);
        read.ShouldBe([after, first]);
    }

    [Fact]
    public async Task A_batch_that_fails_stores_none_of_its_rows_and_the_store_keeps_working()
    {
        var t = NewWindow();
        var key = NewId("k");
        var good = Enumerable.Range(0, 3).Select(i => FullLedger(NewId("r"), t.AddMilliseconds(i), key)).ToList();
        // A NULL request id breaks a NOT NULL constraint: only a duplicate id may be skipped, this must fail the batch.
        var broken = good[1] with { RequestId = null! };

        await Should.ThrowAsync<DbException>(() => Store.WriteLedgerAsync([good[0], broken, good[2]], Ct).WaitAsync(Timeout, Ct));

        (await Store.QueryRequestsAsync(new RequestQuery(KeyId: key), Ct).WaitAsync(Timeout, Ct)).ShouldBeEmpty("the batch is one transaction");
        await Store.WriteLedgerAsync(good, Ct).WaitAsync(Timeout, Ct);
        (await Store.QueryRequestsAsync(new RequestQuery(KeyId: key), Ct).WaitAsync(Timeout, Ct)).Count.ShouldBe(3);
    }

    [Fact]
    public async Task Query_requests_is_newest_first_with_key_since_and_limit_filters()
    {
        var t = NewWindow();
        var keyA = NewId("ka");
        var keyB = NewId("kb");
        var rows = Enumerable.Range(0, 6)
            .Select(i => Row(NewId("r"), t.AddMinutes(i), i % 2 == 0 ? keyA : keyB))
            .ToList();
        await Store.WriteLedgerAsync(rows, Ct).WaitAsync(Timeout, Ct);

        var allOfA = await Store.QueryRequestsAsync(new RequestQuery(KeyId: keyA), Ct).WaitAsync(Timeout, Ct);
        allOfA.Select(r => r.RequestId).ShouldBe([rows[4].RequestId, rows[2].RequestId, rows[0].RequestId]);

        var aSince = await Store.QueryRequestsAsync(new RequestQuery(KeyId: keyA, Since: t.AddMinutes(2)), Ct).WaitAsync(Timeout, Ct);
        aSince.Select(r => r.RequestId).ShouldBe([rows[4].RequestId, rows[2].RequestId]);

        var aLimited = await Store.QueryRequestsAsync(new RequestQuery(KeyId: keyA, Limit: 1), Ct).WaitAsync(Timeout, Ct);
        aLimited.Select(r => r.RequestId).ShouldBe([rows[4].RequestId]);

        var bSinceLimited = await Store.QueryRequestsAsync(new RequestQuery(KeyId: keyB, Since: t.AddMinutes(1), Limit: 2), Ct).WaitAsync(Timeout, Ct);
        bSinceLimited.Select(r => r.RequestId).ShouldBe([rows[5].RequestId, rows[3].RequestId]);

        (await Store.QueryRequestsAsync(new RequestQuery(KeyId: keyA, Limit: 0), Ct).WaitAsync(Timeout, Ct)).ShouldBeEmpty();
    }

    [Fact]
    public async Task Query_requests_without_a_key_filter_spans_all_keys()
    {
        // Far past every other test's window, so "since" sees only these rows.
        var t = new DateTimeOffset(2099, 6, 1, 0, 0, 0, TimeSpan.Zero);
        var rows = Enumerable.Range(0, 4).Select(i => Row(NewId("r"), t.AddSeconds(i), NewId("k"))).ToList();
        await Store.WriteLedgerAsync(rows, Ct).WaitAsync(Timeout, Ct);

        var newest = await Store.QueryRequestsAsync(new RequestQuery(Since: t, Limit: 3), Ct).WaitAsync(Timeout, Ct);

        newest.Select(r => r.RequestId).ShouldBe([rows[3].RequestId, rows[2].RequestId, rows[1].RequestId]);
    }

    [Fact]
    public async Task Money_round_trips_exactly_and_sums_exactly()
    {
        var t = NewWindow();
        var key = NewId("k");
        var tiny = 0.000123456m;
        var rows = Enumerable.Range(0, 1000)
            .Select(i => Row(NewId("r"), t.AddSeconds(i), key, cost: tiny, notional: 0.1m))
            .Append(Row(NewId("big"), t.AddSeconds(2000), key, cost: 12345678.123456789012m, notional: 0.000000000000000001m))
            .ToList();
        await Store.WriteLedgerAsync(rows, Ct).WaitAsync(Timeout, Ct);

        var read = await Store.QueryRequestsAsync(new RequestQuery(KeyId: key, Limit: 2000), Ct).WaitAsync(Timeout, Ct);
        read.Count.ShouldBe(1001);
        read[0].Cost.ShouldBe(12345678.123456789012m);
        read[0].NotionalCost.ShouldBe(0.000000000000000001m);
        read.Skip(1).ShouldAllBe(r => r.Cost == tiny);

        // Binary floating point gives 0.12345600000000003 or similar here; decimal arithmetic gives exactly this.
        (await Store.SumKeySpendAsync(key, t, t.AddSeconds(1000), Ct).WaitAsync(Timeout, Ct)).ShouldBe(0.123456m);
        (await Store.SumKeySpendAsync(key, t, t.AddDays(1), Ct).WaitAsync(Timeout, Ct)).ShouldBe(12345678.246912789012m);

        var spend = await Store.QuerySpendAsync(new SpendQuery("key", KeyId: key), Ct).WaitAsync(Timeout, Ct);
        spend.Single().Cost.ShouldBe(12345678.246912789012m);
        spend.Single().NotionalCost.ShouldBe(100.000000000000000001m);
    }

    [Fact]
    public async Task Money_keeps_its_exact_value_and_scale_at_the_edges_of_decimal()
    {
        var t = NewWindow();
        var key = NewId("k");
        decimal[] values =
        [
            0m, 0.0000m, 0.10m, 1m, 1.000m, -42.5m, 9999.9999m, 10000m, 100000000m, 0.0001m, 0.00001m, 0.000123456m,
            123456789.987654321m, 12345678.123456789012m, 0.0000000000000000000000000001m, -0.0000000000000000000000000001m,
            7.9228162514264337593543950335m, decimal.MaxValue, decimal.MinValue, 1844674407370955161.6m, 18446744073709551616m,
        ];
        var rows = values.Select((v, i) => Row(NewId("r"), t.AddMilliseconds(i), key, cost: v, notional: -v)).ToList();

        await Store.WriteLedgerAsync(rows, Ct).WaitAsync(Timeout, Ct);

        var read = (await Store.QueryRequestsAsync(new RequestQuery(KeyId: key, Limit: 100), Ct).WaitAsync(Timeout, Ct)).Reverse().ToList();
        read.Select(r => Text(r.Cost)).ShouldBe(values.Select(Text));
        read.Select(r => r.NotionalCost).ShouldBe(values.Select(v => -v));

        static string Text(decimal value) => value.ToString(System.Globalization.CultureInfo.InvariantCulture);
    }

    [Fact]
    public async Task Sum_key_spend_counts_from_inclusive_to_exclusive_for_that_key_only()
    {
        var t = NewWindow();
        var key = NewId("k");
        var from = t.AddHours(1);
        var to = t.AddHours(2);
        await Store.WriteLedgerAsync(
        [
            Row(NewId("r"), from.AddMilliseconds(-1), key, cost: 1m),
            Row(NewId("r"), from, key, cost: 2m),
            Row(NewId("r"), to.AddMilliseconds(-1), key, cost: 4m),
            Row(NewId("r"), to, key, cost: 8m),
            Row(NewId("r"), from.AddMinutes(1), NewId("other"), cost: 16m),
        ], Ct).WaitAsync(Timeout, Ct);

        (await Store.SumKeySpendAsync(key, from, to, Ct).WaitAsync(Timeout, Ct)).ShouldBe(6m);
        (await Store.SumKeySpendAsync(key, t, t.AddDays(1), Ct).WaitAsync(Timeout, Ct)).ShouldBe(15m);
        (await Store.SumKeySpendAsync(key, to.AddMilliseconds(1), to.AddHours(1), Ct).WaitAsync(Timeout, Ct)).ShouldBe(0m);
        (await Store.SumKeySpendAsync(NewId("nobody"), t, t.AddDays(1), Ct).WaitAsync(Timeout, Ct)).ShouldBe(0m);
    }

    [Fact]
    public async Task Concurrent_ledger_batches_from_several_tasks_lose_nothing()
    {
        var t = NewWindow();
        var key = NewId("k");
        const int Tasks = 6;
        const int BatchesPerTask = 10;
        const int RowsPerBatch = 25;
        var batches = Enumerable.Range(0, Tasks)
            .Select(task => Enumerable.Range(0, BatchesPerTask)
                .Select(batch => (IReadOnlyList<LedgerRecord>)Enumerable.Range(0, RowsPerBatch)
                    .Select(i => Row($"{key}-{task}-{batch}-{i}", t.AddMilliseconds((((task * BatchesPerTask) + batch) * RowsPerBatch) + i), key, cost: 0.000001m))
                    .ToList())
                .ToList())
            .ToList();

        await Task.WhenAll(Enumerable.Range(0, Tasks).Select(task => Task.Run(async () =>
        {
            foreach (var batch in batches[task])
            {
                await Store.WriteLedgerAsync(batch, Ct);
            }

            // Replay a neighbour's batch in reverse order while it may still be writing: still harmless.
            await Store.WriteLedgerAsync(batches[(task + 1) % Tasks][0].Reverse().ToList(), Ct);
        }, Ct))).WaitAsync(TimeSpan.FromSeconds(120), Ct);

        var total = Tasks * BatchesPerTask * RowsPerBatch;
        var rows = await Store.QueryRequestsAsync(new RequestQuery(KeyId: key, Limit: total + 10), Ct).WaitAsync(Timeout, Ct);
        rows.Count.ShouldBe(total);
        rows.Select(r => r.RequestId).Distinct().Count().ShouldBe(total);
        (await Store.SumKeySpendAsync(key, t, t.AddDays(1), Ct).WaitAsync(Timeout, Ct)).ShouldBe(total * 0.000001m);
    }

    // ---- spend ----

    /// <summary>
    /// Rows in a two-day window starting at <c>w</c> (plus one just before and one at its end):
    /// key A: gpt/openai at w+1:05 (0.000123456), claude/anthropic at w+1:30 (1.1), gpt/openai at w+26:00 (0.000000001);
    /// key B: gpt/openai at w+25:00 (0.5).
    /// </summary>
    private async Task<(DateTimeOffset W, string KeyA, string KeyB)> SeedSpendAsync()
    {
        var w = NewWindow();
        var keyA = NewId("ka");
        var keyB = NewId("kb");
        LedgerRecord R(DateTimeOffset time, string key, string alias, string model, string provider, string workspace, decimal cost, decimal notional, long tokens) =>
            Row(NewId("r"), time, key, cost, notional) with
            {
                KeyAlias = alias,
                ModelGroup = model,
                Provider = provider,
                Workspace = workspace,
                InputTokens = tokens,
                OutputTokens = tokens * 2,
                CacheReadTokens = tokens * 3,
                CacheWriteTokens = tokens * 4,
            };

        await Store.WriteLedgerAsync(
        [
            R(w.AddMilliseconds(-1), keyA, "alpha-old", "gpt", "openai", "ws1", 100m, 100m, 100000),
            R(w.AddHours(1).AddMinutes(5), keyA, "alpha-old", "gpt", "openai", "ws1", 0.000123456m, 0.000123456m, 1),
            R(w.AddHours(1).AddMinutes(30), keyA, "alpha", "claude", "anthropic", "ws1", 1.1m, 2.2m, 10),
            R(w.AddHours(25), keyB, "beta", "gpt", "openai", "ws2", 0.5m, 0.75m, 100),
            R(w.AddHours(26), keyA, "alpha", "gpt", "openai", "ws2", 0.000000001m, 0m, 1000),
            R(w.AddDays(2), keyA, "alpha", "gpt", "openai", "ws1", 1000m, 1000m, 10000),
        ], Ct).WaitAsync(Timeout, Ct);
        return (w, keyA, keyB);
    }

    [Fact]
    public async Task Spend_by_key_totals_each_key_names_its_latest_alias_and_orders_by_cost()
    {
        var (w, keyA, keyB) = await SeedSpendAsync();

        var groups = await Store.QuerySpendAsync(new SpendQuery("key", From: w, To: w.AddDays(2)), Ct).WaitAsync(Timeout, Ct);

        groups.Count.ShouldBe(2);
        groups[0].ShouldBe(new SpendGroup
        {
            Group = keyA,
            KeyId = keyA,
            KeyAlias = "alpha",
            Requests = 3,
            InputTokens = 1011,
            OutputTokens = 2022,
            CacheReadTokens = 3033,
            CacheWriteTokens = 4044,
            Cost = 1.100123457m,
            NotionalCost = 2.200123456m,
        });
        groups[1].ShouldBe(new SpendGroup
        {
            Group = keyB,
            KeyId = keyB,
            KeyAlias = "beta",
            Requests = 1,
            InputTokens = 100,
            OutputTokens = 200,
            CacheReadTokens = 300,
            CacheWriteTokens = 400,
            Cost = 0.5m,
            NotionalCost = 0.75m,
        });
    }

    [Fact]
    public async Task Spend_by_model_and_by_provider_order_by_cost_descending()
    {
        var (w, _, _) = await SeedSpendAsync();

        var byModel = await Store.QuerySpendAsync(new SpendQuery("model", From: w, To: w.AddDays(2)), Ct).WaitAsync(Timeout, Ct);
        byModel.Select(g => (g.Group, g.Requests, g.Cost)).ShouldBe([("claude", 1L, 1.1m), ("gpt", 3L, 0.500123457m)]);
        byModel.ShouldAllBe(g => g.KeyId == null && g.KeyAlias == null);

        var byProvider = await Store.QuerySpendAsync(new SpendQuery("provider", From: w, To: w.AddDays(2)), Ct).WaitAsync(Timeout, Ct);
        byProvider.Select(g => (g.Group, g.Requests, g.Cost, g.NotionalCost)).ShouldBe(
            [("anthropic", 1L, 1.1m, 2.2m), ("openai", 3L, 0.500123457m, 0.750123456m)]);
    }

    [Fact]
    public async Task Spend_by_day_and_by_hour_are_utc_buckets_in_time_order()
    {
        var (w, _, _) = await SeedSpendAsync();
        static string Iso(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture);

        var byDay = await Store.QuerySpendAsync(new SpendQuery("day", From: w, To: w.AddDays(2)), Ct).WaitAsync(Timeout, Ct);
        byDay.Select(g => (g.Group, g.Requests, g.Cost)).ShouldBe(
            [(Iso(w), 2L, 1.100123456m), (Iso(w.AddDays(1)), 2L, 0.500000001m)]);
        byDay[0].Group.ShouldEndWith("T00:00:00Z");

        var byHour = await Store.QuerySpendAsync(new SpendQuery("hour", From: w, To: w.AddDays(2)), Ct).WaitAsync(Timeout, Ct);
        byHour.Select(g => (g.Group, g.Requests, g.Cost)).ShouldBe(
            [(Iso(w.AddHours(1)), 2L, 1.100123456m), (Iso(w.AddHours(25)), 1L, 0.5m), (Iso(w.AddHours(26)), 1L, 0.000000001m)]);
    }

    [Fact]
    public async Task Spend_filters_by_key_workspace_model_group_and_provider()
    {
        var (w, keyA, keyB) = await SeedSpendAsync();
        var to = w.AddDays(2);

        var onlyB = await Store.QuerySpendAsync(new SpendQuery("key", From: w, To: to, KeyId: keyB), Ct).WaitAsync(Timeout, Ct);
        onlyB.Select(g => (g.Group, g.Cost)).ShouldBe([(keyB, 0.5m)]);

        var ws1ByModel = await Store.QuerySpendAsync(new SpendQuery("model", From: w, To: to, Workspace: "ws1"), Ct).WaitAsync(Timeout, Ct);
        ws1ByModel.Select(g => (g.Group, g.Cost)).ShouldBe([("claude", 1.1m), ("gpt", 0.000123456m)]);

        var gptByKey = await Store.QuerySpendAsync(new SpendQuery("key", From: w, To: to, ModelGroup: "gpt"), Ct).WaitAsync(Timeout, Ct);
        gptByKey.Select(g => (g.Group, g.Requests, g.Cost)).ShouldBe([(keyB, 1L, 0.5m), (keyA, 2L, 0.000123457m)]);

        var anthropicByDay = await Store.QuerySpendAsync(new SpendQuery("day", From: w, To: to, Provider: "anthropic"), Ct).WaitAsync(Timeout, Ct);
        anthropicByDay.Select(g => g.Cost).ShouldBe([1.1m]);

        // Without a time range the rows just outside the window count too.
        var allOfA = await Store.QuerySpendAsync(new SpendQuery("key", KeyId: keyA), Ct).WaitAsync(Timeout, Ct);
        allOfA.Single().Cost.ShouldBe(1101.100123457m);
        allOfA.Single().Requests.ShouldBe(5);

        var fromOnly = await Store.QuerySpendAsync(new SpendQuery("key", From: w.AddHours(25), KeyId: keyA), Ct).WaitAsync(Timeout, Ct);
        fromOnly.Single().Cost.ShouldBe(1000.000000001m);
    }

    [Fact]
    public async Task Spend_groups_rows_without_a_model_group_under_an_empty_name()
    {
        var w = NewWindow();
        await Store.WriteLedgerAsync([Row(NewId("r"), w.AddHours(1), NewId("k"), cost: 0.25m) with { ModelGroup = null }], Ct).WaitAsync(Timeout, Ct);

        var groups = await Store.QuerySpendAsync(new SpendQuery("model", From: w, To: w.AddDays(1)), Ct).WaitAsync(Timeout, Ct);

        groups.Select(g => (g.Group, g.Cost)).ShouldBe([("", 0.25m)]);
    }

    [Fact]
    public async Task Spend_with_an_empty_range_is_empty()
    {
        var w = NewWindow();
        (await Store.QuerySpendAsync(new SpendQuery("day", From: w, To: w.AddDays(1)), Ct).WaitAsync(Timeout, Ct)).ShouldBeEmpty();
    }

    [Fact]
    public async Task Spend_with_an_unknown_group_by_is_refused()
    {
        await Should.ThrowAsync<ArgumentException>(
            Store.QuerySpendAsync(new SpendQuery("week"), Ct).WaitAsync(Timeout, Ct));
    }

    // ---- audit ----

    [Fact]
    public async Task Audit_rows_round_trip_newest_first_and_duplicates_are_ignored()
    {
        // Far past every other test's window, so these are the newest audit rows.
        var t = new DateTimeOffset(2099, 9, 1, 0, 0, 0, TimeSpan.Zero);
        var mint = new AuditRecord { Id = NewId("a"), Time = t.AddMilliseconds(1), Actor = "master", Action = "key.mint", Target = "k1", DetailsJson = "{\"alias\":\"postiz\"}" };
        var reload = new AuditRecord { Id = NewId("a"), Time = t.AddMilliseconds(2), Actor = "master", Action = "config.reload" };
        var revoke = new AuditRecord { Id = NewId("a"), Time = t.AddMilliseconds(3), Actor = "oidc:alice", Action = "key.revoke", Target = "k1" };

        await Store.WriteAuditAsync([mint, reload], Ct).WaitAsync(Timeout, Ct);
        await Store.WriteAuditAsync([revoke, mint with { Action = "changed" }], Ct).WaitAsync(Timeout, Ct);
        await Store.WriteAuditAsync([], Ct).WaitAsync(Timeout, Ct);

        var rows = await Store.QueryAuditAsync(3, Ct).WaitAsync(Timeout, Ct);
        rows.ShouldBe([revoke, reload, mint]);
        (await Store.QueryAuditAsync(1, Ct).WaitAsync(Timeout, Ct)).ShouldBe([revoke]);
        (await Store.QueryAuditAsync(0, Ct).WaitAsync(Timeout, Ct)).ShouldBeEmpty();
    }

    // ---- helpers ----

    private static byte[] Hash(byte seed) => Enumerable.Range(0, 32).Select(i => (byte)(seed + (i * 7))).ToArray();

    private static VirtualKeyRecord FullKey(string id, DateTimeOffset t) => new()
    {
        Id = id,
        Alias = "postiz",
        Workspace = "marketing",
        Tier = "pro",
        Models = ["gpt-5", "claude-sonnet", "ünïcødé"],
        MaxBudget = 12.345678901m,
        BudgetPeriod = "30d",
        SoftLimit = 0.8m,
        Rpm = 60,
        Tpm = 100_000,
        MaxParallel = 4,
        DataClasses = ["public", "internal"],
        ExpiresAt = t.AddDays(30).AddMilliseconds(999),
        MetadataJson = "{\"owner\":\"ops\",\"n\":1}",
        CreatedAt = t.AddMilliseconds(1),
        RotatedAt = t.AddHours(1).AddMilliseconds(2),
        RevokedAt = null,
        Status = "active",
        SecretHash = System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(id)),
        PreviousSecretHash = Hash(200),
        PreviousSecretExpiresAt = t.AddHours(2).AddMilliseconds(3),
        Hint = "tg-AbCd",
    };

    private static LedgerRecord Row(string requestId, DateTimeOffset time, string keyId, decimal cost = 0.01m, decimal? notional = null) => new()
    {
        RequestId = requestId,
        Time = time,
        KeyId = keyId,
        KeyAlias = "alias",
        ModelGroup = "gpt",
        Provider = "openai",
        Status = 200,
        Cost = cost,
        NotionalCost = notional ?? cost,
    };

    /// <summary>A row with every field set: the spool tests' full row, at this time, for this key.</summary>
    private static LedgerRecord FullLedger(string requestId, DateTimeOffset time, string keyId) =>
        Ledger.Rows.Full(requestId) with { Time = time, KeyId = keyId, Cost = 0.000123456m };

    private static void ShouldMatch(VirtualKeyRecord? actual, VirtualKeyRecord expected)
    {
        actual.ShouldNotBeNull();
        actual.Id.ShouldBe(expected.Id);
        actual.Alias.ShouldBe(expected.Alias);
        actual.Workspace.ShouldBe(expected.Workspace);
        actual.Tier.ShouldBe(expected.Tier);
        if (expected.Models is null)
        {
            actual.Models.ShouldBeNull();
        }
        else
        {
            actual.Models.ShouldNotBeNull().ShouldBe(expected.Models);
        }

        actual.MaxBudget.ShouldBe(expected.MaxBudget);
        actual.BudgetPeriod.ShouldBe(expected.BudgetPeriod);
        actual.SoftLimit.ShouldBe(expected.SoftLimit);
        actual.Rpm.ShouldBe(expected.Rpm);
        actual.Tpm.ShouldBe(expected.Tpm);
        actual.MaxParallel.ShouldBe(expected.MaxParallel);
        actual.DataClasses.ShouldBe(expected.DataClasses);
        actual.ExpiresAt.ShouldBe(expected.ExpiresAt);
        actual.MetadataJson.ShouldBe(expected.MetadataJson);
        actual.CreatedAt.ShouldBe(expected.CreatedAt);
        actual.RotatedAt.ShouldBe(expected.RotatedAt);
        actual.RevokedAt.ShouldBe(expected.RevokedAt);
        actual.Status.ShouldBe(expected.Status);
        actual.SecretHash.ShouldBe(expected.SecretHash);
        actual.PreviousSecretHash.ShouldBe(expected.PreviousSecretHash);
        actual.PreviousSecretExpiresAt.ShouldBe(expected.PreviousSecretExpiresAt);
        actual.Hint.ShouldBe(expected.Hint);
    }
}
