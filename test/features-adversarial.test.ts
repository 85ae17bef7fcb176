// Adversarial tests of `repogym compare` / tournaments and of episode traces: real sandboxes, git, SQLite, a
// real local HTTP collector and real processes (kill -9). "was a defect: …" tests failed when written and pass
// since the fix; "probe: …" tests found the code correct and stay as regression tests.
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDataset } from '../datasets/loader.ts';
import { compare, type Tournament } from '../experiments/compare.ts';
import { loadConfig, parseConfig } from '../experiments/config.ts';
import { writeReport } from '../experiments/report.ts';
import { tournamentGroups } from '../experiments/report-tournaments.ts';
import { runExperiment } from '../experiments/runner.ts';
import {
  attributeRecord,
  readTrace,
  traceFile,
  type OtlpSpan,
  type OtlpTrace,
} from '../experiments/traces.ts';
import { renderTrajectory } from '../experiments/trajectory.ts';
import { SANDBOX_PREFIX } from '../env/sandbox/local.ts';
import { ptyCli, removeDir } from './helpers.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BIN = path.join(ROOT, 'bin', 'repogym.js');
// boundaries resolves it; logic and arithmetic do not.
const TASK = 'ledger__low-stock-threshold-3';
const EPISODES = 120_000;

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('node', [BIN, ...args], { cwd: ROOT, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

const spansOf = (trace: OtlpTrace) =>
  trace.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans));
const attrs = (span: OtlpSpan) => attributeRecord(span.attributes);

function episodesOf(out: string) {
  const db = new Database(path.join(out, 'runs.sqlite'), { readonly: true });
  try {
    return db
      .prepare(
        'SELECT id, experiment_id, task_id, seed, epoch, policy, arm, outcome, failure_class FROM episodes',
      )
      .all() as {
      id: string;
      experiment_id: string;
      task_id: string;
      seed: number;
      epoch: number;
      policy: string;
      arm: string | null;
      outcome: string;
      failure_class: string;
    }[];
  } finally {
    db.close();
  }
}

/** Every file under `root`, recursively. */
async function filesUnder(root: string): Promise<string[]> {
  const entries = await readdir(root, { withFileTypes: true, recursive: true });
  return entries.filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name));
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'repogym-featadv-'));
});
afterAll(() => removeDir(dir));

// ---- compare: one real comparison, rated with one candidate skipped ---------------------------------------------
describe('compare with a skipped rating', () => {
  let out: string;
  let t: Tournament;
  beforeAll(async () => {
    out = path.join(dir, 'cmp');
    t = await compare({
      dataset: 'builtin:mini',
      task: TASK,
      strategies: ['boundaries', 'logic'],
      policy: { name: 'repair' },
      outDir: out,
      maxSteps: 12,
      rater: 'adv',
      // boundaries (the resolved one) skipped, logic rated 0.5.
      rate: async () => [null, 0.5],
    });
  }, EPISODES);

  it('probe: the comparison ranks the rated candidate first and the skipped one last', () => {
    expect(t.winner).toBe('logic');
    expect(Object.fromEntries(t.candidates.map((c) => [c.strategy, c.rank]))).toEqual({
      logic: 1,
      boundaries: 2,
    });
  });

  it("was a defect: the report's tournament cards rank the skipped (unrated) candidate first, contradicting the comparison", () => {
    // compare stored rank 2 for boundaries (unmeasured primary ranks last); the report reads the stored `human`
    // reward, which for an unrated episode is the neutral 1, and ranks it above the rated 0.5.
    const db = new Database(path.join(out, 'runs.sqlite'), { readonly: true });
    try {
      const groups = tournamentGroups(db, t.experimentId);
      expect(groups).toHaveLength(1);
      const ranks = Object.fromEntries(groups[0]!.cards.map((c) => [c.strategy, c.rank]));
      expect(ranks).toEqual({ logic: 1, boundaries: 2 });
    } finally {
      db.close();
    }
  });

  it("was a defect: compare's candidate episodes get no trace (traces/<episode-id>.json) and no timeline", async () => {
    const traces = await Promise.all(t.candidates.map((c) => readTrace(out, c.episodeId)));
    expect(traces.map((x) => (x ? spansOf(x).some((s) => s.name === 'episode') : false))).toEqual([
      true,
      true,
    ]);
  });

  it('probe: `--out` of this compare dir with another strategy set is refused (exit 2) and adds nothing', async () => {
    const before = episodesOf(out).length;
    const r = await cli(['compare', '--task', TASK, '--strategies', 'boundaries,arithmetic', '--out', out]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/holds compare-\w+, a run with another policy/);
    expect(episodesOf(out)).toHaveLength(before);
    expect(existsSync(path.join(out, 'run.lock'))).toBe(false);
  });
});

// ---- compare: usage errors that run nothing -----------------------------------------------------------------------
describe('compare usage errors', () => {
  it('probe: one strategy, a duplicate and an empty list are refused with exit 2 before anything is created', async () => {
    const out = path.join(dir, 'usage');
    for (const strategies of ['boundaries', 'boundaries, boundaries', ' , ,']) {
      const r = await cli(['compare', '--task', TASK, '--strategies', strategies, '--out', out]);
      expect(r.code, strategies).toBe(2);
      expect(r.stderr, strategies).toMatch(
        /^repogym: (compare needs at least two|strategy "boundaries" is listed twice)/,
      );
    }
    expect(existsSync(out)).toBe(false);
  });

  it('was a defect: a task id that does not exist exits 1 — the code for "every candidate failed for infra" — not 2 (usage)', async () => {
    const out = path.join(dir, 'notask');
    const r = await cli([
      'compare',
      '--task',
      'no__such-task-1',
      '--strategies',
      'boundaries,logic',
      '--out',
      out,
    ]);
    expect(r.stderr).toMatch(/task "no__such-task-1" not in dataset/);
    expect(existsSync(out)).toBe(false);
    expect(r.code).toBe(2);
  });

  it('was a defect: `--primary` naming no variant exits 1 (not a usage error) with a config-internal message', async () => {
    const out = path.join(dir, 'noprimary');
    const r = await cli([
      'compare',
      '--task',
      TASK,
      '--strategies',
      'boundaries,logic',
      '--primary',
      'nonsense',
      '--out',
      out,
    ]);
    expect(r.stderr).toMatch(/nonsense/);
    expect(existsSync(out)).toBe(false);
    expect(r.code).toBe(2);
  });
});

// ---- traces: binary and huge command output, a hanging collector, secrets ---------------------------------------
describe('traces of a run with binary output and a collector that never answers', () => {
  let out: string;
  let server: Server;
  const sockets = new Set<Socket>();
  let posts = 0;
  let ids: string[];
  beforeAll(async () => {
    // Accepts the connection, reads the request, never answers.
    server = createServer((req) => {
      posts++;
      req.resume();
    });
    server.on('connection', (s) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const actions = path.join(dir, 'binary.jsonl');
    await writeFile(
      actions,
      [
        { kind: 'run', command: "head -c 1000 /dev/zero | tr '\\000' '\\377'" },
        { kind: 'run', command: 'head -c 3000000 /dev/urandom' },
        { kind: 'submit', message: 'done' },
      ]
        .map((a) => JSON.stringify(a))
        .join('\n') + '\n',
    );
    const config = path.join(dir, 'binary.yaml');
    await writeFile(
      config,
      `name: advbinary\ndataset: {name: "builtin:mini", filter: {instance_ids: [${TASK}]}}\n` +
        `policies: [{name: replay, actions: binary.jsonl}]\n` +
        `telemetry: {otlp_endpoint: "http://adv:url-tok3n@127.0.0.1:${port}/", headers: {authorization: "Bearer hdr-s3cret"}, timeout_sec: 1}\n`,
    );
    out = path.join(dir, 'binary');
    await runExperiment(await loadConfig(config), { outDir: out });
    ids = episodesOf(out).map((e) => e.id);
  }, EPISODES);
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((r) => server.close(r));
  });

  it('probe: a collector that never answers does not hang the run; every span of the trace is well formed', async () => {
    expect(posts).toBeGreaterThan(0);
    expect(ids).toHaveLength(1);
    const spans = spansOf((await readTrace(out, ids[0]!))!);
    const byId = new Map(spans.map((s) => [s.spanId, s]));
    expect(byId.size).toBe(spans.length);
    expect(new Set(spans.map((s) => s.traceId)).size).toBe(1);
    expect(spans.filter((s) => !s.parentSpanId).map((s) => s.name)).toEqual(['episode']);
    for (const s of spans) if (s.parentSpanId) expect(byId.has(s.parentSpanId), s.name).toBe(true);
  });

  it("probe: a 3 MB binary command's `log` event is capped (head and tail, about 16 KiB)", async () => {
    const spans = spansOf((await readTrace(out, ids[0]!))!);
    const exec = spans.find((s) => attrs(s)['process.command_line'] === 'head -c 3000000 /dev/urandom')!;
    expect(exec).toBeDefined();
    const log = attributeRecord(exec.events![0]!.attributes).output as string;
    expect(Buffer.byteLength(log)).toBeLessThan(16 * 1024 + 512);
    expect(attrs(exec)['repogym.output_bytes']).toBeGreaterThanOrEqual(3_000_000);
  });

  it("was a defect: a command's output size counts UTF-8 replacement characters, not the bytes it wrote (1000 × 0xff → 3000)", async () => {
    const spans = spansOf((await readTrace(out, ids[0]!))!);
    const exec = spans.find((s) =>
      String(attrs(s)['process.command_line']).startsWith('head -c 1000 /dev/zero'),
    )!;
    expect(exec).toBeDefined();
    expect(attrs(exec)['process.exit.code']).toBe(0);
    expect(attrs(exec)['repogym.output_bytes']).toBe(1000);
  });

  it('probe: the collector header value is stored nowhere in the run dir', async () => {
    for (const file of await filesUnder(out)) {
      const text = (await readFile(file)).toString('latin1');
      expect(text.includes('hdr-s3cret'), file).toBe(false);
    }
  });

  it('was a defect: credentials in the collector URL (http://user:token@host) are stored in the run (runs.sqlite config_json)', async () => {
    const leaks: string[] = [];
    for (const file of await filesUnder(out)) {
      if ((await readFile(file)).toString('latin1').includes('url-tok3n'))
        leaks.push(path.relative(out, file));
    }
    expect(leaks).toEqual([]);
  });
});

// ---- traces: an infra episode (setup fails), retried; corrupt and missing trace files ------------------------------
describe('traces of an infra episode', () => {
  let out: string;
  let id: string;
  beforeAll(async () => {
    const { tasks } = await loadDataset('builtin:mini');
    const task = tasks.find((t) => t.instance_id === TASK)!;
    const file = path.join(dir, 'broken-setup.jsonl');
    await writeFile(file, JSON.stringify({ ...task, setup_cmd: 'echo boom-setup; exit 7' }) + '\n');
    out = path.join(dir, 'infra');
    const config = parseConfig(
      JSON.stringify({
        name: 'advinfra',
        dataset: { name: file },
        policies: [{ name: 'nop' }],
        retries: 1,
      }),
    );
    await runExperiment(config, { outDir: out });
    const rows = episodesOf(out);
    expect(rows.map((r) => r.failure_class)).toEqual(['infra']);
    id = rows[0]!.id;
  }, EPISODES);

  it("probe: the infra episode's trace holds both attempts, each an ERROR `episode` span with the failing setup command", async () => {
    const spans = spansOf((await readTrace(out, id))!);
    const roots = spans.filter((s) => s.name === 'episode');
    expect(roots.map((s) => attrs(s)['repogym.attempt']).sort()).toEqual([1, 2]);
    for (const root of roots) {
      expect(root.status?.code).toBe(2);
      const setup = spans.find((s) => s.parentSpanId === root.spanId && s.name === 'exec echo')!;
      expect(attrs(setup)['process.exit.code']).toBe(7);
      expect(attributeRecord(setup.events![0]!.attributes).output).toContain('boom-setup');
    }
  });

  it('probe: the report still renders with a corrupt trace file and says so', async () => {
    await writeFile(traceFile(out, id), '{"resourceSpans": [');
    await writeReport(out);
    const html = await readFile(path.join(out, 'report.html'), 'utf8');
    expect(html).toContain('Trace unreadable');
  });

  it('was a defect: `repogym trajectory --timeline` on an episode whose trace is corrupt fails instead of showing the trajectory', async () => {
    await writeFile(traceFile(out, id), '{"resourceSpans": [');
    const r = await cli(['trajectory', out, id, '--timeline']);
    expect(r.stdout).toContain(id);
    expect(r.code).toBe(0);
  });

  it('probe: `compare --json` where every candidate fails for infra exits 1 with one valid JSON object and no winner', async () => {
    const cmpOut = path.join(dir, 'cmp-infra');
    const r = await cli([
      'compare',
      '--dataset',
      path.join(dir, 'broken-setup.jsonl'),
      '--task',
      TASK,
      '--strategies',
      'boundaries,logic',
      '--json',
      '--out',
      cmpOut,
    ]);
    expect(r.code).toBe(1);
    const t = JSON.parse(r.stdout) as Tournament;
    expect(t.winner).toBeNull();
    expect(t.candidates.map((c) => [c.outcome, c.learned])).toEqual([
      ['infra', { skipped: 'infra' }],
      ['infra', { skipped: 'infra' }],
    ]);
    expect(t.bandit.updates).toBe(0);
    expect(existsSync(path.join(cmpOut, 'run.lock'))).toBe(false);
  });

  it('probe: `trajectory --timeline` on an episode without a trace says so', async () => {
    await rm(traceFile(out, id), { force: true });
    const text = renderTrajectory(out, id, { timeline: true });
    expect(text).toMatch(/no trace saved for this episode/);
  });
});

// ---- tournament in a config: kill -9 mid-run, then resume --------------------------------------------------------
describe('a tournament killed with SIGKILL and resumed', () => {
  it(
    'probe: the resumed run has one episode per strategy, ranked cards, a trace for each, and no stale sandbox',
    async () => {
      const out = path.join(dir, 'tkill');
      const config = path.join(dir, 'tkill.json');
      await writeFile(
        config,
        JSON.stringify({
          name: 'advtkill',
          dataset: { name: 'builtin:mini', filter: { instance_ids: [TASK] } },
          policies: [
            {
              name: 'tournament',
              id: 't',
              strategies: ['boundaries', 'arithmetic', 'logic'],
              inner: { name: 'repair' },
            },
          ],
          budgets: { max_steps: 12 },
          concurrency: 1,
        }),
      );
      const child = spawn('node', [BIN, 'experiment', 'run', config, '--out', out], {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
      let output = '';
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (c: Buffer) => {
          output += c.toString();
          if (/^\[1\/3\]/m.test(output)) resolve();
        });
        void exited.then(() => reject(new Error(`the run ended before its first episode:\n${output}`)));
      });
      const killed = child.pid!;
      child.kill('SIGKILL');
      await exited;
      expect(episodesOf(out)).toHaveLength(1);

      const r = await cli(['experiment', 'run', config, '--out', out]);
      expect(r.stdout).toMatch(/2 episodes run, 1 already done/);
      const rows = episodesOf(out);
      expect(rows.map((e) => e.policy).sort()).toEqual(['t/arithmetic', 't/boundaries', 't/logic']);
      expect(new Set(rows.map((e) => `${e.seed}/${e.epoch}`)).size).toBe(1);
      const db = new Database(path.join(out, 'runs.sqlite'), { readonly: true });
      try {
        const groups = tournamentGroups(db, rows[0]!.experiment_id);
        expect(groups).toHaveLength(1);
        expect(groups[0]!.cards.map((c) => c.rank)).toEqual([1, 2, 3]);
        expect(groups[0]!.cards[0]).toMatchObject({ strategy: 'boundaries', resolved: true });
      } finally {
        db.close();
      }
      // A trace per committed episode, none for the killed attempt, no half-written file.
      expect((await readdir(path.join(out, 'traces'))).sort()).toEqual(
        rows.map((e) => `${e.id}.json`).sort(),
      );
      const stale = (await readdir(os.tmpdir())).filter((n) => n.startsWith(`${SANDBOX_PREFIX}${killed}-`));
      expect(stale).toEqual([]);
      const html = await readFile(path.join(out, 'report.html'), 'utf8');
      expect(html.match(/<section class="tournament"/g)).toHaveLength(1);
    },
    EPISODES,
  );
});

// ---- compare --human: Ctrl-C at the first rating prompt ------------------------------------------------------------
describe('compare --human interrupted', () => {
  it(
    'probe: Ctrl-C at a rating prompt stops with a clear message; episodes stored unrated, no bandit, lock released',
    async () => {
      const out = path.join(dir, 'human-ctrlc');
      const { child, exited, output, waitFor } = ptyCli([
        'compare',
        '--task',
        TASK,
        '--strategies',
        'boundaries,logic',
        '--max-steps',
        '12',
        '--out',
        out,
        '--human',
      ]);
      try {
        await waitFor(/boundaries \(1\/2\): how good is this result\?/);
        child.stdin.write('\x03');
        const code = await exited;
        expect(code).not.toBe(0);
      } finally {
        if (child.exitCode === null) child.kill();
      }
      expect(output()).toMatch(
        /rating cancelled: the episodes are stored without ratings and nothing was learned/,
      );
      const db = new Database(path.join(out, 'runs.sqlite'), { readonly: true });
      try {
        const rows = db.prepare('SELECT signals_json, policy_info_json FROM episodes').all() as {
          signals_json: string;
          policy_info_json: string;
        }[];
        expect(rows).toHaveLength(2);
        for (const row of rows) {
          expect(JSON.parse(row.signals_json).human).toBeUndefined();
          expect(JSON.parse(row.policy_info_json).tournament).toBeUndefined();
        }
        expect(db.prepare('SELECT COUNT(*) AS n FROM bandit_state').get()).toEqual({ n: 0 });
      } finally {
        db.close();
      }
      expect(existsSync(path.join(out, 'run.lock'))).toBe(false);
    },
    EPISODES,
  );
});
