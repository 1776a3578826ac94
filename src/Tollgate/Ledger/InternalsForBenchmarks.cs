using System.Runtime.CompilerServices;

// The ledger micro-benchmark (bench/micro, built by nobody but its runner) drives the spool and the stores directly.
[assembly: InternalsVisibleTo("Tollgate.Bench.Micro")]
