import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestResult } from '../../env/types.ts';
import { parseTestReport } from '../../env/parsers/index.ts';

const fixtures = fileURLToPath(new URL('../fixtures/parsers/', import.meta.url));
const statuses = (results: TestResult[]) => Object.fromEntries(results.map((r) => [r.name, r.status]));

// projects/node: the TAP parser's IDs, except that Node's JUnit output drops the failing `before` hook of
// `db` (only the cancelled test shows it).
const expectedNode = {
  adds: 'passed',
  subtracts: 'failed',
  'not yet': 'skipped',
  later: 'skipped',
  'parser > reads numbers': 'passed',
  'parser > errors > rejects # and >': 'failed',
  'parser > errors > skipped inside': 'skipped',
  'db > queries': 'error',
  'test/broken.test.js': 'error',
};

// projects/pytest: the pytest parser's node IDs. Unlike `-rA`, JUnit names the skipped test, and it cannot
// tell XPASS from a pass.
const expectedPytest = {
  'tests/test_calc.py::test_add': 'passed',
  'tests/test_calc.py::test_sub': 'failed',
  'tests/test_calc.py::test_later': 'skipped',
  'tests/test_calc.py::test_known_bug': 'skipped', // xfail
  'tests/test_calc.py::test_maybe_fixed': 'passed', // xpass
  'tests/test_calc.py::test_parse[1 + 1]': 'passed',
  'tests/test_calc.py::test_parse[2 - 1]': 'failed',
  'tests/test_calc.py::test_parse[3]': 'passed',
  'tests/test_calc.py::test_query': 'error',
  'tests/test_calc.py::test_write': 'error', // a <failure> testcase and an <error> testcase for teardown
  'tests/test_calc.py::TestCalc::test_mul': 'passed',
  'tests/test_calc.py::TestCalc::TestDiv::test_zero': 'failed',
  'tests/test_broken.py': 'error',
};

describe('JUnit parser on captured output', () => {
  it("reads Node's reporter with suite > test IDs", () => {
    const xml = fs.readFileSync(path.join(fixtures, 'node-junit.xml'), 'utf8');
    const results = parseTestReport('junit', xml, { cwd: '/tmp/repogym-fixtures/node' });
    expect(statuses(results)).toEqual(expectedNode);
    expect(results.find((r) => r.name === 'subtracts')?.message).toMatch(
      /^Expected values to be strictly equal/,
    );
  });

  it("reads pytest's --junitxml with pytest node IDs", () => {
    const xml = fs.readFileSync(path.join(fixtures, 'pytest-junit.xml'), 'utf8');
    const results = parseTestReport('junit', xml);
    expect(statuses(results)).toEqual(expectedPytest);
    // `&#10;` in the message attribute is a newline
    expect(results.find((r) => r.name === 'tests/test_calc.py::test_sub')?.message).toBe(
      'AssertionError: two - one\nassert (2 - 1) == 0',
    );
  });

  it('uses classname::name for other producers, through nested suites and a single root suite', () => {
    const xml = `<?xml version="1.0"?>
      <testsuite name="all">
        <testsuite name="com.acme.MathTest">
          <testcase classname="com.acme.MathTest" name="adds" time="0.25"/>
          <testcase classname="com.acme.MathTest" name="divides"><failure message="expected 2">trace</failure></testcase>
          <testcase classname="com.acme.MathTest" name="crashes"><error>NullPointerException</error></testcase>
          <testcase classname="com.acme.MathTest" name="later"><skipped/></testcase>
        </testsuite>
        <testcase name="no class"/>
      </testsuite>`;
    const results = parseTestReport('junit', xml);
    expect(statuses(results)).toEqual({
      'com.acme.MathTest::adds': 'passed',
      'com.acme.MathTest::divides': 'failed',
      'com.acme.MathTest::crashes': 'error',
      'com.acme.MathTest::later': 'skipped',
      'no class': 'passed',
    });
    expect(results.find((r) => r.name === 'com.acme.MathTest::adds')).toEqual({
      name: 'com.acme.MathTest::adds',
      status: 'passed',
      durationMs: 250,
    });
    expect(results.find((r) => r.name === 'com.acme.MathTest::crashes')?.message).toBe(
      'NullPointerException',
    );
  });

  it('returns nothing for a report without XML', () => {
    expect(parseTestReport('junit', 'Error: cannot find module')).toEqual([]);
  });
});

describe('JUnit parser on live runs', () => {
  let dir: string;

  beforeAll(() => {
    dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'repogym-parsers-')));
    fs.cpSync(path.join(fixtures, 'projects/node'), path.join(dir, 'node'), { recursive: true });
    fs.cpSync(path.join(fixtures, 'projects/pytest'), path.join(dir, 'pytest'), { recursive: true });
  });

  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('parses node --test --test-reporter=junit', () => {
    const cwd = path.join(dir, 'node');
    const run = spawnSync(process.execPath, ['--test', '--test-reporter=junit', 'test/'], {
      cwd,
      encoding: 'utf8',
    });
    expect(statuses(parseTestReport('junit', run.stdout, { cwd }))).toEqual(expectedNode);
  });

  it.each(['xunit2', 'xunit1'])('parses pytest --junitxml (junit_family=%s)', (family) => {
    const cwd = path.join(dir, 'pytest');
    const report = path.join(cwd, `report-${family}.xml`);
    const run = spawnSync(
      'python3',
      [
        ...['-m', 'pytest', '-p', 'no:cacheprovider', '--continue-on-collection-errors'],
        ...['-o', `junit_family=${family}`, `--junitxml=${report}`, 'tests'],
      ],
      { cwd, encoding: 'utf8', env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' } },
    );
    expect(run.status, run.stderr).toBe(1);
    const xml = fs.readFileSync(report, 'utf8');
    expect(xml.includes('file="tests/test_calc.py"')).toBe(family === 'xunit1');
    expect(statuses(parseTestReport('junit', xml, { cwd }))).toEqual(expectedPytest);
  });
});
