import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  Bool,
  Dictionary,
  Float64,
  Int32,
  tableFromIPC,
  tableToIPC,
  TimestampMillisecond,
  Utf8,
} from 'apache-arrow';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../experiments/config.ts';
import {
  BANDIT_UPDATE_COLUMNS,
  EPISODE_COLUMNS,
  exportArrow,
  queryToTable,
  REWARD_COLUMNS,
  STEP_COLUMNS,
} from '../experiments/export.ts';
import { RunStore } from '../experiments/store.ts';
import { runExperiment } from '../experiments/runner.ts';
import { removeDir } from './helpers.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
// .ci/run creates it; created here too when missing, so the test never skips.
const PYARROW_VENV = path.join(ROOT, 'node_modules', '.cache', 'repogym-pyarrow');
const PYTHON = path.join(PYARROW_VENV, 'bin', 'python');

let out: string;
beforeAll(async () => {
  out = await mkdtemp(path.join(os.tmpdir(), 'repogym-export-'));
  const config = parseConfig(
    'name: arrow\ndataset: {name: "builtin:mini", filter: {limit: 2}}\npolicies: [{name: oracle}, {name: nop}]',
  );
  await runExperiment(config, { outDir: out });
  if (!existsSync(PYTHON)) {
    execFileSync('python3', ['-m', 'venv', PYARROW_VENV]);
    execFileSync(path.join(PYARROW_VENV, 'bin', 'pip'), ['install', '-q', '--retries', '0', 'pyarrow'], {
      timeout: 300_000,
    });
  }
}, 400_000);
afterAll(() => removeDir(out));

function sqliteCount(table: string): number {
  const db = new Database(path.join(out, 'runs.sqlite'), { readonly: true });
  try {
    return (db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n;
  } finally {
    db.close();
  }
}

describe('Arrow export', () => {
  it.each([
    ['episodes.arrow', 'episodes', EPISODE_COLUMNS],
    ['steps.arrow', 'steps', STEP_COLUMNS],
    ['rewards.arrow', 'rewards', REWARD_COLUMNS],
    ['bandit_updates.arrow', 'bandit_updates', BANDIT_UPDATE_COLUMNS],
  ] as const)('%s reads back with apache-arrow with the documented schema', async (file, table, columns) => {
    const arrow = tableFromIPC(await readFile(path.join(out, file)));
    expect(arrow.numRows).toBe(sqliteCount(table));
    expect(arrow.schema.fields.map((f) => [f.name, String(f.type)])).toEqual(
      Object.entries(columns).map(([name, type]) => [name, String(type)]),
    );
  });

  it('holds what the run did: oracle resolved, nop not; timestamps are dates', async () => {
    const episodes = tableFromIPC(await readFile(path.join(out, 'episodes.arrow')))
      .toArray()
      .map((r) => r.toJSON());
    const byPolicy = (p: string) => episodes.filter((e) => e.policy === p).map((e) => e.resolved);
    expect(byPolicy('oracle')).toEqual([true, true]);
    expect(byPolicy('nop')).toEqual([false, false]);
    const rewards = tableFromIPC(await readFile(path.join(out, 'rewards.arrow')))
      .toArray()
      .map((r) => r.toJSON());
    const oracleIds = new Set(episodes.filter((e) => e.policy === 'oracle').map((e) => e.id));
    const oracleRewards = rewards.filter((r) => oracleIds.has(r.episode_id));
    expect(oracleRewards.map((r) => [r.variant, r.value, r.c_resolved])).toEqual([
      ['swebench', 1, 1],
      ['swebench', 1, 1],
    ]);
    expect(new Date(episodes[0]!.finished_at as number).getUTCFullYear()).toBeGreaterThanOrEqual(2024);
  });

  it('reads back with pyarrow, with analysts’ types', () => {
    const script = [
      'import json, sys, pyarrow.ipc as ipc',
      'e = ipc.open_file(sys.argv[1]).read_all()',
      's = ipc.open_file(sys.argv[2]).read_all()',
      'print(json.dumps({"rows": [e.num_rows, s.num_rows], "types": {f.name: str(f.type) for f in e.schema},',
      '  "resolved": sum(e.column("resolved").to_pylist())}))',
    ].join('\n');
    const result = JSON.parse(
      execFileSync(PYTHON, [
        '-c',
        script,
        path.join(out, 'episodes.arrow'),
        path.join(out, 'steps.arrow'),
      ]).toString(),
    ) as { rows: number[]; types: Record<string, string>; resolved: number };
    expect(result.rows).toEqual([sqliteCount('episodes'), sqliteCount('steps')]);
    expect(result.resolved).toBe(2);
    expect(result.types).toMatchObject({
      policy: 'dictionary<values=string, indices=int32, ordered=0>',
      seed: 'uint32',
      resolved: 'bool',
      reward: 'double',
      finished_at: 'timestamp[ms]',
    });
  });
});

it('docs/store.md documents every table and column of the store, and its schema version', async () => {
  const doc = await readFile(path.join(ROOT, 'docs', 'store.md'), 'utf8');
  const db = new Database(path.join(out, 'runs.sqlite'), { readonly: true });
  try {
    const tables = db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`).all() as {
      name: string;
    }[];
    for (const { name } of tables) {
      const row = doc.split('\n').find((line) => line.startsWith(`| \`${name}\``));
      expect(row, `docs/store.md has no row for table ${name}`).toBeDefined();
      const columns = db.prepare(`PRAGMA table_info(${name})`).all() as { name: string }[];
      for (const c of columns) expect(row, `${name}.${c.name}`).toContain(`\`${c.name}\``);
    }
    const version = (
      db.prepare(`SELECT value FROM meta WHERE key = 'schema_version'`).get() as { value: string }
    ).value;
    expect(doc).toContain(`\`meta.schema_version\` = ${version}`);
  } finally {
    db.close();
  }
});

describe('an empty run', () => {
  it('exports files that pyarrow reads: every dictionary present with no rows', async () => {
    const runDir = await mkdtemp(path.join(os.tmpdir(), 'repogym-export-empty-'));
    try {
      const store = new RunStore(path.join(runDir, 'runs.sqlite'));
      store.addExperiment({
        id: 'empty',
        name: 'empty',
        config_json: '{}',
        config_hash: '',
        dataset_hash: '',
        manifest_json: '{}',
      });
      store.close();
      const files = await exportArrow(runDir);
      expect(files.rows).toEqual([0, 0, 0, 0]);
      const script = [
        'import json, sys, pyarrow.ipc as ipc',
        'print(json.dumps([ipc.open_file(f).read_all().num_rows for f in sys.argv[1:]]))',
      ].join('\n');
      const rows = execFileSync(PYTHON, [
        '-c',
        script,
        files.episodes,
        files.steps,
        files.rewards,
        files.banditUpdates,
      ]).toString();
      expect(JSON.parse(rows)).toEqual([0, 0, 0, 0]);
    } finally {
      await removeDir(runDir);
    }
  });
});

describe('queryToTable', () => {
  it('round-trips nulls, empty and multi-byte strings, runs, booleans, timestamps and a buffer that must grow', () => {
    const db = new Database(':memory:');
    db.exec('CREATE TABLE t (s TEXT, d TEXT, n INTEGER, f REAL, b INTEGER, ts TEXT)');
    const big = 'é漢🙂'.repeat(50_000);
    const rows: unknown[][] = [
      [null, 'a', 1, 0.5, 1, '2026-01-02T03:04:05.678Z'],
      ['', 'a', null, null, 0, null],
      ['é漢🙂', null, -7, -0.25, null, '2020-02-29T00:00:00.000Z'],
      [big, 'b', 2 ** 31 - 1, 1e300, 1, null],
      [null, 'a', 0, 0, 0, null],
      ['tail', 'b', 3, 3, 1, '1970-01-01T00:00:00.000Z'],
    ];
    const insert = db.prepare('INSERT INTO t VALUES (?, ?, ?, ?, ?, ?)');
    for (const row of rows) insert.run(...row);
    const table = tableFromIPC(
      tableToIPC(
        queryToTable(db, 'SELECT s, d, n, f, b, ts FROM t ORDER BY rowid', {
          s: new Utf8(),
          d: new Dictionary(new Utf8(), new Int32()),
          n: new Int32(),
          f: new Float64(),
          b: new Bool(),
          ts: new TimestampMillisecond(),
        }),
        'file',
      ),
    );
    db.close();
    const back = table.toArray().map((r) => r.toJSON());
    expect(back.map((r) => r.s)).toEqual([null, '', 'é漢🙂', big, null, 'tail']);
    expect(back.map((r) => r.d)).toEqual(['a', 'a', null, 'b', 'a', 'b']);
    expect(back.map((r) => r.n)).toEqual([1, null, -7, 2 ** 31 - 1, 0, 3]);
    expect(back.map((r) => r.f)).toEqual([0.5, null, -0.25, 1e300, 0, 3]);
    expect(back.map((r) => r.b)).toEqual([true, false, null, true, false, true]);
    expect(back.map((r) => r.ts)).toEqual([
      Date.parse('2026-01-02T03:04:05.678Z'),
      null,
      Date.parse('2020-02-29'),
      null,
      null,
      0,
    ]);
    expect(table.getChild('s')!.nullCount).toBe(2);
  });
});
