using Npgsql;
using Tollgate.Storage.Postgres;

namespace Tollgate.Tests.Storage;

public sealed class PostgresConnectionStringTests
{
    private static NpgsqlConnectionStringBuilder Parse(string setting) => new(PostgresConnectionString.ToNpgsql(setting));

    [Fact]
    public void Uri_with_every_part_maps_to_npgsql_settings()
    {
        var b = Parse("postgresql://tollgate:s3cret@db.internal:6543/ledger?sslmode=verify-full&application_name=gw&connect_timeout=7");

        b.Username.ShouldBe("tollgate");
        b.Password.ShouldBe("s3cret");
        b.Host.ShouldBe("db.internal");
        b.Port.ShouldBe(6543);
        b.Database.ShouldBe("ledger");
        b.SslMode.ShouldBe(SslMode.VerifyFull);
        b.ApplicationName.ShouldBe("gw");
        b.Timeout.ShouldBe(7);
    }

    [Fact]
    public void Percent_encoded_user_password_and_database_are_decoded()
    {
        var b = Parse("postgres://us%40er:p%40ss%3Aw%2Fo%23rd@localhost/my%20db");

        b.Username.ShouldBe("us@er");
        b.Password.ShouldBe("p@ss:w/o#rd");
        b.Host.ShouldBe("localhost");
        b.Database.ShouldBe("my db");
    }

    [Theory]
    [InlineData("disable", SslMode.Disable)]
    [InlineData("allow", SslMode.Allow)]
    [InlineData("prefer", SslMode.Prefer)]
    [InlineData("require", SslMode.Require)]
    [InlineData("verify-ca", SslMode.VerifyCA)]
    [InlineData("verify-full", SslMode.VerifyFull)]
    public void Every_libpq_sslmode_is_understood(string sslmode, SslMode expected)
    {
        Parse($"postgresql://u@h/d?sslmode={sslmode}").SslMode.ShouldBe(expected);
    }

    [Fact]
    public void Uri_without_port_password_or_database_leaves_npgsql_defaults()
    {
        var b = Parse("postgresql://tollgate@pg");

        b.Username.ShouldBe("tollgate");
        b.Password.ShouldBeNull();
        b.Host.ShouldBe("pg");
        b.Port.ShouldBe(5432);
        b.Database.ShouldBeNull();
    }

    [Fact]
    public void Ipv6_host_and_several_hosts_are_understood()
    {
        var v6 = Parse("postgresql://u:p@[::1]:5433/d");
        v6.Host.ShouldBe("::1");
        v6.Port.ShouldBe(5433);

        Parse("postgresql://u:p@a:5432,b:5433/d").Host.ShouldBe("a:5432,b:5433");
    }

    [Fact]
    public void Npgsql_keywords_in_the_query_are_accepted()
    {
        Parse("postgresql://u:p@h/d?Maximum%20Pool%20Size=7").MaxPoolSize.ShouldBe(7);
    }

    [Fact]
    public void Key_value_strings_pass_through()
    {
        var b = Parse("Host=127.0.0.1;Port=55432;Username=postgres;Password=pw;Database=tollgate");

        b.Host.ShouldBe("127.0.0.1");
        b.Port.ShouldBe(55432);
        b.Username.ShouldBe("postgres");
        b.Password.ShouldBe("pw");
        b.Database.ShouldBe("tollgate");
    }

    [Theory]
    [InlineData("postgresql://u:hunter2-secret@h:notaport/d")]
    [InlineData("postgresql://u:hunter2-secret@h:70000/d")]
    [InlineData("postgresql://u:hunter2-secret@h/d?sslmode=hunter2-secret")]
    [InlineData("postgresql://u:hunter2-secret@h/d?bogus=hunter2-secret")]
    [InlineData("postgresql://u:hunter2-secret@h/d?connect_timeout=hunter2-secret")]
    [InlineData("postgresql://u:hunter2-secret@[::1/d")]
    [InlineData("Host=h;Password=hunter2-secret;Port=hunter2-secret")]
    [InlineData("Host=h;Password=hunter2-secret;Bogus Keyword=1")]
    [InlineData("this is hunter2-secret and not a connection string")]
    public void Invalid_settings_are_refused_without_showing_the_secret(string setting)
    {
        var ex = Should.Throw<ArgumentException>(() => PostgresConnectionString.ToNpgsql(setting));

        ex.Message.ShouldNotContain("hunter2");
        ex.InnerException.ShouldBeNull();
        ex.Message.ShouldStartWith("The PostgreSQL connection setting");
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    public void Empty_settings_are_refused(string setting)
    {
        Should.Throw<ArgumentException>(() => PostgresConnectionString.ToNpgsql(setting));
    }
}
