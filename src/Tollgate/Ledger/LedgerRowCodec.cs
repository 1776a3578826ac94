using Tollgate.Storage;

namespace Tollgate.Ledger;

/// <summary>
/// The spool's binary encoding of a <see cref="LedgerRecord"/> (frame format 2, see <see cref="LedgerSpool"/>):
/// every field in declaration order, no names. Strings are length-prefixed UTF-8 (null and "" kept apart), counts
/// zig-zag varints, the time its UTC ticks plus the offset in minutes, money the decimal's four parts (scale kept),
/// doubles their IEEE bits.
/// </summary>
/// <remarks>
/// The field list is the format: adding, removing or reordering a field means a new frame format tag, with this
/// one kept for reading. <see cref="Read"/> rejects a payload that does not end exactly after the last field.
/// </remarks>
internal static class LedgerRowCodec
{
    public static void Write(SpoolBuffer buffer, LedgerRecord row)
    {
        buffer.String(row.RequestId);
        buffer.Time(row.Time);
        buffer.String(row.KeyId);
        buffer.String(row.KeyAlias);
        buffer.String(row.Workspace);
        buffer.String(row.Tier);
        buffer.String(row.Endpoint);
        buffer.String(row.ModelRequested);
        buffer.String(row.ModelGroup);
        buffer.String(row.AttemptsJson);
        buffer.String(row.Deployment);
        buffer.String(row.Provider);
        buffer.String(row.Fallback);
        buffer.VarInt(row.Status);
        buffer.String(row.ErrorType);
        buffer.VarInt(row.InputTokens);
        buffer.VarInt(row.OutputTokens);
        buffer.VarInt(row.CacheReadTokens);
        buffer.VarInt(row.CacheWriteTokens);
        buffer.VarInt(row.ReasoningTokens);
        buffer.Decimal(row.Cost);
        buffer.Decimal(row.NotionalCost);
        buffer.String(row.Currency);
        buffer.Double(row.LatencyMs);
        if (row.TtftMs is { } ttft)
        {
            buffer.Byte(1);
            buffer.Double(ttft);
        }
        else
        {
            buffer.Byte(0);
        }

        buffer.Byte(row.Streamed ? (byte)1 : (byte)0);
        buffer.String(row.UserAgent);
        buffer.String(row.SessionId);
        buffer.String(row.DataClasses);
    }

    /// <exception cref="FormatException">The payload is not a whole format-2 row.</exception>
    public static LedgerRecord Read(ReadOnlySpan<byte> payload)
    {
        var r = new SpoolReader(payload);
        var row = new LedgerRecord
        {
            RequestId = r.RequiredString(),
            Time = r.Time(),
            KeyId = r.String(),
            KeyAlias = r.String(),
            Workspace = r.String(),
            Tier = r.String(),
            Endpoint = r.String(),
            ModelRequested = r.String(),
            ModelGroup = r.String(),
            AttemptsJson = r.String(),
            Deployment = r.String(),
            Provider = r.String(),
            Fallback = r.String(),
            Status = r.VarInt32(),
            ErrorType = r.String(),
            InputTokens = r.VarInt(),
            OutputTokens = r.VarInt(),
            CacheReadTokens = r.VarInt(),
            CacheWriteTokens = r.VarInt(),
            ReasoningTokens = r.VarInt(),
            Cost = r.Decimal(),
            NotionalCost = r.Decimal(),
            Currency = r.String(),
            LatencyMs = r.Double(),
            TtftMs = r.Boolean() ? r.Double() : null,
            Streamed = r.Boolean(),
            UserAgent = r.String(),
            SessionId = r.String(),
            DataClasses = r.String(),
        };

        return r.AtEnd ? row : throw new FormatException("A spooled row has bytes after its last field.");
    }
}
