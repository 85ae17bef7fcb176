// CodingEnv: one episode = one task, over a fresh sandbox at the task's base commit.
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { SpanStatusCode, type Attributes, type Span, type Tracer } from '@opentelemetry/api';
import { z } from 'zod';
import { loadDataset, type LoadOptions } from '../datasets/loader.ts';
import type { Task } from '../datasets/types.ts';
import type { AdversarialSignals, EpisodeSignals, TaskFacts, Usage } from '../rewards/types.ts';
import { COMPONENTS, type ComponentName } from '../rewards/components.ts';
import { detectHacks } from '../rewards/hacks.ts';
import { resolveVariant, score, type Variant } from '../rewards/variants.ts';
import { parseAction, type Action } from './actions.ts';
import { diffStat, filesOf, isTestPath } from './diff.ts';
import { projectOverview, readDoc } from './docs.ts';
import { GitError } from './git.ts';
import {
  analyzePatch,
  grade,
  measureBenchmark,
  notRunGrade,
  runTaskTests,
  treeFactory,
  type Grade,
} from './grading.ts';
import { capText, DEFAULT_MAX_OUTPUT_BYTES } from './sandbox/exec.ts';
import { createLocalSandbox } from './sandbox/local.ts';
import { SandboxPathError, type Sandbox } from './sandbox/types.ts';
import {
  attributes,
  failSpan,
  inSpan,
  telemetryAttributes,
  testAttributes,
  tracedFactory,
  tracedSandbox,
  Tracing,
} from './tracing.ts';
import type {
  ActionErrorCode,
  Adversary,
  DiffStat,
  Env,
  Info,
  Observation,
  ResetOptions,
  StepResult,
} from './types.ts';

export interface CodingEnvOptions {
  /** `builtin:<name>` or a task file; ignored when `tasks` is given. */
  dataset?: string;
  tasks?: Task[];
  /** Fixes the task; otherwise reset picks one with the seeded RNG (or `options.task` on reset). */
  task?: string;
  loadOptions?: LoadOptions;
  maxSteps?: number;
  /** Wall-clock budget of an episode; defaults to the task's timeouts.episode_sec. */
  wallClockSec?: number;
  maxOutputBytes?: number;
  /** Sandbox backend; defaults to the local overlay/worktree sandbox. */
  sandbox?: (task: Task) => Promise<Sandbox>;
  /** Terminal reward: a reward variant (built-in name or definition) over the recorded signals; `swebench` by default. */
  reward?: Variant | string;
  /**
   * Potential-based shaping (Ng, Harada & Russell 1999): each step adds γΦ(s′) − Φ(s), Φ = share of visible
   * tests passing in the latest test run, 0 at the start and at the end. Off when absent.
   */
  shaping?: { gamma: number };
  /** Money and token budgets of an episode, recorded for the `cost` component (policies enforce them). */
  budgets?: { usd?: number; tokens?: number };
  /** The reset observation's text; by default the task statement and a fixer's instructions. */
  briefing?: (task: Task) => string;
  /** Runs on every graded submission; its findings are recorded for the `adversarial` component. */
  adversary?: Adversary;
  /**
   * OpenTelemetry (docs/traces.md): an `episode` span per reset, a `step <kind>` span per step, and under
   * them a span per sandbox command and grading phase. Without it no span is made.
   */
  tracer?: Tracer;
  /** Added to every `episode` span (e.g. the runner's episode id). */
  traceAttributes?: Attributes;
}

export class EnvStateError extends Error {
  override name = 'EnvStateError';
}

/** The harness, not the agent, failed (dataset, sandbox, setup). Runners label such episodes `infra`. */
export class InfraError extends Error {
  override name = 'InfraError';
}

const READ_ONLY_ACTIONS = new Set(['read_file', 'list_dir', 'search', 'read_doc', 'evaluate']);
const EMPTY_STAT: DiffStat = { files: 0, added: 0, removed: 0 };
const NO_TELEMETRY = { wallMs: 0, cpuMs: null, peakRssKb: null };

const numericOptions = z.object({
  maxSteps: z.number().int().positive().optional(),
  wallClockSec: z.number().positive().optional(),
  maxOutputBytes: z.number().int().min(256).optional(),
});

const FS_ERROR_CODES: Record<string, ActionErrorCode> = {
  ENOENT: 'not_found',
  EISDIR: 'is_a_directory',
  ENOTDIR: 'not_a_directory',
  ERR_FS_FILE_TOO_LARGE: 'too_large',
};

/** A filesystem error caused by the agent's path or file: reported to the agent, not thrown. */
function isFsError(err: unknown): err is NodeJS.ErrnoException & { code: string } {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return typeof code === 'string' && (/^E[A-Z]+$/.test(code) || code.startsWith('ERR_FS_'));
}

/**
 * `src/x.py: no such file or directory` from Node's `ENOENT: no such file or directory, stat '/tmp/…/src/x.py'`:
 * the agent sees paths in the repository, never the sandbox's host path.
 */
function fsErrorMessage(err: NodeJS.ErrnoException & { code: string }, root: string): string {
  if (!err.path) return err.message;
  const what = /^E[A-Z]+: (.*?), \w+ '/.exec(err.message)?.[1] ?? err.code;
  // A rootless overlay's files are opened through its keeper's /proc/<pid>/root; `root` is the path inside.
  const inTree = err.path.replace(/^\/proc\/\d+\/root(?=\/)/, '');
  return `${path.relative(root, inTree) || '.'}: ${what}`;
}

/** Seconds as a person writes them: `2s`, `1.5s`, not `1.9983451459999997s`. */
function formatSec(sec: number): string {
  return `${Number(sec.toFixed(sec < 1 ? 2 : 1))}s`;
}

/** mulberry32: small, seedable, good enough for choosing tasks. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class ActionFailure extends Error {
  constructor(
    readonly code: ActionErrorCode,
    message: string,
  ) {
    super(message);
  }
}

type Outcome = Partial<Omit<Observation, 'stepIndex' | 'stepsLeft' | 'diffStat' | 'kind'>> & {
  terminated?: boolean;
  info?: Info;
};

/** Where `needle` (non-empty) starts, overlaps included: "aa" is at 0 and at 1 in "aaa", so not unique there. */
function occurrences(haystack: string, needle: string): number {
  let count = 0;
  for (let i = haystack.indexOf(needle); i !== -1; i = haystack.indexOf(needle, i + 1)) count++;
  return count;
}

export class CodingEnv implements Env<unknown, Observation> {
  private tasks?: Task[];
  private rng = seededRandom(Date.now());
  private sandbox?: Sandbox;
  private task?: Task;
  private stepIndex = 0;
  private done = false;
  private closed = false;
  private startedAt = 0;
  private invalidActions = 0;
  private lastDiffStat: DiffStat = EMPTY_STAT;
  private readonly maxSteps: number;
  private readonly variant: Variant;
  /** Φ of the current state for shaping. */
  private potential = 0;
  private usage: Usage | undefined;
  /** The open `episode` span, from reset to the step that ends the episode (or close). */
  private episodeSpan?: { span: Span; tracing: Tracing };

  constructor(private readonly opts: CodingEnvOptions = {}) {
    const checked = numericOptions.safeParse(opts);
    if (!checked.success) {
      const issue = checked.error.issues[0]!;
      throw new Error(`CodingEnv option ${issue.path.join('.')}: ${issue.message}`);
    }
    this.tasks = opts.tasks;
    this.maxSteps = opts.maxSteps ?? 50;
    this.variant = resolveVariant(opts.reward ?? 'swebench');
  }

  private elapsedSec(): number {
    return (performance.now() - this.startedAt) / 1000;
  }

  private budgetSec(): number {
    return this.opts.wallClockSec ?? this.task!.timeouts.episode_sec;
  }

  /** Seconds left of the episode's wall-clock budget: no command may run past it. */
  private remainingSec(): number {
    return Math.max(1, this.budgetSec() - this.elapsedSec());
  }

  /** Where spans about the running episode go (the policy's thinking, say); undefined without a tracer. */
  get episodeTracing(): Tracing | undefined {
    return this.episodeSpan?.tracing;
  }

  get currentTask(): Task | undefined {
    return this.task;
  }

  private async taskList(): Promise<Task[]> {
    if (this.tasks) return this.tasks;
    if (!this.opts.dataset) throw new InfraError('CodingEnv needs `dataset` or `tasks`');
    const loaded = await loadDataset(this.opts.dataset, this.opts.loadOptions);
    if (loaded.tasks.length === 0) {
      const why = loaded.errors.map((e) => `line ${e.line} ${e.field}: ${e.reason}`).join('; ');
      throw new InfraError(`dataset ${this.opts.dataset} has no loadable task${why ? `: ${why}` : ''}`);
    }
    this.tasks = loaded.tasks;
    return this.tasks;
  }

  private async pickTask(wanted: unknown): Promise<Task> {
    const tasks = await this.taskList();
    const id = typeof wanted === 'string' ? wanted : this.opts.task;
    if (id) {
      const task = tasks.find((t) => t.instance_id === id);
      if (!task) throw new InfraError(`task "${id}" is not in the dataset`);
      return task;
    }
    return tasks[Math.floor(this.rng() * tasks.length)]!;
  }

  async reset(resetOpts: ResetOptions = {}) {
    this.closed = false;
    this.endEpisodeSpan();
    if (!this.opts.tracer) return this.startEpisode(resetOpts);
    const root = new Tracing(this.opts.tracer).start('episode', {
      ...this.opts.traceAttributes,
      ...attributes({ 'repogym.seed': resetOpts.seed }),
    });
    try {
      const started = await this.startEpisode(resetOpts, root);
      this.episodeSpan = root;
      return started;
    } catch (err) {
      failSpan(root.span, err);
      root.span.end();
      throw err;
    }
  }

  private async startEpisode(resetOpts: ResetOptions, root?: { span: Span; tracing: Tracing }) {
    if (resetOpts.seed !== undefined) this.rng = seededRandom(resetOpts.seed);
    await this.disposeSandbox();
    const started = performance.now();
    const task = await this.pickTask(resetOpts.options?.task);
    root?.span.setAttribute('repogym.task_id', task.instance_id);
    const makeSandbox = this.opts.sandbox ?? defaultSandbox;
    try {
      this.sandbox = await inSpan(root?.tracing, 'sandbox.create', {}, () => makeSandbox(task));
    } catch (err) {
      throw new InfraError(`sandbox for ${task.instance_id} failed: ${(err as Error).message}`);
    }
    root?.span.setAttributes({
      'repogym.sandbox.layer': this.sandbox.layer,
      'repogym.sandbox.isolation': this.sandbox.isolation,
      'repogym.max_steps': this.maxSteps,
    });
    if (task.setup_cmd) {
      const setup = await tracedSandbox(this.sandbox, root?.tracing).exec(task.setup_cmd, {
        timeoutSec: task.timeouts.test_sec,
      });
      if (setup.exitCode !== 0) {
        await this.disposeSandbox();
        throw new InfraError(`setup_cmd failed for ${task.instance_id}: ${setup.output.slice(-2000)}`);
      }
    }
    this.task = task;
    this.stepIndex = 0;
    this.done = false;
    this.invalidActions = 0;
    this.potential = 0;
    this.usage = undefined;
    this.lastDiffStat = EMPTY_STAT;
    this.startedAt = performance.now();
    const observation: Observation = {
      kind: 'reset',
      output: (this.opts.briefing ?? briefing)(task),
      exitCode: null,
      timedOut: false,
      telemetry: { ...NO_TELEMETRY, wallMs: Math.round(performance.now() - started) },
      diffStat: EMPTY_STAT,
      stepIndex: 0,
      stepsLeft: this.maxSteps,
    };
    const info: Info = {
      instance_id: task.instance_id,
      language: task.language,
      test_cmd: task.test_cmd,
      sandbox_layer: this.sandbox.layer,
      max_steps: this.maxSteps,
      // Tier-1 context for policies: the repository's own overview (AGENTS.md, CLAUDE.md or README).
      overview: await projectOverview(this.sandbox),
    };
    return { observation, info };
  }

  async step(input: unknown): Promise<StepResult<Observation>> {
    if (this.closed) throw new EnvStateError('step() called after close(); call reset() first');
    if (!this.sandbox || !this.task) throw new EnvStateError('step() called before reset()');
    if (this.done) throw new EnvStateError('step() called after the episode ended; call reset() first');
    const root = this.episodeSpan;
    if (!root) return this.takeStep(input);
    const { span, tracing } = root.tracing.start('step', { 'repogym.step.index': this.stepIndex + 1 });
    let result: StepResult<Observation>;
    try {
      result = await this.takeStep(input, tracing);
    } catch (err) {
      failSpan(span, err);
      span.end();
      throw err;
    }
    span.updateName(`step ${result.observation.kind}`);
    span.setAttributes(stepAttributes(result));
    const error = result.observation.error;
    if (error) span.setStatus({ code: SpanStatusCode.ERROR, message: error.code });
    span.end();
    if (this.done) this.endEpisodeSpan(result);
    return result;
  }

  private async takeStep(input: unknown, tracing?: Tracing): Promise<StepResult<Observation>> {
    this.stepIndex++;
    const stepStarted = performance.now();
    const parsed = parseAction(input);
    let outcome: Outcome;
    let kind =
      typeof (input as { kind?: unknown })?.kind === 'string' ? (input as { kind: string }).kind : 'invalid';
    if (!parsed.ok) {
      outcome = { error: { code: 'invalid_action', message: parsed.message } };
    } else {
      kind = parsed.action.kind;
      try {
        outcome = await this.dispatch(parsed.action, tracing);
      } catch (err) {
        if (err instanceof ActionFailure) outcome = { error: { code: err.code, message: err.message } };
        else if (err instanceof SandboxPathError)
          outcome = { error: { code: 'path_escape', message: err.message } };
        else if (isFsError(err)) {
          const message = fsErrorMessage(err, this.sandbox!.root);
          outcome = { error: { code: FS_ERROR_CODES[err.code] ?? 'io_error', message } };
        } else throw err;
      }
    }
    if (outcome.error) this.invalidActions++;
    if (parsed.ok && !READ_ONLY_ACTIONS.has(kind) && !outcome.terminated) {
      const current = await this.currentPatch(tracing);
      if ('patch' in current) this.lastDiffStat = diffStat(current.patch);
      else outcome.output = `${outcome.output ?? ''}\n[diff unavailable: ${current.error}]`;
    }
    const terminated = outcome.terminated ?? false;
    const elapsedSec = this.elapsedSec();
    const truncated = !terminated && (this.stepIndex >= this.maxSteps || elapsedSec >= this.budgetSec());
    this.done = terminated || truncated;
    const observation: Observation = {
      kind,
      output: capText(outcome.output ?? '', this.opts.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES),
      exitCode: outcome.exitCode ?? null,
      timedOut: outcome.timedOut ?? false,
      ...(outcome.tests ? { tests: outcome.tests } : {}),
      telemetry: outcome.telemetry ?? {
        ...NO_TELEMETRY,
        wallMs: Math.round(performance.now() - stepStarted),
      },
      diffStat: this.lastDiffStat,
      stepIndex: this.stepIndex,
      stepsLeft: Math.max(0, this.maxSteps - this.stepIndex),
      ...(outcome.error ? { error: outcome.error } : {}),
    };
    const info: Info = {
      ...outcome.info,
      invalid_actions: this.invalidActions,
      elapsed_sec: elapsedSec,
      // The policy's spending so far (it reports before each step), for per-step cost logs.
      ...(this.usage ? { usage: this.usage } : {}),
    };
    let reward = 0;
    if (this.opts.shaping) {
      const ranTests = outcome.tests !== undefined && (kind === 'run_tests' || kind === 'evaluate');
      const next = this.done ? 0 : ranTests ? passShare(outcome.tests!) : this.potential;
      const bonus = this.opts.shaping.gamma * next - this.potential;
      info.shaping = { potential: next, bonus };
      this.potential = next;
      reward += bonus;
    }
    // A truncated episode is scored too: its signals have no grade, which gated variants score 0.
    if (this.done) {
      const signals: EpisodeSignals = {
        grade: outcome.info?.grade as Grade | undefined,
        submitted: kind === 'submit',
        escalated: kind === 'escalate',
        steps: this.stepIndex,
        invalidActions: this.invalidActions,
        wallMs: Math.round(elapsedSec * 1000),
        task: taskFacts(this.task!),
        budgets: this.budgets(),
        ...(this.usage ? { usage: this.usage } : {}),
      };
      if (
        this.opts.adversary &&
        signals.submitted &&
        signals.grade &&
        signals.grade.failureClass !== 'infra'
      ) {
        const verdict = await this.attack(signals.grade, tracing);
        if (verdict) signals.adversarial = verdict;
      }
      const scored = score(this.variant, signals);
      reward += scored.value;
      info.signals = signals;
      info.reward_details = scored;
    }
    if (this.done) info.episode = { steps: this.stepIndex, terminated, truncated };
    return { observation, reward, terminated, truncated, info };
  }

  private async dispatch(action: Action, tracing: Tracing | undefined): Promise<Outcome> {
    const sandbox = tracedSandbox(this.sandbox!, tracing);
    const task = this.task!;
    switch (action.kind) {
      case 'read_file': {
        const content = await sandbox.readFile(action.path);
        const { startLine = 1, endLine } = action;
        if (action.startLine === undefined && endLine === undefined) return { output: content };
        if (endLine !== undefined && endLine < startLine)
          throw new ActionFailure('invalid_action', `endLine ${endLine} is before startLine ${startLine}`);
        const lines = content.split('\n');
        // A final newline ends the last line; it does not start another.
        const count = lines.length - (content === '' || content.endsWith('\n') ? 1 : 0);
        if (startLine > count) {
          const has = `${count} line${count === 1 ? '' : 's'}`;
          throw new ActionFailure(
            'invalid_action',
            `startLine ${startLine} is past the end: ${action.path} has ${has}`,
          );
        }
        return { output: lines.slice(startLine - 1, endLine).join('\n') };
      }
      case 'write_file':
        await sandbox.writeFile(action.path, action.content);
        return { output: `wrote ${Buffer.byteLength(action.content)} bytes to ${action.path}` };
      case 'str_replace': {
        const content = await sandbox.readFile(action.path);
        const count = occurrences(content, action.old);
        if (count === 0) throw new ActionFailure('no_match', `old text not found in ${action.path}`);
        if (count > 1) {
          throw new ActionFailure(
            'multiple_matches',
            `old text occurs ${count} times in ${action.path}; make it unique`,
          );
        }
        const index = content.indexOf(action.old);
        await sandbox.writeFile(
          action.path,
          content.slice(0, index) + action.new + content.slice(index + action.old.length),
        );
        const line = content.slice(0, index).split('\n').length;
        return { output: `replaced 1 occurrence in ${action.path} at line ${line}` };
      }
      case 'apply_patch': {
        const check = await sandbox.exec(
          ['git', 'apply', '--recount', '--whitespace=nowarn', '--check', '-'],
          {
            stdin: action.diff,
          },
        );
        if (check.exitCode !== 0)
          throw new ActionFailure('patch_failed', check.output.trim() || 'patch does not apply');
        const applied = await sandbox.exec(['git', 'apply', '--recount', '--whitespace=nowarn', '-'], {
          stdin: action.diff,
        });
        if (applied.exitCode !== 0) throw new ActionFailure('patch_failed', applied.output.trim());
        return { output: 'patch applied', exitCode: 0 };
      }
      case 'list_dir': {
        const dir = await sandbox.resolve(action.path);
        if (!(await stat(dir)).isDirectory())
          throw new ActionFailure('not_a_directory', `${action.path} is not a directory`);
        const entries = await readdir(dir, { withFileTypes: true });
        const names = entries
          .filter((e) => e.name !== '.git')
          .map((e) => (e.isDirectory() ? `${e.name}/` : e.name))
          .sort();
        return { output: names.join('\n') };
      }
      case 'read_doc': {
        const found = await readDoc(sandbox, task, action.topic);
        return { output: found.output, info: { read_doc: found.info } };
      }
      case 'search': {
        const where = action.path ?? '.';
        await sandbox.resolve(where);
        // -D skip: a FIFO, socket or device named (or met) would block grep until the timeout.
        const result = await sandbox.exec([
          'grep',
          '-rnIE',
          '-D',
          'skip',
          '--exclude-dir=.git',
          '--',
          action.pattern,
          where,
        ]);
        if (result.exitCode === 2)
          throw new ActionFailure('invalid_action', `search failed: ${result.output.trim()}`);
        return {
          output: result.exitCode === 1 ? 'no matches' : result.output,
          exitCode: result.exitCode,
          timedOut: result.timedOut,
        };
      }
      case 'run': {
        const timeoutSec = Math.min(action.timeoutSec ?? task.timeouts.command_sec, this.remainingSec());
        const result = await sandbox.exec(action.command, {
          timeoutSec,
          maxOutputBytes: this.opts.maxOutputBytes,
        });
        return {
          output: result.timedOut
            ? `${result.output}\n[timed out after ${formatSec(timeoutSec)}]`
            : result.output,
          exitCode: result.exitCode,
          timedOut: result.timedOut,
          telemetry: result.telemetry,
        };
      }
      case 'run_tests': {
        const run = await runTaskTests(sandbox, task, {
          selection: action.tests,
          timeoutSec: Math.min(action.timeoutSec ?? Infinity, this.remainingSec()),
        });
        const counts = countStatuses(run.tests);
        return {
          output: `${run.output}\n[tests: ${counts}]${run.reportError ? `\n[${run.reportError}]` : ''}`,
          exitCode: run.exitCode,
          timedOut: run.timedOut,
          tests: run.tests,
          telemetry: run.telemetry,
        };
      }
      case 'evaluate':
        return this.evaluate(tracing);
      case 'submit': {
        const { patch, result } = await this.gradeCurrent(tracing);
        return {
          output: `submitted: ${result.status}${result.reason ? ` (${result.reason})` : ''}`,
          exitCode: result.exitCode,
          telemetry: result.telemetry ?? NO_TELEMETRY,
          terminated: true,
          info: { grade: result, patch, pr_message: action.message ?? '' },
        };
      }
      case 'escalate': {
        const { patch, result } = await this.gradeCurrent(tracing);
        return {
          output: 'escalated: progress report recorded',
          terminated: true,
          info: { grade: result, patch, report: action.report },
        };
      }
    }
  }

  /** The agent's diff; git can fail on what the agent made (e.g. a multi-GB file), which is its doing. */
  private async currentPatch(tracing?: Tracing): Promise<{ patch: string } | { error: string }> {
    try {
      return { patch: await tracedSandbox(this.sandbox!, tracing).diff() };
    } catch (err) {
      if (!(err instanceof GitError)) throw err;
      return { error: err.message.split('\n')[0]!.slice(0, 500) };
    }
  }

  private async gradeCurrent(tracing: Tracing | undefined): Promise<{ patch: string; result: Grade }> {
    const task = this.task!;
    const current = await this.currentPatch(tracing);
    if ('error' in current) {
      const reason = `the diff could not be computed: ${current.error}`;
      return {
        patch: '',
        result: { ...notRunGrade(task, ''), status: 'patch_failed', failureClass: 'agent', reason },
      };
    }
    return {
      patch: current.patch,
      result: await grade(task, current.patch, () => (this.opts.sandbox ?? defaultSandbox)(task), tracing),
    };
  }

  /**
   * Reward preview from visible signals only: the visible tests, and every component that needs no hidden
   * test (quality, security, performance, footprint without the gold size, cost, hack flags).
   */
  private async evaluate(tracing: Tracing | undefined): Promise<Outcome> {
    const task = this.task!;
    const run = await runTaskTests(tracedSandbox(this.sandbox!, tracing), task, {
      timeoutSec: this.remainingSec(),
    });
    const byName = new Map(run.tests.map((t) => [t.name, t.status]));
    const visibleP2P = task.PASS_TO_PASS.filter((name) => byName.has(name));
    const p2pPassing = visibleP2P.filter((name) => byName.get(name) === 'passed').length;
    const failing = run.tests.filter((t) => t.status === 'failed' || t.status === 'error').map((t) => t.name);
    const current = await this.currentPatch(tracing);
    const patch = 'patch' in current ? current.patch : '';
    const { analysis, benchmark } = await this.measureAgainstBase(task, patch, tracing);
    const signals: EpisodeSignals = {
      grade: {
        ...notRunGrade(task, patch),
        telemetry: run.telemetry,
        analysis,
        ...(benchmark ? { benchmark } : {}),
      },
      submitted: false,
      escalated: false,
      steps: this.stepIndex,
      invalidActions: this.invalidActions,
      wallMs: Math.round(this.elapsedSec() * 1000),
      // The gold patch's size and the hidden test files' names are not visible.
      task: { ...taskFacts(task), goldStat: null, hiddenTestFiles: [] },
      budgets: this.budgets(),
    };
    const components = Object.fromEntries(
      PREVIEW_COMPONENTS.map((name) => [name, COMPONENTS[name](signals)] as const),
    );
    const flags = detectHacks(signals.grade, []);
    const preview = {
      visible_tests: run.tests.length,
      visible_failing: failing,
      pass_to_pass_visible: visibleP2P.length,
      pass_to_pass_passing: p2pPassing,
      suite_ran: run.tests.length > 0,
      exit_code: run.exitCode,
      diff: this.lastDiffStat,
      // Not the final reward: FAIL_TO_PASS tests are hidden until grading.
      preview_reward:
        run.tests.length > 0 && failing.length === 0 && p2pPassing === visibleP2P.length ? 1 : 0,
      components: Object.fromEntries(Object.entries(components).map(([k, v]) => [k, v.value])),
      component_details: Object.fromEntries(Object.entries(components).map(([k, v]) => [k, v.details])),
      hack_flags: flags.flags,
      hack_evidence: flags.evidence,
    };
    const lines = [
      `visible tests: ${countStatuses(run.tests)}`,
      `PASS_TO_PASS visible: ${p2pPassing}/${visibleP2P.length} passing`,
      failing.length ? `failing: ${failing.slice(0, 20).join(', ')}` : 'no visible test failing',
      `diff: ${this.lastDiffStat.files} files, +${this.lastDiffStat.added} -${this.lastDiffStat.removed}`,
      ...Object.entries(components).map(
        ([name, c]) => `${name}: ${c.value.toFixed(3)} ${briefDetails(c.details)}`,
      ),
      flags.flags.length
        ? `hack flags (gated variants score 0): ${flags.flags.join(', ')}`
        : 'hack flags: none',
      `preview reward (visible signals only): ${preview.preview_reward}`,
    ];
    return {
      output: lines.join('\n'),
      exitCode: run.exitCode,
      tests: run.tests,
      telemetry: run.telemetry,
      info: { evaluation: preview },
    };
  }

  /** Analysis and benchmark of the agent's patch against fresh checkouts of the base commit. */
  private async measureAgainstBase(task: Task, patch: string, tracing: Tracing | undefined) {
    const makeSandbox = () => (this.opts.sandbox ?? defaultSandbox)(task);
    const analysis = await inSpan(tracing, 'evaluate.analysis', {}, async (child) => {
      const base = await tracedFactory(makeSandbox, child)();
      try {
        return await analyzePatch(this.sandbox!, patch, (file) => base.readFile(file).catch(() => null));
      } finally {
        await base.dispose();
      }
    });
    const benchmark = task.benchmark_cmd
      ? await inSpan(tracing, 'evaluate.benchmark', {}, (child) =>
          measureBenchmark(task, {
            base: treeFactory(task, tracedFactory(makeSandbox, child)),
            patched: treeFactory(task, tracedFactory(makeSandbox, child), patch),
          }),
        ).catch((err: Error) => ({
          command: task.benchmark_cmd!,
          baseMs: [],
          patchedMs: [],
          error: err.message,
        }))
      : undefined;
    return { analysis, benchmark };
  }

  /** The adversary's verdict on the submitted patch; its own failure is recorded, never thrown. */
  private async attack(grade: Grade, tracing: Tracing | undefined): Promise<AdversarialSignals | null> {
    const task = this.task!;
    const started = performance.now();
    const makeSandbox = () => (this.opts.sandbox ?? defaultSandbox)(task);
    try {
      return await inSpan(tracing, 'adversary', {}, (child) =>
        this.opts.adversary!({
          task,
          patch: grade.patch,
          resolved: grade.resolved,
          makeSandbox: treeFactory(task, tracedFactory(makeSandbox, child)),
        }),
      );
    } catch (err) {
      return {
        adversary: 'unknown',
        reference: task.patch ? 'gold' : 'none',
        countUnvalidated: false,
        tests: [],
        files: {},
        tried: 0,
        wallMs: Math.round(performance.now() - started),
        error: (err as Error).message,
      };
    }
  }

  private budgets() {
    const { usd, tokens } = this.opts.budgets ?? {};
    return { maxSteps: this.maxSteps, wallSec: this.budgetSec(), usd: usd ?? null, tokens: tokens ?? null };
  }

  /** Tokens and USD the policy has spent this episode, for the `cost` component (the env cannot see them). */
  recordUsage(usage: Usage): void {
    this.usage = { ...usage };
  }

  private async disposeSandbox(): Promise<void> {
    const sandbox = this.sandbox;
    this.sandbox = undefined;
    await sandbox?.dispose();
  }

  /** Ends the open `episode` span, with the outcome when the episode ended by a step. */
  private endEpisodeSpan(last?: StepResult<Observation>): void {
    const root = this.episodeSpan;
    if (!root) return;
    this.episodeSpan = undefined;
    if (last) {
      const grade = last.info.grade as Grade | undefined;
      root.span.setAttributes(
        attributes({
          'repogym.steps': last.observation.stepIndex,
          'repogym.invalid_actions': this.invalidActions,
          'repogym.terminated': last.terminated,
          'repogym.truncated': last.truncated,
          'repogym.grade.status': grade?.status,
          'repogym.resolved': grade?.resolved,
          'repogym.reward': last.reward,
        }),
      );
    }
    root.span.end();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.done = true;
    this.endEpisodeSpan();
    await this.disposeSandbox();
  }
}

/** What scoring needs to know about the task, recorded with the episode. */
export function taskFacts(task: Task): TaskFacts {
  const goldSource = task.patch
    .split(/^(?=diff --git )/m)
    .filter((section) => !filesOf(section).some((f) => isTestPath(f)))
    .join('');
  return {
    goldStat: task.patch ? diffStat(goldSource) : null,
    hiddenTestFiles: filesOf(task.test_patch),
    memoryMb: task.constraints.memory_mb ?? null,
    benchmarkCmd: task.benchmark_cmd ?? null,
  };
}

/** Components evaluate can preview: everything but those that need the hidden tests. */
const PREVIEW_COMPONENTS: ComponentName[] = ['quality', 'security', 'performance', 'footprint', 'cost'];

function briefDetails(details: Record<string, unknown> | undefined): string {
  return details ? JSON.stringify(details).slice(0, 300) : '';
}

function stepAttributes({
  observation: o,
  reward,
  terminated,
  truncated,
}: StepResult<Observation>): Attributes {
  return {
    ...attributes({
      'repogym.step.index': o.stepIndex,
      'repogym.action.kind': o.kind,
      'repogym.exit_code': o.exitCode,
      'repogym.timed_out': o.timedOut,
      'repogym.output_bytes': Buffer.byteLength(o.output),
      'repogym.error_code': o.error?.code,
      'repogym.reward': reward,
      'repogym.terminated': terminated,
      'repogym.truncated': truncated,
      'repogym.diff.files': o.diffStat.files,
      'repogym.diff.added': o.diffStat.added,
      'repogym.diff.removed': o.diffStat.removed,
    }),
    ...telemetryAttributes(o.telemetry),
    ...(o.tests ? testAttributes(o.tests) : {}),
  };
}

function passShare(tests: { status: string }[]): number {
  return tests.length ? tests.filter((t) => t.status === 'passed').length / tests.length : 0;
}

export function countStatuses(tests: { status: string }[]): string {
  const counts = new Map<string, number>();
  for (const t of tests) counts.set(t.status, (counts.get(t.status) ?? 0) + 1);
  return tests.length === 0 ? 'none parsed' : [...counts].map(([s, n]) => `${n} ${s}`).join(', ');
}

function briefing(task: Task): string {
  return [
    `# Task ${task.instance_id}`,
    '',
    task.problem_statement.trim(),
    '',
    `Repository language: ${task.language}. Visible tests: \`${task.test_cmd}\` (action run_tests).`,
    'Edit the code so the issue is fixed, then submit. Hidden tests decide whether it is resolved.',
  ].join('\n');
}

function defaultSandbox(task: Task): Promise<Sandbox> {
  return createLocalSandbox({
    repo: task.repo,
    commit: task.base_commit,
    defaultTimeoutSec: task.timeouts.command_sec,
  });
}
