// Conventions shared by the JavaScript-oriented parsers (TAP, JUnit, jest JSON). See docs/test-ids.md.
import path from 'node:path';

/** Joins file, suite and test titles into one ID: `test/a.test.js > suite > test`. */
export const TITLE_SEPARATOR = ' > ';

/**
 * Node's test runner sets these `failureType`s on tests that never ran their own body to a verdict (a hook
 * threw, or the parent gave up on them): like pytest's ERROR, not a test failure.
 */
export const NODE_DID_NOT_RUN = new Set(['hookFailed', 'cancelledByParent']);

/** A test file as IDs name it: relative to the repo root with forward slashes. */
export function testFilePath(file: string, cwd?: string): string {
  const relative = cwd && path.isAbsolute(file) ? path.relative(cwd, file) : file;
  // A file outside the repo keeps its absolute path: "../x" would depend on where the repo is checked out.
  const outside = relative === '..' || relative.startsWith(`..${path.sep}`);
  return (outside ? file : relative).replaceAll('\\', '/');
}

/**
 * The report contradicts itself (e.g. more PASSED lines than the runner's own summary counts): output of the
 * code under test was taken for the runner's. Grading treats it as an inconsistent suite, never as passes.
 */
export class ReportError extends Error {
  override name = 'ReportError';
}

/** Throws when a report lists more passing tests than the runner's closing summary says passed. */
export function checkPassCount(
  results: { status: string }[],
  summaryPassed: number | undefined,
  runner: string,
) {
  const listed = results.filter((r) => r.status === 'passed').length;
  if (summaryPassed !== undefined && listed > summaryPassed) {
    throw new ReportError(
      `the report lists ${listed} passing tests but ${runner}'s summary says ${summaryPassed} passed`,
    );
  }
}
