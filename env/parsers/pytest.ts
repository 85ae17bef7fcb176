// pytest's `-rA` short test summary, read like SWE-bench's parse_log_pytest
// (swebench/harness/log_parsers/python.py): every line starting with a status word names one test by its
// node ID, exactly as pytest prints it (`tests/test_x.py::TestC::test_y[p]`).
import type { TestResult, TestStatus } from '../types.ts';
import { checkPassCount, ReportError } from './shared.ts';

// XFAIL (an expected failure) is reported as skipped: the test did not pass. SWE-bench grades XFAIL as passed,
// which lets code under test call pytest.xfail() to "pass" every hidden test; as skipped, a FAIL_TO_PASS test
// must really pass while a PASS_TO_PASS one stays neutral (see docs/grading.md). SWE-bench has no XPASS status:
// its parser drops XPASS lines and a missing test grades as failed, so XPASS → failed gives the same grade.
const STATUS_OF_WORD: Record<string, TestStatus> = {
  PASSED: 'passed',
  XFAIL: 'skipped',
  FAILED: 'failed',
  XPASS: 'failed',
  ERROR: 'error',
  SKIPPED: 'skipped',
};

const SUMMARY_LINE = /^(PASSED|FAILED|SKIPPED|ERROR|XFAIL|XPASS) +(.+)$/;
// eslint-disable-next-line no-control-regex -- colour codes (`--color=yes`) are escape sequences
const ANSI_ESCAPE = /\x1b\[[0-?]*[ -/]*[@-~]/g;

// pytest's closing line (`==== 2 failed, 21 passed, 1 xfailed in 0.12s ====`) and the header of the `-rA`
// section that lists each test's outcome.
const FINAL_LINE = /^=+ (.+) in [\d.]+s\b.*=+$/;
const SHORT_SUMMARY_HEADER = /^=+ short test summary info =+$/;

/**
 * Reads the outcome lines of pytest's short test summary. When pytest printed that section, only lines between
 * its header and pytest's closing line count: anything else is output of the code under test, which can print
 * "PASSED <id>" at will. A second header or closing line means that output imitates pytest's: ReportError.
 */
export function parsePytest(report: string): TestResult[] {
  // After a carriage return the terminal overwrites the line: only the text after the last one counts.
  const lines = report
    .split('\n')
    .map((raw) => raw.replace(ANSI_ESCAPE, '').replace(/\r+$/, '').split('\r').at(-1)!);
  const headers = lines.flatMap((line, i) => (SHORT_SUMMARY_HEADER.test(line) ? [i] : []));
  const finals = lines.flatMap((line, i) => (FINAL_LINE.test(line) ? [i] : []));
  if (headers.length > 1 || finals.length > 1) {
    throw new ReportError(
      "pytest's summary appears more than once: output of the code under test imitates it",
    );
  }
  const from = headers[0] ?? -1;
  const to = finals[0] !== undefined && finals[0] > from ? finals[0] : lines.length;
  const results: TestResult[] = [];
  for (const line of lines.slice(from + 1, to)) {
    const [, word, rest] = SUMMARY_LINE.exec(line) ?? [];
    if (!word || !rest) continue;
    // `SKIPPED [2] tests/test_x.py:9: reason` counts skips per location and names no test: nothing to record.
    if (word === 'SKIPPED' && /^\[\d+\] /.test(rest)) continue;
    const { id, message } = splitNodeId(rest);
    results.push({ name: id, status: STATUS_OF_WORD[word]!, ...(message && { message }) });
  }
  const final = finals[0] === undefined ? undefined : FINAL_LINE.exec(lines[finals[0]]!)![1]!;
  checkPassCount(
    results,
    final === undefined ? undefined : Number(/(\d+) passed/.exec(final)?.[1] ?? 0),
    'pytest',
  );
  return results;
}

/**
 * A node ID has no spaces except inside parametrize brackets (`test_a[a b]`, even `test_a[x - y]`): such an ID
 * ends at the `]` that ends the line or precedes ` - message`; any other ID ends at the first space.
 */
function splitNodeId(rest: string): { id: string; message: string } {
  const space = rest.indexOf(' ');
  let end = space === -1 ? rest.length : space;
  const bracket = rest.indexOf('[');
  if (bracket !== -1 && bracket < end) {
    const close = /\](?= - |\s*$)/.exec(rest.slice(bracket));
    if (close) end = bracket + close.index + 1;
  }
  const tail = rest.slice(end);
  const message = tail.startsWith(' - ') ? tail.slice(3).trim() : '';
  return { id: rest.slice(0, end), message };
}
