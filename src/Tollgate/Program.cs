namespace Tollgate;

internal static class Program
{
    public static int Main(string[] args) => TollgateHost.Run(args);
}
