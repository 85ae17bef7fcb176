// Runs an experiment: every (task, seed, epoch, policy) episode, with a concurrency limit, into a run store.
// Re-running the same config on the same output dir resumes: finished episodes are skipped, and an episode
// interrupted by a crash (never committed) runs again. Infra failures are retried and labelled.
import { makeAdversary } from '../policies/adversary/index.ts';
import { execFileSync } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Tracer } from '@opentelemetry/api';
import { loadDataset } from '../datasets/loader.ts';
import type { Task } from '../datasets/types.ts';
import { mapLimit } from '../datasets/validate.ts';
import { CodingEnv } from '../env/coding-env.ts';
import { git } from '../env/git.ts';
import { processAlive } from '../env/sandbox/containment.ts';
import { sandboxFactory } from '../env/sandbox/backends.ts';
import { sweepStaleSandboxes } from '../env/sandbox/local.ts';
import { baselinePolicy } from '../policies/baselines.ts';
import { BanditLearner, banditEventOf, taskFeatures } from '../policies/bandit-policy.ts';
import { loadBandit, makeBandit, type BanditState } from '../policies/bandits/index.ts';
import { repairPolicy } from '../policies/repair/index.ts';
import { CostLedger, LlmPolicy, type LlmOptions } from '../policies/llm.ts';
import { loadTemplates, type StrategyTemplate } from '../policies/templates.ts';
import type { EpisodeContext, Policy } from '../policies/types.ts';
import type { EpisodeSignals, Usage } from '../rewards/types.ts';
import { score, type Variant } from '../rewards/variants.ts';
import {
  ConfigError,
  configIdentity,
  legacyConfigIdentity,
  policyLabel,
  rewardVariants,
  runnablePolicies,
  type ExperimentConfig,
  type RunnablePolicy,
} from './config.ts';
import { runEpisode, type StepRecord } from './episode.ts';
import { exportArrow } from './export.ts';
import { writeReport } from './report.ts';
import { runStatistics, type RunStatistics } from './summary.ts';
import { episodeKey, RunStore, type EpisodeRecord, type ScoredVariant, type StepRow } from './store.ts';
import { EpisodeTrace, OtlpForwarder, traceFile, writeTrace } from './traces.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export interface RunProgress {
  done: number;
  total: number;
  skipped: number;
  resolved: number;
  infra: number;
  /** What this session's episodes spent (LLM policies; 0 offline). */
  usd: number;
  tokens: number;
}

export interface RunOptions {
  /** Overrides the config's output dir. */
  outDir?: string;
  /** When aborted, no new episode starts; running ones finish and are stored (Ctrl-C in the CLI). */
  signal?: AbortSignal;
  /** Called once the plan is known, before the first episode. */
  onStart?: (progress: RunProgress) => void;
  onEpisode?: (episode: EpisodeRecord, progress: RunProgress) => void;
}

export interface RunSummary extends RunProgress {
  /** True when the run was stopped before every planned episode ran; re-running resumes it. */
  interrupted: boolean;
  outDir: string;
  experimentId: string;
  byPolicy: { policy: string; episodes: number; resolved: number; infra: number }[];
  statistics: RunStatistics;
  report: { html: string; md: string };
}

export interface PlannedEpisode {
  task: Task;
  epoch: number;
  seed: number;
  policy: RunnablePolicy;
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** Episode seeds depend on (experiment seed, task, epoch, seed index), not on the policy: comparisons are paired. */
export function episodeSeed(experimentSeed: number, taskId: string, epoch: number, index: number): number {
  return parseInt(sha256(`${experimentSeed}:${taskId}:${epoch}:${index}`).slice(0, 8), 16);
}

/** The tasks in an order fixed by (experiment seed, epoch): sorted by a hash, so resuming plans the same order. */
function shuffledTasks(tasks: Task[], experimentSeed: number, epoch: number): Task[] {
  const keyed = tasks.map((task) => ({
    task,
    key: sha256(`order:${experimentSeed}:${epoch}:${task.instance_id}`),
  }));
  return keyed.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)).map(({ task }) => task);
}

interface PolicyFactory {
  /** `spentUsd`: what earlier attempts of the same episode spent; the episode cap covers all attempts. */
  make(spec: RunnablePolicy, spentUsd?: number): Policy;
  /** The run's bandits by policy label: one learner across all episodes of that policy. */
  learners: Map<string, BanditLearner>;
}

/**
 * Makes a fresh policy per episode. LLM policies share the run's cost ledger (the experiment-wide cap holds
 * across concurrent episodes) and its strategy templates; a bandit policy shares one learner, resumed from
 * `saved` when the run resumes.
 */
/**
 * The LLM policy under the tighter of its own and the experiment's per-episode caps (USD, less what earlier
 * attempts spent; tokens).
 */
export function cappedLlmPolicy(
  options: LlmOptions,
  config: ExperimentConfig,
  spentUsd: number,
  deps: { templates: Map<string, StrategyTemplate>; ledger: CostLedger },
): LlmPolicy {
  const caps = [options.max_usd_per_episode, config.budgets.usd_per_episode].filter((c) => c !== undefined);
  const perEpisode = caps.length ? Math.max(Number.MIN_VALUE, Math.min(...caps) - spentUsd) : undefined;
  const tokenCaps = [options.max_tokens_per_episode, config.budgets.tokens_per_episode].filter(
    (c) => c !== undefined,
  );
  return new LlmPolicy(
    {
      ...options,
      ...(perEpisode !== undefined ? { max_usd_per_episode: perEpisode } : {}),
      ...(tokenCaps.length ? { max_tokens_per_episode: Math.min(...tokenCaps) } : {}),
    },
    deps,
  );
}

async function policyFactory(
  config: ExperimentConfig,
  tasks: Task[],
  saved: Map<string, BanditState> = new Map(),
  spentUsd = 0,
): Promise<PolicyFactory> {
  const ledger = new CostLedger(config.budgets.usd, spentUsd);
  const needsTemplates = [...config.policies, ...runnablePolicies(config)].some(
    (p) => p.name === 'llm' || (p.name === 'bandit' && !('name' in p.inner)),
  );
  const templates = needsTemplates
    ? new Map(
        (await loadTemplates(config.templates_dir ? { dirs: [config.templates_dir] } : {})).map(
          (t) => [t.name, t] as const,
        ),
      )
    : new Map<string, StrategyTemplate>();
  const checkStrategy = (name: string) => {
    if (!templates.has(name)) {
      throw new Error(`unknown strategy template "${name}" (known: ${[...templates.keys()].join(', ')})`);
    }
  };
  const llm = (options: LlmOptions, spentUsd: number) =>
    cappedLlmPolicy(options, config, spentUsd, { templates, ledger });
  const byId = new Map(tasks.map((t) => [t.instance_id, t]));
  const repoFiles = new Map<string, number>();
  const contextOf = async (ctx: EpisodeContext) => {
    const task = byId.get(ctx.instanceId)!;
    const key = `${task.repo}@${task.base_commit}`;
    if (!repoFiles.has(key)) {
      const listing = await git(['ls-tree', '-r', '--name-only', task.base_commit], { cwd: task.repo });
      repoFiles.set(key, listing.split('\n').filter(Boolean).length);
    }
    return taskFeatures(task, repoFiles.get(key)!);
  };
  const learners = new Map<string, BanditLearner>();
  for (const spec of config.policies) {
    if (spec.name !== 'bandit') continue;
    if (!('name' in spec.inner)) spec.arms.forEach(checkStrategy);
    const label = policyLabel(spec);
    const state = saved.get(label);
    const bandit = state ? loadBandit(state) : makeBandit(spec.bandit, spec.arms, config.seed);
    learners.set(label, new BanditLearner(bandit, contextOf));
  }
  return {
    learners,
    make(spec, spentUsd = 0) {
      if (spec.name === 'bandit') {
        const inner = spec.inner;
        const learner = learners.get(policyLabel(spec))!;
        // The repair policy asks for its strategy once it has localised the failure, with what it saw.
        return 'name' in inner
          ? learner.deferredPolicy(policyLabel(spec), (choose) =>
              repairPolicy({ choose, probe: inner.probe, maxFiles: inner.max_files }),
            )
          : learner.policy(policyLabel(spec), () => llm(inner, spentUsd));
      }
      if (spec.name === 'repair') {
        return repairPolicy({ strategy: spec.strategy, probe: spec.probe, maxFiles: spec.max_files });
      }
      if (spec.name !== 'llm') {
        return baselinePolicy(spec.name, spec.name === 'replay' ? spec.actions : undefined);
      }
      if (spec.strategy) checkStrategy(spec.strategy);
      const { name: _name, id: _id, strategy: _strategy, ...options } = spec;
      return llm(options, spentUsd);
    },
  };
}

/**
 * What an episode's policy spent, and `priorUsd` spent by its infra-failed earlier attempts; null for a policy
 * that spent nothing (no LLM call).
 */
function episodeUsage(policy: Policy | undefined, priorUsd: number) {
  const usage = policy?.usage?.();
  const spent = usage && (usage.inputTokens > 0 || usage.outputTokens > 0 || usage.usd > 0);
  if (!spent && priorUsd === 0) return { input_tokens: null, output_tokens: null, usd: null };
  return {
    input_tokens: usage?.inputTokens ?? 0,
    output_tokens: usage?.outputTokens ?? 0,
    usd: (usage?.usd ?? 0) + priorUsd,
  };
}

/** Tokens and USD spent on one step: the difference of the policy's running totals. */
function stepUsage(step: StepRecord, previous: StepRecord | undefined): Usage | undefined {
  const now = step.info.usage as Usage | undefined;
  if (!now) return undefined;
  const before = (previous?.info.usage as Usage | undefined) ?? { inputTokens: 0, outputTokens: 0, usd: 0 };
  return {
    inputTokens: now.inputTokens - before.inputTokens,
    outputTokens: now.outputTokens - before.outputTokens,
    usd: now.usd - before.usd,
  };
}

/** Whether a task falls in the test part of a split: a hash of (split seed, instance_id), stable across runs. */
export function inTestSplit(instanceId: string, testFraction: number, seed: number): boolean {
  return parseInt(sha256(`${seed}:${instanceId}`).slice(0, 8), 16) / 2 ** 32 < testFraction;
}

function selectTasks(tasks: Task[], dataset: ExperimentConfig['dataset']): Task[] {
  const { filter, split } = dataset;
  let selected = split
    ? tasks.filter(
        (t) => inTestSplit(t.instance_id, split.test_fraction, split.seed) === (split.part === 'test'),
      )
    : tasks;
  if (filter.instance_ids) selected = selected.filter((t) => filter.instance_ids!.includes(t.instance_id));
  if (filter.languages) selected = selected.filter((t) => filter.languages!.includes(t.language));
  return filter.limit ? selected.slice(0, filter.limit) : selected;
}

/**
 * One runner per output dir: two would both run every episode and overwrite each other's rows. A lock left by a
 * process that died is taken over.
 */
export async function lockRunDir(outDir: string): Promise<() => Promise<void>> {
  const lock = path.join(outDir, 'run.lock');
  for (;;) {
    try {
      await writeFile(lock, String(process.pid), { flag: 'wx' });
      return () => rm(lock, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = Number(await readFile(lock, 'utf8').catch(() => 'NaN'));
      if (Number.isInteger(owner) && owner > 0 && processAlive(owner)) {
        throw new ConfigError(`another repogym process (pid ${owner}) is running in ${outDir}`);
      }
      await rm(lock, { force: true });
    }
  }
}

/** The models a config calls: LLM policies (also inside bandits and tournaments) and an LLM adversary. */
export function modelIds(config: Pick<ExperimentConfig, 'policies' | 'adversary'>): string[] {
  const models = config.policies.flatMap((p) =>
    p.name === 'llm' ? [p.model] : 'inner' in p && !('name' in p.inner) ? [p.inner.model] : [],
  );
  if (config.adversary?.kind === 'llm') models.push(config.adversary.model);
  return [...new Set(models)].sort();
}

/** The installed version of each dependency (package.json holds only ranges); null when it is not installed. */
async function installedVersions(ranges: Record<string, string>): Promise<Record<string, string | null>> {
  const entries = await Promise.all(
    Object.keys(ranges).map(async (name) => {
      const file = path.join(ROOT, 'node_modules', name, 'package.json');
      const version = await readFile(file, 'utf8').then(
        (text) => (JSON.parse(text) as { version: string }).version,
        () => null,
      );
      return [name, version] as const;
    }),
  );
  return Object.fromEntries(entries);
}

/**
 * What produced a run, stored with the experiment: repogym version and git SHA (and whether the checkout had
 * uncommitted changes), Node, platform, installed dependency versions, dataset hash, model ids.
 */
export async function manifest(datasetHash: string, models: string[] = []): Promise<Record<string, unknown>> {
  let gitSha: string | null;
  let gitDirty: boolean | null;
  const gitOut = (args: string[]) =>
    execFileSync('git', args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim();
  try {
    gitSha = gitOut(['rev-parse', 'HEAD']);
    gitDirty = gitOut(['status', '--porcelain', '--untracked-files=no']) !== '';
  } catch {
    gitSha = null; // not a git checkout (an installed package)
    gitDirty = null;
  }
  const pkg = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as {
    version: string;
    dependencies: Record<string, string>;
  };
  return {
    repogym_version: pkg.version,
    repogym_git_sha: gitSha,
    repogym_git_dirty: gitDirty,
    node_version: process.version,
    platform: `${process.platform}-${process.arch}`,
    dependencies: await installedVersions(pkg.dependencies),
    dataset_hash: datasetHash,
    model_ids: models,
  };
}

export async function runExperiment(config: ExperimentConfig, opts: RunOptions = {}): Promise<RunSummary> {
  const outDir = path.resolve(opts.outDir ?? config.output ?? path.join('runs', config.name));
  // A run killed earlier (kill -9) may have left sandboxes, mounts and processes: clear them before resuming.
  await sweepStaleSandboxes();
  const loaded = await loadDataset(config.dataset.name, {
    reposDir: config.dataset.repos_dir,
    testCmd: config.dataset.test_cmd,
  }).catch((err: Error) => {
    throw new ConfigError(`dataset.name: ${err.message}`);
  });
  const tasks = selectTasks(loaded.tasks, config.dataset);
  if (tasks.length === 0) {
    const why = loaded.tasks.length === 0 ? 'no task loaded' : 'no task left after the filter and split';
    throw new ConfigError(`dataset: ${config.dataset.name}: ${why}`);
  }

  // A replay file that is missing or malformed is the config's fault: say so before any episode runs.
  const checkPolicies = await policyFactory(config, tasks).catch((err: Error) => {
    throw new ConfigError(`policies: ${err.message}`);
  });
  config.policies.forEach((spec, i) => {
    for (const runnable of runnablePolicies({ policies: [spec] })) {
      try {
        checkPolicies.make(runnable);
      } catch (err) {
        throw new ConfigError(`policies.${i}: ${(err as Error).message}`);
      }
    }
  });
  const configHash = sha256(configIdentity(config));
  const datasetHash = sha256(
    JSON.stringify(
      tasks.map((t) => [
        t.instance_id,
        t.base_commit,
        sha256(t.patch),
        sha256(t.test_patch),
        t.test_cmd,
        t.FAIL_TO_PASS,
        t.PASS_TO_PASS,
      ]),
    ),
  );
  let experimentId = `${config.name}-${configHash.slice(0, 12)}`;
  const variants = rewardVariants(config);
  // Created only once the config checks out: a rejected config leaves no empty run dir behind.
  await mkdir(outDir, { recursive: true });
  const releaseLock = await lockRunDir(outDir);
  const store = new RunStore(path.join(outDir, 'runs.sqlite'));
  let otlp: OtlpForwarder | undefined;
  try {
    // A run stored before the identity left out how it runs keeps its id: the same config file resumes it.
    const legacyId = `${config.name}-${sha256(legacyConfigIdentity(config)).slice(0, 12)}`;
    if (!store.experiment(experimentId) && store.experiment(legacyId)) experimentId = legacyId;
    const others = store.db.prepare('SELECT id FROM experiments WHERE id != ?').all(experimentId) as {
      id: string;
    }[];
    if (others.length > 0) {
      throw new ConfigError(
        `${outDir} holds a run of another config (${others[0]!.id}); resuming it with a changed config would mix ` +
          'results: use another --out',
      );
    }
    const existing = store.experiment(experimentId);
    if (existing && existing.dataset_hash !== datasetHash) {
      throw new ConfigError(
        `the tasks changed since ${outDir} was started (dataset hash ${existing.dataset_hash.slice(0, 12)} → ` +
          `${datasetHash.slice(0, 12)}); resuming would mix results: use another --out`,
      );
    }
    if (!existing) {
      store.addExperiment({
        id: experimentId,
        name: config.name,
        config_json: JSON.stringify(storedConfig(config)),
        config_hash: configHash,
        dataset_hash: datasetHash,
        manifest_json: JSON.stringify(await manifest(datasetHash, modelIds(config))),
      });
    }
    // Bandits resume from the state stored with the last committed episode.
    const policies = await policyFactory(
      config,
      tasks,
      store.banditStates(experimentId),
      store.spentUsd(experimentId),
    );

    const plan: PlannedEpisode[] = [];
    for (let epoch = 0; epoch < config.epochs; epoch++)
      for (let index = 0; index < config.seeds; index++)
        for (const task of config.order === 'shuffled' ? shuffledTasks(tasks, config.seed, epoch) : tasks)
          for (const policy of runnablePolicies(config))
            plan.push({
              task,
              epoch,
              policy,
              seed: episodeSeed(config.seed, task.instance_id, epoch, index),
            });
    const finished = store.finishedKeys(experimentId);
    const keyOf = (p: PlannedEpisode) =>
      episodeKey({
        task_id: p.task.instance_id,
        seed: p.seed,
        epoch: p.epoch,
        policy: policyLabel(p.policy),
      });
    const todo = plan.filter((p) => !finished.has(keyOf(p)));
    const progress: RunProgress = {
      done: 0,
      total: todo.length,
      skipped: plan.length - todo.length,
      resolved: 0,
      infra: 0,
      usd: 0,
      tokens: 0,
    };

    const { otlp_endpoint: endpoint, headers, timeout_sec: timeoutSec } = config.telemetry;
    otlp = endpoint ? new OtlpForwarder(endpoint, headers, timeoutSec) : undefined;
    const previousId = store.db.prepare(
      'SELECT id FROM episodes WHERE experiment_id = ? AND task_id = ? AND seed = ? AND epoch = ? AND policy = ?',
    );

    opts.onStart?.({ ...progress });
    await mapLimit(todo, config.concurrency, async (item) => {
      if (opts.signal?.aborted) return;
      const episodeId = randomUUID();
      const trace = new EpisodeTrace(experimentId, episodeId);
      const record = await runWithRetries(
        config,
        variants,
        (spec, spent) => policies.make(spec, spent),
        item,
        experimentId,
        { episodeId, tracer: trace.tracer },
      );
      const spans = await trace.finish();
      // Saved before the episode is committed: a committed episode always has its trace.
      await writeTrace(outDir, episodeId, spans);
      otlp?.send(spans);
      const learner = policies.learners.get(record.episode.policy);
      const replaced = previousId.get(
        experimentId,
        record.episode.task_id,
        record.episode.seed,
        record.episode.epoch,
        record.episode.policy,
      ) as { id: string } | undefined;
      const commit = (bandit?: Parameters<RunStore['recordEpisode']>[3]) =>
        store.recordEpisode(record.episode, record.steps, record.scores, bandit);
      if (learner) {
        const event = banditEventOf(JSON.parse(record.episode.policy_info_json ?? 'null'));
        const update = event && {
          arm: event.arm,
          reward: event.updated && event.reward !== undefined ? event.reward : null,
          // An attempt the harness broke never reached the policy's end, which would have said so.
          skipped: event.skipped ?? (record.episode.failure_class === 'infra' ? 'infra' : null),
          context: event.context,
          scores: event.scores,
        };
        await learner.commit(event, (state) => commit({ policy: record.episode.policy, state, update }));
      } else {
        commit();
      }
      // An infra episode run again on resume replaces the stored one, and its trace goes with it.
      if (replaced) await rm(traceFile(outDir, replaced.id), { force: true });
      progress.done++;
      if (record.episode.resolved) progress.resolved++;
      if (record.episode.failure_class === 'infra') progress.infra++;
      progress.usd += record.episode.usd ?? 0;
      progress.tokens += (record.episode.input_tokens ?? 0) + (record.episode.output_tokens ?? 0);
      opts.onEpisode?.(record.episode, { ...progress });
    });

    const byPolicy = store.db
      .prepare(
        `SELECT policy, COUNT(*) AS episodes, SUM(resolved) AS resolved, SUM(failure_class = 'infra') AS infra
         FROM episodes WHERE experiment_id = ? GROUP BY policy ORDER BY policy`,
      )
      .all(experimentId) as RunSummary['byPolicy'];
    await exportArrow(outDir);
    const report = await writeReport(outDir);
    return {
      report,
      ...progress,
      interrupted: progress.done < progress.total,
      outDir,
      experimentId,
      byPolicy,
      statistics: runStatistics(store.db, experimentId),
    };
  } finally {
    await otlp?.shutdown();
    store.close();
    await releaseLock();
  }
}

/** The config as stored with the run: collector header values are often credentials. */
function storedConfig(config: ExperimentConfig): ExperimentConfig {
  const headers = Object.fromEntries(Object.keys(config.telemetry.headers).map((k) => [k, '<redacted>']));
  const telemetry = { ...config.telemetry, headers };
  if (telemetry.otlp_endpoint) {
    // Credentials in the URL are as secret as a header.
    const url = new URL(telemetry.otlp_endpoint);
    if (url.username || url.password) {
      url.username = url.username && 'redacted';
      url.password = url.password && 'redacted';
      telemetry.otlp_endpoint = url.href;
    }
  }
  return { ...config, telemetry };
}

export async function runWithRetries(
  config: ExperimentConfig,
  variants: Variant[],
  makePolicy: (spec: RunnablePolicy, spentUsd: number) => Policy,
  item: PlannedEpisode,
  experimentId: string,
  /** `tracer`: every attempt's spans (docs/traces.md); `episodeId`: the id to record, random by default. */
  opts: { episodeId?: string; tracer?: Tracer } = {},
): Promise<{ episode: EpisodeRecord; steps: StepRow[]; scores: ScoredVariant[] }> {
  const startedAt = new Date().toISOString();
  const id = opts.episodeId ?? randomUUID();
  // Money spent by attempts that failed for infra: it was spent all the same.
  let spentBefore = 0;
  for (let attempt = 1; ; attempt++) {
    const steps: StepRecord[] = [];
    let policy: Policy | undefined;
    const env = new CodingEnv({
      tasks: [item.task],
      reward: variants[0],
      ...(config.reward.shaping ? { shaping: config.reward.shaping } : {}),
      maxSteps: config.budgets.max_steps,
      wallClockSec: config.budgets.wall_sec,
      budgets: { usd: config.budgets.usd_per_episode, tokens: config.budgets.tokens_per_episode },
      sandbox: sandboxFactory(config.sandbox),
      ...(config.adversary ? { adversary: makeAdversary(config.adversary) } : {}),
      ...(opts.tracer
        ? {
            tracer: opts.tracer,
            traceAttributes: {
              'repogym.episode_id': id,
              'repogym.attempt': attempt,
              'repogym.policy': policyLabel(item.policy),
              'repogym.epoch': item.epoch,
            },
          }
        : {}),
    });
    const base = {
      id,
      experiment_id: experimentId,
      task_id: item.task.instance_id,
      seed: item.seed,
      epoch: item.epoch,
      policy: policyLabel(item.policy),
      arm: null,
      attempts: attempt,
      started_at: startedAt,
    };
    try {
      policy = makePolicy(item.policy, spentBefore);
      const result = await runEpisode(env, policy, {
        seed: item.seed,
        ...((item.policy.name === 'llm' || item.policy.name === 'repair') && item.policy.strategy
          ? { strategy: item.policy.strategy }
          : {}),
        onStep: (s) => steps.push(s),
      });
      const grade = result.grade;
      const infra = grade?.failureClass === 'infra';
      if (infra && attempt <= config.retries) {
        spentBefore += policy.usage?.().usd ?? 0;
        continue;
      }
      const last = steps.at(-1);
      const signals = last?.info.signals as EpisodeSignals | undefined;
      return {
        scores: signals ? variants.map((v) => ({ definition: v, score: score(v, signals) })) : [],
        episode: {
          ...base,
          // A bandit policy's chosen strategy (or a fixed repair strategy): the report's arm charts read this.
          arm:
            typeof result.policyInfo?.arm === 'string'
              ? result.policyInfo.arm
              : typeof result.policyInfo?.strategy === 'string'
                ? result.policyInfo.strategy
                : null,
          outcome: result.outcome,
          failure_class: grade?.failureClass ?? (result.truncated ? 'agent' : 'none'),
          resolved: grade?.resolved ?? false,
          reward: result.return,
          f2p_fraction: grade?.f2pFraction ?? null,
          p2p_fraction: grade?.p2pFraction ?? null,
          steps: result.steps,
          invalid_actions: result.invalidActions,
          terminated: result.terminated,
          truncated: result.truncated,
          wall_ms: result.wallMs,
          signals_json: last?.info.signals ? JSON.stringify(last.info.signals) : null,
          patch: grade?.patch ?? null,
          error: infra ? (grade?.reason ?? null) : null,
          finished_at: new Date().toISOString(),
          policy_info_json: result.policyInfo
            ? JSON.stringify({ ...result.policyInfo, prior_attempts_usd: spentBefore })
            : null,
          ...episodeUsage(policy, spentBefore),
        },
        steps: steps.map((s, i) => ({
          step: s.step,
          action: s.action,
          observation: s.observation,
          reward: s.reward,
          usage: stepUsage(s, steps[i - 1]),
        })),
      };
    } catch (err) {
      // The harness failed (sandbox, setup, dataset): retry, then record an infra episode.
      spentBefore += policy?.usage?.().usd ?? 0;
      if (attempt <= config.retries) continue;
      return {
        episode: {
          ...base,
          outcome: 'infra',
          failure_class: 'infra',
          resolved: false,
          reward: 0,
          f2p_fraction: null,
          p2p_fraction: null,
          steps: steps.length,
          invalid_actions: 0,
          terminated: false,
          truncated: false,
          wall_ms: 0,
          signals_json: null,
          patch: null,
          error: (err as Error).message,
          finished_at: new Date().toISOString(),
          // What the failed attempts logged and spent, so an experiment's spending survives in the store.
          policy_info_json: policy
            ? JSON.stringify({
                ...policy.info?.(),
                usage: policy.usage?.() ?? null,
                prior_attempts_usd: spentBefore - (policy.usage?.().usd ?? 0),
              })
            : null,
          ...episodeUsage(policy, spentBefore - (policy?.usage?.().usd ?? 0)),
        },
        steps: [],
        scores: [],
      };
    } finally {
      await env.close();
    }
  }
}
