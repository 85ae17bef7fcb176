// Arrow IPC (file format) export of a run: episodes.arrow, steps.arrow and rewards.arrow, typed for analysts (pandas, polars,
// DuckDB): timestamps as timestamps, low-cardinality strings as dictionaries, numbers as numbers; JSON text only
// for actions and recorded signals, whose shape varies.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  Bool,
  type DataType,
  Dictionary,
  Field,
  Float64,
  Int32,
  makeData,
  makeVector,
  RecordBatch,
  Schema,
  Struct,
  Table,
  tableToIPC,
  TimestampMillisecond,
  Uint32,
  Utf8,
  type Vector,
} from 'apache-arrow';
import Database from 'better-sqlite3';
import { COMPONENT_NAMES } from '../rewards/components.ts';
import { upgradeStore } from './store.ts';

const dict = () => new Dictionary(new Utf8(), new Int32());

/** Column name → Arrow type: the schema of the export. SQLite's 0/1 become booleans, ISO text timestamps. */
export const EPISODE_COLUMNS: Record<string, DataType> = {
  experiment_id: dict(),
  id: new Utf8(),
  task_id: dict(),
  seed: new Uint32(),
  epoch: new Int32(),
  policy: dict(),
  arm: dict(),
  outcome: dict(),
  failure_class: dict(),
  resolved: new Bool(),
  reward: new Float64(),
  f2p_fraction: new Float64(),
  p2p_fraction: new Float64(),
  steps: new Int32(),
  invalid_actions: new Int32(),
  terminated: new Bool(),
  truncated: new Bool(),
  wall_ms: new Int32(),
  attempts: new Int32(),
  signals_json: new Utf8(),
  error: new Utf8(),
  started_at: new TimestampMillisecond(),
  finished_at: new TimestampMillisecond(),
  policy_info_json: new Utf8(),
  input_tokens: new Int32(),
  output_tokens: new Int32(),
  usd: new Float64(),
};

export const STEP_COLUMNS: Record<string, DataType> = {
  episode_id: dict(),
  step: new Int32(),
  kind: dict(),
  action_json: new Utf8(),
  output: new Utf8(),
  exit_code: new Int32(),
  timed_out: new Bool(),
  error_code: dict(),
  tests_passed: new Int32(),
  tests_failed: new Int32(),
  wall_ms: new Int32(),
  cpu_ms: new Int32(),
  peak_rss_kb: new Int32(),
  diff_files: new Int32(),
  diff_added: new Int32(),
  diff_removed: new Int32(),
  reward: new Float64(),
  input_tokens: new Int32(),
  output_tokens: new Int32(),
  usd: new Float64(),
};

/** One row per bandit event, in the order each bandit learned (`seq`); `reward` null: it learned nothing. */
export const BANDIT_UPDATE_COLUMNS: Record<string, DataType> = {
  experiment_id: dict(),
  policy: dict(),
  seq: new Int32(),
  episode_id: new Utf8(),
  arm: dict(),
  reward: new Float64(),
  skipped: dict(),
  context_json: new Utf8(),
  scores_json: new Utf8(),
  updated_at: new TimestampMillisecond(),
};

/** One row per (episode, variant), with every component's value as its own column (`c_<component>`). */
export const REWARD_COLUMNS: Record<string, DataType> = {
  episode_id: dict(),
  variant: dict(),
  value: new Float64(),
  source: dict(),
  gates_json: new Utf8(),
  flags_json: new Utf8(),
  scored_at: new TimestampMillisecond(),
  ...Object.fromEntries(COMPONENT_NAMES.map((c) => [`c_${c}`, new Float64()])),
};

const REWARDS_SQL = `SELECT r.episode_id, r.variant, r.value, r.source, r.gates_json, r.flags_json, r.scored_at,
  ${COMPONENT_NAMES.map((c) => `MAX(CASE WHEN c.component = '${c}' THEN c.value END) AS c_${c}`).join(',\n  ')}
  FROM rewards r LEFT JOIN reward_components c ON c.episode_id = r.episode_id
  GROUP BY r.episode_id, r.variant ORDER BY r.episode_id, r.variant`;

/**
 * One column's Arrow buffers, filled row by row as SQLite yields them. Building straight into typed arrays (no
 * intermediate JS array per column, no vectorFromArray) keeps a 1M-step export within its budget.
 */
interface ColumnBuilder {
  set(row: number, value: unknown): void;
  finish(): Vector;
}

/** Validity bitmap (bit set = value present) as Arrow lays it out; the null count is what is left unset. */
class Validity {
  readonly nullBitmap: Uint8Array;
  private present = 0;
  constructor(private readonly length: number) {
    this.nullBitmap = new Uint8Array(Math.ceil(length / 8));
  }
  mark(row: number): void {
    this.nullBitmap[row >> 3]! |= 1 << (row & 7);
    this.present++;
  }
  get nullCount(): number {
    return this.length - this.present;
  }
}

function utf8Data(strings: (string | null)[]) {
  const validity = new Validity(strings.length);
  const valueOffsets = new Int32Array(strings.length + 1);
  let bytes = 0;
  for (let i = 0; i < strings.length; i++) {
    const s = strings[i];
    if (s !== null && s !== undefined) {
      validity.mark(i);
      bytes += Buffer.byteLength(s);
    }
    valueOffsets[i + 1] = bytes;
  }
  const data = Buffer.allocUnsafe(bytes);
  for (let i = 0; i < strings.length; i++) {
    const s = strings[i];
    if (s !== null && s !== undefined) data.write(s, valueOffsets[i]!);
  }
  return makeData({
    type: new Utf8(),
    length: strings.length,
    nullBitmap: validity.nullBitmap,
    nullCount: validity.nullCount,
    valueOffsets,
    data,
  });
}

/** Encodes each string into one growing byte buffer as it arrives, so a million rows keep no million strings. */
function utf8Builder(rows: number): ColumnBuilder {
  const validity = new Validity(rows);
  const valueOffsets = new Int32Array(rows + 1);
  let data = Buffer.allocUnsafe(Math.max(64, rows * 16));
  let bytes = 0;
  let filled = 0;
  // Rows left null (or never set) keep the previous end offset: zero-length values.
  const fillOffsetsTo = (row: number) => {
    for (; filled < row; filled++) valueOffsets[filled + 1] = bytes;
  };
  return {
    set: (row, value) => {
      fillOffsetsTo(row);
      if (value !== null && value !== undefined) {
        const s = String(value);
        const worstCase = bytes + s.length * 3;
        if (worstCase > data.length) {
          const grown = Buffer.allocUnsafe(Math.max(data.length * 2, worstCase));
          data.copy(grown, 0, 0, bytes);
          data = grown;
        }
        bytes += data.write(s, bytes);
        validity.mark(row);
      }
      valueOffsets[row + 1] = bytes;
      filled = row + 1;
    },
    finish: () => {
      fillOffsetsTo(rows);
      const { nullBitmap, nullCount } = validity;
      return makeVector(
        makeData({
          type: new Utf8(),
          length: rows,
          nullBitmap,
          nullCount,
          valueOffsets,
          data: data.subarray(0, bytes),
        }),
      );
    },
  };
}

function dictionaryBuilder(type: Dictionary, rows: number): ColumnBuilder {
  const codes = new Map<string, number>();
  const indices = new Int32Array(rows);
  const validity = new Validity(rows);
  // Runs of one value (a step's episode id) skip the map lookup.
  let lastKey: unknown = undefined;
  let lastCode = 0;
  return {
    set: (row, value) => {
      if (value === null || value === undefined) return;
      if (value !== lastKey) {
        const key = String(value);
        let code = codes.get(key);
        if (code === undefined) codes.set(key, (code = codes.size));
        lastKey = value;
        lastCode = code;
      }
      indices[row] = lastCode;
      validity.mark(row);
    },
    finish: () => {
      const dictionary = makeVector(utf8Data([...codes.keys()]));
      const { nullBitmap, nullCount } = validity;
      return makeVector(makeData({ type, length: rows, nullBitmap, nullCount, data: indices, dictionary }));
    },
  };
}

function numberBuilder(type: Int32 | Uint32 | Float64, rows: number): ColumnBuilder {
  const data =
    type instanceof Int32
      ? new Int32Array(rows)
      : type instanceof Uint32
        ? new Uint32Array(rows)
        : new Float64Array(rows);
  const validity = new Validity(rows);
  return {
    set: (row, value) => {
      if (value === null || value === undefined) return;
      data[row] = Number(value);
      validity.mark(row);
    },
    finish: () => {
      const { nullBitmap, nullCount } = validity;
      return makeVector(makeData({ type, length: rows, nullBitmap, nullCount, data } as never));
    },
  };
}

/** SQLite stores booleans as 0/1; Arrow packs them as bits. */
function boolBuilder(rows: number): ColumnBuilder {
  const data = new Uint8Array(Math.ceil(rows / 8));
  const validity = new Validity(rows);
  return {
    set: (row, value) => {
      if (value === null || value === undefined) return;
      if (value === 1) data[row >> 3]! |= 1 << (row & 7);
      validity.mark(row);
    },
    finish: () => {
      const { nullBitmap, nullCount } = validity;
      return makeVector(makeData({ type: new Bool(), length: rows, nullBitmap, nullCount, data }));
    },
  };
}

/** The store writes ISO-8601 text; Arrow wants milliseconds since the epoch (64-bit). */
function timestampBuilder(rows: number): ColumnBuilder {
  const data = new BigInt64Array(rows);
  const validity = new Validity(rows);
  return {
    set: (row, value) => {
      if (value === null || value === undefined) return;
      data[row] = BigInt(Date.parse(String(value)));
      validity.mark(row);
    },
    finish: () => {
      const { nullBitmap, nullCount } = validity;
      return makeVector(
        makeData({ type: new TimestampMillisecond(), length: rows, nullBitmap, nullCount, data }),
      );
    },
  };
}

function builderFor(type: DataType, rows: number): ColumnBuilder {
  if (type instanceof Utf8) return utf8Builder(rows);
  if (type instanceof Dictionary) return dictionaryBuilder(type, rows);
  if (type instanceof Int32 || type instanceof Uint32 || type instanceof Float64)
    return numberBuilder(type, rows);
  if (type instanceof Bool) return boolBuilder(rows);
  if (type instanceof TimestampMillisecond) return timestampBuilder(rows);
  throw new Error(`no Arrow column builder for ${String(type)}`);
}

/** Reads `sql` (selecting exactly `columns`, in order) into an Arrow table. */
export function queryToTable(db: Database.Database, sql: string, columns: Record<string, DataType>): Table {
  const names = Object.keys(columns);
  const rows = (db.prepare(`SELECT COUNT(*) FROM (${sql})`).raw(true).get() as [number])[0];
  const builders = names.map((name) => builderFor(columns[name]!, rows));
  let r = 0;
  for (const row of db.prepare(sql).raw(true).iterate() as Iterable<unknown[]>) {
    for (let i = 0; i < builders.length; i++) builders[i]!.set(r, row[i]);
    r++;
  }
  const vectors = builders.map((b) => b.finish());
  const fields = names.map((name, i) => new Field(name, vectors[i]!.type, true));
  // One real record batch even with no rows: the IPC writer skips an empty table's placeholder batch, and
  // with it the dictionaries, which pyarrow then cannot find.
  const children = vectors.map((v) => v.data[0]!);
  const batch = new RecordBatch(
    new Schema(fields),
    makeData({ type: new Struct(fields), length: rows, nullCount: 0, children }),
  );
  return new Table([batch]);
}

export async function exportArrow(runDir: string): Promise<{
  episodes: string;
  steps: string;
  rewards: string;
  banditUpdates: string;
  rows: number[];
}> {
  const file = upgradeStore(runDir);
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const select = (columns: Record<string, DataType>, from: string) =>
      queryToTable(db, `SELECT ${Object.keys(columns).join(', ')} FROM ${from}`, columns);
    const tables = {
      episodes: select(EPISODE_COLUMNS, 'episodes ORDER BY finished_at, id'),
      steps: select(STEP_COLUMNS, 'steps ORDER BY episode_id, step'),
      rewards: queryToTable(db, REWARDS_SQL, REWARD_COLUMNS),
      banditUpdates: select(BANDIT_UPDATE_COLUMNS, 'bandit_updates ORDER BY experiment_id, policy, seq'),
    };
    const files = {
      episodes: path.join(runDir, 'episodes.arrow'),
      steps: path.join(runDir, 'steps.arrow'),
      rewards: path.join(runDir, 'rewards.arrow'),
      banditUpdates: path.join(runDir, 'bandit_updates.arrow'),
    };
    for (const name of Object.keys(files) as (keyof typeof files)[]) {
      await writeFile(files[name], tableToIPC(tables[name], 'file'));
    }
    return { ...files, rows: Object.values(tables).map((t) => t.numRows) };
  } finally {
    db.close();
  }
}
