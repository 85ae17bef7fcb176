// JUnit XML, read with fast-xml-parser: a <testsuites> or <testsuite> root, suites nested at any depth, each
// <testcase> failing with <failure>, erroring with <error> or skipped with <skipped>. Three producers get IDs:
//
// - Node (`node --test --test-reporter=junit`, recognised by the constant classname="test" it writes): the
//   enclosing <testsuite> names and the test name joined by " > ", the same IDs as the TAP parser (no file part:
//   Node writes none). A file that failed outside any test is a root <testcase> named by its absolute path;
//   its ID is that path relative to `cwd`.
// - pytest (`--junitxml`, recognised by its default suite name "pytest" or a `file` attribute on a .py file):
//   the pytest node ID, rebuilt from classname (module path and classes, dotted) and name. With a `file`
//   attribute (junit_family=xunit1) this is exact. Without it, the trailing classname segments starting with
//   an upper-case letter are taken as classes (PEP 8 names), the rest as the module path: a dotted directory
//   name or an upper-case module name cannot be told apart.
// - anything else: `<classname>::<name>`, or `<name>` without a classname.
import path from 'node:path';
import { XMLParser } from 'fast-xml-parser';
import type { TestResult, TestStatus } from '../types.ts';
import type { ParseOptions } from './index.ts';
import { NODE_DID_NOT_RUN, TITLE_SEPARATOR, testFilePath } from './shared.ts';

/** <failure>, <error> or <skipped>: an element with attributes, or just its text when it has none. */
type Outcome = string | { attributes?: { message?: string; type?: string }; '#text'?: string };

interface TestCase {
  attributes?: { name?: string; classname?: string; file?: string; time?: string };
  failure?: Outcome[];
  error?: Outcome[];
  skipped?: Outcome[];
}

interface TestSuite {
  attributes?: { name?: string };
  testcase?: TestCase[];
  testsuite?: TestSuite[];
}

type Producer = 'node' | 'pytest' | 'other';

const xml = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '',
  // Grouped: Node writes a `failure` attribute next to the <failure> element of the same testcase.
  attributesGroupName: 'attributes',
  // Numeric character references (`&#10;` in pytest's messages) are decoded only with htmlEntities.
  htmlEntities: true,
  parseAttributeValue: false,
  parseTagValue: false,
  isArray: (name) => ['testsuite', 'testcase', 'failure', 'error', 'skipped'].includes(name),
});

export function parseJunit(report: string, opts: ParseOptions = {}): TestResult[] {
  // A report printed to stdout may follow other output; the XML starts at its declaration or root element.
  const start = report.search(/<\?xml|<testsuites?[\s>/]/);
  if (start === -1) return [];
  const doc = xml.parse(report.slice(start)) as { testsuites?: TestSuite | string; testsuite?: TestSuite[] };
  const results: TestResult[] = [];
  // <testsuites> only groups suites: its name is not a title.
  if (typeof doc.testsuites === 'object') addSuiteResults(doc.testsuites, [], false, opts, results);
  for (const suite of doc.testsuite ?? [])
    addSuiteResults(suite, [suite.attributes?.name ?? ''], false, opts, results);
  return results;
}

function addSuiteResults(
  suite: TestSuite,
  titles: string[],
  insidePytest: boolean,
  opts: ParseOptions,
  results: TestResult[],
): void {
  const pytest = insidePytest || suite.attributes?.name === 'pytest';
  for (const testCase of suite.testcase ?? []) {
    const { classname, file } = testCase.attributes ?? {};
    const producer: Producer =
      classname === 'test' ? 'node' : pytest || file?.endsWith('.py') ? 'pytest' : 'other';
    results.push(resultOf(testCase, producer, titles, opts));
  }
  for (const child of suite.testsuite ?? []) {
    addSuiteResults(child, [...titles, child.attributes?.name ?? ''], pytest, opts, results);
  }
}

function resultOf(testCase: TestCase, producer: Producer, titles: string[], opts: ParseOptions): TestResult {
  const { name = '', time } = testCase.attributes ?? {};
  const failedNodeFile =
    producer === 'node' && titles.length === 0 && path.isAbsolute(name) && /\.[cm]?[jt]sx?$/.test(name);
  const { status, message } = outcomeOf(testCase, producer, failedNodeFile);
  const seconds = Number(time);
  return {
    name: failedNodeFile ? testFilePath(name, opts.cwd) : idOf(testCase, producer, titles),
    status,
    ...(Number.isFinite(seconds) && { durationMs: seconds * 1000 }),
    ...(message && { message }),
  };
}

function outcomeOf(
  testCase: TestCase,
  producer: Producer,
  failedNodeFile: boolean,
): { status: TestStatus; message?: string } {
  const error = testCase.error?.[0];
  if (error !== undefined) return { status: 'error', message: messageOf(error) };
  const failure = testCase.failure?.[0];
  if (failure !== undefined) {
    const didNotRun = producer === 'node' && (failedNodeFile || NODE_DID_NOT_RUN.has(typeOf(failure)));
    return { status: didNotRun ? 'error' : 'failed', message: messageOf(failure) };
  }
  const skipped = testCase.skipped?.[0];
  // pytest writes xfail as <skipped type="pytest.xfail">: skipped, as in pytest.ts.
  if (skipped !== undefined) return { status: 'skipped', message: messageOf(skipped) };
  return { status: 'passed' };
}

function idOf(testCase: TestCase, producer: Producer, titles: string[]): string {
  const { name = '', classname = '', file } = testCase.attributes ?? {};
  if (producer === 'node') return [...titles, name].join(TITLE_SEPARATOR);
  if (producer === 'pytest') return pytestNodeId(classname, name, file);
  return classname ? `${classname}::${name}` : name;
}

/**
 * Inverts pytest's mangle_test_address (`tests/test_x.py::TestC::test_y[p]` → classname `tests.test_x.TestC`,
 * name `test_y[p]`). A collection error has an empty classname and the dotted module as its name.
 */
function pytestNodeId(classname: string, name: string, file?: string): string {
  if (!classname) return file ?? `${name.replaceAll('.', '/')}.py`;
  const segments = classname.split('.');
  const dottedFile = file?.replace(/\.py$/, '').replaceAll('/', '.');
  if (file && dottedFile && (classname === dottedFile || classname.startsWith(`${dottedFile}.`))) {
    return [file, ...segments.slice(dottedFile.split('.').length), name].join('::');
  }
  let moduleLength = segments.length;
  while (moduleLength > 1 && /^[A-Z]/.test(segments[moduleLength - 1]!)) moduleLength--;
  const module = `${segments.slice(0, moduleLength).join('/')}.py`;
  return [module, ...segments.slice(moduleLength), name].join('::');
}

function typeOf(outcome: Outcome): string {
  return typeof outcome === 'string' ? '' : (outcome.attributes?.type ?? '');
}

function messageOf(outcome: Outcome): string | undefined {
  const text = typeof outcome === 'string' ? outcome : (outcome.attributes?.message ?? outcome['#text']);
  return text?.trim() || undefined;
}
