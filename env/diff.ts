// Small helpers over git-style unified diffs: split per file, stats, and which paths are tests.
import type { DiffStat } from './types.ts';

export interface FileDiff {
  /** Path before (a/) and after (b/) the change; /dev/null sides are reported as null. */
  oldPath: string | null;
  newPath: string | null;
  text: string;
}

function stripSide(side: string | undefined): string | null {
  if (!side || side === '/dev/null') return null;
  return side.replace(/^[ab]\//, '');
}

/** Splits a `git diff` output into one section per file. */
export function splitDiff(diff: string): FileDiff[] {
  const sections = diff.split(/^(?=diff --git )/m).filter((s) => s.startsWith('diff --git '));
  return sections.map((text) => {
    const minus = /^--- (.+)$/m.exec(text)?.[1];
    const plus = /^\+\+\+ (.+)$/m.exec(text)?.[1];
    const header = /^diff --git a\/(.+) b\/(.+)$/m.exec(text);
    const renamedFrom = /^rename from (.+)$/m.exec(text)?.[1];
    const renamedTo = /^rename to (.+)$/m.exec(text)?.[1];
    return {
      oldPath: minus ? stripSide(minus.trim()) : (renamedFrom ?? header?.[1] ?? null),
      newPath: plus ? stripSide(plus.trim()) : (renamedTo ?? header?.[2] ?? null),
      text,
    };
  });
}

export function filesOf(diff: string): string[] {
  return [...new Set(splitDiff(diff).flatMap((f) => [f.oldPath, f.newPath].filter((p): p is string => !!p)))];
}

export function diffStat(diff: string): DiffStat {
  let added = 0;
  let removed = 0;
  for (const line of diff.split('\n')) {
    if (line.startsWith('+') && !line.startsWith('+++ ')) added++;
    else if (line.startsWith('-') && !line.startsWith('--- ')) removed++;
  }
  return { files: splitDiff(diff).length, added, removed };
}

const TEST_PATH_PATTERNS = [
  /(^|\/)(tests?|__tests__|specs?|testing)\//,
  /(^|\/)test_[^/]*\.py$/,
  /(^|\/)[^/]*_test\.py$/,
  /(^|\/)conftest\.py$/,
  /\.(test|spec)\.[cm]?[jt]sx?$/,
];

export function isTestPath(file: string): boolean {
  return TEST_PATH_PATTERNS.some((re) => re.test(file));
}
