using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Tollgate.Storage;

namespace Tollgate.Ledger;

/// <summary>The ledger's spool: <c>ledger-*.spool</c> segments and <c>spool.lock</c> in <c>ledger.spool_path</c>.</summary>
internal static class LedgerSpool
{
    public const long DefaultSegmentBytes = Spool<LedgerRecord>.DefaultSegmentBytes;

    /// <inheritdoc cref="Spool{T}.Open"/>
    public static Spool<LedgerRecord> Open(string directory, long segmentBytes = DefaultSegmentBytes) =>
        Spool<LedgerRecord>.Open(Codec.Instance, directory, segmentBytes);

    internal sealed class Codec : ISpoolCodec<LedgerRecord>
    {
        public static readonly Codec Instance = new();

        // The names the first spool format used: kept, so a spool left by an older version is found and locked.
        public string Prefix => "ledger-";

        public string LockFile => "spool.lock";

        public string Name => "ledger";

        /// <summary>Format 1 wrote ledger rows as JSON; those segments still replay.</summary>
        public JsonTypeInfo<LedgerRecord> Json => SpoolJsonContext.Default.LedgerRecord;

        public void Write(SpoolBuffer buffer, LedgerRecord row) => LedgerRowCodec.Write(buffer, row);

        public LedgerRecord Read(ReadOnlySpan<byte> body) => LedgerRowCodec.Read(body);
    }
}

/// <summary>Reflection-free JSON for format-1 spooled ledger rows (read only, for replay after an upgrade).</summary>
[JsonSerializable(typeof(LedgerRecord))]
internal sealed partial class SpoolJsonContext : JsonSerializerContext;
