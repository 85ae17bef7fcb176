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

// projects/pytest run with `-rA`. `test_later` is skipped but absent: `SKIPPED [1] file:line` names no test.
const expected = {
  'tests/test_calc.py::test_add': 'passed',
  'tests/test_calc.py::test_sub': 'failed',
  'tests/test_calc.py::test_known_bug': 'skipped', // XFAIL
  'tests/test_calc.py::test_maybe_fixed': 'failed', // XPASS
  'tests/test_calc.py::test_parse[1 + 1]': 'passed',
  'tests/test_calc.py::test_parse[2 - 1]': 'failed',
  'tests/test_calc.py::test_parse[3]': 'passed',
  'tests/test_calc.py::test_query': 'error', // fixture setup failed
  'tests/test_calc.py::test_write': 'error', // FAILED, then ERROR in teardown: the worst wins
  'tests/test_calc.py::TestCalc::test_mul': 'passed',
  'tests/test_calc.py::TestCalc::TestDiv::test_zero': 'failed',
  'tests/test_broken.py': 'error', // collection error
};

describe('pytest parser on captured output', () => {
  const colored = fs.readFileSync(path.join(fixtures, 'pytest-color.txt'), 'utf8');

  it('reads node IDs through colour codes, parametrize ids with spaces and " - "', () => {
    expect(colored).toContain('\x1b[');
    expect(statuses(parseTestReport('pytest', colored))).toEqual(expected);
  });

  it('splits the message from the ID only after the closing bracket', () => {
    const results = parseTestReport('pytest', colored);
    expect(results.find((r) => r.name === 'tests/test_calc.py::test_parse[2 - 1]')?.message).toBe(
      "AssertionError: assert '2 - 1' != '2 - 1'",
    );
    expect(results.find((r) => r.name === 'tests/test_calc.py::test_sub')?.message).toBe(
      'AssertionError: two - one',
    );
  });

  it('ignores CRLF line ends and text overwritten after a carriage return', () => {
    const crlf = colored.replaceAll('\n', '\r\n');
    expect(statuses(parseTestReport('pytest', crlf))).toEqual(expected);
    const overwritten = 'collecting ... \rPASSED tests/test_a.py::test_x\r\n';
    expect(statuses(parseTestReport('pytest', overwritten))).toEqual({ 'tests/test_a.py::test_x': 'passed' });
  });

  it('ignores lines that only mention a status word', () => {
    const report = 'PASSED\n  PASSED tests/test_a.py::test_indented\nSKIPPED [2] tests/test_a.py:3: no db\n';
    expect(parseTestReport('pytest', report)).toEqual([]);
  });
});

describe('pytest parser on a live pytest run', () => {
  let dir: string;
  let output: string;

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'repogym-parsers-'));
    fs.cpSync(path.join(fixtures, 'projects/pytest'), dir, { recursive: true });
    const run = spawnSync(
      'python3',
      ['-m', 'pytest', '-rA', '-p', 'no:cacheprovider', '--continue-on-collection-errors', 'tests'],
      { cwd: dir, encoding: 'utf8', env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' } },
    );
    output = run.stdout;
    expect(run.status, run.stderr).toBe(1);
  });

  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('gives the exact node IDs and statuses', () => {
    expect(statuses(parseTestReport('pytest', output))).toEqual(expected);
  });

  it('gives IDs pytest accepts back as node IDs', () => {
    const ids = ['tests/test_calc.py::test_parse[1 + 1]', 'tests/test_calc.py::TestCalc::TestDiv::test_zero'];
    const run = spawnSync('python3', ['-m', 'pytest', '-rA', '-p', 'no:cacheprovider', ...ids], {
      cwd: dir,
      encoding: 'utf8',
      env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' },
    });
    expect(statuses(parseTestReport('pytest', run.stdout))).toEqual({
      'tests/test_calc.py::test_parse[1 + 1]': 'passed',
      'tests/test_calc.py::TestCalc::TestDiv::test_zero': 'failed',
    });
  });
});
