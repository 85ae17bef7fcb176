// JavaScript/TypeScript analysis: ESLint with our own flat config (eslint-lint.ts) and rules (eslint-rules.ts).
// ESLint is synchronous, and typescript-eslint needs seconds for a few hundred kB, so it runs in one worker
// thread shared by every analysis in the process, one file at a time: the harness's event loop (other episodes,
// sandbox timeout timers) never waits for it. If the worker cannot start, files are linted in this thread,
// yielding to the event loop between files, and `errors` says so. What one patch can make ESLint lint is
// capped, per file and in total (LintLimits): the rest is left out with an entry in `errors`.
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { LintResult } from './eslint-lint.ts';
import type { LintJob } from './eslint-worker.ts';
import type { ChangedFile, Finding } from './index.ts';

export const TS_EXTENSIONS = ['.ts', '.tsx', '.mts', '.cts'];
export const JS_EXTENSIONS = ['.js', '.mjs', '.cjs', '.jsx', ...TS_EXTENSIONS];
export const isJsPath = (p: string) => JS_EXTENSIONS.includes(path.extname(p).toLowerCase());

const { version } = createRequire(import.meta.url)('eslint/package.json') as { version: string };
export const ESLINT_TOOL = `eslint@${version}`;

export interface LintLimits {
  /** A file whose before or after text is longer than this is not linted. */
  fileChars: number;
  /** Characters linted per call, before and after texts together; the largest files are left out first. */
  totalChars: number;
}
export const DEFAULT_LINT_LIMITS: LintLimits = { fileChars: 200_000, totalChars: 600_000 };
/** One file's lint in the worker; past this the worker is replaced and the file reported in `errors`. */
const LINT_TIMEOUT_MS = 60_000;

type Sides = { before: Finding[]; after: Finding[] };

export async function lintJs(
  files: ChangedFile[],
  limits: LintLimits = DEFAULT_LINT_LIMITS,
): Promise<{ quality: Sides; security: Sides; errors: string[] }> {
  const quality: Sides = { before: [], after: [] };
  const sec: Sides = { before: [], after: [] };
  const errors: string[] = [];
  const cmp = (x: string, y: string) => (x < y ? -1 : x > y ? 1 : 0);
  // Smallest first, so that when the budget runs out it is the largest files that are left out.
  const planned = files
    .map((f) => {
      const texts = [...new Set([f.before, f.after].filter((t): t is string => t !== null))];
      const size = Math.max(0, ...texts.map((t) => t.length));
      return { f, texts, size, cost: texts.reduce((n, t) => n + t.length, 0) };
    })
    .sort((a, b) => a.cost - b.cost || cmp(a.f.path, b.f.path));
  let budget = limits.totalChars;
  for (const { f, texts, size, cost } of planned) {
    if (size > limits.fileChars) {
      errors.push(`${f.path}: ${size} characters, over the ${limits.fileChars} lint limit, not analysed`);
      continue;
    }
    if (cost > budget) {
      errors.push(
        `${f.path}: ${cost} characters, over the ${limits.totalChars}-character lint budget of one patch, not analysed`,
      );
      continue;
    }
    budget -= cost;
    const results = new Map<string, LintResult | Error>();
    for (const text of texts) {
      try {
        results.set(text, await lint({ id: nextId++, file: f.path, text }));
      } catch (e) {
        results.set(text, e instanceof Error ? e : new Error(String(e)));
      }
    }
    for (const side of ['before', 'after'] as const) {
      const r = f[side] === null ? undefined : results.get(f[side]);
      if (r instanceof Error) errors.push(`eslint: ${f.path} (${side}): ${r.message}`);
      else if (r) {
        quality[side].push(...r.quality);
        sec[side].push(...r.security);
      }
    }
  }
  if (noWorker !== undefined && planned.length > 0)
    errors.push(`eslint: no worker thread (${noWorker}), linted in the harness process`);
  return { quality, security: sec, errors };
}

// ── The worker: one job in flight, the others queued here (so a job's timeout counts its own time only). ──
interface Queued {
  job: LintJob;
  resolve: (r: LintResult) => void;
  reject: (e: Error) => void;
}
const queue: Queued[] = [];
let running: Queued | undefined;
let timer: NodeJS.Timeout | undefined;
let worker: Worker | undefined;
/** A worker has loaded ESLint at least once: workers work here, so a later failure is the file's. */
let workerLoaded = false;
/** Why the worker could not start; then files are linted in this thread. */
let noWorker: string | undefined;
let nextId = 1;

function lint(job: LintJob): Promise<LintResult> {
  return new Promise((resolve, reject) => {
    queue.push({ job, resolve, reject });
    dispatch();
  });
}

function dispatch(): void {
  if (running) return;
  const next = queue.shift();
  if (!next) {
    worker?.unref(); // an idle worker does not keep the process alive
    return;
  }
  running = next;
  if (noWorker !== undefined) {
    void lintHere(next.job)
      .then(next.resolve, next.reject)
      .finally(() => {
        running = undefined;
        dispatch();
      });
    return;
  }
  if (!worker) {
    try {
      worker = spawnWorker();
    } catch (e) {
      noWorker = e instanceof Error ? e.message : String(e);
      queue.unshift(next);
      running = undefined;
      dispatch();
      return;
    }
  }
  const w = worker;
  w.ref();
  timer = setTimeout(() => {
    finish(new Error(`lint timed out after ${LINT_TIMEOUT_MS} ms`));
    worker = undefined;
    void w.terminate();
    dispatch();
  }, LINT_TIMEOUT_MS);
  w.postMessage(next.job);
}

function finish(outcome: LintResult | Error): void {
  const done = running;
  running = undefined;
  clearTimeout(timer);
  if (!done) return;
  if (outcome instanceof Error) done.reject(outcome);
  else done.resolve(outcome);
}

function spawnWorker(): Worker {
  // From source (tsx, vitest) the worker needs tsx's loader too; the build (dist/) runs plain JavaScript.
  const ext = path.extname(fileURLToPath(import.meta.url));
  const entry = new URL(`./eslint-worker${ext}`, import.meta.url);
  const w =
    ext === '.ts'
      ? new Worker(
          `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))})` +
            `.then(({ register }) => { register(); return import(${JSON.stringify(entry.href)}); });`,
          { eval: true },
        )
      : new Worker(entry);
  let loaded = false;
  w.on('message', (msg: { ready?: true; id?: number; result?: LintResult; error?: string }) => {
    if (msg.ready) loaded = workerLoaded = true;
    if (worker !== w || msg.id === undefined || running?.job.id !== msg.id) return;
    finish(msg.error === undefined ? msg.result! : new Error(msg.error));
    dispatch();
  });
  const lost = (reason: string) => {
    if (worker !== w) return; // replaced after a timeout
    worker = undefined;
    if (!loaded && !workerLoaded) {
      // No worker ever loaded ESLint: workers cannot run here. Lint in this thread from now on, this job included.
      noWorker = reason;
      if (running) queue.unshift(running);
      running = undefined;
      clearTimeout(timer);
    } else finish(new Error(`ESLint worker ${reason}`));
    dispatch();
  };
  w.on('error', (e) => lost(e.message));
  w.on('exit', (code) => lost(`exited with code ${code}`));
  return w;
}

let here: Promise<typeof import('./eslint-lint.ts')> | undefined;
async function lintHere(job: LintJob): Promise<LintResult> {
  here ??= import('./eslint-lint.ts');
  const { lintText } = await here;
  await new Promise(setImmediate); // let other episodes run between files
  return lintText(job.file, job.text);
}
