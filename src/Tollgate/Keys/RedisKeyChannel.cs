using System.Globalization;
using StackExchange.Redis;
using Tollgate.Storage;

namespace Tollgate.Keys;

/// <summary>
/// Key-change fan-out over Redis pub/sub: each change is published as <c>kind:keyId</c>, and every replica
/// (this one too) reloads that key from the store into its cache. A revocation is applied from the message
/// itself first, so it holds even while the store is slow. Messages missed while Redis is unreachable are
/// covered by the periodic refresh (<see cref="KeyRefresher"/>).
/// </summary>
internal sealed class RedisKeyChannel : IKeyChangePublisher
{
    private readonly IConnectionMultiplexer _redis;

    public RedisKeyChannel(IConnectionMultiplexer redis, string prefix = "tg")
    {
        _redis = redis;
        // Pub/sub ignores database numbers; naming the database keeps deployments that share a server apart.
        var database = redis is ConnectionMultiplexer { } multiplexer
            ? ConfigurationOptions.Parse(multiplexer.Configuration).DefaultDatabase ?? 0
            : 0;
        Name = string.Create(CultureInfo.InvariantCulture, $"{prefix}:{database}:keys");
    }

    public string Name { get; }

    public RedisChannel Channel => RedisChannel.Literal(Name);

    public IConnectionMultiplexer Connection => _redis;

    public async Task PublishAsync(string keyId, KeyChangeKind kind, CancellationToken cancellationToken)
    {
        await _redis.GetSubscriber().PublishAsync(Channel, Format(kind, keyId)).WaitAsync(TimeSpan.FromSeconds(5), cancellationToken);
    }

    internal static string Format(KeyChangeKind kind, string keyId) => kind.ToString().ToLowerInvariant() + ":" + keyId;

    internal static bool TryParse(string? message, out KeyChangeKind kind, out string keyId)
    {
        kind = default;
        keyId = string.Empty;
        var colon = message?.IndexOf(':', StringComparison.Ordinal) ?? -1;
        if (colon <= 0 || colon == message!.Length - 1 || !Enum.TryParse(message.AsSpan(0, colon), ignoreCase: true, out kind))
        {
            return false;
        }

        keyId = message[(colon + 1)..];
        return true;
    }
}

/// <summary>Receives key changes from every replica and brings this replica's cache up to date.</summary>
internal sealed class KeyChangeSubscriber(RedisKeyChannel channel, KeyChanges changes, IStore store, TimeProvider time, ILogger<KeyChangeSubscriber> logger) : BackgroundService
{
    private static readonly TimeSpan ReloadTimeout = TimeSpan.FromSeconds(5);
    private ChannelMessageQueue? _queue;

    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        // Subscribed before the server takes requests, so no change made after start-up is missed.
        _queue = await channel.Connection.GetSubscriber().SubscribeAsync(channel.Channel).WaitAsync(TimeSpan.FromSeconds(10), cancellationToken);
        KeysLog.Subscribed(logger, channel.Name);
        await base.StartAsync(cancellationToken);
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_queue is not null)
        {
            await _queue.UnsubscribeAsync();
        }

        await base.StopAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var queue = _queue!;
        while (!stoppingToken.IsCancellationRequested)
        {
            ChannelMessage message;
            try
            {
                message = await queue.ReadAsync(stoppingToken);
            }
            catch (Exception ex) when (ex is OperationCanceledException or System.Threading.Channels.ChannelClosedException)
            {
                return;
            }

            if (RedisKeyChannel.TryParse(message.Message, out var kind, out var keyId))
            {
                await ApplyAsync(kind, keyId, stoppingToken);
            }
        }
    }

    internal async Task ApplyAsync(KeyChangeKind kind, string keyId, CancellationToken cancellationToken)
    {
        if (kind == KeyChangeKind.Revoked && changes.Cache.FindById(keyId) is { } cached && cached.Record.Status != "revoked")
        {
            changes.Apply(cached.Record with
            {
                Status = "revoked",
                RevokedAt = cached.Record.RevokedAt ?? time.GetUtcNow(),
                PreviousSecretHash = null,
                PreviousSecretExpiresAt = null,
            });
        }

        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(ReloadTimeout);
            if (await store.GetKeyAsync(keyId, timeout.Token) is { } record)
            {
                changes.Apply(record);
            }
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
        {
            KeysLog.ReloadFailed(logger, keyId, ex.GetType().Name);
        }
    }
}
