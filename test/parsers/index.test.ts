import { describe, expect, it } from 'vitest';
import { parseTestReport, parsers } from '../../env/parsers/index.ts';

describe('parseTestReport', () => {
  it('dispatches on the format', () => {
    expect(Object.keys(parsers).sort()).toEqual(['jest-json', 'junit', 'pytest', 'tap']);
    expect(parseTestReport('pytest', 'PASSED t.py::a\n')).toEqual([{ name: 't.py::a', status: 'passed' }]);
    expect(parseTestReport('tap', 'TAP version 13\nok 1 - a\n1..1\n')).toEqual([
      { name: 'a', status: 'passed' },
    ]);
  });

  it('keeps one entry per ID, in first-seen order, the worst status winning', () => {
    const report = [
      'PASSED t.py::a',
      'SKIPPED t.py::b',
      'FAILED t.py::a - boom',
      'PASSED t.py::b',
      'ERROR t.py::a - teardown',
      'FAILED t.py::a - again',
      'PASSED t.py::c',
      'SKIPPED t.py::c',
    ].join('\n');
    expect(parseTestReport('pytest', report)).toEqual([
      { name: 't.py::a', status: 'error', message: 'teardown' },
      // Skipped ranks above passed: a test reported both ways did not pass.
      { name: 't.py::b', status: 'skipped' },
      { name: 't.py::c', status: 'skipped' },
    ]);
  });
});
