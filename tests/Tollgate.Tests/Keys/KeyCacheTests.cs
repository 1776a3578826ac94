using Microsoft.AspNetCore.Http;
using Tollgate.Keys;
using Tollgate.Storage;

namespace Tollgate.Tests.Keys;

public sealed class KeyCacheTests
{
    private static readonly DateTimeOffset Start = new(2026, 11, 23, 12, 0, 0, TimeSpan.Zero);

    private static (VirtualKeyRecord Record, string Secret) NewKey(string id = "key_1")
    {
        var secret = KeySecrets.NewSecret();
        return (new VirtualKeyRecord { Id = id, CreatedAt = Start, SecretHash = KeySecrets.Hash(secret) }, secret);
    }

    [Fact]
    public void Minted_secrets_have_the_tg_prefix_and_40_base62_characters()
    {
        var secret = KeySecrets.NewSecret();
        secret.ShouldStartWith("tg-");
        secret.Length.ShouldBe(43);
        secret[3..].ShouldAllBe(c => char.IsAsciiLetterOrDigit(c));
        KeySecrets.NewSecret().ShouldNotBe(secret);
    }

    [Fact]
    public void Known_secret_authenticates_and_a_near_miss_does_not()
    {
        var cache = new KeyCache(new ManualTimeProvider(Start));
        var (record, secret) = NewKey();
        cache.Load([record]);
        cache.Authenticate(secret)!.Id.ShouldBe("key_1");
        cache.Authenticate(secret[..^1] + (secret[^1] == 'a' ? 'b' : 'a')).ShouldBeNull();
        cache.Authenticate("sk-not-ours").ShouldBeNull();
    }

    [Fact]
    public void Revoked_key_is_refused_as_soon_as_the_cache_hears_of_it()
    {
        var cache = new KeyCache(new ManualTimeProvider(Start));
        var (record, secret) = NewKey();
        cache.Upsert(record);
        cache.Upsert(record with { Status = "revoked", RevokedAt = Start });
        cache.Authenticate(secret).ShouldBeNull();
    }

    [Fact]
    public void Expired_key_is_refused_and_its_remembered_secret_forgotten()
    {
        var time = new ManualTimeProvider(Start);
        var cache = new KeyCache(time);
        var (record, secret) = NewKey();
        cache.Upsert(record with { ExpiresAt = Start.AddMinutes(5) });
        cache.Authenticate(secret).ShouldNotBeNull();
        cache.RememberedCount.ShouldBe(1);
        time.Advance(TimeSpan.FromMinutes(5));
        cache.Authenticate(secret).ShouldBeNull();
        cache.RememberedCount.ShouldBe(0, "no key change happened, but the refusal itself forgets the secret");
    }

    [Fact]
    public void Old_secret_works_during_the_rotation_grace_period_only()
    {
        var time = new ManualTimeProvider(Start);
        var cache = new KeyCache(time);
        var (record, oldSecret) = NewKey();
        cache.Upsert(record);
        var newSecret = KeySecrets.NewSecret();
        cache.Upsert(record with
        {
            SecretHash = KeySecrets.Hash(newSecret),
            PreviousSecretHash = record.SecretHash,
            PreviousSecretExpiresAt = Start.AddSeconds(60),
        });
        cache.Authenticate(newSecret).ShouldNotBeNull();
        cache.Authenticate(oldSecret).ShouldNotBeNull();
        time.Advance(TimeSpan.FromSeconds(61));
        cache.Authenticate(oldSecret).ShouldBeNull();
        cache.Authenticate(newSecret).ShouldNotBeNull();
    }

    [Fact]
    public void Rotation_without_grace_drops_the_old_secret_at_once()
    {
        var cache = new KeyCache(new ManualTimeProvider(Start));
        var (record, oldSecret) = NewKey();
        cache.Upsert(record);
        cache.Upsert(record with { SecretHash = KeySecrets.Hash(KeySecrets.NewSecret()) });
        cache.Authenticate(oldSecret).ShouldBeNull();
    }

    [Fact]
    public void A_secret_that_authenticated_is_remembered_and_a_key_change_forgets_it()
    {
        var cache = new KeyCache(new ManualTimeProvider(Start));
        var (record, secret) = NewKey();
        cache.Upsert(record);
        cache.Authenticate(secret).ShouldNotBeNull();
        cache.Authenticate(secret)!.Id.ShouldBe("key_1", "the second call goes through the memo");
        cache.RememberedCount.ShouldBe(1);

        cache.Upsert(record with { Status = "revoked", RevokedAt = Start });
        cache.RememberedCount.ShouldBe(0, "a key change empties the memo");
        cache.Authenticate(secret).ShouldBeNull();
        cache.RememberedCount.ShouldBe(0, "a refused secret is not remembered");
    }

    [Fact]
    public void A_remembered_secret_is_refused_after_a_rotation_without_grace_and_after_a_reload_without_it()
    {
        var cache = new KeyCache(new ManualTimeProvider(Start));
        var (record, oldSecret) = NewKey();
        var (other, otherSecret) = NewKey("key_2");
        cache.Load([record, other]);
        cache.Authenticate(oldSecret).ShouldNotBeNull();
        cache.Authenticate(otherSecret).ShouldNotBeNull();

        var newSecret = KeySecrets.NewSecret();
        cache.Upsert(record with { SecretHash = KeySecrets.Hash(newSecret) });
        cache.Authenticate(oldSecret).ShouldBeNull();
        cache.Authenticate(newSecret)!.Id.ShouldBe("key_1");
        cache.Authenticate(otherSecret)!.Id.ShouldBe("key_2");

        cache.Load([record with { SecretHash = KeySecrets.Hash(newSecret) }]);
        cache.Authenticate(otherSecret).ShouldBeNull("key_2 is gone from the store's list");
        cache.Authenticate(newSecret)!.Id.ShouldBe("key_1");
    }

    [Fact]
    public void Unknown_secrets_do_not_fill_the_memo_and_known_ones_stay_bounded()
    {
        var cache = new KeyCache(new ManualTimeProvider(Start));
        var keys = Enumerable.Range(0, 5000).Select(i => NewKey($"key_{i}")).ToList();
        cache.Load(keys.Select(k => k.Record));
        for (var i = 0; i < 1000; i++)
        {
            cache.Authenticate(KeySecrets.NewSecret()).ShouldBeNull();
        }

        cache.RememberedCount.ShouldBe(0);
        foreach (var (record, secret) in keys)
        {
            cache.Authenticate(secret)!.Id.ShouldBe(record.Id);
        }

        cache.RememberedCount.ShouldBeInRange(1, 4096);
        foreach (var (record, secret) in keys)
        {
            cache.Authenticate(secret)!.Id.ShouldBe(record.Id, "remembered or not, every key still authenticates");
        }
    }

    [Theory]
    [InlineData("Authorization", "Bearer tg-abc", "tg-abc")]
    [InlineData("x-api-key", "tg-abc", "tg-abc")]
    [InlineData("x-tollgate-key", "tg-abc", "tg-abc")]
    public void Key_is_taken_from_any_of_the_accepted_headers(string header, string value, string expected)
    {
        var headers = new HeaderDictionary { [header] = value };
        KeyCache.PresentedSecret(headers).ToString().ShouldBe(expected);
    }

    [Fact]
    public void X_tollgate_key_wins_over_a_forwarded_upstream_credential()
    {
        var headers = new HeaderDictionary { ["Authorization"] = "Bearer sk-upstream", ["x-tollgate-key"] = "tg-mine" };
        KeyCache.PresentedSecret(headers).ToString().ShouldBe("tg-mine");
    }
}
