// The repogym CLI: argument parsing and printing only; the work is done by the library.
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { select } from '@inquirer/prompts';
import { Presets, SingleBar } from 'cli-progress';
import yargs, { type Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { BUILTIN_DATASETS } from '../datasets/builtin/build.ts';
import { findTask, loadDataset, TaskNotFoundError, type LoadOptions } from '../datasets/loader.ts';
import { testFormatSchema } from '../datasets/schema.ts';
import type { LoadResult, TestFormat } from '../datasets/types.ts';
import { deriveTestLists, mapLimit, validateTask } from '../datasets/validate.ts';
import Docker from 'dockerode';
import { CodingEnv } from '../env/coding-env.ts';
import { gcContainers } from '../env/sandbox/docker.ts';
import { sweepStaleSandboxes } from '../env/sandbox/local.ts';
import {
  CompareError,
  compare,
  formatDiffs,
  formatOutcome,
  formatTable,
  starsToRating,
  type Candidate,
  type TournamentHead,
  type TournamentPolicyInput,
} from '../experiments/compare.ts';
import { ConfigError, loadConfig } from '../experiments/config.ts';
import { runEpisode } from '../experiments/episode.ts';
import { exportArrow } from '../experiments/export.ts';
import { writeReport } from '../experiments/report.ts';
import { formatReplay, loadMatrix, replayBandits } from '../experiments/replay.ts';
import { runExperiment, type RunProgress } from '../experiments/runner.ts';
import { formatStatistics } from '../experiments/summary.ts';
import { compareVariants, formatComparison, readVariantsFile, rescoreRun } from '../experiments/rescore.ts';
import { llmRewriter } from '../datasets/synth/rewrite.ts';
import { synthesize } from '../datasets/synth/synthesize.ts';
import { renderTrajectory } from '../experiments/trajectory.ts';
import { baselinePolicy } from '../policies/baselines.ts';
import { adversarySpecSchema, makeAdversary } from '../policies/adversary/index.ts';
import { BANDIT_KINDS } from '../policies/bandits/index.ts';
import { LlmPolicy, llmOptionsSchema, type LlmOptions } from '../policies/llm.ts';
import { REPAIR_STRATEGY_NAMES, repairPolicy } from '../policies/repair/index.ts';
import { loadTemplates } from '../policies/templates.ts';
import type { Policy } from '../policies/types.ts';
import type { AdversarialSignals, EpisodeSignals } from '../rewards/types.ts';
import { formatGrade, formatReset, formatStep } from './format.ts';

const datasetOptions = (y: Argv) =>
  y
    .option('repos-dir', { type: 'string', describe: 'directory holding owner__name repositories' })
    .option('test-cmd', { type: 'string', describe: 'test command for rows that carry none' })
    .option('test-format', {
      choices: testFormatSchema.options,
      describe: "how --test-cmd's output is parsed (default: the specs file's, else the language's)",
    })
    .option('specs', {
      type: 'string',
      describe: 'JSON file mapping repo (and version) to test command and format',
    });

function loadOptions(argv: {
  reposDir?: string;
  testCmd?: string;
  testFormat?: TestFormat;
  specs?: string;
}): LoadOptions {
  return {
    reposDir: argv.reposDir,
    testCmd: argv.testCmd,
    testFormat: argv.testFormat,
    specsFile: argv.specs,
  };
}

function reportRowErrors(result: LoadResult): void {
  for (const e of result.errors) console.error(`row ${e.line}: ${e.field}: ${e.reason}`);
}

async function runCommand(argv: {
  dataset: string;
  task: string;
  policy: string;
  actions?: string;
  baseUrl?: string;
  model?: string;
  apiKeyEnv?: string;
  strategy?: string;
  templatesDir?: string;
  maxUsd?: number;
  prices?: string;
  maxSteps?: number;
  seed: number;
  json: boolean;
  reposDir?: string;
  testCmd?: string;
  specs?: string;
  adversary?: 'differential';
}): Promise<number> {
  if (argv.policy === 'replay' && !argv.actions)
    throw new Error('--policy replay needs --actions <file.jsonl>');
  const policy =
    argv.policy === 'llm'
      ? await llmFromFlags(argv)
      : argv.policy === 'repair'
        ? repairPolicy({ strategy: argv.strategy ?? REPAIR_STRATEGY_NAMES[0] })
        : baselinePolicy(argv.policy, argv.actions);
  const loaded = await loadDataset(argv.dataset, loadOptions(argv));
  reportRowErrors(loaded);
  const task = findTask(loaded, argv.task);
  const env = new CodingEnv({
    tasks: [task],
    maxSteps: argv.maxSteps,
    ...(argv.adversary
      ? { adversary: makeAdversary(adversarySpecSchema.parse({ kind: argv.adversary })) }
      : {}),
  });
  const print = (value: unknown) => console.log(JSON.stringify(value));
  let signals: EpisodeSignals | undefined;
  try {
    const result = await runEpisode(env, policy, {
      seed: argv.seed,
      ...(argv.strategy ? { strategy: argv.strategy } : {}),
      onReset: (observation, info) =>
        argv.json ? print({ type: 'reset', observation, info }) : console.log(formatReset(observation, info)),
      onStep: (record) => {
        signals = record.info.signals as EpisodeSignals | undefined;
        if (argv.json) print({ type: 'step', ...record });
        else console.log(formatStep(record));
      },
    });
    if (!argv.json && signals?.adversarial) console.log(formatAdversary(signals.adversarial));
    if (argv.json) {
      print({ type: 'result', ...result, resolved: result.grade?.resolved ?? false });
    } else {
      console.log(
        `result ${result.instanceId}: ${result.grade ? formatGrade(result.grade) : result.outcome}; ` +
          `return ${result.return}, ${result.steps} steps, ${result.invalidActions} invalid, ${(result.wallMs / 1000).toFixed(1)}s`,
      );
    }
    return 0;
  } finally {
    await env.close();
  }
}

/** What the adversary tried and which of its valid tests broke the patch, with the test files. */
function formatAdversary(a: AdversarialSignals): string {
  const valid = a.tests.filter((t) => t.passedOnReference !== false);
  const broke = valid.filter((t) => !t.passedOnCandidate);
  const lines = [
    `adversary ${a.adversary}: ${a.tried} tried, ${valid.length} valid tests, ${broke.length} broke the patch` +
      (a.error ? ` (error: ${a.error})` : ''),
    ...(a.notes ?? []).map((n) => `  ${n}`),
    ...broke.map((t) => `  broke: ${t.name}${t.input ? ` — ${t.input}` : ''}`),
  ];
  for (const [file, content] of Object.entries(a.files)) lines.push(`── ${file}`, content.trimEnd());
  return lines.join('\n');
}

function checkMaxSteps(maxSteps: unknown): void {
  if (maxSteps !== undefined && !(typeof maxSteps === 'number' && Number.isInteger(maxSteps) && maxSteps > 0))
    throw new UsageError('--max-steps must be a positive integer');
}

async function compareCommand(
  argv: LlmFlags & {
    task: string;
    strategies: string;
    dataset: string;
    policy: 'repair' | 'llm';
    primary?: string;
    variants?: string;
    out: string;
    human: boolean;
    rater?: string;
    bandit: (typeof BANDIT_KINDS)[number];
    maxSteps?: number;
    seed: number;
    json: boolean;
    templatesDir?: string;
  } & Parameters<typeof loadOptions>[0],
): Promise<number> {
  // Checked before anything runs: the episodes would run only to find that nobody can rate them.
  if (argv.human && !process.stdin.isTTY)
    throw new UsageError('--human asks a person to rate in the terminal, but stdin is not a terminal');
  const policy: TournamentPolicyInput =
    argv.policy === 'llm' ? { name: 'llm', ...llmOptionsFromFlags(argv) } : { name: 'repair' };
  // With --json, stdout carries only the result; what the rater reads goes to stderr.
  const say = argv.json ? console.error : console.log;
  const rate = async (candidates: readonly Candidate[], head: TournamentHead) => {
    say(`${formatTable(candidates, head)}\n\n${formatDiffs(candidates)}\n`);
    return promptRatings(candidates, argv.json ? process.stderr : process.stdout);
  };
  try {
    const t = await compare({
      dataset: argv.dataset,
      task: argv.task,
      strategies: splitList(argv.strategies),
      policy,
      outDir: argv.out,
      seed: argv.seed,
      bandit: { kind: argv.bandit },
      loadOptions: loadOptions(argv),
      ...(argv.primary ? { primary: argv.primary } : {}),
      ...(argv.variants ? { variants: splitList(argv.variants) } : {}),
      ...(argv.maxSteps !== undefined ? { maxSteps: argv.maxSteps } : {}),
      ...(argv.templatesDir ? { templatesDir: argv.templatesDir } : {}),
      ...(argv.human ? { rate, ...(argv.rater ? { rater: argv.rater } : {}) } : {}),
      onCandidate: (strategy, e) =>
        console.error(`${strategy}: ${e.outcome} in ${e.steps} steps, ${(e.wall_ms / 1000).toFixed(1)} s`),
    });
    if (argv.json) console.log(JSON.stringify(t));
    else {
      if (!argv.human) console.log(`${formatTable(t.candidates, t)}\n\n${formatDiffs(t.candidates)}\n`);
      console.log(formatOutcome(t));
      console.log(`stored in ${t.outDir}/runs.sqlite (experiment ${t.experimentId}, round ${t.epoch})`);
    }
    return t.winner === null ? 1 : 0;
  } catch (err) {
    // A strategy, task or variant the user named that does not exist is a usage error (exit 2).
    if (err instanceof CompareError || err instanceof ConfigError || err instanceof TaskNotFoundError)
      throw new UsageError(err.message, { cause: err });
    throw err;
  }
}

const RATINGS = ['unusable', 'poor', 'acceptable', 'good', 'excellent'];

/** One prompt per candidate: digits 1–5 or arrow keys and Enter; 6 skips. */
async function promptRatings(
  candidates: readonly Candidate[],
  output: NodeJS.WriteStream,
): Promise<(number | null)[]> {
  const ratings: (number | null)[] = [];
  for (const [i, c] of candidates.entries()) {
    if (c.failureClass === 'infra') {
      ratings.push(null); // nothing was graded: nothing to rate
      continue;
    }
    try {
      const stars = await select(
        {
          message: `${c.strategy} (${i + 1}/${candidates.length}): how good is this result?`,
          choices: [
            ...RATINGS.map((name, k) => ({ name, value: k + 1 })),
            { name: 'skip (no rating; the bandit does not learn from it)', value: 0 },
          ],
          default: 3,
          loop: false,
          theme: { indexMode: 'number' },
        },
        { output },
      );
      ratings.push(stars === 0 ? null : starsToRating(stars, RATINGS.length));
    } catch (err) {
      if ((err as Error).name === 'ExitPromptError')
        throw new Error('rating cancelled: the episodes are stored without ratings and nothing was learned', {
          cause: err,
        });
      throw err;
    }
  }
  return ratings;
}

async function listCommand(argv: { dataset?: string } & Parameters<typeof loadOptions>[0]): Promise<number> {
  if (!argv.dataset) {
    for (const name of BUILTIN_DATASETS) {
      const { tasks } = await loadDataset(`builtin:${name}`);
      console.log(`builtin:${name}  ${tasks.length} tasks  ${new Set(tasks.map((t) => t.repo)).size} repos`);
    }
    return 0;
  }
  const loaded = await loadDataset(argv.dataset, loadOptions(argv));
  reportRowErrors(loaded);
  for (const t of loaded.tasks) {
    console.log(
      `${t.instance_id}  ${t.language}  F2P ${t.FAIL_TO_PASS.length}  P2P ${t.PASS_TO_PASS.length}`,
    );
  }
  return loaded.errors.length ? 1 : 0;
}

async function validateCommand(
  argv: { dataset: string; reruns: number; concurrency: number; derive?: string; task?: string } & Parameters<
    typeof loadOptions
  >[0],
): Promise<number> {
  const loaded = await loadDataset(argv.dataset, {
    ...loadOptions(argv),
    testListsOptional: argv.derive !== undefined,
  });
  reportRowErrors(loaded);
  const tasks = argv.task ? [findTask(loaded, argv.task)] : loaded.tasks;
  if (argv.derive) {
    // Rows go out as they came in (repo as written), with the derived lists.
    const rows = await mapLimit(tasks, argv.concurrency, async (task) => {
      const lists = await deriveTestLists(task);
      console.log(`${task.instance_id}: F2P ${lists.FAIL_TO_PASS.length}, P2P ${lists.PASS_TO_PASS.length}`);
      return { ...loaded.rows.get(task.instance_id), ...lists };
    });
    await writeFile(argv.derive, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
    console.log(
      `wrote ${rows.length} rows with derived FAIL_TO_PASS/PASS_TO_PASS to ${argv.derive}` +
        (loaded.errors.length ? `; ${loaded.errors.length} rows failed to load` : ''),
    );
    return loaded.errors.length > 0 ? 1 : 0;
  }
  const results = await mapLimit(tasks, argv.concurrency, async (task) => {
    const v = await validateTask(task, argv.reruns);
    console.log(
      `${v.ok ? 'ok  ' : 'FAIL'} ${v.instanceId}  oracle=${v.oracle} nop=${v.nop} flaky=${v.flaky.length}` +
        (v.problems.length ? `\n     ${v.problems.join('\n     ')}` : ''),
    );
    return v;
  });
  const failed = results.filter((r) => !r.ok).length;
  console.log(
    `${results.length - failed}/${results.length} tasks valid: oracle resolved ${results.filter((r) => r.oracle === 'resolved').length}, ` +
      `nop resolved ${results.filter((r) => r.nop === 'resolved').length}, flaky ${results.filter((r) => r.flaky.length).length}` +
      (loaded.errors.length ? `, ${loaded.errors.length} rows failed to load` : ''),
  );
  return failed > 0 || loaded.errors.length > 0 ? 1 : 0;
}

/** Spending so far, for the progress line: none offline. */
const costSoFar = (p: RunProgress) =>
  p.usd > 0 || p.tokens > 0
    ? `$${p.usd.toFixed(4)}, ${p.tokens.toLocaleString('en-US')} tokens`
    : '$0 (no LLM)';

async function experimentRunCommand(argv: {
  config: string;
  out?: string;
  quiet: boolean;
  json: boolean;
}): Promise<number> {
  const config = await loadConfig(argv.config);
  // A live bar on a terminal; one line per episode in logs (CI) where a bar would only add noise.
  const bar =
    !argv.json && !argv.quiet && process.stderr.isTTY
      ? new SingleBar(
          {
            format: ' {bar} {value}/{total} episodes | ETA {eta_formatted} | resolved {rate} | cost {cost}',
            hideCursor: true,
          },
          Presets.shades_classic,
        )
      : undefined;
  // Ctrl-C: start no new episode, let the running ones finish and be stored, then report; a second Ctrl-C quits.
  const stop = new AbortController();
  const onInterrupt = () => {
    if (stop.signal.aborted) process.exit(130);
    stop.abort();
    console.error('\nstopping: no new episodes; waiting for the running ones (Ctrl-C again to quit at once)');
  };
  process.on('SIGINT', onInterrupt);
  process.on('SIGTERM', onInterrupt);
  const summary = await runExperiment(config, {
    outDir: argv.out,
    signal: stop.signal,
    onStart: (p) => bar?.start(p.total, 0, { rate: '-', cost: costSoFar(p) }),
    onEpisode: (episode, p) => {
      const rate = `${p.resolved}/${p.done} (${((100 * p.resolved) / p.done).toFixed(0)}%)`;
      if (argv.json) console.log(JSON.stringify({ type: 'episode', ...episode, patch: undefined }));
      else if (bar) bar.update(p.done, { rate, cost: costSoFar(p) });
      else if (!argv.quiet) {
        console.log(
          `[${p.done}/${p.total}] ${episode.policy.padEnd(7)} ${episode.task_id}  ${episode.outcome}  (${rate} resolved, cost ${costSoFar(p)})`,
        );
      }
    },
  }).finally(() => bar?.stop());
  if (argv.json) console.log(JSON.stringify({ type: 'summary', ...summary }));
  else {
    console.log(
      `run ${summary.experimentId} in ${summary.outDir}: ${summary.done} episodes run, ${summary.skipped} already done`,
    );
    for (const line of formatStatistics(summary.statistics)) console.log(line);
  }
  if (argv.json) console.log(JSON.stringify({ type: 'report', ...summary.report }));
  else console.log(`report: ${summary.report.html}`);
  if (summary.interrupted) {
    console.error(
      `interrupted after ${summary.done}/${summary.total} episodes; run the same command again to resume`,
    );
    return 130;
  }
  return summary.infra > 0 ? 1 : 0;
}

export async function main(args: string[]): Promise<number> {
  let exitCode = 0;
  const set = (p: Promise<number>) => p.then((code) => void (exitCode = code));
  await yargs(args)
    .scriptName('repogym')
    .usage('$0 <command> [options]')
    .command(
      'run',
      'run one episode of a policy on a task, printing each step',
      (y) =>
        datasetOptions(y)
          .option('dataset', {
            type: 'string',
            demandOption: true,
            describe: 'builtin:<name> or a .jsonl/.json file',
          })
          .option('task', { type: 'string', demandOption: true, describe: 'instance_id' })
          .option('policy', {
            choices: ['oracle', 'nop', 'replay', 'llm', 'repair'] as const,
            default: 'oracle' as const,
          })
          .option('actions', { type: 'string', describe: 'JSONL of actions for --policy replay' })
          .option('base-url', { type: 'string', describe: 'OpenAI-compatible endpoint for --policy llm' })
          .option('model', { type: 'string', describe: 'model id for --policy llm' })
          .option('api-key-env', {
            type: 'string',
            describe: 'variable holding the API key (OPENAI_API_KEY)',
          })
          .option('strategy', {
            type: 'string',
            describe: `strategy template for --policy llm, or repair strategy for --policy repair (${REPAIR_STRATEGY_NAMES.join(', ')})`,
          })
          .option('templates-dir', { type: 'string', describe: 'more strategy templates (*.md)' })
          .option('max-usd', { type: 'number', describe: 'cost cap of the episode (needs --prices)' })
          .option('prices', {
            type: 'string',
            describe: 'USD per million input,output tokens, e.g. 0.15,0.6',
          })
          .option('adversary', {
            choices: ['differential'] as const,
            describe:
              'attack a resolved submission with differential tests against the gold patch (docs/adversary.md)',
          })
          .option('max-steps', { type: 'number' })
          .option('seed', { type: 'number', default: 0 })
          .option('json', {
            type: 'boolean',
            default: false,
            describe: 'one JSON object per step, then the result',
          })
          .check((argv) => {
            if (!Number.isInteger(argv.seed)) throw new UsageError('--seed must be an integer');
            checkMaxSteps(argv.maxSteps);
            return true;
          }),
      (argv) => set(runCommand(argv)),
    )
    .command(
      'compare',
      'run several strategies on one task side by side, score them, pick the best; --human lets a person rate them',
      (y) =>
        datasetOptions(y)
          .option('task', { type: 'string', demandOption: true, describe: 'instance_id' })
          .option('strategies', {
            type: 'string',
            demandOption: true,
            describe: `comma-separated: repair strategies (${REPAIR_STRATEGY_NAMES.join(', ')}) or, with --policy llm, strategy templates`,
          })
          .option('dataset', {
            type: 'string',
            default: 'builtin:mini',
            describe: 'builtin:<name> or a .jsonl/.json file',
          })
          .option('policy', { choices: ['repair', 'llm'] as const, default: 'repair' as const })
          .option('primary', {
            type: 'string',
            describe:
              'the variant that picks the winner and teaches the bandit (production; human with --human)',
          })
          .option('variants', {
            type: 'string',
            describe: 'more built-in variants to score, comma-separated (swebench,partial,production)',
          })
          .option('out', { type: 'string', default: 'runs/compare', describe: 'run dir (runs.sqlite)' })
          .option('human', {
            type: 'boolean',
            default: false,
            describe: 'rate each candidate in the terminal; the bandit learns from the ratings',
          })
          .option('rater', { type: 'string', describe: 'who rates (default: the login name)' })
          .option('bandit', {
            choices: BANDIT_KINDS,
            default: 'linucb' as const,
            describe: 'the bandit over the strategies (docs/bandits.md)',
          })
          .option('max-steps', { type: 'number', describe: 'step budget of each episode (50)' })
          .option('seed', {
            type: 'number',
            default: 0,
            describe: 'experiment seed; every candidate gets the same episode seed',
          })
          .option('json', {
            type: 'boolean',
            default: false,
            describe: 'print the result as one JSON object',
          })
          .option('base-url', { type: 'string', describe: 'OpenAI-compatible endpoint for --policy llm' })
          .option('model', { type: 'string', describe: 'model id for --policy llm' })
          .option('api-key-env', {
            type: 'string',
            describe: 'variable holding the API key (OPENAI_API_KEY)',
          })
          .option('templates-dir', { type: 'string', describe: 'more strategy templates (*.md)' })
          .option('max-usd', { type: 'number', describe: 'cost cap of each episode (needs --prices)' })
          .option('prices', {
            type: 'string',
            describe: 'USD per million input,output tokens, e.g. 0.15,0.6',
          })
          .check((argv) => {
            if (!Number.isInteger(argv.seed) || argv.seed < 0)
              throw new UsageError('--seed must be an integer ≥ 0');
            checkMaxSteps(argv.maxSteps);
            return true;
          }),
      (argv) => set(compareCommand(argv)),
    )
    .command('experiment', 'run experiments from a config', (y) =>
      y
        .command(
          'run <config>',
          'run (or resume) every episode of an experiment config (YAML/JSON)',
          (y2) =>
            y2
              .positional('config', { type: 'string', demandOption: true })
              .option('out', { type: 'string', describe: "output dir; overrides the config's" })
              .option('quiet', { type: 'boolean', default: false, describe: 'print only the summary' })
              .option('json', {
                type: 'boolean',
                default: false,
                describe: 'one JSON object per episode and a summary',
              }),
          (argv) => set(experimentRunCommand(argv)),
        )
        .command(
          'replay <config>',
          "estimate the config's bandits (mean reward, power against random) by exact replay over a strategy matrix run (docs/replay.md)",
          (y2) =>
            y2
              .positional('config', { type: 'string', demandOption: true })
              .option('matrix', {
                type: 'string',
                demandOption: true,
                describe: 'run directory of every repair strategy on every task',
              })
              .option('tasks', { type: 'number', describe: 'tasks per draw (default: all of the part)' })
              .option('draws', { type: 'number', default: 200 })
              .option('part', {
                choices: ['train', 'test', 'all'] as const,
                describe:
                  "side of the config's split to draw from (default: the side the config does not run)",
              })
              .option('json', { type: 'boolean', default: false })
              .check((argv) => {
                if (!Number.isInteger(argv.draws) || argv.draws < 1 || argv.draws > 100_000)
                  throw new UsageError('--draws must be an integer from 1 to 100000');
                if (argv.tasks !== undefined && (!Number.isInteger(argv.tasks) || argv.tasks < 1))
                  throw new UsageError('--tasks must be an integer ≥ 1');
                return true;
              }),
          (argv) =>
            set(
              (async () => {
                const config = await loadConfig(argv.config);
                const matrix = loadMatrix(argv.matrix, config.reward.primary);
                const result = await replayBandits(config, matrix, {
                  ...(argv.tasks !== undefined ? { tasks: argv.tasks } : {}),
                  ...(argv.part ? { part: argv.part } : {}),
                  draws: argv.draws,
                });
                console.log(argv.json ? JSON.stringify(result) : formatReplay(result, argv.matrix));
                return 0;
              })(),
            ),
        )
        .demandCommand(1, 'name an experiment command: run, replay'),
    )
    .command(
      'export <run>',
      'export a run directory to analysis formats',
      (y) =>
        y
          .positional('run', {
            type: 'string',
            demandOption: true,
            describe: 'run directory (holds runs.sqlite)',
          })
          .option('format', { choices: ['arrow'] as const, default: 'arrow' as const }),
      (argv) =>
        set(
          exportArrow(argv.run).then((r) => {
            const files = [r.episodes, r.steps, r.rewards, r.banditUpdates];
            console.log(`wrote ${files.map((f, i) => `${f} (${r.rows[i]} rows)`).join(', ')}`);
            return 0;
          }),
        ),
    )
    .command(
      'report <run>',
      'write report.html (charts, trajectories) and report.md for a run directory',
      (y) => y.positional('run', { type: 'string', demandOption: true, describe: 'run directory' }),
      (argv) =>
        set(
          writeReport(argv.run).then((r) => {
            console.log(`wrote ${r.html} (${r.charts} charts) and ${r.md}`);
            return 0;
          }),
        ),
    )
    .command(
      'trajectory <run> <episode>',
      'print one stored episode step by step',
      (y) =>
        y
          .positional('run', { type: 'string', demandOption: true, describe: 'run directory' })
          .positional('episode', {
            type: 'string',
            demandOption: true,
            describe: 'episode id (a unique prefix is enough)',
          })
          .option('lines', { type: 'number', default: 12, describe: 'output lines shown per step' })
          .option('timeline', {
            type: 'boolean',
            default: false,
            describe: "also print the episode's trace (traces/<id>.json) as a timeline of spans",
          })
          .check((argv) => {
            if (!Number.isInteger(argv.lines) || argv.lines < 0)
              throw new UsageError('--lines must be an integer ≥ 0');
            return true;
          }),
      (argv) =>
        set(
          Promise.resolve().then(() => {
            console.log(
              renderTrajectory(argv.run, argv.episode, { outputLines: argv.lines, timeline: argv.timeline }),
            );
            return 0;
          }),
        ),
    )
    .command('rewards', 'score stored episodes under reward variants, offline', (y) =>
      y
        .command(
          'rescore <run>',
          'score every episode of a run under more variants from its recorded signals (no sandbox runs)',
          (y2) =>
            y2
              .positional('run', { type: 'string', demandOption: true, describe: 'run directory' })
              .option('variants', {
                type: 'string',
                demandOption: true,
                describe: "comma-separated names: built in, in the run's config, or in --variants-file",
              })
              .option('variants-file', { type: 'string', describe: 'YAML/JSON list of variant definitions' })
              .option('replace', {
                type: 'boolean',
                default: false,
                describe: 'allow replacing stored rows of a variant name under a changed definition',
              }),
          (argv) => set(rescoreCommand(argv.run, argv.variants, argv['variants-file'], argv.replace)),
        )
        .command(
          'compare <run>',
          'per-variant means with intervals, Kendall τ between variants, and the episodes they disagree on',
          (y2) =>
            y2
              .positional('run', { type: 'string', demandOption: true, describe: 'run directory' })
              .option('variants', {
                type: 'string',
                describe: 'comma-separated; default: every scored variant',
              })
              .option('top', { type: 'number', default: 10, describe: 'disagreeing episodes to list' })
              .option('json', { type: 'boolean', default: false }),
          (argv) =>
            set(
              Promise.resolve().then(() => {
                const comparison = compareVariants(argv.run, {
                  ...(argv.variants ? { variants: splitList(argv.variants) } : {}),
                  top: argv.top,
                });
                console.log(argv.json ? JSON.stringify(comparison) : formatComparison(comparison));
                return 0;
              }),
            ),
        )
        .demandCommand(1, 'name a rewards command: rescore, compare'),
    )
    .command('sandbox', 'sandbox housekeeping', (y) =>
      y
        .command(
          'gc',
          'remove what crashed runs left: sandbox containers (DOCKER_HOST) and local sandbox dirs, mounts and cgroups',
          (y2) =>
            y2
              .option('all', {
                type: 'boolean',
                default: false,
                describe: "also remove sandbox containers of live runs and of other hosts' runs",
              })
              .option('docker', {
                type: 'boolean',
                default: true,
                describe: 'look for containers (--no-docker: local sandboxes only)',
              }),
          (argv) => set(sandboxGc(argv.all, argv.docker)),
        )
        .demandCommand(1, 'name a sandbox command: gc'),
    )
    .command('datasets', 'list and validate datasets', (y) =>
      y
        .command(
          'list [dataset]',
          'list built-in datasets, or the tasks of one dataset',
          (y2) => datasetOptions(y2).positional('dataset', { type: 'string' }),
          (argv) => set(listCommand(argv)),
        )
        .command(
          'validate <dataset>',
          'oracle must resolve every task, nop none; reruns flag flaky tests',
          (y2) =>
            datasetOptions(y2)
              .positional('dataset', { type: 'string', demandOption: true })
              .option('task', { type: 'string', describe: 'validate only this instance_id' })
              .option('reruns', {
                type: 'number',
                default: 2,
                describe: 'extra gold runs to detect flaky tests',
              })
              .option('concurrency', { type: 'number', default: 2 })
              .check((argv) => {
                for (const name of ['concurrency', 'reruns'] as const) {
                  const value = argv[name];
                  const min = name === 'concurrency' ? 1 : 0;
                  if (!Number.isInteger(value) || value < min)
                    throw new UsageError(`--${name} must be an integer ≥ ${min}`);
                }
                return true;
              })
              .option('derive', {
                type: 'string',
                describe: 'compute FAIL_TO_PASS/PASS_TO_PASS from runs and write the rows to this JSONL file',
              }),
          (argv) => set(validateCommand(argv as never)),
        )
        .command(
          'synth',
          'inject bugs into a repository (AST mutations of Python and JavaScript/TypeScript files) and keep those that break tests as tasks',
          (y2) =>
            y2
              .option('repo', {
                type: 'string',
                demandOption: true,
                describe: 'a git repository (HEAD = correct)',
              })
              .option('test-cmd', {
                type: 'string',
                demandOption: true,
                describe: 'runs the tests from the repo root',
              })
              .option('test-format', {
                choices: ['pytest', 'tap', 'junit', 'jest-json'] as const,
                default: 'pytest' as const,
              })
              .option('out', { type: 'string', demandOption: true, describe: 'tasks JSONL to write' })
              .option('seed', { type: 'number', default: 0 })
              .option('max-tasks', { type: 'number', default: 20 })
              .option('base-url', {
                type: 'string',
                describe: 'OpenAI-compatible endpoint: rewrite problem statements with this model',
              })
              .option('model', { type: 'string', describe: 'model id for --base-url' })
              .option('api-key-env', { type: 'string', default: 'OPENAI_API_KEY' })
              .check((argv) => {
                if ((argv.baseUrl === undefined) !== (argv.model === undefined))
                  throw new UsageError('--base-url and --model go together');
                if (!Number.isInteger(argv.seed) || argv.seed < 0)
                  throw new UsageError('--seed must be an integer ≥ 0');
                const maxTasks = argv['max-tasks'];
                if (!Number.isInteger(maxTasks) || maxTasks < 1)
                  throw new UsageError('--max-tasks must be a positive integer');
                return true;
              }),
          (argv) =>
            set(
              synthesize({
                repo: argv.repo,
                testCmd: argv.testCmd,
                testFormat: argv.testFormat,
                seed: argv.seed,
                maxTasks: argv.maxTasks,
                ...(argv.baseUrl && argv.model
                  ? {
                      rewrite: llmRewriter({
                        baseUrl: argv.baseUrl,
                        model: argv.model,
                        apiKeyEnv: argv.apiKeyEnv,
                      }),
                    }
                  : {}),
              }).then(async (r) => {
                await writeFile(
                  argv.out,
                  r.rows.map((row) => JSON.stringify(row)).join('\n') + (r.rows.length ? '\n' : ''),
                );
                console.log(
                  `wrote ${r.rows.length} tasks to ${argv.out}; tried ${r.tried} mutants ` +
                    `(${r.dropped.no_test_failed} broke no test, ${r.dropped.no_test_passed} broke every test, ${r.dropped.timed_out} timed out)`,
                );
                return r.rows.length > 0 ? 0 : 1;
              }),
            ),
        )
        .demandCommand(1, 'name a datasets command: list, validate or synth'),
    )
    .demandCommand(1, 'name a command: run, experiment, datasets or sandbox')
    .strict()
    .help()
    .fail((message, error) => {
      throw error ?? new UsageError(message);
    })
    .parseAsync();
  return exitCode;
}

class UsageError extends Error {}

interface LlmFlags {
  baseUrl?: string;
  model?: string;
  apiKeyEnv?: string;
  maxUsd?: number;
  prices?: string;
}

function llmOptionsFromFlags(argv: LlmFlags): LlmOptions {
  if (!argv.baseUrl || !argv.model) throw new UsageError('--policy llm needs --base-url and --model');
  if (argv.maxUsd !== undefined && !argv.prices) throw new UsageError('--max-usd needs --prices');
  const [input, output] = (argv.prices ?? '').split(',').map(Number);
  const checked = llmOptionsSchema.safeParse({
    base_url: argv.baseUrl,
    model: argv.model,
    ...(argv.apiKeyEnv ? { api_key_env: argv.apiKeyEnv } : {}),
    ...(argv.prices ? { prices: { input_per_mtok: input, output_per_mtok: output } } : {}),
    ...(argv.maxUsd !== undefined ? { max_usd_per_episode: argv.maxUsd } : {}),
  });
  if (!checked.success) {
    const issue = checked.error.issues[0]!;
    throw new UsageError(`llm option ${issue.path.join('.')}: ${issue.message}`);
  }
  return checked.data;
}

async function llmFromFlags(argv: LlmFlags & { strategy?: string; templatesDir?: string }): Promise<Policy> {
  const options = llmOptionsFromFlags(argv);
  const templates = await loadTemplates(argv.templatesDir ? { dirs: [argv.templatesDir] } : {});
  if (argv.strategy && !templates.some((t) => t.name === argv.strategy)) {
    throw new UsageError(
      `unknown --strategy "${argv.strategy}" (${templates.map((t) => t.name).join(', ')})`,
    );
  }
  return new LlmPolicy(options, { templates: new Map(templates.map((t) => [t.name, t])) });
}

async function sandboxGc(all: boolean, docker: boolean): Promise<number> {
  const dirs = await sweepStaleSandboxes();
  console.log(
    `local: removed ${dirs} stale sandbox director${dirs === 1 ? 'y' : 'ies'} (and their mounts and cgroups)`,
  );
  if (docker && !process.env.DOCKER_HOST && !existsSync('/var/run/docker.sock')) {
    console.log(
      'docker: no daemon configured (DOCKER_HOST is unset and /var/run/docker.sock is absent); skipped',
    );
  } else if (docker) {
    const removed = await gcContainers(new Docker(), all);
    console.log(`docker: removed ${removed.length} sandbox container${removed.length === 1 ? '' : 's'}`);
    for (const id of removed) console.log(`  ${id.slice(0, 12)}`);
  }
  return 0;
}

const splitList = (text: string) =>
  text
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);

async function rescoreCommand(
  run: string,
  variants: string,
  variantsFile: string | undefined,
  replace: boolean,
): Promise<number> {
  const extra = variantsFile ? await readVariantsFile(variantsFile) : [];
  const names = splitList(variants);
  if (names.length === 0) throw new UsageError('--variants names no variant');
  const summary = await rescoreRun(run, names, extra, { replace });
  const replaced = summary.replaced.length
    ? ` (replaced earlier rows of ${summary.replaced.join(', ')})`
    : '';
  console.log(
    `scored ${summary.episodes} episodes under ${summary.variants.join(', ')}${replaced}; ` +
      `${summary.skipped} without recorded signals skipped`,
  );
  return 0;
}

main(hideBin(process.argv)).then(
  (code) => process.exit(code),
  (err: Error) => {
    // One line, but all of it: yargs spreads e.g. "Invalid values: Argument: policy, Given: …" over lines.
    const message =
      err instanceof UsageError ? err.message.replace(/\s*\n\s*/g, ' ') : err.message.split('\n')[0];
    console.error(`repogym: ${message}`);
    process.exit(err instanceof UsageError ? 2 : 1);
  },
);
