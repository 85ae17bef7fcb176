// Spectrum probe for JavaScript repositories: runs each test file alone under `node --test` with V8 block
// coverage (NODE_V8_COVERAGE), marks a file failing by its exit code, and prints the most suspicious source
// lines by Ochiai as `REPOGYM_OCHIAI <file>:<line> <score>`. Per test file, not per test: one process each is
// what keeps it cheap. Runs inside the sandbox, from the repository root; argv: test files or folders.
// When the policy puts a reproduction script in front of this file (`REPRO`, see reproduce.ts), it runs too, as
// one more run that fails while the report's examples reproduce, and its REPOGYM_REPRO lines are passed on.
/* global REPRO -- the policy puts it in front of this file (reproduce.ts) */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

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

/** Source file → executed lines, from the V8 coverage files a run left in `dir`. */
function coverageIn(dir) {
  const covered = new Map();
  for (const name of readdirSync(dir)) {
    for (const script of JSON.parse(readFileSync(path.join(dir, name), 'utf8')).result) {
      if (!script.url.startsWith('file://')) continue;
      const rel = path.relative(ROOT, fileURLToPath(script.url)).split(path.sep).join('/');
      if (rel.startsWith('..') || rel.includes('node_modules/') || TEST.test(rel) || !SCRIPT.test(rel))
        continue;
      const lines = covered.get(rel) ?? new Set();
      for (const line of executedLines(readFileSync(rel, 'utf8'), script.functions)) lines.add(line);
      covered.set(rel, lines);
    }
  }
  return covered;
}

const runs = [];
for (const file of testFiles) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'repogym-probe-'));
  try {
    const run = spawnSync(process.execPath, ['--test', file], {
      env: { ...process.env, NODE_V8_COVERAGE: dir },
      stdio: 'ignore',
      timeout: 120_000,
    });
    runs.push({ failed: run.status !== 0, covered: coverageIn(dir) });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (typeof REPRO === 'string') {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'repogym-probe-'));
  try {
    const run = spawnSync(process.execPath, ['--input-type=module', '-'], {
      input: REPRO,
      env: { ...process.env, NODE_V8_COVERAGE: dir },
      encoding: 'utf8',
      stdio: ['pipe', 'pipe', 'ignore'],
      timeout: 120_000,
    });
    process.stdout.write(run.stdout ?? '');
    runs.push({ failed: run.status !== 0, covered: coverageIn(dir) });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
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
console.log(`REPOGYM_PROBE test_files=${runs.length} failed=${totalFailed}`);
