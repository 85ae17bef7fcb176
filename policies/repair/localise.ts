// Fault localisation for template repair: which lines of which source files to change first.
// Two signals, strongest first: a spectrum (Ochiai over per-test line coverage, from a probe run in the
// sandbox) and the frames of stack traces in the failing output. Every other line of the source files comes
// after them, so a poor localisation costs steps, never the repair itself.
import { isTestPath } from '../../env/diff.ts';

/** file (repo-relative) → line → suspiciousness in [0, 1]. */
export type Suspicion = Map<string, Map<number, number>>;

/** Maps a path as a runner printed it (absolute, file://, relative) to a repository file, by longest suffix. */
export function repoFileOf(printed: string, repoFiles: readonly string[]): string | undefined {
  const clean = printed.replace(/^file:\/\//, '').replace(/\\/g, '/');
  let best: string | undefined;
  for (const file of repoFiles) {
    if ((clean === file || clean.endsWith(`/${file}`)) && file.length > (best?.length ?? 0)) best = file;
  }
  return best;
}

const PYTHON_FRAME = /File "([^"]+\.py)", line (\d+)|(?:^|\s)([\w./-]+\.py):(\d+):/gm;
const SCRIPT_FRAME = /((?:file:\/\/)?[\w./@-]+\.(?:[cm]?[jt]sx?)):(\d+)(?::\d+)?/g;

/**
 * Source-file frames of the stack traces in a test run's output, innermost last as runners print them. The
 * frame nearest the failure scores highest; frames in test files are dropped (the bug is not in the tests).
 */
export function traceSuspicion(output: string, repoFiles: readonly string[]): Suspicion {
  const frames: { file: string; line: number }[] = [];
  for (const re of [PYTHON_FRAME, SCRIPT_FRAME]) {
    for (const match of output.matchAll(re)) {
      const printed = match[1] ?? match[3];
      const line = Number(match[2] ?? match[4]);
      const file = printed ? repoFileOf(printed, repoFiles) : undefined;
      if (file && !isTestPath(file) && line > 0) frames.push({ file, line });
    }
  }
  const out: Suspicion = new Map();
  frames.forEach(({ file, line }, i) => {
    // Later frames are deeper: the last one printed is where the error surfaced.
    const score = 0.5 + (0.4 * (i + 1)) / frames.length;
    const lines = out.get(file) ?? new Map<number, number>();
    lines.set(line, Math.max(lines.get(line) ?? 0, score));
    out.set(file, lines);
  });
  return out;
}

/** Parses the probe's `REPOGYM_OCHIAI <file>:<line> <score>` lines (see probe_py.py, probe_js.mjs). */
export function probeSuspicion(output: string, repoFiles: readonly string[]): Suspicion {
  const out: Suspicion = new Map();
  for (const match of output.matchAll(/^REPOGYM_OCHIAI (.+):(\d+) ([0-9.]+)$/gm)) {
    const file = repoFileOf(match[1]!, repoFiles);
    const score = Number(match[3]);
    if (!file || isTestPath(file) || !(score > 0)) continue;
    const lines = out.get(file) ?? new Map<number, number>();
    lines.set(Number(match[2]), score);
    out.set(file, lines);
  }
  return out;
}

/** The spectrum's scores with trace frames lifting the lines they name (a trace is direct evidence). */
export function combine(spectrum: Suspicion, traces: Suspicion): Suspicion {
  const out: Suspicion = new Map();
  for (const [file, lines] of spectrum) out.set(file, new Map(lines));
  for (const [file, lines] of traces) {
    const merged = out.get(file) ?? new Map<number, number>();
    for (const [line, score] of lines) {
      const prior = merged.get(line) ?? 0;
      // Uncapped: among lines the spectrum already rates 1, those a trace names (the deepest most) rank first.
      merged.set(line, Math.max(prior, score) + (prior > 0 ? 0.1 * score : 0));
    }
    out.set(file, merged);
  }
  return out;
}

/** Files by their most suspicious line, highest first; ties by path so the order is deterministic. */
export function rankFiles(suspicion: Suspicion): string[] {
  const best = (file: string) => Math.max(0, ...suspicion.get(file)!.values());
  return [...suspicion.keys()].sort((a, b) => best(b) - best(a) || (a < b ? -1 : 1));
}
