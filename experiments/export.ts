// Arrow IPC (file format) export of a run: episodes.arrow, steps.arrow and rewards.arrow, typed for analysts (pandas, polars,
// DuckDB): timestamps as timestamps, low-cardinality strings as dictionaries, numbers as numbers; JSON text only
// for actions and recorded signals, whose shape varies.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  Bool,
  type DataType,
  Dictionary,
  Float64,
  Int32,
  makeData,
  makeVector,
  Table,
  tableToIPC,
  TimestampMillisecond,
  Uint32,
  Utf8,
  vectorFromArray,
} from 'apache-arrow';
import Database from 'better-sqlite3';
import { COMPONENT_NAMES } from '../rewards/components.ts';

const dict = () => new Dictionary(new Utf8(), new Int32());

type Convert = (value: unknown) => unknown;
const asIs: Convert = (v) => v;
const asBool: Convert = (v) => (v === null ? null : v === 1);
const asTime: Convert = (v) => (v === null ? null : Date.parse(String(v)));

/** Column name → Arrow type and how an SQLite value becomes an Arrow value. The schema of the export. */
export const EPISODE_COLUMNS: Record<string, [DataType, Convert]> = {
  experiment_id: [dict(), asIs],
  id: [new Utf8(), asIs],
  task_id: [dict(), asIs],
  seed: [new Uint32(), asIs],
  epoch: [new Int32(), asIs],
  policy: [dict(), asIs],
  arm: [dict(), asIs],
  outcome: [dict(), asIs],
  failure_class: [dict(), asIs],
  resolved: [new Bool(), asBool],
  reward: [new Float64(), asIs],
  f2p_fraction: [new Float64(), asIs],
  p2p_fraction: [new Float64(), asIs],
  steps: [new Int32(), asIs],
  invalid_actions: [new Int32(), asIs],
  terminated: [new Bool(), asBool],
  truncated: [new Bool(), asBool],
  wall_ms: [new Int32(), asIs],
  attempts: [new Int32(), asIs],
  signals_json: [new Utf8(), asIs],
  error: [new Utf8(), asIs],
  started_at: [new TimestampMillisecond(), asTime],
  finished_at: [new TimestampMillisecond(), asTime],
  policy_info_json: [new Utf8(), asIs],
};

export const STEP_COLUMNS: Record<string, [DataType, Convert]> = {
  episode_id: [dict(), asIs],
  step: [new Int32(), asIs],
  kind: [dict(), asIs],
  action_json: [new Utf8(), asIs],
  output: [new Utf8(), asIs],
  exit_code: [new Int32(), asIs],
  timed_out: [new Bool(), asBool],
  error_code: [dict(), asIs],
  tests_passed: [new Int32(), asIs],
  tests_failed: [new Int32(), asIs],
  wall_ms: [new Int32(), asIs],
  cpu_ms: [new Int32(), asIs],
  peak_rss_kb: [new Int32(), asIs],
  diff_files: [new Int32(), asIs],
  diff_added: [new Int32(), asIs],
  diff_removed: [new Int32(), asIs],
  reward: [new Float64(), asIs],
  input_tokens: [new Int32(), asIs],
  output_tokens: [new Int32(), asIs],
  usd: [new Float64(), asIs],
};

/** One row per (episode, variant), with every component's value as its own column (`c_<component>`). */
export const REWARD_COLUMNS: Record<string, [DataType, Convert]> = {
  episode_id: [dict(), asIs],
  variant: [dict(), asIs],
  value: [new Float64(), asIs],
  source: [dict(), asIs],
  gates_json: [new Utf8(), asIs],
  flags_json: [new Utf8(), asIs],
  scored_at: [new TimestampMillisecond(), asTime],
  ...Object.fromEntries(COMPONENT_NAMES.map((c) => [`c_${c}`, [new Float64(), asIs]])),
};

const REWARDS_SQL = `SELECT r.episode_id, r.variant, r.value, r.source, r.gates_json, r.flags_json, r.scored_at,
  ${COMPONENT_NAMES.map((c) => `MAX(CASE WHEN c.component = '${c}' THEN c.value END) AS c_${c}`).join(',\n  ')}
  FROM rewards r LEFT JOIN reward_components c ON c.episode_id = r.episode_id
  GROUP BY r.episode_id, r.variant ORDER BY r.episode_id, r.variant`;

/** Reads `sql` (selecting exactly `columns`, in order) column by column into an Arrow table. */
export function queryToTable(
  db: Database.Database,
  sql: string,
  columns: Record<string, [DataType, Convert]>,
): Table {
  const names = Object.keys(columns);
  const converts = names.map((name) => columns[name]![1]);
  // Arrays sized up front and rows read raw (as arrays, not objects): reading dominates a large export.
  const rows = (db.prepare(`SELECT COUNT(*) FROM (${sql})`).raw(true).get() as [number])[0];
  const values: unknown[][] = names.map(() => new Array<unknown>(rows));
  let r = 0;
  for (const row of db.prepare(sql).raw(true).iterate() as Iterable<unknown[]>) {
    for (let i = 0; i < row.length; i++) {
      const convert = converts[i]!;
      values[i]![r] = convert === asIs ? row[i] : convert(row[i]);
    }
    r++;
  }
  return new Table(
    Object.fromEntries(names.map((name, i) => [name, toVector(columns[name]![0], values[i]!)])),
  );
}

/** Validity bitmap (bit set = value present) and null count, as Arrow lays them out. */
function validity(values: unknown[]): { nullBitmap: Uint8Array; nullCount: number } {
  const nullBitmap = new Uint8Array(Math.ceil(values.length / 8));
  let nullCount = 0;
  for (let i = 0; i < values.length; i++) {
    if (values[i] === null || values[i] === undefined) nullCount++;
    else nullBitmap[i >> 3]! |= 1 << (i & 7);
  }
  return { nullBitmap, nullCount };
}

function utf8Data(strings: unknown[]) {
  const valueOffsets = new Int32Array(strings.length + 1);
  let bytes = 0;
  for (let i = 0; i < strings.length; i++) {
    const s = strings[i];
    bytes += s === null || s === undefined ? 0 : Buffer.byteLength(String(s));
    valueOffsets[i + 1] = bytes;
  }
  const data = Buffer.allocUnsafe(bytes);
  for (let i = 0; i < strings.length; i++) {
    const s = strings[i];
    if (s !== null && s !== undefined) data.write(String(s), valueOffsets[i]!);
  }
  return makeData({ type: new Utf8(), length: strings.length, ...validity(strings), valueOffsets, data });
}

/**
 * Builds strings, dictionaries and 32/64-bit numbers straight into Arrow's buffers: vectorFromArray's generic
 * builders make a 1M-step export several times slower. Other types (bool, timestamp) use vectorFromArray.
 */
function toVector(type: DataType, values: unknown[]) {
  if (type instanceof Utf8) return makeVector(utf8Data(values));
  if (type instanceof Dictionary) {
    const codes = new Map<string, number>();
    const indices = new Int32Array(values.length);
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (v === null || v === undefined) continue;
      const key = String(v);
      let code = codes.get(key);
      if (code === undefined) codes.set(key, (code = codes.size));
      indices[i] = code;
    }
    const dictionary = makeVector(utf8Data([...codes.keys()]));
    return makeVector(
      makeData({ type, length: values.length, ...validity(values), data: indices, dictionary }),
    );
  }
  const Typed =
    type instanceof Int32
      ? Int32Array
      : type instanceof Uint32
        ? Uint32Array
        : type instanceof Float64
          ? Float64Array
          : null;
  if (Typed) {
    const data = new Typed(values.length);
    for (let i = 0; i < values.length; i++)
      if (values[i] !== null && values[i] !== undefined) data[i] = Number(values[i]);
    return makeVector(makeData({ type, length: values.length, ...validity(values), data } as never));
  }
  return vectorFromArray(values, type);
}

export async function exportArrow(
  runDir: string,
): Promise<{ episodes: string; steps: string; rewards: string; rows: number[] }> {
  const db = new Database(path.join(runDir, 'runs.sqlite'), { readonly: true, fileMustExist: true });
  try {
    const episodeList = Object.keys(EPISODE_COLUMNS).join(', ');
    const stepList = Object.keys(STEP_COLUMNS).join(', ');
    const episodes = queryToTable(
      db,
      `SELECT ${episodeList} FROM episodes ORDER BY finished_at, id`,
      EPISODE_COLUMNS,
    );
    const steps = queryToTable(db, `SELECT ${stepList} FROM steps ORDER BY episode_id, step`, STEP_COLUMNS);
    const rewards = queryToTable(db, REWARDS_SQL, REWARD_COLUMNS);
    const files = {
      episodes: path.join(runDir, 'episodes.arrow'),
      steps: path.join(runDir, 'steps.arrow'),
      rewards: path.join(runDir, 'rewards.arrow'),
    };
    await writeFile(files.episodes, tableToIPC(episodes, 'file'));
    await writeFile(files.steps, tableToIPC(steps, 'file'));
    await writeFile(files.rewards, tableToIPC(rewards, 'file'));
    return { ...files, rows: [episodes.numRows, steps.numRows, rewards.numRows] };
  } finally {
    db.close();
  }
}
