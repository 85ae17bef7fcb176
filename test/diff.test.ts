import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { diffStat, filesOf, isTestPath, splitDiff } from '../env/diff.ts';

const dir = mkdtempSync(path.join(os.tmpdir(), 'repogym-diff-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A real `git diff` over files with unusual names, created, modified, renamed and symlinked. */
function realDiff(): string {
  const git = (...args: string[]) =>
    execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', ...args], { cwd: dir }).toString();
  git('init', '-q');
  mkdirSync(path.join(dir, 'dé'));
  mkdirSync(path.join(dir, 'sp ace'));
  writeFileSync(path.join(dir, 'dé', 'conftest.py'), 'a\n');
  writeFileSync(path.join(dir, 'sp ace', 'x y.py'), 'a\n');
  writeFileSync(path.join(dir, 'old'), 'same\n');
  git('add', '-A');
  git('commit', '-qm', 'base');
  writeFileSync(path.join(dir, 'dé', 'conftest.py'), 'b\n');
  writeFileSync(path.join(dir, 'sp ace', 'x y.py'), 'b\n');
  execFileSync('mv', [path.join(dir, 'old'), path.join(dir, 'ta"b')]);
  symlinkSync('/etc/passwd', path.join(dir, 'link'));
  git('add', '-A');
  return git('diff', '--cached', '-M');
}

describe('splitDiff on real git output', () => {
  const sections = splitDiff(realDiff());

  it('unquotes C-quoted paths and strips the tab after names with spaces', () => {
    expect(filesOf(sections.map((s) => s.text).join(''))).toEqual(
      expect.arrayContaining(['dé/conftest.py', 'sp ace/x y.py', 'old', 'ta"b', 'link']),
    );
  });

  it('reports a new symlink as a created path', () => {
    const link = sections.find((s) => s.newPath === 'link')!;
    expect(link.oldPath).toBeNull();
  });

  it('counts files and lines', () => {
    expect(diffStat(sections.map((s) => s.text).join(''))).toMatchObject({ files: 4 });
  });
});

describe('isTestPath', () => {
  it.each([
    'tests/test_x.py',
    'pkg/test_x.py',
    'pkg/x_test.py',
    'dé/conftest.py',
    'pytest.ini',
    'test/a.js',
    'src/a.test.js',
    'src/a-test.mjs',
    'src/a_test.cjs',
    'src/test-a.js',
    'src/test.js',
    'src/a.spec.ts',
    'vitest.config.ts',
    'calc_tools-1.0.dist-info/entry_points.txt',
    'src/pkg.egg-info/entry_points.txt',
    'x-1.0.DIST-INFO/entry_points.txt',
    'pytest.toml',
    '.pytest.ini',
    'pytest.py',
    '_pytest/runner.py',
    'tests/helpers.py',
    'jest.config.js',
    '.mocharc.yml',
  ])('%s is a test path', (p) => expect(isTestPath(p)).toBe(true));

  it.each([
    'src/contest.py',
    'src/latest.js',
    'src/testing_utils_impl.ts',
    'README.md',
    'package.json',
    'django/test/utils.py',
    'numpy/testing/checks.py',
    'pkg/pytest_plugin_docs.md',
  ])('%s is not a test path', (p) => expect(isTestPath(p)).toBe(false));
});
