// Summarise the CTRF reports that xunit.v3 writes (one per test module, via --report-ctrf)
// into one line: "N passed, N failed, N skipped".
//
// usage: node ctrf-summary.mjs RESULTS_DIR [EXPECTED_MODULE.dll ...]
//
// - Failed tests are listed with their message and the first lines of their stack trace.
// - Each xunit suite error (e.g. a fixture that threw in its constructor or dispose) counts as
//   one failure, because no test result carries it.
// - Each expected module (from dotnet test's "Running tests from X.dll" lines) that produced no
//   report counts as one failure: it crashed, hung past the timeout, or never started.
// The last line printed is always the summary. Exit code: 0 when failed == 0 and total > 0.
import { readdirSync, readFileSync } from 'node:fs';
import { join, basename } from 'node:path';

const [dir, ...expectedModules] = process.argv.slice(2);
if (!dir) {
  console.error('usage: node ctrf-summary.mjs RESULTS_DIR [EXPECTED_MODULE.dll ...]');
  process.exit(2);
}

let files = [];
try {
  files = readdirSync(dir).filter((f) => f.endsWith('.ctrf')).sort();
} catch {
  files = [];
}

let passed = 0;
let failed = 0;
let skipped = 0;
const failures = [];
const reportedModules = new Set();

const firstLines = (text, n) =>
  String(text ?? '')
    .split('\n')
    .map((l) => l.trimEnd())
    .filter((l) => l.length > 0)
    .slice(0, n);

for (const f of files) {
  let report;
  try {
    report = JSON.parse(readFileSync(join(dir, f), 'utf8'));
  } catch (e) {
    failed += 1;
    failures.push({ name: `[unreadable report ${f}]`, message: e.message, trace: '' });
    continue;
  }
  const results = report.results ?? {};
  const suites = results.extra?.suites ?? [];
  for (const s of suites) {
    if (s.filePath) reportedModules.add(basename(s.filePath));
    for (const err of s.errors ?? []) {
      failed += 1;
      failures.push({
        name: `[suite error in ${basename(s.filePath ?? '?')}] ${err.type ?? ''}`.trim(),
        message: err.message ?? JSON.stringify(err),
        trace: err.trace ?? err.stackTrace ?? '',
      });
    }
  }
  for (const t of results.tests ?? []) {
    switch (t.status) {
      case 'passed':
        passed += 1;
        break;
      case 'skipped':
      case 'pending':
        skipped += 1;
        break;
      default: // failed, other
        failed += 1;
        failures.push({ name: t.name, message: t.message, trace: t.trace, status: t.status });
    }
  }
}

for (const m of expectedModules) {
  if (!reportedModules.has(basename(m))) {
    failed += 1;
    failures.push({
      name: `[no report from ${basename(m)}]`,
      message: 'the test module crashed, timed out or never finished; see the dotnet test output above',
      trace: '',
    });
  }
}

if (failures.length > 0) {
  console.log('');
  console.log(`==== ${failures.length} failure(s) ====`);
  for (const f of failures) {
    console.log(`FAILED ${f.name}${f.status && f.status !== 'failed' ? ` (${f.status})` : ''}`);
    for (const l of firstLines(f.message, 30)) console.log(`    ${l}`);
    const trace = firstLines(f.trace, 8);
    if (trace.length > 0) {
      console.log('    --- stack ---');
      for (const l of trace) console.log(`    ${l}`);
    }
  }
  console.log('');
}

console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed === 0 && passed + skipped > 0 ? 0 : 1);
