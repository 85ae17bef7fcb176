import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestResult } from '../../env/types.ts';
import { parseTestReport } from '../../env/parsers/index.ts';

const fixtures = fileURLToPath(new URL('../fixtures/parsers/', import.meta.url));
const vitestBin = fileURLToPath(new URL('../../node_modules/.bin/vitest', import.meta.url));
const statuses = (results: TestResult[]) => Object.fromEntries(results.map((r) => [r.name, r.status]));

// projects/vitest
const expected = {
  'src/math.test.js > math > adds': 'passed',
  'src/math.test.js > math > subtracts': 'failed',
  'src/math.test.js > math > later': 'skipped',
  'src/math.test.js > math > divides': 'skipped', // todo
  'src/math.test.js > math > parse {braces} > reads "quoted" input': 'passed',
  'src/math.test.js > top level': 'passed',
  'src/broken.test.js': 'error', // did not load: no tests at all
  'src/db.test.js > db > queries': 'skipped', // vitest skips the tests of a failed beforeAll...
  'src/db.test.js': 'error', // ...and only marks the file failed
};

describe('jest JSON parser on captured vitest output', () => {
  const captured = fs.readFileSync(path.join(fixtures, 'vitest-npm.txt'), 'utf8');
  const cwd = '/tmp/repogym-fixtures/vitest';

  it('finds the report among npm noise and gives file > suite > test IDs', () => {
    expect(captured.startsWith('{')).toBe(false);
    expect(statuses(parseTestReport('jest-json', captured, { cwd }))).toEqual(expected);
  });

  it('ignores braces and quotes in output after and before the report', () => {
    const noisy = `log { unbalanced "quote\n{"not": "a report"}\n${captured}\nnpm error {code: 1}\n`;
    expect(statuses(parseTestReport('jest-json', noisy, { cwd }))).toEqual(expected);
  });

  it('keeps messages and durations', () => {
    const results = parseTestReport('jest-json', captured, { cwd });
    const failed = results.find((r) => r.name === 'src/math.test.js > math > subtracts');
    expect(failed?.message).toMatch(/^AssertionError: expected 1 to be \+0 /);
    expect(failed?.durationMs).toBeGreaterThan(0);
    expect(results.find((r) => r.name === 'src/broken.test.js')?.message).toMatch(/Parse failure/);
  });

  it('returns nothing when there is no report', () => {
    expect(parseTestReport('jest-json', 'Error: vitest crashed {before reporting}')).toEqual([]);
  });
});

// jest is not installed here: a hand-written report in jest's --json shape for what vitest does not produce.
describe('jest JSON parser on jest-specific fields', () => {
  it('maps pending/disabled to skipped and a file that failed to run to one error entry', () => {
    const report = JSON.stringify({
      numFailedTestSuites: 1,
      testResults: [
        {
          name: '/repo/__tests__/a.test.js',
          status: 'passed',
          message: '',
          assertionResults: [
            {
              ancestorTitles: ['A'],
              title: 'pending',
              status: 'pending',
              failureMessages: [],
              duration: null,
            },
            { ancestorTitles: ['A'], title: 'disabled', status: 'disabled', failureMessages: [] },
            { ancestorTitles: [], title: 'odd', status: 'focused', failureMessages: [] },
          ],
        },
        {
          name: '/repo/__tests__/b.test.js',
          status: 'failed',
          message: '● Test suite failed to run\n\n  Cannot find module',
          assertionResults: [],
        },
      ],
    });
    expect(parseTestReport('jest-json', report, { cwd: '/repo' })).toEqual([
      { name: '__tests__/a.test.js > A > pending', status: 'skipped' },
      { name: '__tests__/a.test.js > A > disabled', status: 'skipped' },
      { name: '__tests__/a.test.js > odd', status: 'error', message: 'unknown test status "focused"' },
      {
        name: '__tests__/b.test.js',
        status: 'error',
        message: '● Test suite failed to run\n\n  Cannot find module',
      },
    ]);
  });
});

describe('jest JSON parser on a live vitest run', () => {
  let dir: string;

  beforeAll(() => {
    dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'repogym-parsers-')));
    fs.cpSync(path.join(fixtures, 'projects/vitest'), dir, { recursive: true });
  });

  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('gives the exact IDs and statuses', () => {
    // The nested run must not see this repo's config nor the outer run's worker state.
    const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('VITEST')));
    const run = spawnSync(
      vitestBin,
      ['run', '--root', dir, '--config', path.join(dir, 'vitest.config.mjs'), '--reporter=json'],
      { cwd: dir, encoding: 'utf8', env },
    );
    expect(run.status, run.stderr).toBe(1);
    expect(statuses(parseTestReport('jest-json', run.stdout, { cwd: dir }))).toEqual(expected);
  });
});
