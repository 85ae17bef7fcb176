// The JSON report of jest (`--json`) and vitest (`--reporter=json`), which share jest's format. IDs are
// `<file> > <describe...> > <test>`, the file relative to `cwd`.
import type { TestResult, TestStatus } from '../types.ts';
import type { ParseOptions } from './index.ts';
import { TITLE_SEPARATOR, testFilePath } from './shared.ts';

interface AssertionResult {
  ancestorTitles?: string[];
  title: string;
  status: string;
  failureMessages?: string[];
  duration?: number | null;
}

interface FileResult {
  /** Absolute path of the test file. */
  name: string;
  status?: string;
  message?: string;
  assertionResults?: AssertionResult[];
}

interface JestReport {
  testResults: FileResult[];
}

const STATUS: Record<string, TestStatus> = {
  passed: 'passed',
  failed: 'failed',
  pending: 'skipped',
  skipped: 'skipped',
  todo: 'skipped',
  disabled: 'skipped',
};

export function parseJestJson(report: string, opts: ParseOptions = {}): TestResult[] {
  const results: TestResult[] = [];
  for (const file of findReport(report)?.testResults ?? []) {
    const filePath = testFilePath(file.name, opts.cwd);
    const assertions = file.assertionResults ?? [];
    for (const assertion of assertions) {
      const status = STATUS[assertion.status];
      // An unknown status is not a pass: grade it as a broken run rather than guess.
      const message = status
        ? assertion.failureMessages?.join('\n')
        : `unknown test status "${assertion.status}"`;
      results.push({
        name: [filePath, ...(assertion.ancestorTitles ?? []), assertion.title].join(TITLE_SEPARATOR),
        status: status ?? 'error',
        ...(typeof assertion.duration === 'number' && { durationMs: assertion.duration }),
        ...(message && { message }),
      });
    }
    // A file that failed without a failing test did not run properly: it did not load (no tests at all), or a
    // hook or an uncaught error failed it (vitest then lists its tests as skipped).
    if (file.status === 'failed' && !assertions.some((assertion) => assertion.status === 'failed')) {
      const message = file.message || 'the file failed without a failing test (a hook or an uncaught error)';
      results.push({ name: filePath, status: 'error', message });
    }
  }
  return results;
}

/**
 * The report may be surrounded by other output (npm's script banner, console output, stderr): take the first
 * balanced JSON object that has `testResults`. Both jest and vitest open the report with a `"num…"` count, so
 * only such braces are tried: trying every `{` of the console output would be quadratic.
 */
function findReport(text: string): JestReport | undefined {
  for (const match of text.matchAll(/\{\s*"num[A-Z]\w*"\s*:/g)) {
    const start = match.index;
    const end = closingBrace(text, start);
    if (end === -1) continue;
    try {
      const value: unknown = JSON.parse(text.slice(start, end + 1));
      if (Array.isArray((value as Partial<JestReport>).testResults)) return value as JestReport;
    } catch {
      // Braces in other output: keep looking.
    }
  }
  return undefined;
}

/** Index of the `}` closing the object opened at `start`, skipping braces inside strings; -1 if none. */
function closingBrace(text: string, start: number): number {
  let depth = 0;
  let inString = false;
  for (let i = start; i < text.length; i++) {
    const char = text[i];
    if (inString) {
      if (char === '\\') i++;
      else if (char === '"') inString = false;
    } else if (char === '"') inString = true;
    else if (char === '{') depth++;
    else if (char === '}' && --depth === 0) return i;
  }
  return -1;
}
