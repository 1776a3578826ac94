using Tollgate.Configuration;

namespace Tollgate.Tests;

public sealed class SecretRefTests
{
    [Fact]
    public void Literal_secret_is_not_a_reference()
    {
        SecretRef.TryParse("sk-literal", out var r).ShouldBeFalse();
        r.ShouldBeNull();
    }

    [Fact]
    public void Env_reference_resolves_and_prints_only_the_name()
    {
        Environment.SetEnvironmentVariable("TG_TEST_SECRET_X", "s3cret-value");
        SecretRef.TryParse("env:TG_TEST_SECRET_X", out var r).ShouldBeTrue();
        r!.TryResolve(out var problem).ShouldBe("s3cret-value");
        problem.ShouldBeNull();
        r.ToString().ShouldBe("env:TG_TEST_SECRET_X");
    }
}
