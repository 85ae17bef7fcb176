// Spectrum probe for JavaScript repositories: runs each test file in its own process with V8 block coverage,
// records which lines each test executed and whether it passed, and prints the most suspicious source lines by
// Ochiai as `REPOGYM_OCHIAI <file>:<line> <score>`. Per test, through node:test hooks that a preloaded module
// registers (coverage counters are reset before each test and read after it); a file whose tests cannot be told
// apart (it crashed before any test, or this Node has no `passed` on a test context) counts as one run, pass or
// fail by its exit code. Runs inside the sandbox, from the repository root; argv: test files or folders.
// When the policy puts a reproduction script in front of this file (`REPRO`, see reproduce.ts), it runs too, as
// one more run that fails while the report's examples reproduce, and its REPOGYM_REPRO lines are passed on.
/* global REPRO -- the policy puts it in front of this file (reproduce.ts) */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = process.cwd();
const TOP = 60;
const SCRIPT = /\.(?:[cm]?[jt]sx?)$/;
const TEST = /(^|\/)(tests?|spec|__tests__)\/|[._-](test|spec)\.[cm]?[jt]sx?$|(^|\/)test\.[cm]?js$/;

function listFiles(dir) {
  const out = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name.startsWith('.')) continue;
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...listFiles(full));
    else if (SCRIPT.test(entry.name)) out.push(path.relative(ROOT, full).split(path.sep).join('/'));
  }
  return out;
}

// Arguments of the task's test command that name files or folders; anything else (flags) is ignored.
const roots = process.argv.slice(2).filter((arg) => existsSync(arg));
const candidates = roots.length
  ? roots.flatMap((r) => (statSync(r).isDirectory() ? listFiles(path.resolve(r)) : [r]))
  : listFiles(ROOT);
const testFiles = candidates.filter((f) => TEST.test(f)).sort();

/** Lines (1-based) whose first character lies in an executed block. */
function executedLines(source, functions) {
  const ranges = functions.flatMap((fn) => fn.ranges);
  const lines = new Set();
  let offset = 0;
  source.split('\n').forEach((text, index) => {
    const first = text.search(/\S/);
    if (first >= 0) {
      const at = offset + first;
      let innermost;
      for (const range of ranges) {
        if (range.startOffset <= at && at < range.endOffset) {
          if (!innermost || range.endOffset - range.startOffset < innermost.endOffset - innermost.startOffset)
            innermost = range;
        }
      }
      if (innermost && innermost.count > 0) lines.add(index + 1);
    }
    offset += text.length + 1;
  });
  return lines;
}

/** Source file → executed lines, from V8 script coverage entries. */
function coverageOf(scripts) {
  const covered = new Map();
  for (const script of scripts) {
    if (!script.url.startsWith('file://')) continue;
    const rel = path.relative(ROOT, fileURLToPath(script.url)).split(path.sep).join('/');
    if (rel.startsWith('..') || rel.includes('node_modules/') || TEST.test(rel) || !SCRIPT.test(rel))
      continue;
    const lines = covered.get(rel) ?? new Set();
    for (const line of executedLines(readFileSync(rel, 'utf8'), script.functions)) lines.add(line);
    covered.set(rel, lines);
  }
  return covered;
}

/** The coverage files a process left in `dir` (NODE_V8_COVERAGE), as one run's executed lines. */
function coverageIn(dir) {
  return coverageOf(
    readdirSync(dir).flatMap((name) => JSON.parse(readFileSync(path.join(dir, name), 'utf8')).result),
  );
}

// Loaded into each test file's process: per-test coverage windows, written where REPOGYM_PROBE_TESTS says. The
// inspector session is synchronous within its own thread, so the exit handler can take the last window too.
const PRELOAD = `
import { Session } from 'node:inspector';
import { afterEach, beforeEach } from 'node:test';
import { writeFileSync } from 'node:fs';
const out = process.env.REPOGYM_PROBE_TESTS; // read now: a test may replace process.env
const root = ${JSON.stringify(pathToFileURL(ROOT).href + '/')};
const session = new Session();
session.connect();
session.post('Profiler.enable');
session.post('Profiler.startPreciseCoverage', { callCount: true, detailed: true });
function take() {
  let scripts = [];
  session.post('Profiler.takePreciseCoverage', (err, coverage) => {
    if (!err) scripts = coverage.result.filter((s) => s.url.startsWith(root) && !s.url.includes('/node_modules/'));
  });
  return scripts;
}
const tests = [];
const outside = [];
beforeEach(() => {
  outside.push(...take());
});
afterEach((t) => {
  const scripts = take();
  if (typeof t.passed === 'boolean') tests.push({ failed: !t.passed, scripts });
  else outside.push(...scripts);
});
process.on('exit', () => {
  outside.push(...take());
  writeFileSync(out, JSON.stringify({ tests, outside }));
});
`;

/**
 * One process running `args` with file-level coverage: failed by exit code, lines from NODE_V8_COVERAGE. With
 * `input` (a script on stdin) its stdout is kept too.
 */
function fileRun(args, dir, input) {
  const run = spawnSync(process.execPath, args, {
    input,
    env: { ...process.env, NODE_V8_COVERAGE: dir },
    encoding: 'utf8',
    stdio: input === undefined ? 'ignore' : ['pipe', 'pipe', 'ignore'],
    timeout: 120_000,
  });
  const covered = existsSync(dir) ? coverageIn(dir) : new Map();
  return { failed: run.status !== 0, covered, stdout: run.stdout ?? '' };
}

const work = mkdtempSync(path.join(os.tmpdir(), 'repogym-probe-'));
const preload = path.join(work, 'preload.mjs');
writeFileSync(preload, PRELOAD);
const runs = [];
try {
  testFiles.forEach((file, i) => {
    const perTest = path.join(work, `tests-${i}.json`);
    const run = spawnSync(process.execPath, ['--import', pathToFileURL(preload).href, file], {
      env: { ...process.env, REPOGYM_PROBE_TESTS: perTest },
      stdio: 'ignore',
      timeout: 120_000,
    });
    let record = { tests: [], outside: [] };
    try {
      record = JSON.parse(readFileSync(perTest, 'utf8'));
    } catch {
      // killed, or the process died before its exit handler (an import that throws under node:test)
    }
    if (record.tests.length === 0) {
      // No test to tell apart (not a node:test file, a crash at import, killed): the file as one run, as
      // `node --test` runs it, without the preload.
      runs.push(fileRun(['--test', file], path.join(work, `coverage-${i}`)));
      return;
    }
    for (const test of record.tests) runs.push({ failed: test.failed, covered: coverageOf(test.scripts) });
    // What ran outside the tests (loading modules, suite bodies, hooks) is one more run, so code every file loads
    // counts as passing too; it fails only with a failure no test owns (process.exit, an unhandled rejection).
    const unowned = run.status !== 0 && !record.tests.some((t) => t.failed);
    runs.push({ failed: unowned, covered: coverageOf(record.outside) });
  });
  if (typeof REPRO === 'string') {
    const run = fileRun(['--input-type=module', '-'], path.join(work, 'coverage-repro'), REPRO);
    process.stdout.write(run.stdout);
    runs.push(run);
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}

const totalFailed = runs.filter((r) => r.failed).length;
const counts = new Map();
for (const run of runs) {
  for (const [file, lines] of run.covered) {
    for (const line of lines) {
      const key = `${file}:${line}`;
      const c = counts.get(key) ?? [0, 0];
      c[run.failed ? 0 : 1]++;
      counts.set(key, c);
    }
  }
}
const scores = [...counts]
  .filter(([, [ef]]) => ef > 0)
  .map(([key, [ef, ep]]) => [key, ef / Math.sqrt(totalFailed * (ef + ep))])
  .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
  .slice(0, TOP);
for (const [key, score] of scores) console.log(`REPOGYM_OCHIAI ${key} ${score.toFixed(4)}`);
console.log(`REPOGYM_PROBE test_files=${testFiles.length} runs=${runs.length} failed=${totalFailed}`);
