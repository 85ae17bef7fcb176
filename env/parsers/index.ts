// Test-report parsers: turn a runner's report into TestResult[] whose names follow docs/test-ids.md.
import type { TestFormat } from '../../datasets/types.ts';
import type { TestResult, TestStatus } from '../types.ts';
import { parseJestJson } from './jest-json.ts';
import { parseJunit } from './junit.ts';
import { parsePytest } from './pytest.ts';
import { parseTap } from './tap.ts';

export interface ParseOptions {
  /** Repo root: absolute file paths in reports are made relative to it. */
  cwd?: string;
}

export type ReportParser = (report: string, opts?: ParseOptions) => TestResult[];

// Skipped ranks above passed: a test reported both ways (an XFAIL line beside a forged PASSED one) did not pass.
const SEVERITY: Record<TestStatus, number> = { passed: 0, skipped: 1, failed: 2, error: 3 };

/**
 * One entry per ID; the worst status wins. Grading is conservative: a test that failed once in a run (pytest
 * reports FAILED for the call and ERROR for a broken teardown; two files can hold tests with the same title
 * when the runner prints no file) did not pass.
 */
function mergeDuplicates(results: TestResult[]): TestResult[] {
  const byName = new Map<string, TestResult>();
  for (const result of results) {
    const seen = byName.get(result.name);
    if (!seen || SEVERITY[result.status] > SEVERITY[seen.status]) byName.set(result.name, result);
  }
  return [...byName.values()];
}

const withoutDuplicates =
  (parse: ReportParser): ReportParser =>
  (report, opts) =>
    mergeDuplicates(parse(report, opts));

export const parsers: Record<TestFormat, ReportParser> = {
  pytest: withoutDuplicates(parsePytest),
  tap: withoutDuplicates(parseTap),
  junit: withoutDuplicates(parseJunit),
  'jest-json': withoutDuplicates(parseJestJson),
};

export function parseTestReport(format: TestFormat, report: string, opts?: ParseOptions): TestResult[] {
  return parsers[format](report, opts);
}
