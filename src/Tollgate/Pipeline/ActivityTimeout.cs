namespace Tollgate.Pipeline;

/// <summary>
/// A cancellation that fires when no byte has moved for the timeout, not after a total time: a long
/// stream stays alive while bytes flow. Linked to the client's abort.
/// </summary>
internal sealed class ActivityTimeout : IDisposable
{
    private readonly CancellationTokenSource _source;
    private readonly TimeSpan _timeout;

    public ActivityTimeout(TimeSpan timeout, CancellationToken clientAborted)
    {
        _timeout = timeout;
        _source = CancellationTokenSource.CreateLinkedTokenSource(clientAborted);
        _source.CancelAfter(timeout);
    }

    public CancellationToken Token => _source.Token;

    /// <summary>Bytes moved: restart the clock.</summary>
    public void Touch() => _source.CancelAfter(_timeout);

    public void Dispose() => _source.Dispose();
}
