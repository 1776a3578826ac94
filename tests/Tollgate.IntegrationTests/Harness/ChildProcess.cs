using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;

namespace Tollgate.IntegrationTests.Harness;

/// <summary>
/// A long-running child process (aimock, the gateway) whose stdout and stderr are captured whole, so a
/// test can wait for a start-up line and later search everything the process printed.
/// </summary>
internal sealed class ChildProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly StringBuilder _stdout = new();
    private readonly Lock _gate = new();
    private readonly List<(Regex Pattern, TaskCompletionSource<Match> Found)> _waiters = [];
    private readonly TaskCompletionSource _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private ChildProcess(Process process, string displayName)
    {
        _process = process;
        DisplayName = displayName;
    }

    public string DisplayName { get; }

    public int Id => _process.Id;

    public bool HasExited => _exited.Task.IsCompleted;

    /// <summary>Everything written to stdout and stderr so far, interleaved by line.</summary>
    public string Output
    {
        get
        {
            lock (_gate)
            {
                return _output.ToString();
            }
        }
    }

    public static ChildProcess Start(
        string displayName,
        string fileName,
        IEnumerable<string> arguments,
        IReadOnlyDictionary<string, string?> environment,
        string? workingDirectory = null)
    {
        var info = new ProcessStartInfo(fileName)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory,
        };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        foreach (var (name, value) in environment)
        {
            if (value is null)
            {
                info.Environment.Remove(name);
            }
            else
            {
                info.Environment[name] = value;
            }
        }

        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        var child = new ChildProcess(process, displayName);
        process.OutputDataReceived += (_, e) => child.OnLine(e.Data, fromStdout: true);
        process.ErrorDataReceived += (_, e) => child.OnLine(e.Data, fromStdout: false);
        process.Exited += (_, _) => child.OnExited();
        if (!process.Start())
        {
            throw new InvalidOperationException($"{displayName} did not start ({fileName}).");
        }

        process.StandardInput.Close();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return child;
    }

    /// <summary>Waits for a line matching <paramref name="pattern"/>; fails with the output so far on timeout or exit.</summary>
    public async Task<Match> WaitForLineAsync(Regex pattern, TimeSpan timeout)
    {
        var found = new TaskCompletionSource<Match>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_gate)
        {
            foreach (var line in _output.ToString().Split('\n'))
            {
                var match = pattern.Match(line);
                if (match.Success)
                {
                    return match;
                }
            }

            _waiters.Add((pattern, found));
        }

        var winner = await Task.WhenAny(found.Task, _exited.Task, Task.Delay(timeout)).ConfigureAwait(false);
        if (winner == found.Task)
        {
            return await found.Task.ConfigureAwait(false);
        }

        var why = winner == _exited.Task ? "exited before printing it" : $"did not print it within {timeout.TotalSeconds:0} s";
        throw new InvalidOperationException(
            $"{DisplayName} {why} (waiting for /{pattern}/). Its output:\n{Output}");
    }

    /// <summary>Only what was written to stdout.</summary>
    public string StandardOutput
    {
        get
        {
            lock (_gate)
            {
                return _stdout.ToString();
            }
        }
    }

    /// <summary>SIGTERM first, so the process can shut down gracefully; SIGKILL after five seconds.</summary>
    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!HasExited)
            {
                using (var kill = Process.Start(new ProcessStartInfo("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])
                {
                    UseShellExecute = false,
                    RedirectStandardError = true,
                }))
                {
                    if (kill is not null)
                    {
                        await kill.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
                    }
                }

                await _exited.Task.WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
            }
        }
        catch (TimeoutException)
        {
            _process.Kill(entireProcessTree: true);
            await _exited.Task.WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        }
        finally
        {
            _process.Dispose();
        }
    }

    private void OnLine(string? line, bool fromStdout)
    {
        if (line is null)
        {
            return;
        }

        lock (_gate)
        {
            _output.Append(line).Append('\n');
            if (fromStdout)
            {
                _stdout.Append(line).Append('\n');
            }

            for (var i = _waiters.Count - 1; i >= 0; i--)
            {
                var match = _waiters[i].Pattern.Match(line);
                if (match.Success)
                {
                    _waiters[i].Found.TrySetResult(match);
                    _waiters.RemoveAt(i);
                }
            }
        }
    }

    private void OnExited() => _exited.TrySetResult();

    /// <summary>Runs a command to completion with a hard timeout, killing its whole tree if it overruns.</summary>
    public static async Task<CompletedRun> RunAsync(
        string fileName,
        IEnumerable<string> arguments,
        IReadOnlyDictionary<string, string?> environment,
        string workingDirectory,
        TimeSpan timeout)
    {
        var child = Start(Path.GetFileName(fileName), fileName, arguments, environment, workingDirectory);
        var stopwatch = Stopwatch.StartNew();
        try
        {
            await child._exited.Task.WaitAsync(timeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            child._process.Kill(entireProcessTree: true);
            throw new TimeoutException(
                $"{fileName} did not finish within {timeout.TotalSeconds:0} s. Its output so far:\n{child.Output}");
        }

        // The exit event can fire before the last redirected lines are delivered; WaitForExit drains them.
        await child._process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        var run = new CompletedRun(child._process.ExitCode, child.StandardOutput, child.Output, stopwatch.Elapsed);
        child._process.Dispose();
        return run;
    }
}

/// <param name="StandardOutput">stdout alone.</param>
/// <param name="Output">stdout and stderr interleaved, for failure messages.</param>
internal sealed record CompletedRun(int ExitCode, string StandardOutput, string Output, TimeSpan Elapsed);
