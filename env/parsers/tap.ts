// TAP as Node's test runner prints it (`node --test --test-reporter=tap`), read with tap-parser.
//
// IDs are the titles from the outermost describe/test down: `suite > nested suite > test`. Node 20 prints a
// test's `location` (its file) only when the test fails, and runs all files into one flat stream, so a file
// part would make a test's ID change between a failing and a passing run; IDs carry no file part. The one
// exception is a test file that failed outside any test (syntax error, throw at top level, non-zero exit) or
// exited before running any: Node reports it as a test named by the file's absolute path, and its ID is that
// path relative to `cwd`.
import path from 'node:path';
import { Parser, type Result } from 'tap-parser';
import type { TestResult, TestStatus } from '../types.ts';
import type { ParseOptions } from './index.ts';
import { checkPassCount, NODE_DID_NOT_RUN, ReportError, TITLE_SEPARATOR, testFilePath } from './shared.ts';

interface TapNode {
  result: Result;
  children: TapNode[];
}

/** The YAML block Node prints under a test point (only the fields read here). */
interface NodeDiagnostic {
  location?: string;
  failureType?: string;
  error?: unknown;
}

export function parseTap(report: string, opts: ParseOptions = {}): TestResult[] {
  const parser = new Parser();
  const roots = collect(parser);
  // Node prints object keys raw in YAML diagnostics; a lone CR there (e.g. a CSV cell "qty\r") ends the line for
  // tap-parser and derails everything after it. CRLF line ends are fine as LF.
  const text = report.replace(/\r\n/g, '\n').replace(/\r/g, '\\r');
  // Raw keys can also carry whole TAP lines from the code under test. Node never bails out, and prints its
  // `# pass N` count once, at the end: a second one, or more passes than it counts, is forged.
  const passCounts = text.match(/^# pass \d+$/gm) ?? [];
  if (passCounts.length > 1)
    throw new ReportError("node --test's summary appears more than once: output imitates it");
  parser.end(text.replace(/^\s*Bail out!.*$/gm, ''));
  const results: TestResult[] = [];
  addResults(roots, [], opts, results);
  checkPassCount(
    results,
    passCounts[0] ? Number(passCounts[0].slice('# pass '.length)) : undefined,
    'node --test',
  );
  return results;
}

/** Builds the subtest tree; tap-parser emits each parent's test point after its indented subtests. */
function collect(parser: Parser): TapNode[] {
  const nodes: TapNode[] = [];
  let subtests: TapNode[] = [];
  parser.on('child', (child: Parser) => {
    subtests = collect(child);
  });
  parser.on('assert', (result: Result) => {
    nodes.push({ result, children: result.closingTestPoint ? subtests : [] });
    subtests = [];
  });
  return nodes;
}

function addResults(nodes: TapNode[], titles: string[], opts: ParseOptions, results: TestResult[]): void {
  for (const { result, children } of nodes) {
    const diag: NodeDiagnostic = result.diag ?? {};
    const titlePath = [...titles, result.name];
    const details = {
      // tap-parser moves the diagnostic's duration_ms to `time`.
      ...(result.time !== null && { durationMs: result.time }),
      ...(!result.ok && typeof diag.error === 'string' && { message: diag.error }),
    };
    if (children.length > 0) {
      addResults(children, titlePath, opts, results);
      // A suite that failed because subtests failed is reported through them. Any other failure of the suite
      // itself (a hook, code in the describe body) means it did not run properly.
      if (!result.ok && diag.failureType !== 'subtestsFailed')
        results.push({ name: titlePath.join(TITLE_SEPARATOR), status: 'error', ...details });
      continue;
    }
    // Node names a file that failed outside any test, or exited before running one, by its absolute path.
    const fileEntry = titles.length === 0 && path.isAbsolute(result.name);
    results.push(
      fileEntry
        ? { name: testFilePath(result.name, opts.cwd), status: result.ok ? 'passed' : 'error', ...details }
        : { name: titlePath.join(TITLE_SEPARATOR), status: statusOf(result, diag), ...details },
    );
  }
}

function statusOf(result: Result, diag: NodeDiagnostic): TestStatus {
  // TAP's todo directive also covers failing todo tests: they are expected to fail and count as not run.
  if (result.skip || result.todo) return 'skipped';
  if (result.ok) return 'passed';
  return diag.failureType && NODE_DID_NOT_RUN.has(diag.failureType) ? 'error' : 'failed';
}
