// The run store: one SQLite file per run directory (WAL mode). An episode and all its steps are written in one
// transaction when the episode ends, so a crash leaves either the whole episode or nothing; the UNIQUE key
// (experiment, task, seed, epoch, policy) makes a resumed run unable to duplicate one. Schema: docs/store.md.
import { existsSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { Observation } from '../env/types.ts';
import type { BanditState } from '../policies/bandits/index.ts';
import type { Score } from '../rewards/variants.ts';
import { stableJson } from './config.ts';

/**
 * 2 added the rewards and reward_components tables, 3 episodes.policy_info_json, the bandit_state table and the
 * steps' token and USD columns, 4 the episodes' token and USD columns and the bandit_updates table; older stores
 * are upgraded in place when opened.
 */
export const SCHEMA_VERSION = 4;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS experiments (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  created_at TEXT NOT NULL,
  config_json TEXT NOT NULL,
  config_hash TEXT NOT NULL,
  dataset_hash TEXT NOT NULL,
  manifest_json TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS episodes (
  id TEXT PRIMARY KEY,
  experiment_id TEXT NOT NULL REFERENCES experiments(id),
  task_id TEXT NOT NULL,
  seed INTEGER NOT NULL,
  epoch INTEGER NOT NULL,
  policy TEXT NOT NULL,
  arm TEXT,
  outcome TEXT NOT NULL,
  failure_class TEXT NOT NULL,
  resolved INTEGER NOT NULL,
  reward REAL NOT NULL,
  f2p_fraction REAL,
  p2p_fraction REAL,
  steps INTEGER NOT NULL,
  invalid_actions INTEGER NOT NULL,
  terminated INTEGER NOT NULL,
  truncated INTEGER NOT NULL,
  wall_ms INTEGER NOT NULL,
  attempts INTEGER NOT NULL,
  signals_json TEXT,
  patch TEXT,
  error TEXT,
  started_at TEXT NOT NULL,
  finished_at TEXT NOT NULL,
  policy_info_json TEXT,
  input_tokens INTEGER,
  output_tokens INTEGER,
  usd REAL,
  UNIQUE (experiment_id, task_id, seed, epoch, policy)
);
CREATE TABLE IF NOT EXISTS steps (
  episode_id TEXT NOT NULL REFERENCES episodes(id),
  step INTEGER NOT NULL,
  kind TEXT NOT NULL,
  action_json TEXT NOT NULL,
  output TEXT NOT NULL,
  exit_code INTEGER,
  timed_out INTEGER NOT NULL,
  error_code TEXT,
  tests_passed INTEGER,
  tests_failed INTEGER,
  wall_ms INTEGER NOT NULL,
  cpu_ms INTEGER,
  peak_rss_kb INTEGER,
  diff_files INTEGER NOT NULL,
  diff_added INTEGER NOT NULL,
  diff_removed INTEGER NOT NULL,
  reward REAL NOT NULL,
  input_tokens INTEGER,
  output_tokens INTEGER,
  usd REAL,
  PRIMARY KEY (episode_id, step)
);
CREATE TABLE IF NOT EXISTS reward_components (
  episode_id TEXT NOT NULL REFERENCES episodes(id),
  component TEXT NOT NULL,
  value REAL NOT NULL,
  details_json TEXT,
  PRIMARY KEY (episode_id, component)
);
CREATE TABLE IF NOT EXISTS bandit_state (
  experiment_id TEXT NOT NULL REFERENCES experiments(id),
  policy TEXT NOT NULL,
  state_json TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  PRIMARY KEY (experiment_id, policy)
);
CREATE TABLE IF NOT EXISTS bandit_updates (
  experiment_id TEXT NOT NULL REFERENCES experiments(id),
  policy TEXT NOT NULL,
  seq INTEGER NOT NULL,
  episode_id TEXT NOT NULL REFERENCES episodes(id),
  arm TEXT NOT NULL,
  reward REAL,
  skipped TEXT,
  context_json TEXT NOT NULL,
  scores_json TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  PRIMARY KEY (episode_id),
  UNIQUE (experiment_id, policy, seq)
);
CREATE TABLE IF NOT EXISTS rewards (
  episode_id TEXT NOT NULL REFERENCES episodes(id),
  variant TEXT NOT NULL,
  value REAL NOT NULL,
  gates_json TEXT NOT NULL,
  flags_json TEXT NOT NULL,
  variant_json TEXT NOT NULL,
  source TEXT NOT NULL,
  scored_at TEXT NOT NULL,
  PRIMARY KEY (episode_id, variant)
);
`;

/** The store keeps a step's output up to this size: enough to read a trajectory, small enough to scan. */
const STORED_OUTPUT_BYTES = 8 * 1024;

export interface ExperimentRow {
  id: string;
  name: string;
  config_json: string;
  config_hash: string;
  dataset_hash: string;
  manifest_json: string;
}

export interface EpisodeKey {
  task_id: string;
  seed: number;
  epoch: number;
  policy: string;
}

export interface EpisodeRecord extends EpisodeKey {
  id: string;
  experiment_id: string;
  arm: string | null;
  outcome: string;
  failure_class: 'none' | 'agent' | 'infra';
  resolved: boolean;
  reward: number;
  f2p_fraction: number | null;
  p2p_fraction: number | null;
  steps: number;
  invalid_actions: number;
  terminated: boolean;
  truncated: boolean;
  wall_ms: number;
  attempts: number;
  signals_json: string | null;
  patch: string | null;
  error: string | null;
  started_at: string;
  finished_at: string;
  /** What the policy logged: context loaded, stop reason (e.g. a cost cap), usage. */
  policy_info_json: string | null;
  /** The policy's spending (LLM policies; null otherwise). `usd` includes infra-failed earlier attempts. */
  input_tokens?: number | null;
  output_tokens?: number | null;
  usd?: number | null;
}

/** A row of the `episodes` table as SQLite returns it: flags as 0/1. */
export type StoredEpisode = Omit<EpisodeRecord, 'resolved' | 'terminated' | 'truncated'> & {
  resolved: number;
  terminated: number;
  truncated: number;
};

/** One bandit event, as committed with its episode: what it chose from what, and what it learned. */
export interface BanditUpdate {
  arm: string;
  /** null: the episode taught the bandit nothing (`skipped` says why). */
  reward: number | null;
  skipped: string | null;
  context: unknown;
  scores: Record<string, number>;
}

export interface StepRow {
  step: number;
  action: unknown;
  observation: Observation;
  reward: number;
  /** Tokens and USD the policy spent on this step (LLM policies). */
  usage?: { inputTokens: number; outputTokens: number; usd: number };
}

/** A row of the `steps` table as SQLite returns it. */
export interface StoredStep {
  episode_id: string;
  step: number;
  kind: string;
  action_json: string;
  output: string;
  exit_code: number | null;
  timed_out: number;
  error_code: string | null;
  tests_passed: number | null;
  tests_failed: number | null;
  wall_ms: number;
  cpu_ms: number | null;
  peak_rss_kb: number | null;
  diff_files: number;
  diff_added: number;
  diff_removed: number;
  reward: number;
  input_tokens: number | null;
  output_tokens: number | null;
  usd: number | null;
}

const STEP_FIELDS = [
  'episode_id',
  'step',
  'kind',
  'action_json',
  'output',
  'exit_code',
  'timed_out',
  'error_code',
  'tests_passed',
  'tests_failed',
  'wall_ms',
  'cpu_ms',
  'peak_rss_kb',
  'diff_files',
  'diff_added',
  'diff_removed',
  'reward',
  'input_tokens',
  'output_tokens',
  'usd',
];

const EPISODE_FIELDS = [
  'id',
  'experiment_id',
  'task_id',
  'seed',
  'epoch',
  'policy',
  'arm',
  'outcome',
  'failure_class',
  'resolved',
  'reward',
  'f2p_fraction',
  'p2p_fraction',
  'steps',
  'invalid_actions',
  'terminated',
  'truncated',
  'wall_ms',
  'attempts',
  'signals_json',
  'patch',
  'error',
  'started_at',
  'finished_at',
  'policy_info_json',
  'input_tokens',
  'output_tokens',
  'usd',
];

export interface ScoredVariant {
  definition: unknown;
  score: Score;
}

export const episodeKey = (k: EpisodeKey) => `${k.task_id}\u0000${k.seed}\u0000${k.epoch}\u0000${k.policy}`;

export class RunStore {
  readonly db: Database.Database;

  constructor(file: string) {
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('foreign_keys = ON');
    this.db.exec(SCHEMA);
    // Stores written by older versions lack these columns; SQLite adds them in place.
    const added: [string, string, string][] = [
      ['episodes', 'policy_info_json', 'TEXT'],
      ['episodes', 'input_tokens', 'INTEGER'],
      ['episodes', 'output_tokens', 'INTEGER'],
      ['episodes', 'usd', 'REAL'],
      ['steps', 'input_tokens', 'INTEGER'],
      ['steps', 'output_tokens', 'INTEGER'],
      ['steps', 'usd', 'REAL'],
    ];
    for (const [table, column, type] of added) {
      const columns = this.db.prepare(`PRAGMA table_info(${table})`).all() as { name: string }[];
      if (!columns.some((c) => c.name === column))
        this.db.exec(`ALTER TABLE ${table} ADD COLUMN ${column} ${type}`);
    }
    this.db
      .prepare('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)')
      .run('schema_version', String(SCHEMA_VERSION));
  }

  /**
   * Writes one episode's component values and one row per variant score, replacing earlier rows of the same
   * variants (a re-score). `source` says whether the scores were computed live or re-scored offline.
   */
  recordScores(episodeId: string, scores: ScoredVariant[], source: 'live' | 'rescore'): void {
    if (scores.length === 0) return;
    const scoredAt = new Date().toISOString();
    const write = this.db.transaction(() => {
      const component = this.db.prepare(
        'INSERT OR REPLACE INTO reward_components VALUES (@episode_id, @component, @value, @details_json)',
      );
      const first = scores[0]!.score;
      for (const [name, value] of Object.entries(first.components)) {
        const details = first.details[name as keyof Score['details']];
        component.run({
          episode_id: episodeId,
          component: name,
          value,
          details_json: details ? JSON.stringify(details) : null,
        });
      }
      const reward = this.db.prepare(
        `INSERT OR REPLACE INTO rewards VALUES (@episode_id, @variant, @value, @gates_json, @flags_json,
          @variant_json, @source, @scored_at)`,
      );
      for (const { definition, score } of scores) {
        reward.run({
          episode_id: episodeId,
          variant: score.variant,
          value: score.value,
          gates_json: JSON.stringify(score.gates),
          flags_json: JSON.stringify({ flags: score.flags, evidence: score.hackEvidence }),
          variant_json: stableJson(definition),
          source,
          scored_at: scoredAt,
        });
      }
    });
    write();
  }

  experiment(id: string): ExperimentRow | undefined {
    return this.db.prepare('SELECT * FROM experiments WHERE id = ?').get(id) as ExperimentRow | undefined;
  }

  addExperiment(row: ExperimentRow): void {
    this.db
      .prepare(
        `INSERT INTO experiments (id, name, created_at, config_json, config_hash, dataset_hash, manifest_json)
         VALUES (@id, @name, @created_at, @config_json, @config_hash, @dataset_hash, @manifest_json)`,
      )
      .run({ ...row, created_at: new Date().toISOString() });
  }

  /** Keys of the episodes already finished (any outcome but an infra failure, which is retried on resume). */
  finishedKeys(experimentId: string): Set<string> {
    const rows = this.db
      .prepare(
        `SELECT task_id, seed, epoch, policy FROM episodes WHERE experiment_id = ? AND failure_class != 'infra'`,
      )
      .all(experimentId) as EpisodeKey[];
    return new Set(rows.map(episodeKey));
  }

  /** USD the committed episodes of an experiment spent (LLM policies log it in policy_info_json). */
  spentUsd(experimentId: string): number {
    const row = this.db
      .prepare(
        `SELECT SUM(COALESCE(json_extract(policy_info_json, '$.usage.usd'),
                             json_extract(policy_info_json, '$.inner.usage.usd'), 0)
                    + COALESCE(json_extract(policy_info_json, '$.prior_attempts_usd'), 0)) AS usd
         FROM episodes WHERE experiment_id = ? AND policy_info_json IS NOT NULL`,
      )
      .get(experimentId) as { usd: number | null };
    return row.usd ?? 0;
  }

  /** The bandits' states as of the last committed episode, by policy label. */
  banditStates(experimentId: string): Map<string, BanditState> {
    const rows = this.db
      .prepare('SELECT policy, state_json FROM bandit_state WHERE experiment_id = ?')
      .all(experimentId) as { policy: string; state_json: string }[];
    return new Map(rows.map((r) => [r.policy, JSON.parse(r.state_json) as BanditState]));
  }

  /**
   * Writes an episode with all its steps, its scores and (for a bandit policy) its bandit event and the bandit's
   * state after it, atomically; replaces an earlier infra-failed attempt of the same key.
   */
  recordEpisode(
    episode: EpisodeRecord,
    steps: StepRow[],
    scores: ScoredVariant[] = [],
    bandit?: { policy: string; state: BanditState; update?: BanditUpdate },
  ): void {
    const write = this.db.transaction(() => {
      const previous = this.db
        .prepare(
          'SELECT id FROM episodes WHERE experiment_id = ? AND task_id = ? AND seed = ? AND epoch = ? AND policy = ?',
        )
        .get(episode.experiment_id, episode.task_id, episode.seed, episode.epoch, episode.policy) as
        { id: string } | undefined;
      if (previous) {
        for (const table of ['steps', 'reward_components', 'rewards', 'bandit_updates']) {
          this.db.prepare(`DELETE FROM ${table} WHERE episode_id = ?`).run(previous.id);
        }
        this.db.prepare('DELETE FROM episodes WHERE id = ?').run(previous.id);
      }
      this.db
        .prepare(
          `INSERT INTO episodes (${EPISODE_FIELDS.join(', ')}) VALUES (${EPISODE_FIELDS.map((f) => `@${f}`).join(', ')})`,
        )
        .run({
          input_tokens: null,
          output_tokens: null,
          usd: null,
          ...episode,
          resolved: Number(episode.resolved),
          terminated: Number(episode.terminated),
          truncated: Number(episode.truncated),
        });
      const insertStep = this.db.prepare(
        `INSERT INTO steps (${STEP_FIELDS.join(', ')}) VALUES (${STEP_FIELDS.map((f) => `@${f}`).join(', ')})`,
      );
      for (const s of steps) insertStep.run(stepValues(episode.id, s));
      this.recordScores(episode.id, scores, 'live');
      if (bandit) {
        const now = new Date().toISOString();
        this.db
          .prepare('INSERT OR REPLACE INTO bandit_state VALUES (?, ?, ?, ?)')
          .run(episode.experiment_id, bandit.policy, JSON.stringify(bandit.state), now);
        if (bandit.update) {
          const { arm, reward, skipped, context, scores: armScores } = bandit.update;
          this.db
            .prepare(
              `INSERT INTO bandit_updates VALUES (?, ?,
                (SELECT COALESCE(MAX(seq), 0) + 1 FROM bandit_updates WHERE experiment_id = ? AND policy = ?),
                ?, ?, ?, ?, ?, ?, ?)`,
            )
            .run(
              episode.experiment_id,
              bandit.policy,
              episode.experiment_id,
              bandit.policy,
              episode.id,
              arm,
              reward,
              skipped,
              JSON.stringify(context),
              JSON.stringify(armScores),
              now,
            );
        }
      }
    });
    write();
  }

  /** The first epoch of a task with no episode yet in an experiment: `repogym compare` numbers its rounds so. */
  nextEpoch(experimentId: string, taskId: string): number {
    const row = this.db
      .prepare('SELECT MAX(epoch) AS epoch FROM episodes WHERE experiment_id = ? AND task_id = ?')
      .get(experimentId, taskId) as { epoch: number | null };
    return row.epoch === null ? 0 : row.epoch + 1;
  }

  /**
   * Changes a committed episode after the fact (a person's rating arrives once the episode ended): its signals,
   * its return and what the policy logged, with the scores recomputed from the new signals, replacing the old
   * rows of the same variants.
   */
  amendEpisode(
    episodeId: string,
    changes: Partial<Pick<EpisodeRecord, 'signals_json' | 'reward' | 'policy_info_json'>>,
    scores: ScoredVariant[] = [],
  ): void {
    const fields = Object.keys(changes).filter((f) =>
      ['signals_json', 'reward', 'policy_info_json'].includes(f),
    );
    const write = this.db.transaction(() => {
      if (fields.length) {
        const result = this.db
          .prepare(`UPDATE episodes SET ${fields.map((f) => `${f} = @${f}`).join(', ')} WHERE id = @id`)
          .run({ ...changes, id: episodeId });
        if (result.changes === 0) throw new Error(`no episode ${episodeId} in the store`);
      }
      this.recordScores(episodeId, scores, 'live');
    });
    write();
  }

  /** Saves a bandit's state outside an episode's transaction (a learner updated from several episodes at once). */
  saveBanditState(experimentId: string, policy: string, state: BanditState): void {
    this.db
      .prepare('INSERT OR REPLACE INTO bandit_state VALUES (?, ?, ?, ?)')
      .run(experimentId, policy, JSON.stringify(state), new Date().toISOString());
  }

  close(): void {
    this.db.close();
  }
}

/** At most `maxBytes` of UTF-8, never cutting a character in two. */
export function truncateUtf8(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text) <= maxBytes) return text;
  const bytes = Buffer.from(text).subarray(0, maxBytes);
  let end = bytes.length;
  // Find the lead byte of the last character (skip continuation bytes 10xxxxxx); drop it if it was cut.
  let lead = end - 1;
  while (lead > 0 && (bytes[lead]! & 0xc0) === 0x80) lead--;
  const first = bytes[lead]!;
  const length = first >= 0xf0 ? 4 : first >= 0xe0 ? 3 : first >= 0xc0 ? 2 : 1;
  if (end - lead < length) end = lead;
  return bytes.subarray(0, end).toString('utf8');
}

function stepValues(episodeId: string, s: StepRow) {
  const o = s.observation;
  const tests = o.tests;
  return {
    episode_id: episodeId,
    step: s.step,
    kind: o.kind,
    action_json: JSON.stringify(s.action ?? null),
    output: truncateUtf8(o.output, STORED_OUTPUT_BYTES),
    exit_code: o.exitCode,
    timed_out: Number(o.timedOut),
    error_code: o.error?.code ?? null,
    tests_passed: tests ? tests.filter((t) => t.status === 'passed').length : null,
    tests_failed: tests ? tests.filter((t) => t.status === 'failed' || t.status === 'error').length : null,
    wall_ms: o.telemetry.wallMs,
    cpu_ms: o.telemetry.cpuMs,
    peak_rss_kb: o.telemetry.peakRssKb,
    diff_files: o.diffStat.files,
    diff_added: o.diffStat.added,
    diff_removed: o.diffStat.removed,
    reward: s.reward,
    input_tokens: s.usage?.inputTokens ?? null,
    output_tokens: s.usage?.outputTokens ?? null,
    usd: s.usage?.usd ?? null,
  };
}

/**
 * The store file of a run directory, brought up to the current schema first (a store written by an older
 * version gains its columns and tables, as when a run opens it); throws when there is none.
 */
export function upgradeStore(runDir: string): string {
  const file = path.join(runDir, 'runs.sqlite');
  if (!existsSync(file)) throw new Error(`no run store at ${file}`);
  new RunStore(file).close();
  return file;
}
