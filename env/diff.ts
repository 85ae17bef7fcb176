// Small helpers over git-style unified diffs: split per file, stats, and which paths are tests.
import path from 'node:path';
import type { DiffStat } from './types.ts';

export interface FileDiff {
  /** Path before (a/) and after (b/) the change; /dev/null sides are reported as null. */
  oldPath: string | null;
  newPath: string | null;
  /** Set when the change creates a symlink (mode 120000): where it points. */
  symlinkTarget?: string;
  text: string;
}

const C_ESCAPES: Record<string, number> = { a: 7, b: 8, t: 9, n: 10, v: 11, f: 12, r: 13, '"': 34, '\\': 92 };

/** Reads one path token as git prints it: C-quoted ("a/d\303\251") when it has unusual bytes. */
function readPathToken(text: string): { value: string; rest: string } {
  if (!text.startsWith('"')) return { value: text, rest: '' };
  const bytes: number[] = [];
  let i = 1;
  while (i < text.length && text[i] !== '"') {
    if (text[i] === '\\') {
      const octal = /^[0-7]{3}/.exec(text.slice(i + 1));
      if (octal) {
        bytes.push(parseInt(octal[0], 8));
        i += 4;
        continue;
      }
      bytes.push(C_ESCAPES[text[i + 1]!] ?? text.charCodeAt(i + 1));
      i += 2;
      continue;
    }
    bytes.push(...Buffer.from(text[i]!, 'utf8'));
    i++;
  }
  return { value: Buffer.from(bytes).toString('utf8'), rest: text.slice(i + 1).trimStart() };
}

/** A path from a ---/+++/rename line: unquoted, the trailing tab git adds to names with spaces removed. */
function linePath(raw: string | undefined, prefix: 'a/' | 'b/' | ''): string | null {
  if (raw === undefined) return null;
  const value = raw.startsWith('"') ? readPathToken(raw).value : raw.replace(/\t$/, '');
  if (value === '/dev/null') return null;
  return prefix && value.startsWith(prefix) ? value.slice(prefix.length) : value;
}

/** Both paths of a `diff --git a/X b/Y` header; unquoted names with spaces are split at the symmetric middle. */
function headerPaths(header: string): [string | null, string | null] {
  if (header.startsWith('"')) {
    const first = readPathToken(header);
    return [linePath(`"${first.value.replaceAll('"', '\\"')}"`, 'a/'), linePath(first.rest, 'b/')];
  }
  const half = (header.length - 1) / 2;
  if (Number.isInteger(half) && header.slice(0, half).slice(2) === header.slice(half + 1).slice(2)) {
    return [header.slice(2, half), header.slice(half + 3)];
  }
  const split = header.lastIndexOf(' b/');
  return split < 0
    ? [null, null]
    : [linePath(header.slice(0, split), 'a/'), linePath(header.slice(split + 1), 'b/')];
}

/** Splits a `git diff` output into one section per file. */
export function splitDiff(diff: string): FileDiff[] {
  const sections = diff.split(/^(?=diff --git )/m).filter((s) => s.startsWith('diff --git '));
  return sections.map((text) => {
    const field = (re: RegExp) => re.exec(text)?.[1];
    const [headerOld, headerNew] = headerPaths(text.slice('diff --git '.length, text.indexOf('\n')));
    const minus = field(/^--- (.+)$/m);
    const plus = field(/^\+\+\+ (.+)$/m);
    const renamedFrom = field(/^rename from (.+)$/m);
    const renamedTo = field(/^rename to (.+)$/m);
    const created = /^new file mode/m.test(text);
    const deleted = /^deleted file mode/m.test(text);
    const section: FileDiff = {
      oldPath: created ? null : minus ? linePath(minus, 'a/') : (linePath(renamedFrom, '') ?? headerOld),
      newPath: deleted ? null : plus ? linePath(plus, 'b/') : (linePath(renamedTo, '') ?? headerNew),
      text,
    };
    // The target is the first added line of the hunk (it may itself start with '+').
    if (/^new (file )?mode 120000$/m.test(text))
      section.symlinkTarget = field(/^@@[^\n]*@@[^\n]*\n\+(.*)$/m) ?? '';
    return section;
  });
}

export function filesOf(diff: string): string[] {
  return [...new Set(splitDiff(diff).flatMap((f) => [f.oldPath, f.newPath].filter((p): p is string => !!p)))];
}

/** True when a symlink at `linkPath` pointing to `target` resolves outside the repository. */
export function symlinkEscapes(linkPath: string, target: string): boolean {
  if (target.startsWith('/')) return true;
  return path.posix.normalize(path.posix.join(path.posix.dirname(linkPath), target)).startsWith('../');
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

const SCRIPT = String.raw`\.[cm]?[jt]sx?$`;
const TEST_PATH_PATTERNS = [
  /(^|\/)(tests?|__tests__|specs?|testing)\//,
  // Python: pytest's default discovery, its plugins and config.
  /(^|\/)test_[^/]*\.py$/,
  /(^|\/)[^/]*_test\.py$/,
  /(^|\/)(conftest\.py|pytest\.ini|tox\.ini)$/,
  // Installed-package metadata: an entry_points.txt there auto-loads pytest plugins.
  /(^|\/)[^/]+\.(dist|egg)-info\//,
  // JavaScript/TypeScript: node --test's discovery patterns, jest/vitest/mocha naming and runner config.
  new RegExp(String.raw`[._-](test|spec)${SCRIPT}`),
  new RegExp(String.raw`(^|/)test(-[^/]*)?${SCRIPT}`),
  /(^|\/)(jest|vitest|vitest\.workspace|karma|playwright)\.conf(ig)?\.[^/]+$/,
  /(^|\/)\.mocharc(\.[^/]+)?$/,
];

/** Test files and test-runner configuration: an agent's changes to them are dropped before grading. */
export function isTestPath(file: string): boolean {
  return TEST_PATH_PATTERNS.some((re) => re.test(file));
}
