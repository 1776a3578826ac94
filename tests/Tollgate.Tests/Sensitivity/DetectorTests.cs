using System.Text;
using Tollgate.Sensitivity;

namespace Tollgate.Tests.Sensitivity;

public sealed class DetectorTests
{
    private static IReadOnlyList<Finding> Scan(string text) => Detectors.Scan(Encoding.UTF8.GetBytes(text));

    [Theory]
    [InlineData("mail jane.doe@example.com.au please", "e-mail address")]
    [InlineData("call +61 412 345 678 today", "phone number")]
    [InlineData("mobile 0412 345 678", "phone number")]
    [InlineData("office (02) 9876 5432", "phone number")]
    [InlineData("my TFN is 123456782", "Australian tax file number")]
    [InlineData("tfn: 123 456 782", "Australian tax file number")]
    [InlineData("card 4111 1111 1111 1111 exp 12/29", "payment card number")]
    [InlineData("card 5555555555554444", "payment card number")]
    [InlineData("IBAN GB82 WEST 1234 5698 7654 32", "IBAN")]
    [InlineData("iban DE89370400440532013000", "IBAN")]
    [InlineData("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk=", "private key")]
    [InlineData("use sk-proj-abcdefghijklmnopqrstuvwx12345", "API key")]
    [InlineData("AKIAIOSFODNN7EXAMPLE is the id", "API key")]
    public void Detects_sensitive_data(string text, string kind)
    {
        Scan(text).Select(f => f.Kind).ShouldContain(kind);
    }

    [Theory]
    [InlineData("card 4111 1111 1111 1112")]
    [InlineData("order number 1234567890123456")]
    [InlineData("IBAN GB82 WEST 1234 5698 7654 33")]
    [InlineData("build 123456789 finished in 12 s")]
    [InlineData("version 1.2.3, port 8080, timestamp 1795450576540")]
    [InlineData("def f(x): return x @ y.T")]
    public void Look_alikes_are_not_flagged(string text)
    {
        Scan(text).ShouldBeEmpty();
    }

    [Fact]
    public void Checksums_follow_their_standards()
    {
        Detectors.IsLuhnValid("4111111111111111").ShouldBeTrue();
        Detectors.IsLuhnValid("4111111111111112").ShouldBeFalse();
        Detectors.IsIbanValid("GB82WEST12345698765432").ShouldBeTrue();
        Detectors.IsIbanValid("GB82WEST12345698765433").ShouldBeFalse();
        Detectors.IsTfnValid("123456782").ShouldBeTrue();
        Detectors.IsTfnValid("123456789").ShouldBeFalse();
    }

    [Fact]
    public void Findings_map_to_their_data_classes()
    {
        Scan("jane@example.com").ShouldContain(new Finding(Detectors.Pii, "e-mail address"));
        Scan("4111 1111 1111 1111").ShouldContain(new Finding(Detectors.Financial, "payment card number"));
        Scan("-----BEGIN RSA PRIVATE KEY-----").ShouldContain(new Finding(Detectors.Secret, "private key"));
    }
}
