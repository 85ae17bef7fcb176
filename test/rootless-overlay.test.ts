// The overlay layer without mount privileges: a keeper process holds the mount in its own user and mount
// namespace (env/sandbox/local.ts). CI runs as root, so `layer: 'overlay-userns'` forces that variant; the last
// test runs a sandbox as a user without privileges (nobody, when we are root).
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { git } from '../env/git.ts';
import { createLocalSandbox, ensurePristine, sweepStaleSandboxes } from '../env/sandbox/local.ts';
import type { Sandbox } from '../env/sandbox/types.ts';
import { isRunning, makeRepo, removeDir, treeHash, withHostPid } from './helpers.ts';

const ROOT = path.resolve(import.meta.dirname, '..');

let repo: { dir: string; commit: string };
beforeAll(async () => {
  repo = await makeRepo({ 'src/a.txt': 'alpha\n', 'docs/old.md': '# old\n' });
});
afterAll(() => removeDir(repo.dir));

const forced = (isolation: 'bwrap' | 'none' = 'bwrap') =>
  createLocalSandbox({ repo: repo.dir, commit: repo.commit, layer: 'overlay-userns', isolation });

/** The keeper's pid, from the path this process opens the tree by. */
async function keeperOf(sb: Sandbox): Promise<number> {
  const match = /^\/proc\/(\d+)\/root\//.exec(await sb.resolve('.'));
  expect(match).not.toBeNull();
  return Number(match![1]);
}

/** Alive and not a zombie: our CI's pid 1 does not reap orphans. */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** Processes in the mount namespace `ns` (a `mnt:[…]` link): while one lives, so does the overlay mount. */
function inNamespace(ns: string): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((entry) => {
      try {
        return readlinkSync(`/proc/${entry}/ns/mnt`) === ns;
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** Polls `check` until it holds, for at most `ms` (SIGKILL and EOF are asynchronous). */
async function eventually(check: () => boolean, ms = 10_000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!check() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  return check();
}

describe.each(['bwrap', 'none'] as const)('user-namespace overlay, isolation %s', (isolation) => {
  let sb: Sandbox;
  beforeAll(async () => {
    sb = await forced(isolation);
  });
  afterAll(() => sb.dispose());

  it('is an overlay held by a keeper, not a worktree', async () => {
    expect(sb.layer).toBe('overlay');
    expect(sb.isolation).toBe(isolation);
    expect(running(await keeperOf(sb))).toBe(true);
    // The mount lives in the keeper's namespace only: here the tree's path is the empty mount point.
    expect(readdirSync(sb.root)).toEqual([]);
    const r = await sb.exec('pwd; test -d .git && echo git-dir; cat src/a.txt');
    expect(r.exitCode).toBe(0);
    expect(r.output).toBe(`${sb.root}\ngit-dir\nalpha\n`);
  });

  it('writes go both ways and the pristine checkout stays as it was', async () => {
    const pristine = await ensurePristine(repo.dir, repo.commit);
    const before = await treeHash(pristine.dir);
    await sb.writeFile('src/a.txt', 'from the harness\n');
    const r = await sb.exec(
      'cat src/a.txt; echo from a command > src/b.txt; rm -r docs; mkdir docs; echo new > docs/new.md',
    );
    expect(r.exitCode).toBe(0);
    expect(r.output).toBe('from the harness\n');
    expect(await sb.readFile('src/b.txt')).toBe('from a command\n');
    expect(await sb.readFile('docs/new.md')).toBe('new\n');
    // A directory deleted from the lower layer and made again does not show the lower one's files.
    const missing = await sb.readFile('docs/old.md').catch((err: NodeJS.ErrnoException) => err);
    expect(missing).toMatchObject({ code: 'ENOENT' });
    expect((missing as Error).message).not.toContain('/proc/');
    expect((await sb.exec('ls docs')).output).toBe('new.md\n');
    expect(await treeHash(pristine.dir)).toBe(before);
    expect(await readFile(path.join(repo.dir, 'src/a.txt'), 'utf8')).toBe('alpha\n');
    expect((await git(['status', '--porcelain'], { cwd: pristine.dir })).trim()).toBe('');
  });

  it('diff() shows the changes of both sides', async () => {
    const diff = await sb.diff();
    expect(diff).toContain('+from the harness');
    expect(diff).toContain('+++ b/src/b.txt');
    expect(diff).toContain('+++ b/docs/new.md');
    expect(diff).toMatch(/deleted file mode 100644\nindex \w+\.\.0+\n--- a\/docs\/old\.md/);
  });

  it('runs a command in a subdirectory, as the command sees it', async () => {
    const r = await sb.exec('pwd', { cwd: 'src' });
    expect(r.output.trim()).toBe(path.join(sb.root, 'src'));
  });

  it('kills a sleeping command and its child at the timeout', async () => {
    const r = await sb.exec(`${withHostPid('child', 'sleep 1000')} & sleep 1000`, { timeoutSec: 1 });
    expect(r.timedOut).toBe(true);
    expect(r.exitCode).toBeNull();
    const child = Number(/child=(\d+)/.exec(r.output)?.[1]);
    expect(child).toBeGreaterThan(0);
    expect(await isRunning(child)).toBe(false);
  });

  it('rejects symlinks that escape, and follows those that stay inside in the namespace', async () => {
    await symlink('/etc', path.join(await sb.resolve('.'), 'etc-link'));
    const made = await sb.exec(
      'ln -s ../../../../../../../../etc/passwd rel-out && ln -s /etc/passwd abs-out && ln -s "$PWD/src/a.txt" abs-in',
    );
    expect(made.exitCode).toBe(0);
    await expect(sb.readFile('etc-link/passwd')).rejects.toThrow(/through a symlink/);
    await expect(sb.writeFile('etc-link/evil', 'x')).rejects.toThrow(/through a symlink/);
    await expect(sb.readFile('rel-out')).rejects.toThrow(/through a symlink/);
    await expect(sb.readFile('abs-out')).rejects.toThrow(/through a symlink/);
    await expect(sb.readFile('src/../../outside')).rejects.toThrow(/outside the sandbox/);
    expect(existsSync('/etc/evil')).toBe(false);
    // An absolute link to the tree's own path means the overlay, not this namespace's empty mount point.
    expect(await sb.readFile('abs-in')).toBe('from the harness\n');
    await sb.writeFile('abs-in', 'through the link\n');
    expect((await sb.exec('cat src/a.txt')).output).toBe('through the link\n');
  });
});

it('dispose leaves no keeper, mount or directory', async () => {
  const sb = await forced();
  expect((await sb.exec('true')).exitCode).toBe(0);
  const keeper = await keeperOf(sb);
  const ns = readlinkSync(`/proc/${keeper}/ns/mnt`);
  expect(inNamespace(ns)).toContain(keeper);
  const dir = path.dirname(sb.root);
  await sb.dispose();
  await sb.dispose();
  expect(running(keeper)).toBe(false);
  expect(inNamespace(ns)).toEqual([]);
  expect(existsSync(dir)).toBe(false);
  await expect(sb.readFile('src/a.txt')).rejects.toThrow(/disposed/);
});

it('a keeper ends with its killed owner, and the sweep removes the rest', async () => {
  const script = `
    import { createLocalSandbox } from './env/sandbox/local.ts';
    const sb = await createLocalSandbox({ repo: ${JSON.stringify(repo.dir)}, commit: ${JSON.stringify(repo.commit)}, layer: 'overlay-userns' });
    await sb.writeFile('left.txt', 'x');
    console.log('ready ' + (await sb.resolve('.')));
    setInterval(() => {}, 1000);`;
  // Its own temp root: another test file's sweep (they run in parallel) must not remove the dead owner's dir first.
  const tmpRoot = await mkdtemp(path.join(os.tmpdir(), 'keeper-owner-'));
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: ROOT,
    env: { ...process.env, TMPDIR: tmpRoot },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise((r) => child.once('exit', r));
  const hostRoot = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      const match = /ready (\S+)/.exec(chunk.toString());
      if (match) resolve(match[1]!);
    });
    void exited.then((code) => reject(new Error(`child exited with ${String(code)}`)));
  });
  const keeper = Number(/^\/proc\/(\d+)\//.exec(hostRoot)![1]);
  const ns = readlinkSync(`/proc/${keeper}/ns/mnt`);
  const dir = path.dirname(hostRoot.replace(/^\/proc\/\d+\/root/, ''));
  expect(existsSync(dir)).toBe(true);
  child.kill('SIGKILL');
  await exited;
  expect(await eventually(() => !running(keeper))).toBe(true);
  expect(inNamespace(ns)).toEqual([]);
  expect(existsSync(dir)).toBe(true);
  await sweepStaleSandboxes(tmpRoot);
  expect(existsSync(dir)).toBe(false);
  await rm(tmpRoot, { recursive: true, force: true });
});

it('falls back to a worktree where the keeper cannot mount; a required overlay fails loudly', async () => {
  // overlayfs takes its directories as comma-separated options: a comma in the path makes every mount fail.
  const cacheDir = await mkdtemp(path.join(path.dirname(repo.dir), 'odd,cache-'));
  try {
    for (const layer of ['overlay-userns', 'overlay'] as const) {
      await expect(
        createLocalSandbox({ repo: repo.dir, commit: repo.commit, cacheDir, layer }),
      ).rejects.toThrow(new RegExp(`user-namespace overlay could not be mounted.*"${layer}" was required`));
    }
    const sb = await createLocalSandbox({ repo: repo.dir, commit: repo.commit, cacheDir });
    try {
      expect(sb.layer).toBe('worktree');
      expect(await sb.readFile('src/a.txt')).toBe('alpha\n');
    } finally {
      await sb.dispose();
    }
  } finally {
    await rm(cacheDir, { recursive: true, force: true });
  }
});

// As a user without privileges, `auto` gives the user-namespace overlay. The script reports what it saw; the
// assertions are here. /work/main and node_modules are world-readable, so nobody can run it with our tsx.
const UNPRIVILEGED_SCRIPT = `
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createLocalSandbox } from './env/sandbox/local.ts';
import { isRunning, withHostPid } from './test/helpers.ts';
const repo = path.join(process.env.TMPDIR, 'repo');
mkdirSync(path.join(repo, 'src'), { recursive: true });
writeFileSync(path.join(repo, 'src/a.txt'), 'alpha\\n');
const identity = { GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t' };
const git = (...args) => execFileSync('git', args, { cwd: repo, env: { ...process.env, ...identity } }).toString().trim();
git('init', '-q', '-b', 'main'); git('add', '-A'); git('commit', '-q', '-m', 'base');
const sb = await createLocalSandbox({ repo, commit: git('rev-parse', 'HEAD') });
const hostRoot = await sb.resolve('.');
const keeper = Number(/^\\/proc\\/(\\d+)\\//.exec(hostRoot)?.[1]);
const seen = { uid: process.getuid(), layer: sb.layer, hostRoot, keeperRan: existsSync('/proc/' + keeper) };
await sb.writeFile('src/a.txt', 'beta\\n');
seen.command = (await sb.exec('cat src/a.txt; echo gamma > src/c.txt')).output;
seen.read = await sb.readFile('src/c.txt');
seen.diff = await sb.diff();
const slow = await sb.exec(withHostPid('child', 'sleep 1000') + ' & sleep 1000', { timeoutSec: 1 });
seen.timedOut = slow.timedOut;
seen.childRunning = await isRunning(Number(/child=(\\d+)/.exec(slow.output)?.[1]));
symlinkSync('/etc', path.join(hostRoot, 'etc-link'));
seen.escape = await sb.readFile('etc-link/passwd').then(() => 'read', (err) => err.message);
await sb.dispose();
seen.keeperAfter = existsSync('/proc/' + keeper) && !/\\) Z/.test(readFileSync('/proc/' + keeper + '/stat', 'utf8'));
seen.dirAfter = existsSync(path.dirname(sb.root));
console.log(JSON.stringify(seen));
`;

it('works for a user without privileges (auto picks the user-namespace overlay)', async () => {
  // The test's own TMPDIR is private to root: nobody gets a directory of its own under /tmp.
  const dir = await mkdtemp('/tmp/repogym-rootless-');
  await chmod(dir, 0o777);
  try {
    const env = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: dir,
      TMPDIR: dir,
      REPOGYM_CACHE: path.join(dir, 'cache'),
    };
    const node = [process.execPath, '--import', 'tsx', '--input-type=module', '-e', UNPRIVILEGED_SCRIPT];
    const argv =
      process.getuid?.() === 0
        ? [
            'runuser',
            '-u',
            'nobody',
            '--',
            'env',
            ...Object.entries(env).map(([k, v]) => `${k}=${v}`),
            ...node,
          ]
        : node;
    const child = spawn(argv[0]!, argv.slice(1), {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let printed = '';
    child.stdout.on('data', (chunk: Buffer) => (printed += chunk.toString()));
    const code = await new Promise((r) => child.once('exit', r));
    expect(code).toBe(0);
    const seen = JSON.parse(printed.trim().split('\n').pop()!) as Record<string, unknown>;
    expect(seen.uid).not.toBe(0);
    expect(seen.layer).toBe('overlay');
    expect(seen.hostRoot).toMatch(/^\/proc\/\d+\/root\/tmp\/repogym-rootless-/);
    expect(seen.keeperRan).toBe(true);
    expect(seen.command).toBe('beta\n');
    expect(seen.read).toBe('gamma\n');
    expect(seen.diff).toContain('+beta');
    expect(seen.diff).toContain('+++ b/src/c.txt');
    expect(seen.timedOut).toBe(true);
    expect(seen.childRunning).toBe(false);
    expect(seen.escape).toMatch(/through a symlink/);
    expect(seen.keeperAfter).toBe(false);
    expect(seen.dirAfter).toBe(false);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
