using System.Diagnostics;
using System.Globalization;
using System.Text;
using Tollgate.Ledger;
using Tollgate.Storage;
using Tollgate.Storage.Postgres;
using Tollgate.Storage.Sqlite;

// CPU per ledger row on the off-request path: spool append, store batch write (SQLite, and PostgreSQL when
// TOLLGATE_TEST_PG names a server). Process CPU time (all threads: the work, plus GC and the JIT) divided by
// rows, median of several rounds after a warm-up. Usage: dotnet run -c Release --project bench/micro [-- case ...]
// Cases: spool, read, sqlite, postgres, writer, crc. Knob: BENCH_ROUNDS (default 7).
var cases = args.Length > 0 ? args.ToHashSet(StringComparer.OrdinalIgnoreCase) : ["spool", "read", "sqlite", "postgres", "writer", "crc"];
var rounds = int.TryParse(Environment.GetEnvironmentVariable("BENCH_ROUNDS"), CultureInfo.InvariantCulture, out var r) ? r : 7;
Console.WriteLine($"# {RuntimeInfo()}; rounds {rounds}");
Console.WriteLine($"{"case",-34} {"µs CPU/row",11} {"µs wall/row",12} {"alloc B/row",12} {"of it kernel",11}");

var tmp = Directory.CreateTempSubdirectory("tollgate-bench-micro-").FullName;
try
{
    if (cases.Contains("spool"))
    {
        using var spool = LedgerSpool.Open(Path.Combine(tmp, "spool"));
        var batch = Realistic.Rows(0, 1000);
        SpoolPosition last = default;
        // Append is what the flush loop does per interval (frame every row, one write); the acknowledgement that
        // lets the spool delete written segments happens between rounds, outside the timing.
        Bench.Run("spool append, 1000-row flush", 1000, 20, rounds, () => last = spool.Append(batch)[^1],
            () => spool.Acknowledge(last, (int)spool.PendingRows));
    }

    if (cases.Contains("read"))
    {
        using var spool = LedgerSpool.Open(Path.Combine(tmp, "read"));
        spool.Append(Realistic.Rows(0, 1000));
        Bench.Run("spool read back (replay), 1000", 1000, 10, rounds, () =>
        {
            var (rows, _) = spool.Read(spool.Start, 1000);
            if (rows.Count != 1000)
            {
                throw new InvalidOperationException($"read {rows.Count} rows");
            }
        });
    }

    if (cases.Contains("sqlite"))
    {
        await using var store = new SqliteStore(Path.Combine(tmp, "bench.db"));
        await store.MigrateAsync(CancellationToken.None);
        StoreBench(store, "sqlite WriteLedgerAsync, 1000", rounds);
    }

    if (cases.Contains("postgres") && Environment.GetEnvironmentVariable("TOLLGATE_TEST_PG") is { Length: > 0 } pg)
    {
        var database = "tollgate_bench_" + Guid.NewGuid().ToString("N");
        await Postgres.ExecAsync(pg, $"CREATE DATABASE \"{database}\"");
        try
        {
            var connection = new Npgsql.NpgsqlConnectionStringBuilder(pg) { Database = database }.ConnectionString;
            await using var store = new PostgresStore(connection);
            await store.MigrateAsync(CancellationToken.None);
            StoreBench(store, "postgres WriteLedgerAsync (client)", rounds);
        }
        finally
        {
            Npgsql.NpgsqlConnection.ClearAllPools();
            await Postgres.ExecAsync(pg, $"DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)");
        }
    }

    if (cases.Contains("writer"))
    {
        // The whole off-request path as the gateway runs it: Enqueue, the flush loop (spool append + fsync every
        // 200 ms) and the write loop (batches of 1000 into SQLite). 4000 rows a flush is 20k requests/s.
        await using var store = new SqliteStore(Path.Combine(tmp, "writer.db"));
        await store.MigrateAsync(CancellationToken.None);
        var config = new Tollgate.Configuration.LedgerConfig { FlushMs = 200, SpoolPath = Path.Combine(tmp, "writer-spool") };
        using var writer = new LedgerWriter(store, config, TimeProvider.System, Microsoft.Extensions.Logging.Abstractions.NullLogger<LedgerWriter>.Instance);
        await writer.StartAsync(CancellationToken.None);
        const int PerFlush = 4000;
        const int Iterations = 4;
        var made = 0;
        List<List<LedgerRecord>> batches = [];
        var next = 0;
        Bench.Run("ledger path: writer+spool+sqlite", PerFlush, Iterations, rounds, () =>
        {
            var target = writer.Written + PerFlush;
            foreach (var row in batches[next++])
            {
                writer.Enqueue(row);
            }

            while (writer.Written < target)
            {
                Thread.Sleep(2);
            }
        }, () =>
        {
            batches = [.. Enumerable.Range(0, Iterations).Select(i => Realistic.Rows(1_000_000_000 + made + (i * PerFlush), PerFlush))];
            made += Iterations * PerFlush;
            next = 0;
        });
        await writer.StopAsync(CancellationToken.None);
    }

    if (cases.Contains("crc"))
    {
        // A typical spooled row is a few hundred bytes: compare the checksums on one that size.
        var payload = Encoding.UTF8.GetBytes(new string('x', 1) + string.Concat(Enumerable.Range(0, 60).Select(i => i.ToString("x8", CultureInfo.InvariantCulture))));
        payload = payload[..480];
        uint sink = 0;
        Bench.Run("crc: table CRC-32, 480 B", 1000, 200, rounds, () =>
        {
            for (var i = 0; i < 1000; i++)
            {
                sink ^= Tollgate.Ledger.Crc32.Compute(payload);
            }
        });
        Bench.Run("crc: System.IO.Hashing.Crc32, 480 B", 1000, 200, rounds, () =>
        {
            for (var i = 0; i < 1000; i++)
            {
                sink ^= System.IO.Hashing.Crc32.HashToUInt32(payload);
            }
        });
        Bench.Run("crc: BitOperations.Crc32C, 480 B", 1000, 200, rounds, () =>
        {
            for (var i = 0; i < 1000; i++)
            {
                sink ^= Crc32C.Compute(payload);
            }
        });
        GC.KeepAlive(sink);
    }
}
finally
{
    Directory.Delete(tmp, recursive: true);
}

// Batches of 1000 fresh rows (new request ids: a replay of stored ids would be cheaper), made before each round.
static void StoreBench(IStore store, string name, int rounds)
{
    const int Iterations = 10;
    var made = 0;
    List<List<LedgerRecord>> batches = [];
    var next = 0;
    Bench.Run(name, 1000, Iterations, rounds, () =>
    {
        store.WriteLedgerAsync(batches[next++], CancellationToken.None).GetAwaiter().GetResult();
    }, () =>
    {
        batches = [.. Enumerable.Range(0, Iterations).Select(i => Realistic.Rows(made + i * 1000, 1000))];
        made += Iterations * 1000;
        next = 0;
    });
}

static string RuntimeInfo() =>
    $".NET {Environment.Version}, {System.Runtime.InteropServices.RuntimeInformation.OSArchitecture}, {Environment.ProcessorCount} cores, " +
    $"Sse42.X64 {System.Runtime.Intrinsics.X86.Sse42.X64.IsSupported}";

internal static class Bench
{
    /// <summary>
    /// Warms up (at least 40 iterations and 2 s, so the hot methods reach tier 1 and no JIT runs while measuring),
    /// then times <paramref name="rounds"/> rounds of <paramref name="iterations"/> calls. <paramref name="setup"/>
    /// runs before each round (and each warm-up round), outside the timing.
    /// </summary>
    public static void Run(string name, int rowsPerIteration, int iterations, int rounds, Action iteration, Action? setup = null)
    {
        var warm = Stopwatch.StartNew();
        for (var done = 0; done < 40 || warm.Elapsed < TimeSpan.FromSeconds(2);)
        {
            setup?.Invoke();
            for (var i = 0; i < iterations; i++, done++)
            {
                iteration();
            }
        }

        var cpu = new List<double>();
        var wall = new List<double>();
        var alloc = new List<double>();
        var kernel = new List<double>();
        var process = Process.GetCurrentProcess();
        for (var round = 0; round < rounds; round++)
        {
            setup?.Invoke();
            GC.Collect();
            GC.WaitForPendingFinalizers();
            process.Refresh();
            var cpu0 = process.TotalProcessorTime;
            var sys0 = process.PrivilegedProcessorTime;
            var alloc0 = GC.GetTotalAllocatedBytes(precise: true);
            var sw = Stopwatch.StartNew();
            for (var i = 0; i < iterations; i++)
            {
                iteration();
            }

            sw.Stop();
            var alloc1 = GC.GetTotalAllocatedBytes(precise: true);
            process.Refresh();
            var rows = (double)rowsPerIteration * iterations;
            cpu.Add((process.TotalProcessorTime - cpu0).TotalMicroseconds / rows);
            kernel.Add((process.PrivilegedProcessorTime - sys0).TotalMicroseconds / rows);
            wall.Add(sw.Elapsed.TotalMicroseconds / rows);
            alloc.Add((alloc1 - alloc0) / rows);
        }

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{name,-34} {Median(cpu),11:F3} {Median(wall),12:F3} {Median(alloc),12:F0} {Median(kernel),11:F3}"));
    }

    private static double Median(List<double> values)
    {
        values.Sort();
        return values[values.Count / 2];
    }
}

/// <summary>Rows shaped like <c>GatewayContext.ToLedgerRecord</c> makes them: a served, streamed chat call with one attempt.</summary>
internal static class Realistic
{
    private static readonly DateTimeOffset Epoch = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);

    public static List<LedgerRecord> Rows(int from, int count)
    {
        var rows = new List<LedgerRecord>(count);
        for (var i = from; i < from + count; i++)
        {
            var time = Epoch.AddMilliseconds(i * 0.05);
            var latency = Math.Round(180 + (i % 997) * 0.731, 3);
            rows.Add(new LedgerRecord
            {
                RequestId = string.Create(CultureInfo.InvariantCulture, $"req_{time.ToUnixTimeMilliseconds():x12}Zq8rT2mB{i:x}"),
                Time = time,
                KeyId = $"key_{(i % 50):D4}c0ffee",
                KeyAlias = $"team-{i % 50}-ci",
                Workspace = "platform",
                Tier = "standard",
                Endpoint = "openai.chat",
                ModelRequested = "gpt-4o-mini",
                ModelGroup = "gpt-4o-mini",
                AttemptsJson = string.Create(CultureInfo.InvariantCulture,
                    $"[{{\"deployment\":\"openai-east/gpt-4o-mini\",\"status\":200,\"latency_ms\":{latency},\"error\":null}}]"),
                Deployment = "openai-east/gpt-4o-mini",
                Provider = "openai-east",
                Fallback = null,
                Status = 200,
                ErrorType = null,
                InputTokens = 1200 + i % 300,
                OutputTokens = 250 + i % 120,
                CacheReadTokens = i % 3 == 0 ? 1024 : 0,
                CacheWriteTokens = 0,
                ReasoningTokens = 0,
                Cost = 0.000315m + (i % 300) * 0.00000015m,
                NotionalCost = 0.000315m + (i % 300) * 0.00000015m,
                Currency = "USD",
                LatencyMs = latency,
                TtftMs = Math.Round(latency / 4, 3),
                Streamed = true,
                UserAgent = "OpenAI/Python 1.54.3",
                SessionId = i % 4 == 0 ? "3f0c2a9e-6c1b-4f7e-9d2a-1b8e5c7a4d10" : null,
                DataClasses = "internal",
            });
        }

        return rows;
    }
}

internal static class Postgres
{
    public static async Task ExecAsync(string connectionString, string sql)
    {
        await using var connection = new Npgsql.NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new Npgsql.NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }
}
