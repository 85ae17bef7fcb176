// Strategies side by side (docs/compare.md): K strategies of one policy run on the same task with the same
// seed, each in its own sandbox, concurrently; each is graded and scored, the best by the primary variant
// wins, and a bandit over the strategies learns from every candidate's primary score. With a `rate` callback
// a person rates the candidates first; the rating is recorded as the `human` signal and scored like any other.
import { createHash, randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Table from 'cli-table3';
import type { z } from 'zod';
import { findTask, loadDataset, type LoadOptions } from '../datasets/loader.ts';
import type { Task } from '../datasets/types.ts';
import { mapLimit } from '../datasets/validate.ts';
import { diffStat } from '../env/diff.ts';
import { git } from '../env/git.ts';
import { sweepStaleSandboxes } from '../env/sandbox/local.ts';
import type { DiffStat } from '../env/types.ts';
import { taskFeatures } from '../policies/bandit-policy.ts';
import {
  loadBandit,
  makeBandit,
  parseBanditSpec,
  type Bandit,
  type BanditContext,
  type BanditSpecInput,
} from '../policies/bandits/index.ts';
import { CostLedger, type llmOptionsSchema } from '../policies/llm.ts';
import { REPAIR_STRATEGY_NAMES, repairPolicy } from '../policies/repair/index.ts';
import { loadTemplates, type StrategyTemplate } from '../policies/templates.ts';
import type { Policy } from '../policies/types.ts';
import { COMPONENT_NAMES, type ComponentName } from '../rewards/components.ts';
import type { EpisodeSignals, HumanRating, Usage } from '../rewards/types.ts';
import { score, type Score, type Variant } from '../rewards/variants.ts';
import { parseConfig, rewardVariants, stableJson, type ExperimentConfig } from './config.ts';
import {
  cappedLlmPolicy,
  episodeSeed,
  lockRunDir,
  manifest,
  runWithRetries,
  type PlannedEpisode,
} from './runner.ts';
import { RunStore, type EpisodeRecord, type ScoredVariant } from './store.ts';
import { EpisodeTrace, writeTrace } from './traces.ts';

/** A policy an episode runs with (the runner's; a config's policies may also hold groups of them). */
type PolicySpec = PlannedEpisode['policy'];
type RepairSpec = Extract<PolicySpec, { name: 'repair' }>;
type LlmSpec = Extract<PolicySpec, { name: 'llm' }>;

/** The policy every candidate runs, without its strategy (each candidate gets one). */
export type TournamentPolicy = Omit<RepairSpec, 'id' | 'strategy'> | Omit<LlmSpec, 'id' | 'strategy'>;
/** The same before defaults are filled in, as `compare` takes it. */
export type TournamentPolicyInput =
  | { name: 'repair'; probe?: boolean; max_files?: number }
  | ({ name: 'llm' } & z.input<typeof llmOptionsSchema>);

/**
 * LinUCB on the task's features (language, statement length, repo size): it can learn that one strategy suits
 * Python tasks and another JavaScript ones, and its state is that of an LLM `bandit` policy (same features).
 */
export const DEFAULT_COMPARE_BANDIT: BanditSpecInput = { kind: 'linucb', alpha: 1 };
/** The bandit's row in `bandit_state`. */
export const COMPARE_BANDIT_LABEL = 'bandit';
/** Diff lines `formatDiffs` prints per candidate; the whole patch is in the store. */
const DIFF_LINES = 200;

export class CompareError extends Error {
  override name = 'CompareError';
}

/** The strategies a policy can run: repair strategies, or LLM strategy templates (built in and `templatesDir`). */
export async function strategyNames(policy: 'repair' | 'llm', templatesDir?: string): Promise<string[]> {
  if (policy === 'repair') return [...REPAIR_STRATEGY_NAMES];
  return (await loadTemplates(templatesDir ? { dirs: [templatesDir] } : {})).map((t) => t.name);
}

/** Throws a CompareError naming every bad strategy and listing the valid ones. */
export function checkStrategies(strategies: string[], valid: string[], policy: string): void {
  if (strategies.length < 2)
    throw new CompareError(`compare needs at least two strategies (valid: ${valid.join(', ')})`);
  const twice = strategies.filter((s, i) => strategies.indexOf(s) !== i);
  if (twice.length) throw new CompareError(`strategy "${twice[0]}" is listed twice`);
  const unknown = strategies.filter((s) => !valid.includes(s));
  if (unknown.length) {
    throw new CompareError(
      `unknown ${policy} ${unknown.length === 1 ? 'strategy' : 'strategies'} ${unknown.map((s) => `"${s}"`).join(', ')}` +
        ` (valid: ${valid.join(', ')})`,
    );
  }
}

/** A person's 1–`scale` stars as a rating in [0, 1]: the worst is 0, the best 1. */
export function starsToRating(stars: number, scale = 5): number {
  if (!Number.isInteger(stars) || stars < 1 || stars > scale)
    throw new RangeError(`stars must be an integer in 1..${scale}, got ${stars}`);
  return (stars - 1) / (scale - 1);
}

export interface Candidate {
  strategy: string;
  episodeId: string;
  outcome: string;
  failureClass: EpisodeRecord['failure_class'];
  resolved: boolean;
  /** Each variant's score, primary first; null when none of its components was measured (or nothing was graded). */
  scores: Record<string, number | null>;
  /** The primary variant's score; null as above: such a candidate ranks after every measured one. */
  primary: number | null;
  /** Every reward component; null when not measured. Empty when the episode recorded no signals (infra). */
  components: Partial<Record<ComponentName, number | null>>;
  /** Size of the submitted patch (test files included, as submitted). */
  diff: DiffStat;
  patch: string | null;
  steps: number;
  wallMs: number;
  usage: Usage | null;
  error: string | null;
  /** Why the policy stopped, as it logged it (`stop_reason`: e.g. fixed, no candidates left, a cost cap). */
  stopReason: string | null;
  /** 1-based, by the winner rule (rankCandidates). */
  rank: number;
  /** The person's rating; null when not rated (no rater, skipped, or nothing to rate). */
  human: HumanRating | null;
  /** What the bandit learned from this candidate. */
  learned: { reward: number } | { skipped: 'infra' | 'not rated' | 'unmeasured' };
}

export interface Tournament {
  /** One id per comparison, in every candidate's `policy_info_json.tournament.id`. */
  id: string;
  experimentId: string;
  task: string;
  /** The round: the episodes' epoch (compare numbers rounds per task). */
  epoch: number;
  /** Every candidate's episode seed. */
  seed: number;
  maxSteps: number;
  primary: string;
  /** Primary first. */
  variants: string[];
  /** In the order the strategies were given. */
  candidates: Candidate[];
  /** The rank-1 strategy; null when every candidate failed for infra. */
  winner: string | null;
  bandit: {
    label: string;
    kind: string;
    /** The variant it learned from (the primary). */
    learnedFrom: string;
    /** Updates made by this comparison. */
    updates: number;
    /** Per-arm scores of a `select` on this task's context after the updates (UCB values, samples…). */
    scores: Record<string, number>;
    /** Per-arm estimates where the bandit reports them (LinUCB, linear Thompson). */
    means: Record<string, number> | null;
    /** The arm it would pick for this task now. */
    next: string;
    context: number[];
  };
}

/** What a rater is shown besides the candidates (formatTable takes it). */
export type TournamentHead = Pick<Tournament, 'task' | 'primary' | 'variants' | 'maxSteps'>;

/** Ratings in [0, 1] in the order of `candidates`, null for a candidate the person skipped. */
export type Rate = (candidates: readonly Candidate[], head: TournamentHead) => Promise<(number | null)[]>;

export interface TournamentOptions {
  task: Task;
  strategies: string[];
  policy: TournamentPolicy;
  /** Budgets, sandbox, retries, reward (primary and variants), seed, concurrency and templates_dir apply. */
  config: ExperimentConfig;
  /** The experiment row must exist. Calls on one experiment must not overlap: the bandit is loaded and saved per call. */
  store: RunStore;
  experimentId: string;
  /** Default: the task's next round in the experiment (store.nextEpoch). */
  epoch?: number;
  /** Default: episodeSeed(config.seed, task, epoch, 0), the seed the runner gives index 0 of that epoch. */
  seed?: number;
  /** Used when the experiment has no saved bandit of this label; default DEFAULT_COMPARE_BANDIT. */
  bandit?: BanditSpecInput;
  /** A person rates the candidates once they are graded; the ratings become the `human` signal. */
  rate?: Rate;
  rater?: string;
  /** Called as each candidate's episode is stored. */
  onCandidate?: (strategy: string, episode: EpisodeRecord) => void;
  /** The run dir: each candidate's trace is saved in its traces/ (docs/traces.md). */
  traceDir?: string;
}

/** What decides the winner, best first. */
export interface RankKey {
  primary: number | null;
  resolved: boolean;
  infra: boolean;
  diffLines: number;
  steps: number;
}

/**
 * Orders candidates best first: infra failures last, then a measured primary score before an unmeasured one,
 * higher primary score, resolved, fewer changed lines, fewer steps; remaining ties keep the given order.
 * Returns indices into `keys`.
 */
export function rankCandidates(keys: readonly RankKey[]): number[] {
  const compare = (a: RankKey, b: RankKey) =>
    Number(a.infra) - Number(b.infra) ||
    Number(a.primary === null) - Number(b.primary === null) ||
    (b.primary ?? 0) - (a.primary ?? 0) ||
    Number(b.resolved) - Number(a.resolved) ||
    a.diffLines - b.diffLines ||
    a.steps - b.steps;
  return keys.map((_, i) => i).sort((i, j) => compare(keys[i]!, keys[j]!) || i - j);
}

/** A score says nothing when its gates pass and none of the components it weights was measured (e.g. no rating). */
export function measured(variant: Variant, s: Score): boolean {
  if (Object.values(s.gates).some((ok) => !ok)) return true;
  return (Object.entries(variant.weights) as [ComponentName, number | undefined][]).some(
    ([name, w]) => (w ?? 0) > 0 && s.details[name]?.measured !== false,
  );
}

function rankKey(c: Candidate): RankKey {
  return {
    primary: c.primary,
    resolved: c.resolved,
    infra: c.failureClass === 'infra',
    diffLines: c.diff.added + c.diff.removed,
    steps: c.steps,
  };
}

/** Candidate policies: repair, or LLM sharing the comparison's cost ledger and templates (as the runner's). */
function candidatePolicies(
  config: ExperimentConfig,
  templates: Map<string, StrategyTemplate>,
  ledger: CostLedger,
): (spec: PolicySpec, spentUsd: number) => Policy {
  return (spec, spentUsd) => {
    if (spec.name === 'repair')
      return repairPolicy({ strategy: spec.strategy, probe: spec.probe, maxFiles: spec.max_files });
    if (spec.name !== 'llm')
      throw new CompareError(`compare runs repair or llm strategies, not ${spec.name}`);
    const { name: _name, id: _id, strategy: _strategy, ...options } = spec;
    return cappedLlmPolicy(options, config, spentUsd, { templates, ledger });
  };
}

interface Entry {
  candidate: Candidate;
  episode: EpisodeRecord;
  signals: EpisodeSignals | null;
  scored: ScoredVariant[];
}

function describe(
  strategy: string,
  episode: EpisodeRecord,
  signals: EpisodeSignals | null,
  scored: ScoredVariant[],
  variants: Variant[],
): Candidate {
  const scores: Record<string, number | null> = {};
  scored.forEach(({ score: s }, i) => (scores[s.variant] = measured(variants[i]!, s) ? s.value : null));
  const first = scored[0]?.score;
  const components: Candidate['components'] = {};
  if (first) {
    for (const name of COMPONENT_NAMES)
      components[name] = first.details[name]?.measured === false ? null : first.components[name];
  }
  return {
    strategy,
    episodeId: episode.id,
    outcome: episode.outcome,
    failureClass: episode.failure_class,
    resolved: episode.resolved,
    scores,
    primary: first ? scores[first.variant]! : null,
    components,
    diff: episode.patch ? diffStat(episode.patch) : { files: 0, added: 0, removed: 0 },
    patch: episode.patch,
    steps: episode.steps,
    wallMs: episode.wall_ms,
    usage: signals?.usage ?? null,
    error: episode.error,
    stopReason: stopReasonOf(episode.policy_info_json),
    rank: 0,
    human: signals?.human ?? null,
    learned: { skipped: 'unmeasured' },
  };
}

function stopReasonOf(policyInfo: string | null): string | null {
  const reason = policyInfo ? (JSON.parse(policyInfo) as { stop_reason?: unknown }).stop_reason : undefined;
  return typeof reason === 'string' && reason ? reason.replace(/_/g, ' ') : null;
}

function assignRanks(entries: Entry[]): string | null {
  const order = rankCandidates(entries.map((e) => rankKey(e.candidate)));
  order.forEach((index, position) => (entries[index]!.candidate.rank = position + 1));
  const best = entries[order[0]!]!.candidate;
  return best.failureClass === 'infra' ? null : best.strategy;
}

/** The task's bandit context: the features an LLM `bandit` policy sees (known before the episode starts). */
async function contextOf(task: Task): Promise<BanditContext> {
  const listing = await git(['ls-tree', '-r', '--name-only', task.base_commit], { cwd: task.repo });
  return taskFeatures(task, listing.split('\n').filter(Boolean).length);
}

function loadLearner(options: TournamentOptions, label: string): Bandit {
  const saved = options.store.banditStates(options.experimentId).get(label);
  if (!saved)
    return makeBandit(options.bandit ?? DEFAULT_COMPARE_BANDIT, options.strategies, options.config.seed);
  const bandit = loadBandit(saved);
  const same =
    bandit.arms.length === options.strategies.length &&
    options.strategies.every((s) => bandit.arms.includes(s));
  if (!same) {
    throw new CompareError(
      `the experiment's bandit learns over ${bandit.arms.join(', ')}, not ${options.strategies.join(', ')}`,
    );
  }
  return bandit;
}

/** Ranks of ratings: 1 + how many rated higher (ties share a rank). */
function ratingRanks(ratings: (number | null)[]): (number | null)[] {
  const given = ratings.filter((r): r is number => r !== null);
  return ratings.map((r) => (r === null ? null : 1 + given.filter((other) => other > r).length));
}

/**
 * Runs one comparison: an episode per strategy (same task, epoch and seed; `config.concurrency` at a time),
 * each stored as it ends; then the optional rating, the ranking, the bandit updates and the saved bandit state,
 * stored in one transaction.
 */
export async function runTournament(options: TournamentOptions): Promise<Tournament> {
  const { task, strategies, config, store, experimentId } = options;
  checkStrategies(
    strategies,
    await strategyNames(options.policy.name, config.templates_dir),
    options.policy.name,
  );
  const bandit = loadLearner(options, COMPARE_BANDIT_LABEL);
  const context = await contextOf(task);
  const variants = rewardVariants(config);
  const primary = variants[0]!;
  const templates =
    options.policy.name === 'llm'
      ? new Map(
          (await loadTemplates(config.templates_dir ? { dirs: [config.templates_dir] } : {})).map(
            (t) => [t.name, t] as const,
          ),
        )
      : new Map<string, StrategyTemplate>();
  const makePolicy = candidatePolicies(
    config,
    templates,
    new CostLedger(config.budgets.usd, store.spentUsd(experimentId)),
  );
  const epoch = options.epoch ?? store.nextEpoch(experimentId, task.instance_id);
  const seed = options.seed ?? episodeSeed(config.seed, task.instance_id, epoch, 0);
  const id = randomUUID();

  const entries = await mapLimit(strategies, config.concurrency, async (strategy): Promise<Entry> => {
    const spec = { ...options.policy, id: strategy, strategy } as PolicySpec;
    const episodeId = randomUUID();
    const trace = options.traceDir ? new EpisodeTrace(experimentId, episodeId) : undefined;
    const record = await runWithRetries(
      config,
      variants,
      makePolicy,
      { task, epoch, seed, policy: spec },
      experimentId,
      { episodeId, ...(trace ? { tracer: trace.tracer } : {}) },
    );
    // Saved before the episode is stored, as the runner does: a stored episode always has its trace.
    if (trace) await writeTrace(options.traceDir!, episodeId, await trace.finish());
    const episode: EpisodeRecord = { ...record.episode, arm: strategy };
    store.recordEpisode(episode, record.steps, record.scores);
    options.onCandidate?.(strategy, episode);
    const signals = episode.signals_json ? (JSON.parse(episode.signals_json) as EpisodeSignals) : null;
    return {
      candidate: describe(strategy, episode, signals, record.scores, variants),
      episode,
      signals,
      scored: record.scores,
    };
  });
  assignRanks(entries);

  const rated = new Set<Entry>();
  if (options.rate) {
    const ratings = await options.rate(
      entries.map((e) => e.candidate),
      {
        task: task.instance_id,
        primary: primary.name,
        variants: variants.map((v) => v.name),
        maxSteps: config.budgets.max_steps,
      },
    );
    if (ratings.length !== entries.length)
      throw new CompareError(`expected ${entries.length} ratings, got ${ratings.length}`);
    // A candidate without signals (an infra failure) has nothing to rate.
    const usable = ratings.map((r, i) => (entries[i]!.signals ? r : null));
    for (const r of usable) {
      if (r !== null && !(r >= 0 && r <= 1)) throw new CompareError(`a rating must be in [0, 1], got ${r}`);
    }
    const ranks = ratingRanks(usable);
    const of = usable.filter((r) => r !== null).length;
    const ratedAt = new Date().toISOString();
    usable.forEach((rating, i) => {
      if (rating === null) return;
      const entry = entries[i]!;
      const human: HumanRating = {
        rating,
        rank: ranks[i]!,
        of,
        ...(options.rater ? { rater: options.rater } : {}),
        ratedAt,
      };
      const signals: EpisodeSignals = { ...entry.signals!, human };
      const scored = variants.map((v) => ({ definition: v, score: score(v, signals) }));
      // The return changes by the change of its terminal reward (shaping bonuses stay as they were).
      const reward = entry.episode.reward - (entry.scored[0]?.score.value ?? 0) + scored[0]!.score.value;
      entry.signals = signals;
      entry.scored = scored;
      entry.episode = { ...entry.episode, signals_json: JSON.stringify(signals), reward };
      entry.candidate = describe(entry.candidate.strategy, entry.episode, signals, scored, variants);
      rated.add(entry);
    });
  }
  const winner = assignRanks(entries);

  let updates = 0;
  for (const entry of entries) {
    const c = entry.candidate;
    if (c.failureClass === 'infra') c.learned = { skipped: 'infra' };
    else if (options.rate && !rated.has(entry)) c.learned = { skipped: 'not rated' };
    else if (c.primary === null) c.learned = { skipped: 'unmeasured' };
    else {
      await bandit.update(c.strategy, c.primary, context);
      c.learned = { reward: c.primary };
      updates++;
    }
  }
  const selection = await bandit.select(context);
  const state = bandit.state();

  store.db.transaction(() => {
    for (const entry of entries) {
      const c = entry.candidate;
      const info = entry.episode.policy_info_json
        ? (JSON.parse(entry.episode.policy_info_json) as Record<string, unknown>)
        : {};
      info.tournament = {
        id,
        dataset: config.dataset.name,
        round: epoch,
        strategies,
        primary: primary.name,
        rank: c.rank,
        winner,
        bandit: { label: COMPARE_BANDIT_LABEL, kind: bandit.kind, context: context.features, ...c.learned },
      };
      store.amendEpisode(
        entry.episode.id,
        {
          policy_info_json: JSON.stringify(info),
          ...(rated.has(entry)
            ? { signals_json: entry.episode.signals_json, reward: entry.episode.reward }
            : {}),
        },
        rated.has(entry) ? entry.scored : [],
      );
    }
    store.saveBanditState(experimentId, COMPARE_BANDIT_LABEL, state);
  })();

  const means = selection.info?.means as Record<string, number> | undefined;
  return {
    id,
    experimentId,
    task: task.instance_id,
    epoch,
    seed,
    maxSteps: config.budgets.max_steps,
    primary: primary.name,
    variants: variants.map((v) => v.name),
    candidates: entries.map((e) => e.candidate),
    winner,
    bandit: {
      label: COMPARE_BANDIT_LABEL,
      kind: bandit.kind,
      learnedFrom: primary.name,
      updates,
      scores: selection.scores,
      means: means ?? null,
      next: selection.arm,
      context: context.features,
    },
  };
}

export interface CompareOptions {
  /** `builtin:<name>` or a task file. */
  dataset: string;
  task: string;
  strategies: string[];
  policy: TournamentPolicyInput;
  /** Default `production`, or `human` with `rate`. */
  primary?: string;
  /** More variants scored and stored; default swebench, partial, production. */
  variants?: string[];
  /** Holds runs.sqlite; one comparison setup per dir. */
  outDir: string;
  maxSteps?: number;
  seed?: number;
  templatesDir?: string;
  bandit?: BanditSpecInput;
  loadOptions?: LoadOptions;
  rate?: Rate;
  rater?: string;
  onCandidate?: TournamentOptions['onCandidate'];
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** The experiment config a comparison runs under: its candidates are the config's policies. */
export function compareConfig(options: CompareOptions): ExperimentConfig {
  const primary = options.primary ?? (options.rate ? 'human' : 'production');
  const variants = options.variants ?? ['swebench', 'partial', 'production'];
  const raw = {
    name: 'compare',
    seed: options.seed ?? 0,
    dataset: { name: options.dataset },
    policies: options.strategies.map((s) => ({ ...options.policy, id: s, strategy: s })),
    reward: { primary, variants: variants.filter((v) => v !== primary) },
    concurrency: Math.min(64, Math.max(1, options.strategies.length)),
    ...(options.maxSteps !== undefined ? { budgets: { max_steps: options.maxSteps } } : {}),
    ...(options.templatesDir ? { templates_dir: path.resolve(options.templatesDir) } : {}),
  };
  return parseConfig(JSON.stringify(raw), 'compare');
}

/**
 * `repogym compare`: checks the strategies, loads the task, runs one comparison into `<outDir>/runs.sqlite` and
 * returns it. One experiment per dir, identified by the policy, the set of strategies, the primary variant and
 * the bandit, so repeated comparisons (on any task) extend one bandit; another setup in the same dir is refused.
 */
export async function compare(options: CompareOptions): Promise<Tournament & { outDir: string }> {
  checkStrategies(
    options.strategies,
    await strategyNames(options.policy.name, options.templatesDir),
    options.policy.name,
  );
  if (options.primary === 'human' && !options.rate)
    throw new CompareError('the human variant needs ratings: add --human (or a rate callback)');
  const config = compareConfig(options);
  const banditSpec = parseBanditSpec(options.bandit ?? DEFAULT_COMPARE_BANDIT);
  const task = findTask(await loadDataset(options.dataset, options.loadOptions), options.task);
  const { id: _id, strategy: _strategy, ...policy } = config.policies[0] as RepairSpec | LlmSpec;
  const [primary] = rewardVariants(config);
  const identity = stableJson({
    policy,
    strategies: [...options.strategies].sort(),
    primary,
    bandit: banditSpec,
  });
  const experimentId = `compare-${sha256(identity).slice(0, 12)}`;

  const outDir = path.resolve(options.outDir);
  await mkdir(outDir, { recursive: true });
  const releaseLock = await lockRunDir(outDir);
  const store = new RunStore(path.join(outDir, 'runs.sqlite'));
  try {
    const other = store.db
      .prepare('SELECT id, config_json FROM experiments WHERE id != ?')
      .get(experimentId) as { id: string; config_json: string } | undefined;
    if (other) {
      throw new CompareError(
        `${outDir} holds ${other.id}, a run with another policy, strategies, primary variant or bandit; ` +
          'its bandit would not apply: use another --out',
      );
    }
    // Sandboxes, mounts and processes a killed run left behind.
    await sweepStaleSandboxes();
    if (!store.experiment(experimentId)) {
      store.addExperiment({
        id: experimentId,
        name: 'compare',
        config_json: JSON.stringify(config),
        config_hash: sha256(identity),
        // Each comparison names its own task (and dataset, in policy_info_json): no dataset is fixed up front.
        dataset_hash: '-',
        manifest_json: JSON.stringify(await manifest('-', policy.name === 'llm' ? [policy.model] : [])),
      });
    }
    const tournament = await runTournament({
      task,
      strategies: options.strategies,
      policy,
      config,
      store,
      experimentId,
      bandit: banditSpec,
      ...(options.rate ? { rate: options.rate, rater: options.rater ?? defaultRater() } : {}),
      ...(options.onCandidate ? { onCandidate: options.onCandidate } : {}),
      traceDir: outDir,
    });
    return { ...tournament, outDir };
  } finally {
    store.close();
    await releaseLock();
  }
}

function defaultRater(): string {
  try {
    return os.userInfo().username;
  } catch {
    return 'anonymous'; // no passwd entry for this uid (some containers)
  }
}

const num = (x: number | null | undefined) => (x === null || x === undefined ? 'n/a' : x.toFixed(3));

/** The side-by-side table: one column per candidate. */
export function formatTable(candidates: readonly Candidate[], t: TournamentHead): string {
  const cs = candidates;
  // No rule between rows (section rows group them): a tall table would push the diffs off the screen.
  const table = new Table({
    head: [t.task, ...cs.map((c) => c.strategy)],
    style: { head: [], border: [] },
    chars: { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' },
  });
  const section = (title: string) => table.push([`[${title}]`, ...cs.map(() => '')]);
  const row = (label: string, cell: (c: Candidate) => string) => table.push([label, ...cs.map(cell)]);
  row('rank', (c) => `${c.rank}/${cs.length}`);
  row('outcome', (c) => c.outcome);
  row('resolved', (c) => (c.resolved ? 'yes' : 'no'));
  section('variants');
  for (const v of t.variants) row(v === t.primary ? `${v} (primary)` : v, (c) => num(c.scores[v]));
  section('components');
  for (const name of COMPONENT_NAMES) row(name, (c) => num(c.components[name]));
  section('effort');
  row(
    'diff',
    (c) => `${c.diff.files} file${c.diff.files === 1 ? '' : 's'} +${c.diff.added} −${c.diff.removed}`,
  );
  row('steps', (c) => `${c.steps}/${t.maxSteps}`);
  row('wall time', (c) => `${(c.wallMs / 1000).toFixed(1)} s`);
  row('cost', (c) =>
    c.usage ? `$${c.usage.usd.toFixed(4)} · ${c.usage.inputTokens + c.usage.outputTokens} tok` : '–',
  );
  return table.toString();
}

/** Each candidate's patch under a header (at most DIFF_LINES lines each). */
export function formatDiffs(candidates: readonly Candidate[]): string {
  return candidates
    .map((c) => {
      const head = `── ${c.strategy} (rank ${c.rank}): ${c.diff.files} file${c.diff.files === 1 ? '' : 's'}, +${c.diff.added} −${c.diff.removed}`;
      const why = c.error ?? c.stopReason;
      if (!c.patch?.trim()) return `${head}\n(no change${why ? `: ${why}` : ''})`;
      const lines = c.patch.trimEnd().split('\n');
      const more =
        lines.length > DIFF_LINES
          ? [`… ${lines.length - DIFF_LINES} more lines (whole patch in runs.sqlite)`]
          : [];
      return [head, ...lines.slice(0, DIFF_LINES), ...more].join('\n');
    })
    .join('\n\n');
}

/** What a comparison ends with: the ratings (if any), the bandit's arms after learning, the winner. */
export function formatOutcome(t: Tournament): string {
  const lines: string[] = [];
  if (t.candidates.some((c) => c.human)) {
    const rated = t.candidates.map((c) =>
      c.human
        ? `${c.strategy} ${c.human.rating.toFixed(2)} (rank ${c.human.rank}/${c.human.of})`
        : `${c.strategy} skipped`,
    );
    lines.push(`human: ${rated.join(', ')}`);
  }
  const arms = Object.entries(t.bandit.scores).map(
    ([arm, s]) =>
      `${arm} ${s.toFixed(3)}${t.bandit.means ? ` (mean ${t.bandit.means[arm]!.toFixed(3)})` : ''}`,
  );
  lines.push(
    `bandit ${t.bandit.kind} (${t.bandit.updates} update${t.bandit.updates === 1 ? '' : 's'} from ${t.bandit.learnedFrom}): ` +
      `${arms.join(', ')}; next pick: ${t.bandit.next}`,
  );
  const best = t.candidates.find((c) => c.strategy === t.winner);
  lines.push(
    best
      ? `winner: ${best.strategy} (${t.primary} ${num(best.primary)}${best.resolved ? ', resolved' : ''})`
      : 'winner: none (every candidate failed for infra)',
  );
  return lines.join('\n');
}
