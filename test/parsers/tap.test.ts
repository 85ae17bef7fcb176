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

// projects/node. No file part: Node 20 prints a test's location only when it fails (see env/parsers/tap.ts).
const expected = {
  adds: 'passed',
  subtracts: 'failed',
  'not yet': 'skipped',
  later: 'skipped', // todo
  'parser > reads numbers': 'passed',
  'parser > errors > rejects # and >': 'failed',
  'parser > errors > skipped inside': 'skipped',
  'db > queries': 'error', // cancelled: the suite's before hook threw
  db: 'error', // the hook failure itself; `parser` failed only through its subtests and is not listed
  'test/broken.test.js': 'error', // syntax error: the file never ran
};

function runNodeTap(cwd: string, args: string[]): string {
  const run = spawnSync(process.execPath, ['--test', '--test-reporter=tap', ...args], {
    cwd,
    encoding: 'utf8',
  });
  return run.stdout;
}

describe('TAP parser on captured output', () => {
  const tap = fs.readFileSync(path.join(fixtures, 'node-tap.tap'), 'utf8');
  const results = parseTestReport('tap', tap, { cwd: '/tmp/repogym-fixtures/node' });

  it('gives suite > test IDs and statuses for nested, skipped, todo, hook and load failures', () => {
    expect(statuses(results)).toEqual(expected);
  });

  it('keeps messages and durations', () => {
    const failed = results.find((r) => r.name === 'parser > errors > rejects # and >');
    expect(failed?.message).toBe('bad input');
    expect(failed?.durationMs).toBeGreaterThan(0);
    expect(results.find((r) => r.name === 'db')?.message).toBe('no connection');
  });

  it('keeps the absolute path of a failed file outside cwd', () => {
    expect(statuses(parseTestReport('tap', tap, { cwd: '/elsewhere' }))).toMatchObject({
      '/tmp/repogym-fixtures/node/test/broken.test.js': 'error',
    });
  });

  it('ignores output around the TAP stream', () => {
    const noisy = `> pkg@1.0.0 test\n> node --test --test-reporter=tap\n\n${tap}npm error code 1\n`;
    expect(statuses(parseTestReport('tap', noisy, { cwd: '/tmp/repogym-fixtures/node' }))).toEqual(expected);
  });
});

describe('TAP parser on live node --test runs', () => {
  let dir: string;

  beforeAll(() => {
    dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'repogym-parsers-')));
    fs.cpSync(path.join(fixtures, 'projects/node'), dir, { recursive: true });
  });

  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('gives the exact IDs and statuses', () => {
    expect(statuses(parseTestReport('tap', runNodeTap(dir, ['test/']), { cwd: dir }))).toEqual(expected);
  });

  it('gives a test the same ID whether it passes or fails', () => {
    const file = path.join(dir, 'test/flip.test.js');
    const source = (body: string) =>
      `const { describe, it } = require('node:test');\ndescribe('flip', () => { it('works', () => { ${body} }); });\n`;
    fs.writeFileSync(file, source(''));
    const passing = parseTestReport('tap', runNodeTap(dir, ['test/flip.test.js']), { cwd: dir });
    fs.writeFileSync(file, source("throw new Error('no');"));
    const failing = parseTestReport('tap', runNodeTap(dir, ['test/flip.test.js']), { cwd: dir });
    fs.rmSync(file);
    expect(statuses(passing)).toEqual({ 'flip > works': 'passed' });
    expect(statuses(failing)).toEqual({ 'flip > works': 'failed' });
  });

  it('merges tests with the same titles in two files, the worst status winning', () => {
    fs.mkdirSync(path.join(dir, 'twins'));
    fs.writeFileSync(path.join(dir, 'twins/a.test.js'), "require('node:test').test('same', () => {});\n");
    fs.writeFileSync(
      path.join(dir, 'twins/b.test.js'),
      "require('node:test').test('same', () => { throw new Error('b'); });\n",
    );
    expect(statuses(parseTestReport('tap', runNodeTap(dir, ['twins/']), { cwd: dir }))).toEqual({
      same: 'failed',
    });
  });
});

describe('TAP parser on a report with a raw carriage return in a YAML key', () => {
  // Captured from builtin:mini's csvlite CRLF task: Node printed an object key "qty\r" unescaped.
  const tap = fs.readFileSync(path.join(fixtures, 'node-tap-raw-cr.tap'), 'utf8');
  const results = parseTestReport('tap', tap);

  it('keeps every test after the carriage return', () => {
    const testPoints = tap.match(/^(not )?ok \d+ - /gm)!.length;
    expect(results).toHaveLength(testPoints);
    expect(results.filter((r) => r.status === 'failed').map((r) => r.name)).toEqual([
      'parse accepts CRLF line endings',
      'parse with header and CRLF line endings',
      'parse keeps CRLF inside a quoted field',
    ]);
  });
});
