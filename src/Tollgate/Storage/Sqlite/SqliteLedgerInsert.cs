using System.Globalization;
using System.Text;
using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace Tollgate.Storage.Sqlite;

/// <summary>
/// The ledger's batch insert on SQLite, below ADO.NET: one statement prepared per batch on the connection's
/// native handle, its 29 values bound by position straight from the record.
/// </summary>
/// <remarks>
/// <para>Why not <c>SqliteCommand</c>: it binds every row's parameters by name (SQLite looks each name up with
/// <c>strncmp</c>), boxes every value into <c>SqliteParameter.Value</c> and re-encodes strings through several
/// layers; for a 29-column row that was most of the ledger's CPU. Here a row is 29 native bind calls, one step
/// and one reset, with no allocation: strings are transcoded to UTF-8 into one reused buffer (SQLite copies them,
/// <c>SQLITE_TRANSIENT</c>), money is formatted straight into it, and a value the previous row bound already is
/// not bound again.</para>
/// <para>The caller owns the transaction (Microsoft.Data.Sqlite's <c>BEGIN IMMEDIATE</c>, under the connection's
/// busy timeout); this type only runs the statement inside it. Not thread-safe: one batch, one connection.</para>
/// </remarks>
internal sealed class SqliteLedgerInsert : IDisposable
{
    private const int Columns = 29;

    /// <summary>Parameter ?N is column N of <see cref="SqlStore.LedgerColumns"/>.</summary>
    private static readonly byte[] Sql = Encoding.UTF8.GetBytes(
        $"INSERT INTO ledger ({SqlStore.LedgerColumns}) VALUES (" +
        string.Join(", ", Enumerable.Range(1, Columns).Select(i => "?" + i.ToString(CultureInfo.InvariantCulture))) + ") " +
        // Only a duplicate request id is skipped (a replayed spool); any other constraint failure still fails the batch.
        "ON CONFLICT (request_id) DO NOTHING");

    /// <summary>The empty string as a NUL-terminated buffer: an empty span would pin to a null pointer, which SQLite binds as NULL.</summary>
    private static readonly byte[] EmptyText = [0];

    private readonly sqlite3 _db;
    private sqlite3_stmt? _statement;
    private byte[] _scratch = new byte[1024];

    // What each parameter (1-based) holds now. sqlite3_reset keeps bindings, and consecutive ledger rows share
    // most of their values (key, model, deployment, currency, user agent, zero counters), so a value equal to
    // the previous row's is not bound again: that skips a native call, a UTF-8 copy and an allocation in SQLite.
    private readonly Held[] _held = new Held[Columns + 1];
    private readonly string?[] _text = new string?[Columns + 1];
    private readonly long[] _bits = new long[Columns + 1];
    private readonly long[] _moneyHigh = new long[Columns + 1];

    public SqliteLedgerInsert(SqliteConnection connection)
    {
        ArgumentNullException.ThrowIfNull(connection);
        _db = connection.Handle ?? throw new InvalidOperationException("The SQLite connection is not open.");
        Check(raw.sqlite3_prepare_v2(_db, Sql, out var statement));
        _statement = statement;
        if (raw.sqlite3_bind_parameter_count(statement) != Columns)
        {
            Dispose();
            throw new InvalidOperationException("The ledger insert does not bind one parameter per column.");
        }
    }

    /// <summary>Inserts one row (or skips it when its request id is stored already).</summary>
    public void Insert(LedgerRecord row)
    {
        ArgumentNullException.ThrowIfNull(row);
        var s = _statement ?? throw new ObjectDisposedException(nameof(SqliteLedgerInsert));
        Text(s, 1, row.RequestId);
        Integer(s, 2, row.Time.ToUnixTimeMilliseconds());
        Text(s, 3, row.KeyId);
        Text(s, 4, row.KeyAlias);
        Text(s, 5, row.Workspace);
        Text(s, 6, row.Tier);
        Text(s, 7, row.Endpoint);
        Text(s, 8, row.ModelRequested);
        Text(s, 9, row.ModelGroup);
        Text(s, 10, row.AttemptsJson);
        Text(s, 11, row.Deployment);
        Text(s, 12, row.Provider);
        Text(s, 13, row.Fallback);
        Integer(s, 14, row.Status);
        Text(s, 15, row.ErrorType);
        Integer(s, 16, row.InputTokens);
        Integer(s, 17, row.OutputTokens);
        Integer(s, 18, row.CacheReadTokens);
        Integer(s, 19, row.CacheWriteTokens);
        Integer(s, 20, row.ReasoningTokens);
        Money(s, 21, row.Cost);
        Money(s, 22, row.NotionalCost);
        Text(s, 23, row.Currency);
        Real(s, 24, row.LatencyMs);
        Real(s, 25, row.TtftMs);
        Integer(s, 26, row.Streamed ? 1 : 0);
        Text(s, 27, row.UserAgent);
        Text(s, 28, row.SessionId);
        Text(s, 29, row.DataClasses);

        var rc = raw.sqlite3_step(s);
        // Reset whatever happened, so the statement can run again (or be finalised) and holds no read cursor.
        // A reset keeps the bindings: that is what lets the next row skip the values it shares with this one.
        raw.sqlite3_reset(s);
        if (rc != raw.SQLITE_DONE)
        {
            SqliteException.ThrowExceptionForRC(rc, _db);
        }
    }

    public void Dispose()
    {
        if (_statement is { } statement)
        {
            _statement = null;
            raw.sqlite3_finalize(statement);
            statement.Dispose();
        }
    }

    private void Text(sqlite3_stmt statement, int index, string? value)
    {
        if (value is null)
        {
            Null(statement, index);
            return;
        }

        if (_held[index] == Held.Value && string.Equals(_text[index], value, StringComparison.Ordinal))
        {
            return;
        }

        if (value.Length == 0)
        {
            Check(raw.sqlite3_bind_text(statement, index, utf8z.FromSpan(EmptyText)));
        }
        else
        {
            var max = Encoding.UTF8.GetMaxByteCount(value.Length);
            if (_scratch.Length < max)
            {
                _scratch = new byte[Math.Max(max, _scratch.Length * 2)];
            }

            var length = Encoding.UTF8.GetBytes(value, _scratch);
            Check(raw.sqlite3_bind_text(statement, index, _scratch.AsSpan(0, length)));
        }

        _text[index] = value;
        _held[index] = Held.Value;
    }

    private void Integer(sqlite3_stmt statement, int index, long value)
    {
        if (_held[index] == Held.Value && _bits[index] == value)
        {
            return;
        }

        Check(raw.sqlite3_bind_int64(statement, index, value));
        _bits[index] = value;
        _held[index] = Held.Value;
    }

    private void Real(sqlite3_stmt statement, int index, double? value)
    {
        if (value is not { } real)
        {
            Null(statement, index);
            return;
        }

        // Compared bit for bit, so -0.0 and 0.0 (equal as numbers) are each stored as given.
        var bits = BitConverter.DoubleToInt64Bits(real);
        if (_held[index] == Held.Value && _bits[index] == bits)
        {
            return;
        }

        Check(raw.sqlite3_bind_double(statement, index, real));
        _bits[index] = bits;
        _held[index] = Held.Value;
    }

    /// <summary>Money is the invariant decimal string (see <see cref="SqliteStore"/>), formatted with no string in between.</summary>
    private void Money(sqlite3_stmt statement, int index, decimal value)
    {
        // Compared by representation, not value: 0.10 and 0.1 are equal decimals but different text.
        Span<int> parts = stackalloc int[4];
        decimal.GetBits(value, parts);
        var low = (long)(uint)parts[0] | ((long)parts[1] << 32);
        var high = (long)(uint)parts[2] | ((long)parts[3] << 32);
        if (_held[index] == Held.Value && _bits[index] == low && _moneyHigh[index] == high)
        {
            return;
        }

        // A decimal's invariant text is at most 31 characters (29 digits, a sign and a point).
        if (!value.TryFormat(_scratch, out var length, default, CultureInfo.InvariantCulture))
        {
            throw new InvalidOperationException("A decimal did not fit its formatting buffer.");
        }

        Check(raw.sqlite3_bind_text(statement, index, _scratch.AsSpan(0, length)));
        _bits[index] = low;
        _moneyHigh[index] = high;
        _held[index] = Held.Value;
    }

    private void Null(sqlite3_stmt statement, int index)
    {
        if (_held[index] == Held.Null)
        {
            return;
        }

        Check(raw.sqlite3_bind_null(statement, index));
        _text[index] = null;
        _held[index] = Held.Null;
    }

    private void Check(int rc)
    {
        if (rc != raw.SQLITE_OK)
        {
            SqliteException.ThrowExceptionForRC(rc, _db);
        }
    }

    /// <summary>What a parameter holds since it was last bound.</summary>
    private enum Held : byte
    {
        /// <summary>Never bound in this batch (SQLite starts every parameter as NULL, but say it once ourselves).</summary>
        Nothing,
        Null,
        /// <summary>The value recorded in <see cref="_text"/>, or <see cref="_bits"/> (and <see cref="_moneyHigh"/>).</summary>
        Value,
    }
}
