using System.Text.Json.Serialization.Metadata;
using Tollgate.Storage;

namespace Tollgate.Ledger;

/// <summary>
/// The audit trail's spool: <c>audit-*.spool</c> segments and <c>audit.lock</c>, beside the ledger's in
/// <c>ledger.spool_path</c>. Frames as in <see cref="Spool{T}"/>, format 2 only (audit records were never spooled
/// before it): id, time, actor, action, target, details, in that order.
/// </summary>
internal static class AuditSpool
{
    public const long DefaultSegmentBytes = Spool<AuditRecord>.DefaultSegmentBytes;

    /// <inheritdoc cref="Spool{T}.Open"/>
    public static Spool<AuditRecord> Open(string directory, long segmentBytes = DefaultSegmentBytes) =>
        Spool<AuditRecord>.Open(Codec.Instance, directory, segmentBytes);

    internal sealed class Codec : ISpoolCodec<AuditRecord>
    {
        public static readonly Codec Instance = new();

        public string Prefix => "audit-";

        public string LockFile => "audit.lock";

        public string Name => "audit";

        public JsonTypeInfo<AuditRecord>? Json => null;

        public void Write(SpoolBuffer buffer, AuditRecord row)
        {
            buffer.String(row.Id);
            buffer.Time(row.Time);
            buffer.String(row.Actor);
            buffer.String(row.Action);
            buffer.String(row.Target);
            buffer.String(row.DetailsJson);
        }

        public AuditRecord Read(ReadOnlySpan<byte> body)
        {
            var r = new SpoolReader(body);
            var row = new AuditRecord
            {
                Id = r.RequiredString(),
                Time = r.Time(),
                Actor = r.RequiredString(),
                Action = r.RequiredString(),
                Target = r.String(),
                DetailsJson = r.String(),
            };

            return r.AtEnd ? row : throw new FormatException("A spooled audit record has bytes after its last field.");
        }
    }
}
