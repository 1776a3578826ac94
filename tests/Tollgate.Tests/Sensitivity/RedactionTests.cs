using Tollgate.Sensitivity;

namespace Tollgate.Tests.Sensitivity;

public sealed class RedactionTests
{
    [Fact]
    public void Api_keys_and_whole_private_key_blocks_are_redacted_and_the_rest_is_kept()
    {
        var text = "use sk-ant-abcdefghijklmnopqrstuvwxyz0123 and\\n-----BEGIN RSA PRIVATE KEY-----\\nMIIEow\\n-----END RSA PRIVATE KEY-----\\nthanks";
        var redacted = Detectors.RedactSecrets(text);
        redacted.ShouldBe("use [redacted] and\\n[redacted private key]\\nthanks");
    }

    [Fact]
    public void A_cut_private_key_is_redacted_to_the_end()
    {
        Detectors.RedactSecrets("key: -----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn").ShouldBe("key: [redacted private key]");
    }

    [Fact]
    public void Text_without_secrets_is_unchanged()
    {
        Detectors.RedactSecrets("hello tg-short sk-").ShouldBe("hello tg-short sk-");
    }
}
