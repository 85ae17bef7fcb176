// Small helpers over git-style unified diffs: split per file, stats, and which paths are tests.
import type { DiffStat } from './types.ts';

export interface FileDiff {
  /** Path before (a/) and after (b/) the change; /dev/null sides are reported as null. */
  oldPath: string | null;
  newPath: string | null;
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
    return {
      oldPath: created ? null : minus ? linePath(minus, 'a/') : (linePath(renamedFrom, '') ?? headerOld),
      newPath: deleted ? null : plus ? linePath(plus, 'b/') : (linePath(renamedTo, '') ?? headerNew),
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

const SCRIPT = String.raw`\.[cm]?[jt]sx?$`;
const PYTHON_TEST_PATTERNS = [
  // pytest's default discovery. Only `tests/` counts as a test folder: `test/` and `testing/` are often
  // source (django/test, numpy/testing).
  /(^|\/)tests\//,
  /(^|\/)test_[^/]*\.py$/,
  /(^|\/)[^/]*_test\.py$/,
  /(^|\/)conftest\.py$/,
];
const SCRIPT_TEST_PATTERNS = [
  // node --test runs every file under test/; jest and vitest naming.
  /(^|\/)(tests?|__tests__|specs?)\//,
  new RegExp(String.raw`[._-](test|spec)${SCRIPT}`),
  new RegExp(String.raw`(^|/)test(-[^/]*)?${SCRIPT}`),
];
const RUNNER_CONFIG_PATTERNS = [
  // pytest reads these before pyproject.toml/setup.cfg (whose pytest sections grading compares separately).
  /(^|\/)\.?pytest\.(ini|toml)$/,
  /(^|\/)tox\.ini$/,
  // Installed-package metadata (any case, as importlib.metadata matches it): entry_points.txt loads plugins.
  /(^|\/)[^/]+\.(dist|egg)-info\//i,
  // Top-level modules that would shadow the runner itself (`python -m pytest` imports from the repo root).
  /^(pytest\.py|py\.py|(_pytest|pytest|pluggy|iniconfig|_pytest\.py)\/)/,
  /(^|\/)(jest|vitest|vitest\.workspace|karma|playwright)\.conf(ig)?\.[^/]+$/,
  /(^|\/)\.mocharc(\.[^/]+)?$/,
];

/** Test-runner configuration files (pytest.ini, jest.config.*, .mocharc, …). */
export function isRunnerConfigPath(file: string): boolean {
  return RUNNER_CONFIG_PATTERNS.some((re) => re.test(file));
}

/** Test files and test-runner configuration: an agent's changes to them are dropped before grading. */
export function isTestPath(file: string): boolean {
  // Python files follow pytest's rules; anything else (scripts, fixtures, data) node's and jest's.
  const byLanguage = file.endsWith('.py') ? PYTHON_TEST_PATTERNS : SCRIPT_TEST_PATTERNS;
  return [...byLanguage, ...RUNNER_CONFIG_PATTERNS].some((re) => re.test(file));
}
