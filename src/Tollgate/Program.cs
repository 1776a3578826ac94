namespace Tollgate;

internal static class Program
{
    public static int Main(string[] args)
    {
        // Upstream socket completions run inline on the socket engine's thread instead of hopping to the
        // thread pool: on a gateway every request waits on an upstream socket, and the hop (a wake-up and a
        // context switch) measurably costs throughput on small machines. Nothing on the request path blocks.
        // An operator can opt out by setting the variable to 0 before start.
        DefaultUnlessSet("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS", "1");

        // The host's own config files (appsettings*.json, which Tollgate does not use; its config is tollgate.yaml,
        // watched by ConfigMonitor) are watched for changes by default, and that watcher covers the content root
        // recursively: with the SQLite store and the spool under ./data, every ledger write then woke the watcher
        // thread (about a thousand inotify events a second under load, each with a stat call).
        DefaultUnlessSet("DOTNET_hostBuilder__reloadConfigOnChange", "false");

        return TollgateHost.Run(args);
    }

    /// <summary>Sets a runtime or host variable for this process, unless the operator has set it.</summary>
    private static void DefaultUnlessSet(string name, string value)
    {
        if (Environment.GetEnvironmentVariable(name) is null)
        {
            Environment.SetEnvironmentVariable(name, value);
        }
    }
}
