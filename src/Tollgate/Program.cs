namespace Tollgate;

internal static class Program
{
    public static int Main(string[] args)
    {
        // Upstream socket completions run inline on the socket engine's thread instead of hopping to the
        // thread pool: on a gateway every request waits on an upstream socket, and the hop (a wake-up and a
        // context switch) measurably costs throughput on small machines. Nothing on the request path blocks.
        // An operator can opt out by setting the variable to 0 before start.
        if (Environment.GetEnvironmentVariable("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS") is null)
        {
            Environment.SetEnvironmentVariable("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS", "1");
        }

        return TollgateHost.Run(args);
    }
}
