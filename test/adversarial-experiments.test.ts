// Adversarial tests of the experiment layer (config, runner, store, Arrow export, report, statistics, trajectory,
// CLI), written by a separate tester: most reproduce a defect found by probing (fixed since) and stay as
// regression tests; the others confirm behaviour that held up under attack.
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { tableFromIPC } from 'apache-arrow';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDataset } from '../datasets/loader.ts';
import { ConfigError, configIdentity, loadConfig, parseConfig } from '../experiments/config.ts';
import { EPISODE_COLUMNS, exportArrow, STEP_COLUMNS } from '../experiments/export.ts';
import { writeReport } from '../experiments/report.ts';
import { runExperiment } from '../experiments/runner.ts';
import { mcnemar, wilson, bootstrapMean } from '../experiments/stats.ts';
import { RunStore, type EpisodeRecord, type StepRow } from '../experiments/store.ts';
import { formatStatistics, runStatistics } from '../experiments/summary.ts';
import { renderTrajectory } from '../experiments/trajectory.ts';
import { removeDir } from './helpers.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CLI = path.join(ROOT, 'bin', 'repogym.js');

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'repogym-advexp-'));
});
afterAll(() => removeDir(dir));

const base = (extra = '') =>
  `name: t\ndataset: {name: "builtin:mini", filter: {limit: 1}}\npolicies: [{name: nop}]\n${extra}`;

async function writeCfg(name: string, body: string): Promise<string> {
  const file = path.join(dir, `${name}.yaml`);
  await writeFile(file, `name: ${name}\n${body}`);
  return file;
}

function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

function query<T>(runDir: string, sql: string): T[] {
  const db = new Database(path.join(runDir, 'runs.sqlite'), { readonly: true });
  try {
    return db.prepare(sql).all() as T[];
  } finally {
    db.close();
  }
}

// ---- synthetic stores -----------------------------------------------------------------------------------------

function observation(output: string, exitCode: number | null) {
  return {
    kind: 'run',
    stepIndex: 1,
    output,
    exitCode,
    timedOut: false,
    telemetry: { wallMs: 1, cpuMs: null, peakRssKb: null },
    diffStat: { files: 0, added: 0, removed: 0 },
  } as unknown as StepRow['observation'];
}

function episode(i: number, over: Partial<EpisodeRecord> = {}): EpisodeRecord {
  const now = new Date(Date.UTC(2024, 0, 1, 0, 0, i)).toISOString();
  return {
    id: `e${i}-${'0'.repeat(30)}`,
    experiment_id: 'x',
    task_id: `task-${i}`,
    seed: 4294967295,
    epoch: 0,
    policy: 'p',
    arm: null,
    outcome: 'unresolved',
    failure_class: 'none',
    resolved: false,
    reward: 0,
    f2p_fraction: null,
    p2p_fraction: null,
    steps: 1,
    invalid_actions: 0,
    terminated: true,
    truncated: false,
    wall_ms: 5,
    attempts: 1,
    signals_json: null,
    patch: null,
    error: null,
    started_at: now,
    finished_at: now,
    policy_info_json: null,
    ...over,
  };
}

async function syntheticRun(fill: (s: RunStore) => void): Promise<string> {
  const runDir = await mkdtemp(path.join(dir, 'syn-'));
  const store = new RunStore(path.join(runDir, 'runs.sqlite'));
  try {
    store.addExperiment({
      id: 'x',
      name: 'syn',
      config_json: '{}',
      config_hash: 'h',
      dataset_hash: 'd',
      manifest_json: '{"note":"<script>alert(9)</script>"}',
    });
    fill(store);
  } finally {
    store.close();
  }
  return runDir;
}

/** Number of unescaped `|` cell separators in a GFM table row (a `\` escapes the next character). */
function separators(row: string): number {
  let n = 0;
  for (let i = 0; i < row.length; i++) {
    if (row[i] === '\\') i++;
    else if (row[i] === '|') n++;
  }
  return n;
}

// ---- config ---------------------------------------------------------------------------------------------------

describe('adversarial: config', () => {
  it('rejects malformed roots, alias bombs, duplicate keys, NaN/Infinity, unsafe integers, bad names', () => {
    const bomb =
      'a: &a ["x","x","x","x","x","x","x","x","x"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n' +
      'c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n' +
      'e: [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n' +
      base();
    const cases: [string, RegExp][] = [
      ['', /\(root\)/],
      ['- a\n- b', /\(root\)/],
      ['42', /\(root\)/],
      [bomb, /alias/i],
      [base('seed: 1\nseed: 2'), /unique/i],
      [base('retries: .nan'), /retries/],
      [base('epochs: .inf'), /epochs/],
      [base('seed: 9007199254740993'), /seed/],
      [base('seed: -1'), /seed/],
      [base('seed: "1"'), /seed/],
      [base('__proto__: {retries: 10}'), /__proto__/],
      [base('budgets: {wall_sec: 0}'), /budgets\.wall_sec/],
      [base().replace('name: t', 'name: ".."'), /name/],
      [base().replace('name: t', 'name: "."'), /name/],
      [base().replace('name: t', 'name: "../x"'), /name/],
      [base().replace('name: t', 'name: "a/b"'), /name/],
    ];
    for (const [text, why] of cases) {
      expect(() => parseConfig(text, 'c.yaml'), text.slice(0, 60)).toThrow(ConfigError);
      expect(() => parseConfig(text, 'c.yaml'), text.slice(0, 60)).toThrow(why);
    }
    // JSON is YAML: a .yaml holding JSON parses; YAML in a .json file is reported as not JSON.
    expect(parseConfig(JSON.stringify(parseConfig(base())), 'c.yaml').name).toBe('t');
    expect(() => parseConfig(base(), 'c.json')).toThrow(/not valid JSON/);
  });

  it('resolves relative dataset and replay paths against the config folder, not the working dir', async () => {
    const sub = path.join(dir, 'cfgdir');
    await mkdir(sub, { recursive: true });
    const file = path.join(sub, 'rel.yaml');
    await writeFile(
      file,
      'name: rel\ndataset: {name: ../data/tasks.jsonl}\npolicies: [{name: replay, actions: acts/a.jsonl}]\n',
    );
    const config = await loadConfig(path.relative(process.cwd(), file));
    expect(config.dataset.name).toBe(path.join(dir, 'data', 'tasks.jsonl'));
    expect(config.policies[0]).toMatchObject({ actions: path.join(sub, 'acts', 'a.jsonl') });
  });

  it('unknown keys inside nested objects are rejected (a typo silently falls back to defaults)', () => {
    // Only the root object is strict: `filter: {limt: 2}` runs the whole dataset, `budgets: {max_step: 3}` runs
    // with 50 steps, and an unknown key on a policy is dropped.
    const typos: [string, RegExp][] = [
      [
        base().replace('filter: {limit: 1}', 'filter: {limt: 1}'),
        /dataset\.filter.*limt|limt.*dataset\.filter/,
      ],
      [base('budgets: {max_step: 3}'), /budgets.*max_step/],
      [base().replace('[{name: nop}]', '[{name: oracle, temperature: 0}]'), /policies\.0.*temperature/],
      [base().replace('dataset: {', 'dataset: {nmae: x, '), /dataset.*nmae/],
    ];
    for (const [text, why] of typos) expect(() => parseConfig(text, 'c.yaml'), text).toThrow(why);
  });

  it('absurd epochs/seeds are rejected instead of building a plan that cannot fit in memory', () => {
    // epochs × seeds × tasks × policies entries are pushed into an array before the first episode runs.
    expect(() => parseConfig(base('epochs: 1000000000000'), 'c.yaml')).toThrow(/epochs/);
    expect(() => parseConfig(base('seeds: 1000000000000'), 'c.yaml')).toThrow(/seeds/);
  });

  it('an empty `output` is rejected (it resolves to the working dir, not runs/<name>)', () => {
    expect(() => parseConfig(base('output: ""'), 'c.yaml')).toThrow(/output/);
  });
});

// ---- runner (real episodes over builtin:mini) -----------------------------------------------------------------

describe('adversarial: runner', () => {
  it('kill -9 mid-run then resume: nothing lost or duplicated, integrity ok, concurrency bound, paired distinct seeds', async () => {
    const file = await writeCfg(
      'advkill',
      'dataset: {name: "builtin:mini", filter: {limit: 2}}\npolicies: [{name: oracle}, {name: nop}]\n' +
        'epochs: 2\nseeds: 2\nconcurrency: 3\n',
    );
    const out = path.join(dir, 'advkill');
    const child = spawn(process.execPath, [CLI, 'experiment', 'run', file, '--out', out, '--quiet'], {
      cwd: ROOT,
      stdio: 'ignore',
    });
    const closed = new Promise((r) => child.on('close', r));
    // Kill as soon as at least one episode is committed.
    for (let i = 0; i < 300; i++) {
      await new Promise((r) => setTimeout(r, 100));
      try {
        if (query<{ n: number }>(out, 'SELECT COUNT(*) AS n FROM episodes')[0]!.n > 0) break;
      } catch {
        // not created yet
      }
    }
    child.kill('SIGKILL');
    await closed;
    const before = query<{ n: number }>(out, 'SELECT COUNT(*) AS n FROM episodes')[0]!.n;
    expect(before).toBeLessThan(16);
    const resumed = await cli(['experiment', 'run', file, '--out', out, '--quiet']);
    expect(resumed.code, resumed.stderr).toBe(0);
    const rows = query<{
      task_id: string;
      seed: number;
      epoch: number;
      policy: string;
      started_at: string;
      finished_at: string;
    }>(out, 'SELECT task_id, seed, epoch, policy, started_at, finished_at FROM episodes');
    expect(rows).toHaveLength(16);
    expect(new Set(rows.map((r) => `${r.task_id}|${r.seed}|${r.epoch}|${r.policy}`)).size).toBe(16);
    const db = new Database(path.join(out, 'runs.sqlite'), { readonly: true });
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    db.close();
    // Paired: each policy sees the same 8 (task, seed, epoch) triples; seeds differ across epochs/indices.
    const triples = (p: string) =>
      rows
        .filter((r) => r.policy === p)
        .map((r) => `${r.task_id}|${r.seed}|${r.epoch}`)
        .sort();
    expect(triples('oracle')).toEqual(triples('nop'));
    expect(new Set(rows.map((r) => `${r.task_id}|${r.seed}`)).size).toBe(8);
    // Concurrency: no instant where more than 3 episodes of the same process overlapped (the resumed process).
    const events = rows
      .filter((r) => Date.parse(r.started_at) > 0)
      .flatMap((r) => [
        [Date.parse(r.started_at), 1],
        [Date.parse(r.finished_at), -1],
      ])
      .sort((a, b) => a[0]! - b[0]! || a[1]! - b[1]!);
    let live = 0;
    let peak = 0;
    for (const [, d] of events) peak = Math.max(peak, (live += d!));
    expect(peak).toBeLessThanOrEqual(3);
  });

  it('two policies with the same name (two replays) keep both results instead of overwriting one', async () => {
    await writeFile(path.join(dir, 'a.jsonl'), '{"kind":"run","command":"true"}\n{"kind":"submit"}\n');
    await writeFile(path.join(dir, 'b.jsonl'), '{"kind":"submit"}\n');
    const file = await writeCfg(
      'advdup',
      'dataset: {name: "builtin:mini", filter: {limit: 1}}\n' +
        'policies: [{name: replay, actions: a.jsonl}, {name: replay, actions: b.jsonl}]\n',
    );
    // Either the config is refused (policies need distinct names), or both episodes are stored.
    let summary: Awaited<ReturnType<typeof runExperiment>> | undefined;
    try {
      summary = await runExperiment(await loadConfig(file), { outDir: path.join(dir, 'advdup') });
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      return;
    }
    // Today: "2 episodes run", but the UNIQUE key has no room for two `replay`s and the second replaces the first.
    const stored = query<{ n: number }>(summary.outDir, 'SELECT COUNT(*) AS n FROM episodes')[0]!.n;
    expect(stored).toBe(summary.done);
  });

  it('a missing or malformed replay actions file is a config error, not retried infra episodes', async () => {
    await writeFile(path.join(dir, 'bad.jsonl'), '{"kind":"submit"}\nnot json\n');
    for (const [name, actions] of [
      ['advmissing', 'no-such-file.jsonl'],
      ['advmalformed', 'bad.jsonl'],
    ] as const) {
      const file = await writeCfg(
        name,
        `dataset: {name: "builtin:mini", filter: {limit: 1}}\npolicies: [{name: replay, actions: ${actions}}]\nretries: 0\n`,
      );
      const out = path.join(dir, name);
      // Today the run "succeeds" with an infra episode (attempts = retries + 1), re-run on every resume.
      await expect(runExperiment(await loadConfig(file), { outDir: out })).rejects.toThrow(
        /policies\.0\.actions|no-such-file|bad\.jsonl/,
      );
    }
  });

  it('two runners on the same output dir at once do not both run every episode', async () => {
    const file = await writeCfg(
      'advtwin',
      'dataset: {name: "builtin:mini", filter: {limit: 2}}\npolicies: [{name: oracle}]\nconcurrency: 1\n',
    );
    const out = path.join(dir, 'advtwin');
    const args = ['experiment', 'run', file, '--out', out, '--json'];
    const [a, b] = await Promise.all([cli(args), cli(args)]);
    const ran = (r: { stdout: string }) =>
      r.stdout.split('\n').filter((l) => l.includes('"type":"episode"')).length;
    // Today both processes run both episodes (4 executions for 2 episodes); each silently replaces the other's
    // rows. The second runner should be refused (a lock on the dir) or skip what the first one has claimed.
    expect(ran(a) + ran(b)).toBeLessThanOrEqual(2);
    expect(query<{ n: number }>(out, 'SELECT COUNT(*) AS n FROM episodes')[0]!.n).toBe(2);
  });

  it('resuming after the dataset file changed is refused (or re-runs), not silently reused', async () => {
    const { tasks } = await loadDataset('builtin:mini');
    const task = tasks[0]!;
    const data = path.join(dir, 'ds.jsonl');
    await writeFile(data, JSON.stringify(task) + '\n');
    const file = await writeCfg('advds', 'dataset: {name: ds.jsonl}\npolicies: [{name: nop}]\n');
    const out = path.join(dir, 'advds');
    const first = await runExperiment(await loadConfig(file), { outDir: out });
    expect(first.done).toBe(1);
    // Same config, different task: the graded tests and the gold patch changed.
    await writeFile(
      data,
      JSON.stringify({ ...task, FAIL_TO_PASS: task.FAIL_TO_PASS.slice(0, 1), patch: `${task.patch}\n` }) +
        '\n',
    );
    let second: Awaited<ReturnType<typeof runExperiment>> | undefined;
    try {
      second = await runExperiment(await loadConfig(file), { outDir: out });
    } catch (err) {
      expect((err as Error).message).toMatch(/dataset/);
      return;
    }
    // Today: "0 episodes run, 1 already done": the stored dataset_hash is never compared.
    expect(second.skipped).toBe(0);
  });

  it("a run's identity is what the user wrote: a default added to repogym later keeps old run dirs resumable", async () => {
    const text = base().replace('name: t\n', 'name: advupgrade\n');
    const config = parseConfig(text);
    const identity = configIdentity(config);
    expect(identity).not.toContain('"sandbox"'); // a defaulted key
    expect(identity).not.toContain('"retries"');
    // The same file, parsed again, or with keys in another order, is the same run.
    expect(configIdentity(parseConfig(text))).toBe(identity);
    const out = path.join(dir, 'advupgrade');
    await runExperiment(config, { outDir: out });
    await expect(runExperiment(parseConfig(text), { outDir: out })).resolves.toMatchObject({ done: 0 });
  });

  it("agent output with <script>/</pre> in a real run's report.html stays escaped; single policy, no comparison", async () => {
    await writeFile(
      path.join(dir, 'xss.jsonl'),
      JSON.stringify({ kind: 'run', command: "printf '</pre><script>alert(1)</script>\\000|x|'" }) +
        '\n' +
        JSON.stringify({ kind: 'submit', message: '<img src=x onerror=alert(2)>' }) +
        '\n',
    );
    const file = await writeCfg(
      'advxss',
      'dataset: {name: "builtin:mini", filter: {limit: 1}}\npolicies: [{name: replay, actions: xss.jsonl}]\n',
    );
    const out = path.join(dir, 'advxss');
    const summary = await runExperiment(await loadConfig(file), { outDir: out });
    expect(summary.statistics.comparisons).toEqual([]);
    const html = await readFile(path.join(out, 'report.html'), 'utf8');
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toMatch(/<img/i);
    expect(html).toContain('&lt;/pre&gt;&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).not.toMatch(/\b(src|href)\s*=\s*["']?(https?:)?\/\//i);
    const steps = tableFromIPC(await readFile(path.join(out, 'steps.arrow')));
    expect(String(steps.getChild('output')!.get(0))).toContain('</script>\u0000|x|');
  });
});

// ---- store, export, report ------------------------------------------------------------------------------------

describe('adversarial: store, Arrow export, report', () => {
  it('exports an empty run with the documented schema and reports it', async () => {
    const runDir = await syntheticRun(() => {});
    const r = await exportArrow(runDir);
    expect(r.rows).toEqual([0, 0, 0, 0]);
    const episodes = tableFromIPC(await readFile(r.episodes));
    const steps = tableFromIPC(await readFile(r.steps));
    expect(episodes.schema.fields.map((f) => `${f.name}:${f.type}`)).toEqual(
      Object.entries(EPISODE_COLUMNS).map(([n, t]) => `${n}:${t}`),
    );
    expect(steps.schema.fields.map((f) => `${f.name}:${f.type}`)).toEqual(
      Object.entries(STEP_COLUMNS).map(([n, t]) => `${n}:${t}`),
    );
    await writeReport(runDir);
    const md = await readFile(path.join(runDir, 'report.md'), 'utf8');
    expect(md).toContain('0 episodes');
  });

  it('round-trips nulls, max uint32 seeds, NUL chars and unicode through Arrow; report.html escapes every field', async () => {
    const evil = '<script>alert(1)</script>';
    const runDir = await syntheticRun((s) => {
      s.recordEpisode(
        episode(1, { task_id: `${evil}|t`, policy: '<svg onload=alert(1)>', arm: '<b>arm</b>', error: evil }),
        [
          {
            step: 1,
            action: { kind: 'run', command: `</pre>${evil}` },
            observation: observation(`é 😀\u0000after-nul </pre>${evil}`, null),
            reward: 0,
          },
        ],
      );
      s.recordEpisode(episode(2, { resolved: true, reward: 1, f2p_fraction: 1, p2p_fraction: null }), [
        { step: 1, action: undefined, observation: observation('', -1), reward: 1 },
      ]);
    });
    const r = await exportArrow(runDir);
    const episodes = tableFromIPC(await readFile(r.episodes));
    const steps = tableFromIPC(await readFile(r.steps));
    const e0 = episodes.get(0)!.toJSON();
    expect(e0).toMatchObject({ seed: 4294967295, arm: '<b>arm</b>', f2p_fraction: null, p2p_fraction: null });
    expect(e0.started_at).toBe(Date.UTC(2024, 0, 1, 0, 0, 1));
    const outputs = steps.getChild('output')!.toArray() as string[];
    expect(outputs).toContain(`é 😀\u0000after-nul </pre>${evil}`);
    const exits = steps.getChild('exit_code')!;
    expect([exits.get(0), exits.get(1)].sort()).toEqual([-1, null].sort());
    expect(exits.nullCount).toBe(1);
    await writeReport(runDir);
    const html = await readFile(path.join(runDir, 'report.html'), 'utf8');
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toMatch(/<svg onload/i);
    expect(html).not.toMatch(/<b>arm/);
    expect(html).not.toMatch(/<\/pre><script/);
  });

  it('reports a run of only infra episodes without crashing', async () => {
    const runDir = await syntheticRun((s) => {
      s.recordEpisode(episode(1, { failure_class: 'infra', outcome: 'infra', error: 'boom' }), []);
    });
    await expect(writeReport(runDir)).resolves.toMatchObject({ charts: 4 });
    await expect(exportArrow(runDir)).resolves.toMatchObject({ rows: [1, 0, 0, 0] });
  });

  it('a policy with only infra episodes shows no "NaN" in report.md or the CLI summary', async () => {
    const runDir = await syntheticRun((s) => {
      s.recordEpisode(episode(1, { failure_class: 'infra', outcome: 'infra', error: 'boom' }), []);
    });
    await writeReport(runDir);
    expect(await readFile(path.join(runDir, 'report.md'), 'utf8')).not.toMatch(/NaN/);
    const db = new Database(path.join(runDir, 'runs.sqlite'), { readonly: true });
    try {
      expect(formatStatistics(runStatistics(db, 'x')).join('\n')).not.toMatch(/NaN/);
    } finally {
      db.close();
    }
  });

  it('a stored step output is at most 8 KiB and is not cut inside a surrogate pair', async () => {
    const output = `a${'😀'.repeat(5000)}`;
    const runDir = await syntheticRun((s) => {
      s.recordEpisode(episode(1), [{ step: 1, action: {}, observation: observation(output, 0), reward: 0 }]);
    });
    const [row] = query<{ output: string }>(runDir, 'SELECT output FROM steps');
    // Today the cut is at 8192 UTF-16 units: ~16 KiB of UTF-8 and a lone surrogate that becomes U+FFFD.
    expect(row!.output).not.toContain('\uFFFD');
    expect(Buffer.byteLength(row!.output)).toBeLessThanOrEqual(8 * 1024);
    expect(output.startsWith(row!.output)).toBe(true);
  });

  it('report.md table rows keep their columns when a cell holds `\\|` or a lone carriage return', async () => {
    const runDir = await syntheticRun((s) => {
      s.recordEpisode(episode(1, { policy: 'a\\|b' }), []);
      s.recordEpisode(episode(2, { policy: 'c\rd' }), []);
    });
    await writeReport(runDir);
    const md = await readFile(path.join(runDir, 'report.md'), 'utf8');
    // A lone \r is a Markdown line ending, and `a\|b` → `a\\|b` where `\\` is an escaped backslash and the pipe
    // then splits the cell.
    const rows = md.split(/\r\n|\r|\n/).filter((l) => l.startsWith('|'));
    const header = rows.find((l) => l.startsWith('| policy'))!;
    const summaryRows = rows.slice(rows.indexOf(header) + 2).filter((l) => !l.startsWith('| A'));
    for (const row of summaryRows.slice(0, 2)) expect(separators(row), row).toBe(separators(header));
  });

  it('report.md escapes HTML in cells (Markdown viewers render inline HTML)', async () => {
    const runDir = await syntheticRun((s) => {
      s.recordEpisode(episode(1, { policy: '<img src=x onerror=alert(1)>' }), []);
    });
    await writeReport(runDir);
    expect(await readFile(path.join(runDir, 'report.md'), 'utf8')).not.toContain('<img');
  });
});

// ---- statistics -----------------------------------------------------------------------------------------------

describe('adversarial: statistics', () => {
  it('wilson, bootstrap and exact McNemar hold at the edges', () => {
    expect(wilson(0, 0)).toMatchObject({ low: 0, high: 1 });
    expect(wilson(0, 5).low).toBe(0);
    expect(wilson(5, 5).high).toBe(1);
    const big = wilson(5e11, 1e12);
    expect(big.low).toBeLessThan(0.5);
    expect(big.high).toBeGreaterThan(0.5);
    expect(wilson(1e9, 1e9).low).toBeGreaterThan(0.999999);
    expect(bootstrapMean([]).estimate).toBeNaN();
    expect(bootstrapMean([2, 2, 2])).toEqual({ estimate: 2, low: 2, high: 2 });
    expect(bootstrapMean([-5, 3, 100, -20], { seed: 7 })).toEqual(
      bootstrapMean([-5, 3, 100, -20], { seed: 7 }),
    );
    expect(mcnemar([]).pValue).toBe(1);
    const pairs = (a: number, b: number): [boolean, boolean][] => [
      ...Array.from({ length: a }, () => [true, false] as [boolean, boolean]),
      ...Array.from({ length: b }, () => [false, true] as [boolean, boolean]),
    ];
    expect(mcnemar(pairs(3, 7)).pValue).toBeCloseTo((2 * (1 + 10 + 45 + 120)) / 1024, 12);
    expect(mcnemar(pairs(10, 0)).pValue).toBeCloseTo(2 / 1024, 12);
    expect(mcnemar(pairs(600000, 400000)).pValue).toBeLessThan(1e-100);
  });

  const pairs = (a: number, b: number): [boolean, boolean][] => [
    ...Array.from({ length: a }, () => [true, false] as [boolean, boolean]),
    ...Array.from({ length: b }, () => [false, true] as [boolean, boolean]),
  ];

  it('McNemar p-values never exceed 1 (chi-square branch with |onlyA − onlyB| = 1)', () => {
    // erfc(0) from the Numerical Recipes approximation is 1.00000003.
    for (const [a, b] of [
      [13, 12],
      [500001, 500000],
    ])
      expect(mcnemar(pairs(a!, b!)).pValue).toBeLessThanOrEqual(1);
  });

  it('McNemar with equally many discordant pairs each way gives p = 1 (continuity correction clamped)', () => {
    // (|b − c| − 1)² / n with b = c gives 1/n instead of 0.
    expect(mcnemar(pairs(500000, 500000)).pValue).toBe(1);
  });
});

// ---- trajectory and CLI ---------------------------------------------------------------------------------------

describe('adversarial: trajectory and CLI', () => {
  it('SQL wildcards in a prefix match nothing; an ambiguous prefix is refused', async () => {
    const runDir = await syntheticRun((s) => {
      s.recordEpisode(episode(1, { id: 'ab-1' }), []);
      s.recordEpisode(episode(2, { id: 'ab-2' }), []);
      s.recordEpisode(episode(3, { id: 'cd_3' }), []);
    });
    expect(() => renderTrajectory(runDir, '%')).toThrow(/no episode/);
    expect(() => renderTrajectory(runDir, 'a_')).toThrow(/no episode/);
    expect(() => renderTrajectory(runDir, 'c%')).toThrow(/no episode/);
    expect(() => renderTrajectory(runDir, 'ab')).toThrow(/ambiguous/);
    expect(renderTrajectory(runDir, 'cd_')).toContain('episode cd_3');
  });

  it('--help works and wrong arguments give one line and a non-zero exit', async () => {
    for (const cmd of [['experiment', 'run'], ['report'], ['export'], ['trajectory']]) {
      const r = await cli([...cmd, '--help']);
      expect(r.code, cmd.join(' ')).toBe(0);
      expect(r.stdout).toContain(`repogym ${cmd.join(' ')}`);
    }
    for (const args of [
      ['experiment', 'run'],
      ['export', path.join(dir, 'nope')],
      ['export', dir, '--format', 'csv'],
      ['trajectory', dir],
      ['report', dir],
      ['experiment', 'run', path.join(dir, 'nope.yaml')],
    ]) {
      const r = await cli(args);
      expect(r.code, args.join(' ')).not.toBe(0);
      expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
    }
  });

  it('`trajectory --lines` rejects a negative or non-numeric count', async () => {
    const runDir = await syntheticRun((s) => {
      s.recordEpisode(episode(1, { id: 'only-1' }), [
        { step: 1, action: {}, observation: observation('one line', 0), reward: 0 },
      ]);
    });
    // Today `--lines -3` prints "… 4 more lines" for a one-line output and `--lines abc` prints everything.
    for (const lines of ['-3', 'abc']) {
      const r = await cli(['trajectory', runDir, 'only', '--lines', lines]);
      expect(r.code, `--lines ${lines}: ${r.stdout}`).not.toBe(0);
    }
  });
});
