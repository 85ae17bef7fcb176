// Adversarial checks of the session's changes: store v4 upgrades of stores written by older versions (a real v3
// store made by the previous commit's CLI), resume across the upgrade, the Arrow export of odd values, and
// host paths in error observations under the user-namespace overlay.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { tableFromIPC } from 'apache-arrow';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CodingEnv } from '../env/coding-env.ts';
import { createLocalSandbox } from '../env/sandbox/local.ts';
import type { Sandbox } from '../env/sandbox/types.ts';
import { parseConfig } from '../experiments/config.ts';
import { exportArrow } from '../experiments/export.ts';
import { writeReport } from '../experiments/report.ts';
import { runExperiment } from '../experiments/runner.ts';
import { RunStore, type EpisodeRecord } from '../experiments/store.ts';
import { removeDir } from './helpers.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const PYTHON = path.join(ROOT, 'node_modules', '.cache', 'repogym-pyarrow', 'bin', 'python');
/** The last commit before store v4: its CLI writes a genuine schema-3 store. */
const BEFORE_V4 = '8b04ae3~1';

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'repogym-session-adv-'));
});
afterAll(() => removeDir(tmp));

const CONFIG = [
  'name: v3run',
  'dataset: {name: "builtin:mini", filter: {limit: 2}}',
  'policies: [{name: bandit, id: b, bandit: {kind: ucb1}, arms: [boundaries, logic], inner: {name: repair}}, {name: nop}]',
  'concurrency: 2',
  'retries: 0',
  'budgets: {max_steps: 6}',
  '',
].join('\n');

describe('a store written by the previous version (schema 3)', () => {
  let v3: string;
  beforeAll(async () => {
    // The previous commit's tree, run with this checkout's node_modules: a real v3 store, not a hand-made one.
    const old = path.join(tmp, 'old');
    await mkdir(old);
    const archive = execFileSync('git', ['archive', BEFORE_V4], { cwd: ROOT, maxBuffer: 256 * 1024 * 1024 });
    execFileSync('tar', ['-x', '-C', old], { input: archive });
    await symlink(path.join(ROOT, 'node_modules'), path.join(old, 'node_modules'));
    const config = path.join(tmp, 'v3.yaml');
    await writeFile(config, CONFIG);
    v3 = path.join(tmp, 'v3out');
    const run = spawnSync(
      'node',
      [path.join(old, 'bin/repogym.js'), 'experiment', 'run', config, '--out', v3, '--quiet'],
      { cwd: tmp, encoding: 'utf8', timeout: 300_000 },
    );
    expect(run.status, run.stderr).toBe(0);
    const db = new Database(path.join(v3, 'runs.sqlite'), { readonly: true });
    try {
      const meta = db.prepare("SELECT value FROM meta WHERE key = 'schema_version'").get() as {
        value: string;
      };
      expect(meta.value).toBe('3');
    } finally {
      db.close();
    }
  }, 400_000);

  const copyOf = async (name: string) => {
    const dir = path.join(tmp, name);
    await cp(v3, dir, { recursive: true });
    return dir;
  };

  it('was a defect: a finished run started before the upgrade does not resume with the very same config file', async () => {
    // The same config, the same --out: every episode is already in the store, so the run should skip all 4.
    // It is refused instead, because the experiment id hashed concurrency and retries before the upgrade.
    const dir = await copyOf('resume');
    const summary = await runExperiment(parseConfig(CONFIG, 'v3.yaml'), { outDir: dir });
    expect(summary.skipped).toBe(4);
    expect(summary.done).toBe(0);
  }, 120_000);

  it('defended: the Arrow export upgrades it and writes all four files, bandit_updates.arrow empty but readable', async () => {
    const dir = await copyOf('export');
    const r = await exportArrow(dir);
    expect(r.rows).toEqual([4, expect.any(Number), 4, 0]);
    const episodes = tableFromIPC(await readFile(r.episodes));
    expect(episodes.schema.fields.map((f) => f.name)).toContain('usd');
    expect(episodes.getChild('usd')!.toArray()).toHaveLength(4);
    const updates = tableFromIPC(await readFile(r.banditUpdates));
    expect(updates.numRows).toBe(0);
    expect(updates.schema.fields.map((f) => f.name)).toContain('seq');
    if (existsSync(PYTHON)) {
      const read = spawnSync(
        PYTHON,
        [
          '-c',
          'import sys, pyarrow.ipc as i; print(*[i.open_file(open(f,"rb")).read_all().num_rows for f in sys.argv[1:]])',
          r.episodes,
          r.banditUpdates,
        ],
        { encoding: 'utf8' },
      );
      expect(read.stdout.trim(), read.stderr).toBe('4 0');
    }
  });

  it('defended: the report of a v3 store is written, with the arms the v3 bandit chose', async () => {
    const dir = await copyOf('report');
    const r = await writeReport(dir);
    const md = await readFile(r.md, 'utf8');
    expect(md).toContain('## Cost and time');
    expect(md).toContain('no LLM cost recorded');
  });

  it('was a defect: the report of a schema-1 store (no rewards table) fails, though the store upgrades in place when opened', async () => {
    // Schema 1, as CREATE TABLEd before rewards, bandit_state, policy_info_json and the token columns existed.
    const dir = await copyOf('v1');
    const db = new Database(path.join(dir, 'runs.sqlite'));
    db.exec(`DROP TABLE rewards; DROP TABLE reward_components; DROP TABLE bandit_state;
      ALTER TABLE episodes DROP COLUMN policy_info_json; ALTER TABLE steps DROP COLUMN input_tokens;
      ALTER TABLE steps DROP COLUMN output_tokens; ALTER TABLE steps DROP COLUMN usd;
      UPDATE meta SET value = '1' WHERE key = 'schema_version';`);
    db.close();
    // `repogym report` on it: "no such table: rewards" (exportArrow opens it as a RunStore first; the report not).
    await expect(writeReport(dir)).resolves.toMatchObject({ md: path.join(dir, 'report.md') });
  });
});

describe('Arrow export of odd values', () => {
  it('defended: NUL bytes, empty strings, a 1.2 MB string of 4-byte characters, NULL-only dictionary columns', async () => {
    const dir = path.join(tmp, 'odd');
    await mkdir(dir);
    const store = new RunStore(path.join(dir, 'runs.sqlite'));
    store.addExperiment({
      id: 'e',
      name: 'e',
      config_json: '{}',
      config_hash: 'h',
      dataset_hash: 'd',
      manifest_json: '{}',
    });
    const big = '😀'.repeat(300_000) + 'é';
    const base: Omit<EpisodeRecord, 'id' | 'task_id'> = {
      experiment_id: 'e',
      seed: 4294967295,
      epoch: 0,
      policy: 'p',
      arm: null,
      outcome: 'x',
      failure_class: 'none',
      resolved: false,
      reward: 0,
      f2p_fraction: null,
      p2p_fraction: null,
      steps: 0,
      invalid_actions: 0,
      terminated: false,
      truncated: false,
      wall_ms: 0,
      attempts: 1,
      signals_json: null,
      patch: null,
      error: null,
      started_at: '2024-01-01T00:00:00.000Z',
      finished_at: '2024-01-01T00:00:00.000Z',
      policy_info_json: null,
    };
    store.recordEpisode({ ...base, id: 'a', task_id: 't\u0000z', error: big }, []);
    store.recordEpisode({ ...base, id: 'b', task_id: '', error: '', policy_info_json: '' }, []);
    store.recordEpisode({ ...base, id: 'c', task_id: 'ü', seed: 0 }, []);
    store.close();
    const r = await exportArrow(dir);
    expect(r.rows).toEqual([3, 0, 0, 0]);
    const t = tableFromIPC(await readFile(r.episodes));
    const col = (name: string) => [...t.getChild(name)!] as unknown[];
    expect(col('task_id')).toEqual(['t\u0000z', '', 'ü']);
    expect(col('error')).toEqual([big, '', null]);
    expect(col('arm')).toEqual([null, null, null]);
    expect(col('seed')).toEqual([4294967295, 4294967295, 0]);
    expect(col('usd')).toEqual([null, null, null]);
  });
});

describe('the user-namespace overlay (layer overlay-userns)', () => {
  let sandbox: Sandbox | undefined;
  let env: CodingEnv;
  beforeAll(async () => {
    env = new CodingEnv({
      dataset: 'builtin:mini',
      task: 'slugkit__trim-separators-1',
      maxSteps: 200,
      sandbox: async (task) =>
        (sandbox = await createLocalSandbox({
          repo: task.repo,
          commit: task.base_commit,
          layer: 'overlay-userns',
          isolation: 'bwrap',
          defaultTimeoutSec: task.timeouts.command_sec,
        })),
    });
    await env.reset({ seed: 1 });
  }, 60_000);
  afterAll(() => env.close());

  it('was a defect: list_dir errors show the host path through /proc/<keeper>/root', async () => {
    // read_file and write_file go through the sandbox, which strips the keeper's prefix; list_dir stats and
    // reads the directory itself, and the env then makes the path relative to sandbox.root.
    const cases: [unknown, string][] = [
      [{ kind: 'list_dir', path: 'nope' }, 'nope: no such file or directory'],
      [{ kind: 'list_dir', path: 'src/slugify.js/x' }, 'src/slugify.js/x: not a directory'],
    ];
    const seen = [];
    for (const [action] of cases) seen.push((await env.step(action)).observation.error?.message);
    expect(seen).toEqual(cases.map(([, message]) => message));
    for (const message of seen) expect(message).not.toMatch(/\/proc\/\d+\/root|repogym-sb-/);
  });

  it('defended: read_file/write_file/str_replace errors name repository paths only', async () => {
    for (const action of [
      { kind: 'read_file', path: 'nope.py' },
      { kind: 'read_file', path: 'src/slugify.js/x' },
      { kind: 'write_file', path: 'src/slugify.js/x', content: 'x' },
      { kind: 'str_replace', path: 'nope.py', old: 'a', new: 'b' },
      { kind: 'search', pattern: 'x', path: 'nope' },
    ]) {
      const r = await env.step(action);
      expect(r.observation.error, JSON.stringify(action)).toBeDefined();
      expect(r.observation.error!.message).not.toMatch(/\/proc\/\d+\/root|repogym-sb-/);
      expect(r.observation.error!.message).not.toContain(sandbox!.root);
    }
  });

  it('defended: absolute, /proc/self and /proc/<keeper> symlinks are not followed out of the tree', async () => {
    const via = await sandbox!.resolve('.');
    const keeper = /^\/proc\/(\d+)\/root/.exec(via)![1];
    const made = await env.step({
      kind: 'run',
      command: [
        'ln -s / rootlink',
        'ln -s /proc/self/root/etc selfetc',
        `ln -s /proc/${keeper}/cwd/upper upperlink`,
        'ln -s ../.. up2',
        'mkdir -p deep && ln -s ../../.. deep/up3',
      ].join(' && '),
    });
    expect(made.observation.exitCode).toBe(0);
    for (const p of [
      'rootlink/etc/hostname',
      'selfetc/hostname',
      'upperlink/package.json',
      'up2/x',
      'deep/up3/x',
    ]) {
      for (const action of [
        { kind: 'read_file', path: p },
        { kind: 'write_file', path: p, content: 'pwned' },
        { kind: 'list_dir', path: path.dirname(p) },
      ]) {
        const r = await env.step(action);
        expect(r.observation.error?.code, JSON.stringify(action)).toBe('path_escape');
      }
    }
  });
});
