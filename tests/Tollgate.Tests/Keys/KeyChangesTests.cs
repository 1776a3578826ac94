using Microsoft.Extensions.Logging.Abstractions;
using Tollgate.Keys;
using Tollgate.Storage;

namespace Tollgate.Tests.Keys;

public sealed class KeyChangesTests
{
    private static readonly DateTimeOffset Start = new(2025, 3, 1, 0, 0, 0, TimeSpan.Zero);

    private static VirtualKeyRecord Key(string id, string secret, string status = "active") => new()
    {
        Id = id,
        CreatedAt = Start,
        SecretHash = KeySecrets.Hash(secret),
        Status = status,
    };

    [Fact]
    public void A_refresh_read_before_a_revocation_does_not_bring_the_key_back()
    {
        var clock = new ManualTimeProvider(Start);
        var cache = new KeyCache(clock);
        var changes = new KeyChanges(cache, NoKeyChangePublisher.Instance, clock, NullLogger<KeyChanges>.Instance);
        var secret = KeySecrets.NewSecret();
        changes.ApplyRefresh([Key("key_a", secret)], changes.Mark());
        cache.Authenticate(secret).ShouldNotBeNull();

        // The refresher takes its mark and reads the list; meanwhile the key is revoked.
        var mark = changes.Mark();
        var staleList = new[] { Key("key_a", secret) };
        changes.Apply(Key("key_a", secret, "revoked"));
        changes.ApplyRefresh(staleList, mark);

        cache.Authenticate(secret).ShouldBeNull("the revocation is newer than the list");

        // A list read after the change is taken as it is.
        changes.ApplyRefresh([Key("key_a", secret, "revoked")], changes.Mark());
        cache.Authenticate(secret).ShouldBeNull();
    }

    [Fact]
    public void A_key_minted_during_a_refresh_is_kept()
    {
        var clock = new ManualTimeProvider(Start);
        var cache = new KeyCache(clock);
        var changes = new KeyChanges(cache, NoKeyChangePublisher.Instance, clock, NullLogger<KeyChanges>.Instance);
        var secret = KeySecrets.NewSecret();

        var mark = changes.Mark();
        changes.Apply(Key("key_new", secret));
        changes.ApplyRefresh([], mark);

        cache.Authenticate(secret).ShouldNotBeNull();
    }

    [Theory]
    [InlineData("revoked:key_abc", "Revoked", "key_abc")]
    [InlineData("minted:key_x:y", "Minted", "key_x:y")]
    public void Channel_messages_round_trip(string message, string kindName, string id)
    {
        var kind = Enum.Parse<KeyChangeKind>(kindName);
        RedisKeyChannel.TryParse(message, out var parsedKind, out var parsedId).ShouldBeTrue();
        parsedKind.ShouldBe(kind);
        parsedId.ShouldBe(id);
        RedisKeyChannel.Format(kind, id).ShouldBe(message);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("revoked:")]
    [InlineData(":key")]
    [InlineData("exploded:key_a")]
    public void Malformed_channel_messages_are_ignored(string? message) =>
        RedisKeyChannel.TryParse(message, out _, out _).ShouldBeFalse();
}
