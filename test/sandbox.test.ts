import { existsSync } from 'node:fs';
import { readFile, symlink } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { git } from '../env/git.ts';
import { createLocalSandbox } from '../env/sandbox/local.ts';
import type { Sandbox } from '../env/sandbox/types.ts';
import { isRunning, makeRepo, removeDir, withHostPid } from './helpers.ts';

let repo: { dir: string; commit: string };

beforeAll(async () => {
  repo = await makeRepo({ 'src/a.txt': 'alpha\n', 'README.md': '# fixture\n' });
});
afterAll(() => removeDir(repo.dir));

describe.each(['overlay', 'worktree'] as const)('local sandbox (%s layer)', (layer) => {
  let sb: Sandbox;
  beforeAll(async () => {
    sb = await createLocalSandbox({ repo: repo.dir, commit: repo.commit, layer });
  });
  afterAll(() => sb.dispose());

  it('uses the requested layer and reads the base tree', async () => {
    expect(sb.layer).toBe(layer);
    expect(await sb.readFile('src/a.txt')).toBe('alpha\n');
  });

  it('edits stay in the sandbox and show in the diff, new files included', async () => {
    await sb.writeFile('src/a.txt', 'beta\n');
    await sb.writeFile('new/b.txt', 'new\n');
    expect(await readFile(path.join(repo.dir, 'src/a.txt'), 'utf8')).toBe('alpha\n');
    expect(existsSync(path.join(repo.dir, 'new'))).toBe(false);
    const diff = await sb.diff();
    expect(diff).toContain('-alpha');
    expect(diff).toContain('+beta');
    expect(diff).toContain('+++ b/new/b.txt');
    expect((await git(['status', '--porcelain'], { cwd: repo.dir })).trim()).toBe('');
  });

  it('rejects paths escaping the tree, directly or through symlinks', async () => {
    await expect(sb.readFile('../outside')).rejects.toThrow(/outside the sandbox/);
    await expect(sb.readFile('/etc/passwd')).rejects.toThrow(/outside the sandbox/);
    await symlink('/etc', path.join(sb.root, 'etc-link'));
    await expect(sb.readFile('etc-link/passwd')).rejects.toThrow(/through a symlink/);
    await expect(sb.writeFile('etc-link/evil', 'x')).rejects.toThrow(/through a symlink/);
    await symlink('/nonexistent-repogym-target', path.join(sb.root, 'dangling'));
    await expect(sb.writeFile('dangling', 'x')).rejects.toThrow(/dangling symlink/);
    expect(existsSync('/nonexistent-repogym-target')).toBe(false);
  });

  it('runs commands in the tree with a scrubbed environment', async () => {
    process.env.REPOGYM_TEST_API_KEY = 'sk-secret';
    const r = await sb.exec('pwd; env');
    delete process.env.REPOGYM_TEST_API_KEY;
    expect(r.exitCode).toBe(0);
    expect(r.output.split('\n')[0]).toBe(sb.root);
    expect(r.output).not.toContain('sk-secret');
    expect(r.output).toMatch(/^HOME=.*repogym-sb-/m);
    expect(r.telemetry.wallMs).toBeGreaterThanOrEqual(0);
  });
});

describe('process control', () => {
  let sb: Sandbox;
  beforeAll(async () => {
    sb = await createLocalSandbox({ repo: repo.dir, commit: repo.commit });
  });
  afterAll(() => sb.dispose());

  it('kills a command that sleeps forever at its timeout, children included', async () => {
    const r = await sb.exec(`${withHostPid('child', 'sleep 1000')} & sleep 1000`, { timeoutSec: 1 });
    expect(r.timedOut).toBe(true);
    expect(r.exitCode).toBeNull();
    expect(r.telemetry.wallMs).toBeLessThan(10_000);
    const childPid = Number(/child=(\d+)/.exec(r.output)?.[1]);
    expect(childPid).toBeGreaterThan(0);
    expect(await isRunning(childPid)).toBe(false);
  });

  it('caps a 100 MB output, keeping head and tail', async () => {
    const r = await sb.exec('echo START; head -c 100000000 /dev/zero | tr "\\0" "x"; echo; echo END', {
      maxOutputBytes: 4096,
    });
    expect(r.exitCode).toBe(0);
    expect(r.output.length).toBeLessThan(5000);
    expect(r.output.startsWith('START')).toBe(true);
    expect(r.output.trimEnd().endsWith('END')).toBe(true);
    expect(r.output).toMatch(/\[\.\.\. \d+ bytes truncated \.\.\.\]/);
    expect(r.truncatedBytes).toBeGreaterThan(99_000_000);
  });

  it('records CPU time and peak memory', async () => {
    const r = await sb.exec(['python3', '-c', 'x = bytearray(80 * 1024 * 1024); sum(range(3_000_000))']);
    expect(r.exitCode).toBe(0);
    expect(r.telemetry.peakRssKb).toBeGreaterThan(80 * 1024);
    expect(r.telemetry.cpuMs).toBeGreaterThan(0);
  });

  it('leaves no background process behind after a command returns', async () => {
    const r = await sb.exec(`${withHostPid('bg', 'sleep 1000')} & sleep 0.2`);
    const pid = Number(/bg=(\d+)/.exec(r.output)?.[1]);
    expect(r.exitCode).toBe(0);
    expect(await isRunning(pid)).toBe(false);
  });
});

it('dispose removes the tree and its mount', async () => {
  const sb = await createLocalSandbox({ repo: repo.dir, commit: repo.commit });
  const root = sb.root;
  await sb.writeFile('x.txt', 'x');
  await sb.dispose();
  await sb.dispose();
  expect(existsSync(path.dirname(root))).toBe(false);
  expect(await readFile('/proc/self/mountinfo', 'utf8')).not.toContain(root);
});

describe('processes that leave the process group', () => {
  let sb: Sandbox;
  beforeAll(async () => {
    sb = await createLocalSandbox({ repo: repo.dir, commit: repo.commit });
  });
  afterAll(() => sb.dispose());

  it('kills a setsid/nohup double-forked child when the command returns', async () => {
    const r = await sb.exec(
      `setsid -f ${withHostPid('a', 'sleep 1000')}; (nohup ${withHostPid('b', 'sleep 1001')} &); sleep 0.2`,
    );
    const pids = [...r.output.matchAll(/[ab]=(\d+)/g)].map((m) => Number(m[1]));
    expect(pids).toHaveLength(2);
    for (const pid of pids) expect(await isRunning(pid)).toBe(false);
  });

  it('kills an escaped child at the timeout too', async () => {
    const r = await sb.exec(`setsid -f ${withHostPid('escaped', 'sleep 1000')}; sleep 1000`, {
      timeoutSec: 1,
    });
    expect(r.timedOut).toBe(true);
    const pid = Number(/escaped=(\d+)/.exec(r.output)?.[1]);
    expect(pid).toBeGreaterThan(0);
    expect(await isRunning(pid)).toBe(false);
  });
});

describe('memory limit without cgroups', () => {
  it('the RSS watchdog kills a memory hog and the result says so', async () => {
    const sb = await createLocalSandbox({
      repo: repo.dir,
      commit: repo.commit,
      memoryMb: 200,
      cgroups: false,
    });
    try {
      const hog = await sb.exec(
        [
          'python3',
          '-c',
          'import time\nx = []\nwhile True:\n    x.append(bytearray(16 << 20)); time.sleep(0.01)',
        ],
        { timeoutSec: 20 },
      );
      expect(hog.timedOut).toBe(false);
      expect(hog.outOfMemory).toBe(true);
      expect(hog.output).toContain("the sandbox's memory limit (200 MiB) was exceeded");
      const small = await sb.exec(['python3', '-c', 'x = bytearray(50 << 20)']);
      expect(small.outOfMemory).toBe(false);
      expect(small.exitCode).toBe(0);
    } finally {
      await sb.dispose();
    }
  });
});

describe("diff does not depend on the tree's .git", () => {
  it('survives rm -rf .git and ignores hooks planted in .git/config', async () => {
    const sb = await createLocalSandbox({ repo: repo.dir, commit: repo.commit });
    try {
      const marker = path.join(path.dirname(sb.root), 'fsmonitor-ran');
      await sb.exec(`git config core.fsmonitor "touch ${marker}; false"`);
      await sb.writeFile('src/a.txt', 'changed\n');
      expect(await sb.diff()).toContain('+changed');
      expect(existsSync(marker)).toBe(false);
      await sb.exec('rm -rf .git');
      const diff = await sb.diff();
      expect(diff).toContain('+changed');
      expect(diff).not.toContain('.git/');
    } finally {
      await sb.dispose();
    }
  });
});
