// The reward components. Each is a pure function of recorded signals → {value in [0, 1], details}; 1 is best.
// A signal that was not recorded scores neutral (1) with `measured: false` in its details, never a guess.
import type { Finding } from '../env/analysis/index.ts';
import { isTestPath, splitDiff } from '../env/diff.ts';
import type { EpisodeSignals, RewardComponent } from './types.ts';

export const resolved: RewardComponent = (s) => {
  const ok = s.submitted && s.grade?.resolved === true;
  return { value: ok ? 1 : 0, details: { status: s.grade?.status ?? 'not_graded', submitted: s.submitted } };
};

export const f2p: RewardComponent = (s) => ({
  value: s.grade ? s.grade.f2pFraction : 0,
  details: { passed: s.grade?.failToPass.passed.length ?? 0, failed: s.grade?.failToPass.failed.length ?? 0 },
});

export const p2p: RewardComponent = (s) => ({
  value: s.grade ? s.grade.p2pFraction : 0,
  details: { passed: s.grade?.passToPass.passed.length ?? 0, failed: s.grade?.passToPass.failed.length ?? 0 },
});

const SEVERITY_WEIGHT = { low: 0.25, medium: 0.5, high: 1 } as const;

/** Findings the patch introduced: per (file, rule), how many more there are after than before. */
export function introducedFindings(before: Finding[], after: Finding[]): Finding[] {
  const key = (f: Finding) => `${f.tool}\0${f.file}\0${f.rule}`;
  const remaining = new Map<string, number>();
  for (const f of before) remaining.set(key(f), (remaining.get(key(f)) ?? 0) + 1);
  return after.filter((f) => {
    const left = remaining.get(key(f)) ?? 0;
    if (left > 0) remaining.set(key(f), left - 1);
    return left === 0;
  });
}

const brief = (f: Finding) => `${f.file}:${f.line} ${f.tool}/${f.rule}`;

export const quality: RewardComponent = (s) => {
  const analysis = s.grade?.analysis;
  if (!analysis) return { value: 1, details: { measured: false } };
  const introduced = introducedFindings(analysis.quality.before, analysis.quality.after);
  const fixed = introducedFindings(analysis.quality.after, analysis.quality.before).length;
  return {
    value: 1 / (1 + introduced.length),
    details: { introduced: introduced.map(brief), fixed, tools: analysis.quality.tools },
  };
};

export const security: RewardComponent = (s) => {
  const analysis = s.grade?.analysis;
  if (!analysis) return { value: 1, details: { measured: false } };
  const introduced = introducedFindings(analysis.security.before, analysis.security.after);
  // Files too big to analyse could hide anything: padding a file past the limit must not pay.
  const unanalysed = analysis.errors.filter((e) => e.includes('not analysed'));
  // A leaked secret is as bad as a high finding; a new dependency is a small supply-chain risk.
  const penalty =
    introduced.reduce((sum, f) => sum + SEVERITY_WEIGHT[f.severity], 0) +
    analysis.secrets.length * SEVERITY_WEIGHT.high +
    unanalysed.length * SEVERITY_WEIGHT.medium +
    analysis.dependencies.added.length * SEVERITY_WEIGHT.low;
  return {
    value: 1 / (1 + penalty),
    details: {
      introduced: introduced.map((f) => `${brief(f)} (${f.severity})`),
      secrets: analysis.secrets.map(brief),
      dependencies_added: analysis.dependencies.added,
      unanalysed,
      penalty,
    },
  };
};

const median = (xs: number[]) => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
/** Benchmark noise below this slowdown is not penalised. */
const SLOWDOWN_TOLERANCE = 1.1;

/** Whether the grading run stayed under the task's memory ceiling (true when there is none). */
export function withinMemoryCeiling(s: EpisodeSignals): boolean {
  const ceilingMb = s.task?.memoryMb ?? null;
  const peakKb = s.grade?.telemetry?.peakRssKb ?? null;
  return ceilingMb === null || peakKb === null || peakKb <= ceilingMb * 1024;
}

export const performance: RewardComponent = (s) => {
  const ceilingMb = s.task?.memoryMb ?? null;
  const peakKb = s.grade?.telemetry?.peakRssKb ?? null;
  const bench = s.grade?.benchmark;
  const details: Record<string, unknown> = {
    memory_ceiling_mb: ceilingMb,
    peak_rss_mb: peakKb && peakKb / 1024,
  };
  let value = 1;
  if (ceilingMb !== null && peakKb === null) details.memory_measured = false;
  if (!withinMemoryCeiling(s)) value = 0;
  if (bench && !bench.error && bench.baseMs.length && bench.patchedMs.length) {
    const ratio = median(bench.patchedMs) / Math.max(1, median(bench.baseMs));
    details.benchmark_ratio = ratio;
    if (ratio > SLOWDOWN_TOLERANCE) value *= Math.min(1, SLOWDOWN_TOLERANCE / ratio);
  } else if (bench?.error) {
    details.benchmark_error = bench.error;
    // A patch that breaks the benchmark scores 0; a benchmark failing on the base says nothing about the patch.
    if (bench.failedOn === 'patched') value = 0;
    else details.benchmark_measured = false;
  }
  return { value, details };
};

/** Lines and files of the patch outside test files (test-file changes are dropped at grading anyway). */
function sourceChange(patch: string) {
  const files = splitDiff(patch).filter((f) => ![f.oldPath, f.newPath].some((p) => p && isTestPath(p)));
  let lines = 0;
  for (const f of files) {
    for (const line of f.text.split('\n')) if (/^[+-]/.test(line) && !/^(\+\+\+|---) /.test(line)) lines++;
  }
  return {
    files: files.map((f) => (f.newPath ?? f.oldPath)!),
    // A deleted file cannot be loaded by any test; it is not "unexercised".
    surviving: files.filter((f) => f.newPath !== null).map((f) => f.newPath!),
    lines,
  };
}

/** Lines changed past which a patch with no gold reference starts losing footprint score. */
const UNREFERENCED_LINE_SCALE = 40;

export const footprint: RewardComponent = (s) => {
  // Episodes recorded before task facts existed cannot be compared with the gold patch.
  if (!s.grade || !s.task) return { value: 1, details: { measured: false } };
  const change = sourceChange(s.grade.patch);
  const gold = s.task?.goldStat ?? null;
  const goldLines = gold ? gold.added + gold.removed : null;
  const lineScore =
    goldLines !== null
      ? Math.min(1, Math.max(1, goldLines) / Math.max(1, change.lines))
      : 1 / (1 + change.lines / UNREFERENCED_LINE_SCALE);
  const fileScore = gold ? Math.min(1, Math.max(1, gold.files) / Math.max(1, change.files.length)) : 1;
  const loaded = s.grade.coverage?.loadedFiles;
  const unexercised = loaded ? change.surviving.filter((f) => !loaded.includes(f)) : [];
  const exercisedFactor = change.files.length ? 1 - (0.5 * unexercised.length) / change.files.length : 1;
  return {
    value: ((lineScore + fileScore) / 2) * exercisedFactor,
    details: {
      lines: change.lines,
      files: change.files.length,
      gold_lines: goldLines,
      gold_files: gold?.files ?? null,
      unexercised_files: loaded ? unexercised : null,
    },
  };
};

export const cost: RewardComponent = (s) => {
  const budgets = s.budgets;
  if (!budgets) return { value: 1, details: { measured: false, steps: s.steps } };
  const shares: Record<string, number> = {
    steps: s.steps / budgets.maxSteps,
    wall: s.wallMs / (budgets.wallSec * 1000),
  };
  if (budgets.usd) shares.usd = (s.usage?.usd ?? 0) / budgets.usd;
  if (budgets.tokens)
    shares.tokens = ((s.usage?.inputTokens ?? 0) + (s.usage?.outputTokens ?? 0)) / budgets.tokens;
  const used = Object.values(shares).map((x) => Math.min(1, Math.max(0, x)));
  return {
    value: 1 - used.reduce((a, b) => a + b, 0) / used.length,
    details: { budget_share: shares, steps: s.steps, wall_ms: s.wallMs, usage: s.usage ?? null },
  };
};

/** Share of the adversary's valid tests the candidate passes; unvalidated tests count only when recorded so. */
export const adversarial: RewardComponent = (s) => {
  const adv = s.adversarial;
  if (!adv || adv.error) return { value: 1, details: { measured: false, error: adv?.error ?? null } };
  const counted = adv.tests.filter(
    (t) => t.passedOnReference === true || (t.passedOnReference === null && adv.countUnvalidated),
  );
  const invalid = adv.tests.filter((t) => t.passedOnReference === false).length;
  const unvalidated = adv.tests.filter((t) => t.passedOnReference === null).length;
  const broken = counted.filter((t) => !t.passedOnCandidate);
  return {
    value: counted.length === 0 ? 1 : (counted.length - broken.length) / counted.length,
    details: {
      adversary: adv.adversary,
      valid: counted.length,
      broken: broken.map((t) => t.name),
      invalid,
      unvalidated,
      tried: adv.tried,
    },
  };
};

export const human: RewardComponent = (s) =>
  s.human
    ? {
        value: s.human.rating,
        details: { rank: s.human.rank ?? null, of: s.human.of ?? null, rater: s.human.rater ?? null },
      }
    : { value: 1, details: { measured: false } };

export const COMPONENTS = {
  resolved,
  f2p,
  p2p,
  quality,
  performance,
  security,
  footprint,
  cost,
  adversarial,
  human,
} as const;
export type ComponentName = keyof typeof COMPONENTS;
export const COMPONENT_NAMES = Object.keys(COMPONENTS) as ComponentName[];
