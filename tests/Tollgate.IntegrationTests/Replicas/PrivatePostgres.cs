using System.Net;
using System.Net.Sockets;
using Npgsql;
using Tollgate.IntegrationTests.Harness;

namespace Tollgate.IntegrationTests.Replicas;

/// <summary>
/// A PostgreSQL cluster of this test class's own (initdb into a temp folder, on a free loopback port), so a
/// test can stop and start the database without disturbing every other test that shares the suite's
/// cluster. Uses the binaries and the OS user that <c>./test.sh</c> exports (<c>TOLLGATE_TEST_PG_BIN</c>,
/// <c>TOLLGATE_TEST_PG_OSUSER</c>); pg_ctl refuses to run as root, so it runs as that user.
/// </summary>
internal sealed class PrivatePostgres : IAsyncDisposable
{
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(60);
    private readonly string _bin;
    private readonly string? _osUser;
    private readonly string _root;

    private PrivatePostgres(string bin, string? osUser, string root, int port)
    {
        _bin = bin;
        _osUser = osUser;
        _root = root;
        Port = port;
    }

    public int Port { get; }

    private string DataDir => Path.Combine(_root, "data");

    /// <summary>Superuser connection to the <c>postgres</c> database (trust auth on loopback).</summary>
    public string ConnectionString(string database = "postgres") =>
        $"Host=127.0.0.1;Port={Port};Username=postgres;Database={database};Timeout=5;Command Timeout=15";

    public static async Task<PrivatePostgres> StartAsync()
    {
        var bin = Environment.GetEnvironmentVariable("TOLLGATE_TEST_PG_BIN");
        if (string.IsNullOrWhiteSpace(bin) || !File.Exists(Path.Combine(bin, "pg_ctl")))
        {
            throw new InvalidOperationException("TOLLGATE_TEST_PG_BIN is not set (or has no pg_ctl); run the tests with ./test.sh, which exports it.");
        }

        var osUser = Environment.GetEnvironmentVariable("TOLLGATE_TEST_PG_OSUSER");
        var runAs = !string.IsNullOrWhiteSpace(osUser) && osUser != Environment.UserName ? osUser : null;
        var root = Directory.CreateTempSubdirectory("tollgate-pg-").FullName;
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(root, (UnixFileMode)0b111_101_101);
        }
        var pg = new PrivatePostgres(bin, runAs, root, FreePort());
        try
        {
            if (runAs is not null)
            {
                await RunAsync("chown", ["-R", runAs, root]);
            }

            await pg.RunPgAsync("initdb", ["-D", pg.DataDir, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8", "-N"]);
            await pg.StartServerAsync();
            return pg;
        }
        catch
        {
            await pg.DisposeAsync();
            throw;
        }
    }

    public Task StartServerAsync() => RunPgAsync("pg_ctl",
    [
        "-D", DataDir, "-l", Path.Combine(_root, "server.log"), "-w", "-t", "30", "start",
        "-o", $"-c listen_addresses=127.0.0.1 -p {Port} -c unix_socket_directories={_root} -c fsync=off -c synchronous_commit=off -c max_connections=200",
    ]);

    /// <summary>Stops the server at once, dropping every client connection (pg_ctl -m fast).</summary>
    public Task StopServerAsync() => RunPgAsync("pg_ctl", ["-D", DataDir, "-m", "fast", "-w", "-t", "30", "stop"]);

    public async Task<string> CreateDatabaseAsync()
    {
        var name = "tg_" + Guid.NewGuid().ToString("N")[..12];
        await using var connection = new NpgsqlConnection(ConnectionString());
        await connection.OpenAsync().WaitAsync(CommandTimeout);
        await using var command = new NpgsqlCommand($"CREATE DATABASE {name}", connection);
        await command.ExecuteNonQueryAsync().WaitAsync(CommandTimeout);
        return ConnectionString(name);
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (File.Exists(Path.Combine(DataDir, "postmaster.pid")))
            {
                await RunPgAsync("pg_ctl", ["-D", DataDir, "-m", "immediate", "-w", "-t", "20", "stop"]);
            }
        }
        catch (Exception ex) when (ex is InvalidOperationException or TimeoutException)
        {
        }

        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    private Task RunPgAsync(string tool, IEnumerable<string> arguments)
    {
        var path = Path.Combine(_bin, tool);
        return _osUser is null ? RunAsync(path, arguments) : RunAsync("runuser", ["-u", _osUser, "--", path, .. arguments]);
    }

    private static async Task RunAsync(string file, IEnumerable<string> arguments)
    {
        var run = await ChildProcess.RunAsync(file, arguments, new Dictionary<string, string?>(), Path.GetTempPath(), CommandTimeout);
        if (run.ExitCode != 0)
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', arguments)} exited with {run.ExitCode}:\n{run.Output}");
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}
