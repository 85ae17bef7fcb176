// The template repair policy: no LLM, the disciplined engineer's loop. Run the tests, localise from the
// failures, try one candidate change, run the tests, keep it if it helps and revert it if not, and submit when
// the visible tests pass — or escalate with a report of what was tried when the budget or the ideas run out.
import { readFileSync } from 'node:fs';
import { isTestPath } from '../../env/diff.ts';
import type { Observation, TestResult } from '../../env/types.ts';
import { languageOf, mutantsOf, type Mutant } from '../../datasets/synth/mutate.ts';
import type { EpisodeContext, Policy } from '../types.ts';
import { combine, probeSuspicion, rankFiles, traceSuspicion, type Suspicion } from './localise.ts';
import { repairStrategy, type RepairStrategy } from './strategies.ts';

export interface RepairOptions {
  strategy: string;
  /** Source files read and mutated at most, most suspicious first. */
  maxFiles?: number;
  /** Run the spectrum probe (Ochiai) before repairing; off, only stack traces localise. */
  probe?: boolean;
}

type Action = Record<string, unknown>;
type Episode = AsyncGenerator<Action, void, Observation>;

interface Candidate extends Mutant {
  file: string;
  score: number;
}

interface Attempt {
  file: string;
  line: number;
  kind: string;
  description: string;
  result: 'fixed' | 'improved' | 'no_better' | 'worse';
  failing: number;
}

const PROBES = {
  python: readFileSync(new URL('./probe_py.py', import.meta.url), 'utf8'),
  javascript: readFileSync(new URL('./probe_js.mjs', import.meta.url), 'utf8'),
};

function shellQuote(arg: string): string {
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** The probe as one shell command (the script goes in on stdin), or undefined for languages without one. */
export function probeCommand(language: string, testCmd: string): string | undefined {
  if (language === 'python') return `python3 - <<'REPOGYM_PROBE_EOF'\n${PROBES.python}\nREPOGYM_PROBE_EOF`;
  if (language !== 'javascript') return undefined;
  // Paths named in the test command (e.g. `node --test spec/`) say where the tests are.
  const paths = testCmd.split(/\s+/).filter((t) => t && !t.startsWith('-') && !t.includes('='));
  const args = paths.slice(1).map(shellQuote).join(' ');
  return `node --input-type=module - ${args} <<'REPOGYM_PROBE_EOF'\n${PROBES.javascript}\nREPOGYM_PROBE_EOF`;
}

const failed = (t: TestResult) => t.status === 'failed' || t.status === 'error';

function failingSet(obs: Observation): Set<string> | undefined {
  if (!obs.tests || obs.tests.length === 0) return undefined;
  return new Set(obs.tests.filter(failed).map((t) => t.name));
}

/** Candidates by suspiciousness band, then the strategy's family order, then exact score and position. */
export function orderCandidates(candidates: Candidate[], strategy: RepairStrategy): Candidate[] {
  const family = (kind: string) => {
    const i = strategy.families.indexOf(kind as never);
    return i < 0 ? strategy.families.length : i;
  };
  const band = (score: number) => Math.floor(score * 4);
  return [...candidates].sort(
    (a, b) =>
      band(b.score) - band(a.score) ||
      family(a.kind) - family(b.kind) ||
      b.score - a.score ||
      (a.file < b.file ? -1 : a.file > b.file ? 1 : 0) ||
      a.line - b.line ||
      (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
  );
}

export function repairPolicy(opts: RepairOptions): Policy {
  const strategy = repairStrategy(opts.strategy);
  const maxFiles = opts.maxFiles ?? 4;
  let episode: Episode | undefined;
  const attempts: Attempt[] = [];
  let stopReason = '';
  let localisation: { file: string; line: number; score: number }[] = [];

  async function* run(ctx: EpisodeContext): Episode {
    let obs = yield { kind: 'run_tests' };
    const baselineOutput = obs.output;
    let failing = failingSet(obs);
    if (!failing) {
      stopReason = 'no_test_report';
      yield {
        kind: 'escalate',
        report: 'The visible test command reported no tests, so there is nothing to localise from.',
      };
      return;
    }
    if (failing.size === 0) {
      stopReason = 'nothing_failing';
      yield {
        kind: 'escalate',
        report:
          'Every visible test passes: without a failing test this policy cannot tell a fix from a change.',
      };
      return;
    }
    let passing = new Set(obs.tests!.filter((t) => t.status === 'passed').map((t) => t.name));
    // A candidate can make the code loop forever: give each later run a generous multiple of this one.
    const testTimeoutSec = Math.ceil(5 + (4 * obs.telemetry.wallMs) / 1000);

    obs = yield { kind: 'run', command: 'git ls-files' };
    const repoFiles = obs.output
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean);
    const sources = repoFiles.filter((f) => languageOf(f) && !isTestPath(f)).sort();

    let spectrum: Suspicion = new Map();
    const probe = opts.probe === false ? undefined : probeCommand(ctx.language, ctx.testCmd);
    if (probe) {
      obs = yield { kind: 'run', command: probe, timeoutSec: 300 };
      spectrum = probeSuspicion(obs.output, repoFiles);
    }
    const suspicion = combine(spectrum, traceSuspicion(baselineOutput, repoFiles));
    localisation = [...suspicion]
      .flatMap(([file, lines]) => [...lines].map(([line, score]) => ({ file, line, score })))
      .sort((a, b) => b.score - a.score)
      .slice(0, 10);
    const ranked = rankFiles(suspicion).filter((f) => sources.includes(f));
    const files = [...ranked, ...sources.filter((f) => !ranked.includes(f))].slice(0, maxFiles);

    const current = new Map<string, string>();
    for (const file of files) {
      obs = yield { kind: 'read_file', path: file };
      if (!obs.error) current.set(file, obs.output);
    }

    const tried = new Set<string>();
    const candidatesOf = async (file: string): Promise<Candidate[]> => {
      const mutants = await mutantsOf(file, current.get(file)!, { kinds: strategy.families }).catch(() => []);
      return mutants.map((m) => ({ ...m, file, score: suspicion.get(file)?.get(m.line) ?? 0 }));
    };
    let queue = orderCandidates((await Promise.all([...current.keys()].map(candidatesOf))).flat(), strategy);

    let dirty: string | undefined;
    while (queue.length > 0) {
      const candidate = queue.shift()!;
      if (tried.has(candidate.source)) continue;
      const switching = dirty !== undefined && dirty !== candidate.file;
      // This try (write, test), a revert if it fails, and the final submit or escalate must all fit.
      if (obs.stepsLeft < 2 + (switching ? 1 : 0) + 2) {
        stopReason = 'step_budget';
        break;
      }
      tried.add(candidate.source);
      // Restore the file the last rejected candidate changed (this try sets `dirty` again below).
      if (switching) obs = yield { kind: 'write_file', path: dirty!, content: current.get(dirty!)! };
      obs = yield { kind: 'write_file', path: candidate.file, content: candidate.source };
      obs = yield { kind: 'run_tests', timeoutSec: testTimeoutSec };
      const now = failingSet(obs);
      const regressed = !now || [...passing].some((t) => now.has(t) || !obs.tests!.some((r) => r.name === t));
      const result: Attempt['result'] =
        now && !regressed && now.size === 0
          ? 'fixed'
          : now && !regressed && now.size < failing.size
            ? 'improved'
            : regressed
              ? 'worse'
              : 'no_better';
      attempts.push({
        file: candidate.file,
        line: candidate.line,
        kind: candidate.kind,
        description: candidate.description,
        result,
        failing: now?.size ?? -1,
      });
      if (result === 'fixed') {
        stopReason = 'fixed';
        yield {
          kind: 'submit',
          message: `Fix ${candidate.file}:${candidate.line}: ${candidate.description} (${candidate.kind}, strategy ${strategy.name}). All visible tests pass.`,
        };
        return;
      }
      if (result === 'improved') {
        // Keep it and look again from the new code: a bug may take more than one change.
        current.set(candidate.file, candidate.source);
        failing = now!;
        passing = new Set(obs.tests!.filter((t) => t.status === 'passed').map((t) => t.name));
        dirty = undefined;
        queue = orderCandidates(
          [...queue.filter((c) => c.file !== candidate.file), ...(await candidatesOf(candidate.file))],
          strategy,
        );
      } else {
        dirty = candidate.file;
      }
    }
    if (!stopReason) stopReason = 'no_candidates_left';
    if (dirty && obs.stepsLeft >= 2) {
      obs = yield { kind: 'write_file', path: dirty, content: current.get(dirty)! };
    }
    yield { kind: 'escalate', report: report(strategy, attempts, failing, localisation, stopReason) };
  }

  return {
    name: `repair:${strategy.name}`,
    async begin(ctx) {
      episode = run(ctx);
      attempts.length = 0;
      stopReason = '';
      localisation = [];
    },
    async act(observation, ctx) {
      if (!episode) episode = run(ctx);
      const next = await episode.next(observation);
      // The env ends the episode on submit/escalate; anything asked after that is answered with escalate.
      return next.done ? { kind: 'escalate', report: 'repair policy finished' } : next.value;
    },
    info: () => ({
      strategy: strategy.name,
      stop_reason: stopReason,
      attempts: attempts.length,
      kept: attempts.filter((a) => a.result === 'improved').length,
      localisation,
    }),
  };
}

function report(
  strategy: RepairStrategy,
  attempts: Attempt[],
  failing: Set<string>,
  localisation: { file: string; line: number; score: number }[],
  stopReason: string,
): string {
  const lines = [
    `Template repair (strategy ${strategy.name}) stopped: ${stopReason.replace(/_/g, ' ')}.`,
    `Still failing (${failing.size}): ${[...failing].slice(0, 5).join(', ')}${failing.size > 5 ? ', …' : ''}`,
    `Most suspicious lines: ${
      localisation
        .slice(0, 5)
        .map((l) => `${l.file}:${l.line} (${l.score.toFixed(2)})`)
        .join(', ') || 'none found'
    }`,
    `Tried ${attempts.length} candidate change(s); kept ${attempts.filter((a) => a.result === 'improved').length}:`,
    ...attempts.map(
      (a) => `- ${a.file}:${a.line} ${a.kind}: ${a.description} → ${a.result.replace('_', ' ')}`,
    ),
  ];
  return lines.join('\n');
}
