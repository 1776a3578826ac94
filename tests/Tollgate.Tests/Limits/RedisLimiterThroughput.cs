using System.Diagnostics;
using System.Globalization;
using StackExchange.Redis;
using Tollgate.Limits;

namespace Tollgate.Tests.Limits;

/// <summary>
/// A rough throughput check of <see cref="RedisLimiter"/>, run by hand (explicit: never part of a normal run):
/// N workers each admit and settle in a loop against the load benchmark's key (rpm 1,000,000 and a 30d budget of
/// 1,000,000) and report admissions per second, Redis server CPU per admission (<c>INFO cpu</c>), EVALSHA
/// µs per call (<c>INFO commandstats</c>) and this process's CPU per admission. Knobs: <c>TOLLGATE_BENCH_SECONDS</c>
/// (default 8), <c>TOLLGATE_BENCH_WORKERS</c> (64), <c>TOLLGATE_BENCH_RPM</c> (1000000, or none), <c>TOLLGATE_BENCH_OUT</c> (a file the summary is appended to).
/// <code>dotnet test --project tests/Tollgate.Tests --no-build -- --filter-method '*Admit_and_settle_throughput*'</code>
/// </summary>
public sealed class RedisLimiterThroughput
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [Fact(Explicit = true)]
    public async Task Admit_and_settle_throughput()
    {
        var ct = TestContext.Current.CancellationToken;
        var address = Environment.GetEnvironmentVariable(RedisFixture.EnvironmentVariable) ?? throw new InvalidOperationException(RedisFixture.Missing);
        var seconds = int.Parse(Environment.GetEnvironmentVariable("TOLLGATE_BENCH_SECONDS") ?? "8", CultureInfo.InvariantCulture);
        var workers = int.Parse(Environment.GetEnvironmentVariable("TOLLGATE_BENCH_WORKERS") ?? "64", CultureInfo.InvariantCulture);

        var adminOptions = RedisConnection.Parse(address);
        adminOptions.AllowAdmin = true;
        await using var admin = await ConnectionMultiplexer.ConnectAsync(adminOptions).WaitAsync(Timeout, ct);
        await using var connection = await ConnectionMultiplexer.ConnectAsync(RedisConnection.Parse(address)).WaitAsync(Timeout, ct);
        var server = admin.GetServers()[0];
        var options = new LimiterOptions { RedisPrefix = "tgbench-" + Guid.NewGuid().ToString("N")[..8] };
        var limiter = new RedisLimiter(connection, options, (_, _, _, _, _) => Task.FromResult(0m), ownsConnection: false);
        var rpm = Environment.GetEnvironmentVariable("TOLLGATE_BENCH_RPM") is { Length: > 0 } r ? (r == "none" ? (int?)null : int.Parse(r, CultureInfo.InvariantCulture)) : 1_000_000;
        var key = new KeyLimits("bench-key", null, new BudgetSpec(1_000_000m, "30d", Anchor: DateTimeOffset.UtcNow.AddDays(-1)), rpm, null, null);
        var request = new AdmissionRequest(key, null, 0.0001m, 40);

        long count = 0, refused = 0;
        var measuring = false;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var loops = Enumerable.Range(0, workers).Select(_ => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                var admission = await limiter.AdmitAsync(request, CancellationToken.None);
                if (!admission.Admitted)
                {
                    // Fast enough, and the key's rpm of 1,000,000 is reached: that is the limit working.
                    admission.Refusal.ShouldBe(LimitKind.RateLimitRpm, admission.Message);
                    Interlocked.Increment(ref refused);
                }

                await limiter.SettleAsync(admission, 0.00005m, 30, CancellationToken.None);
                if (admission.Admitted && Volatile.Read(ref measuring))
                {
                    Interlocked.Increment(ref count);
                }
            }
        }, CancellationToken.None)).ToArray();

        await Task.Delay(TimeSpan.FromSeconds(2), ct); // warm-up: JIT, script cache
        await server.ExecuteAsync("CONFIG", "RESETSTAT").WaitAsync(Timeout, ct);
        var cpuBefore = await RedisCpuAsync(server);
        var processBefore = Process.GetCurrentProcess().TotalProcessorTime;
        var statsBefore = limiter.Stats;
        var clock = Stopwatch.StartNew();
        Volatile.Write(ref measuring, true);
        await Task.Delay(TimeSpan.FromSeconds(seconds), ct);
        Volatile.Write(ref measuring, false);
        var elapsed = clock.Elapsed;
        var admitted = Interlocked.Read(ref count);
        var processAfter = Process.GetCurrentProcess().TotalProcessorTime;
        var statsAfter = limiter.Stats;
        var cpuAfter = await RedisCpuAsync(server);
        var stats = (string?)await server.ExecuteAsync("INFO", "commandstats").WaitAsync(Timeout, ct) ?? "";
        await stop.CancelAsync();
        await Task.WhenAll(loops).WaitAsync(Timeout, ct);
        await limiter.DisposeAsync();

        var evalsha = stats.Split('\n').FirstOrDefault(l => l.StartsWith("cmdstat_evalsha:", StringComparison.Ordinal))?.Trim() ?? "(no evalsha)";
        var summary = string.Create(CultureInfo.InvariantCulture,
            $"{DateTimeOffset.UtcNow:u} workers={workers} rpm={rpm?.ToString(CultureInfo.InvariantCulture) ?? "none"} refused={Interlocked.Read(ref refused)} admit+settle/s={admitted / elapsed.TotalSeconds:F0} " +
            $"redis_cpu_us_per_admission={(cpuAfter - cpuBefore) * 1e6 / Math.Max(1, admitted):F2} " +
            $"client_cpu_us_per_admission={(processAfter - processBefore).TotalMicroseconds / Math.Max(1, admitted):F2} " +
            $"calls={statsAfter.Calls - statsBefore.Calls} admissions_per_call={(statsAfter.Admissions - statsBefore.Admissions) / (double)Math.Max(1, statsAfter.Calls - statsBefore.Calls):F1} " +
            $"settlements_per_call={(statsAfter.Settlements - statsBefore.Settlements) / (double)Math.Max(1, statsAfter.Calls - statsBefore.Calls):F1} {evalsha}");
        TestContext.Current.TestOutputHelper?.WriteLine(summary);
        if (Environment.GetEnvironmentVariable("TOLLGATE_BENCH_OUT") is { Length: > 0 } path)
        {
            await File.AppendAllTextAsync(path, summary + Environment.NewLine, ct);
        }

        admitted.ShouldBeGreaterThan(0);
    }

    private static async Task<double> RedisCpuAsync(IServer server)
    {
        var info = (string?)await server.ExecuteAsync("INFO", "cpu").WaitAsync(Timeout) ?? "";
        double total = 0;
        foreach (var line in info.Split('\n'))
        {
            var parts = line.Trim().Split(':');
            if (parts.Length == 2 && parts[0] is "used_cpu_sys" or "used_cpu_user")
            {
                total += double.Parse(parts[1], CultureInfo.InvariantCulture);
            }
        }

        return total;
    }
}
