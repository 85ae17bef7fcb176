// Local sandbox: a copy-on-write layer (overlayfs) over a pristine checkout, or a git worktree where the
// process may not mount. Commands run under bubblewrap where it works (isolation.ts), else as plain
// processes of this machine; either way every *file action* is confined to the tree, and cgroups (or a
// watchdog) limit memory and processes.
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import {
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  realpath,
  rename,
  rm,
  stat,
  writeFile,
} from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { FIXED_IDENTITY, git, gitSequence } from '../git.ts';
import { createContainment, processAlive, sweepStaleCgroups } from './containment.ts';
import { DEFAULT_MAX_OUTPUT_BYTES, runCommand, scrubbedEnv } from './exec.ts';
import { bwrapPrefix, resolveIsolation, type IsolationMode } from './isolation.ts';
import { SandboxPathError, type ExecOptions, type ExecResult, type Sandbox } from './types.ts';

const execFileAsync = promisify(execFile);

export const SANDBOX_PREFIX = 'repogym-sb-';
const MAX_READ_BYTES = 32 * 1024 * 1024;

export function defaultCacheDir(): string {
  return process.env.REPOGYM_CACHE || path.join(os.homedir(), '.cache', 'repogym');
}

export interface LocalSandboxOptions {
  repo: string;
  commit: string;
  cacheDir?: string;
  layer?: 'auto' | 'overlay' | 'worktree';
  /** `auto`: bwrap where it works, else `none` (with a warning). */
  isolation?: IsolationMode;
  /** Memory of all the sandbox's processes together (default 4096 MiB). */
  memoryMb?: number;
  /** Most processes at once (default 4096). */
  pidsMax?: number;
  /** false: enforce the memory limit with the RSS watchdog even where cgroups are writable. */
  cgroups?: boolean;
  defaultTimeoutSec?: number;
}

export interface Pristine {
  dir: string;
  /** The single commit of the pristine repository (its tree is `commit` of the source repo). */
  head: string;
}

/**
 * One read-only checkout per (repo, commit), shared by every episode on it. It holds a fresh one-commit
 * history: the source repo's later commits (which may contain the fix) never reach the agent.
 */
export async function ensurePristine(
  repo: string,
  commit: string,
  cacheDir = defaultCacheDir(),
): Promise<Pristine> {
  const source = await realpath(repo);
  const key = createHash('sha256').update(source).digest('hex').slice(0, 16);
  const dir = path.join(cacheDir, 'pristine', `${key}-${commit}`);
  if (!existsSync(dir)) {
    await mkdir(path.dirname(dir), { recursive: true });
    const building = `${dir}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
    try {
      await mkdir(building);
      const index = `${building}.index`;
      // A private index: the source repo's own index and work tree are never touched.
      await git(['read-tree', commit], { cwd: source, env: { GIT_INDEX_FILE: index } });
      await git(['checkout-index', '-a', '-f', `--prefix=${building}/`], {
        cwd: source,
        env: { GIT_INDEX_FILE: index },
      });
      await rm(index, { force: true });
      await git(['init', '-q', '-b', 'main'], { cwd: building });
      await git(['add', '-A', '-f'], { cwd: building });
      await git(['commit', '-q', '--allow-empty', '-m', `base ${commit}`], {
        cwd: building,
        env: FIXED_IDENTITY,
      });
      await rename(building, dir).catch(async (err: NodeJS.ErrnoException) => {
        // Another process built the same checkout first: use theirs.
        if (err.code !== 'ENOTEMPTY' && err.code !== 'EEXIST') throw err;
      });
    } finally {
      await rm(building, { recursive: true, force: true });
    }
  }
  const head = (await git(['rev-parse', 'HEAD'], { cwd: dir })).trim();
  return { dir, head };
}

function isInside(root: string, candidate: string): boolean {
  const rel = path.relative(root, candidate);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

async function lstatOrNull(p: string) {
  return lstat(p).catch(() => null);
}

/** Resolves `relPath` under `root`, rejecting anything that leaves it, through `..` or through symlinks. */
export async function resolveInside(root: string, relPath: string): Promise<string> {
  if (typeof relPath !== 'string' || relPath.length === 0)
    throw new SandboxPathError(String(relPath), 'is empty');
  if (relPath.includes('\0')) throw new SandboxPathError(relPath, 'contains a NUL byte');
  const abs = path.resolve(root, relPath);
  if (!isInside(root, abs)) throw new SandboxPathError(relPath, 'is outside the sandbox');
  const realRoot = await realpath(root);
  let probe = abs;
  while (!(await lstatOrNull(probe))) probe = path.dirname(probe);
  let real: string;
  try {
    real = await realpath(probe);
  } catch {
    throw new SandboxPathError(relPath, 'goes through a dangling symlink');
  }
  if (!isInside(realRoot, real))
    throw new SandboxPathError(relPath, 'leads outside the sandbox through a symlink');
  return abs;
}

async function mountedPaths(): Promise<Set<string>> {
  const info = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  return new Set(info.split('\n').map((line) => line.split(' ')[4] ?? ''));
}

async function unmount(target: string): Promise<void> {
  await execFileAsync('umount', [target]).catch(() => execFileAsync('umount', ['-l', target]));
}

let sweptStale = false;

/** Removes sandboxes whose owning process died (kill -9, crash): their mounts and files. */
export async function sweepStaleSandboxes(tmpRoot = os.tmpdir()): Promise<number> {
  await sweepStaleCgroups();
  const mounted = await mountedPaths();
  let removed = 0;
  for (const name of await readdir(tmpRoot).catch(() => [] as string[])) {
    if (!name.startsWith(SANDBOX_PREFIX)) continue;
    const dir = path.join(tmpRoot, name);
    // The owner's pid is part of the name, so there is no moment when a fresh sandbox looks ownerless.
    const owner = Number(name.slice(SANDBOX_PREFIX.length).split('-')[0]);
    if (Number.isInteger(owner) && owner > 0 && processAlive(owner)) continue;
    const tree = path.join(dir, 'repo');
    if (mounted.has(tree)) await unmount(tree);
    await rm(dir, { recursive: true, force: true });
    removed++;
  }
  return removed;
}

async function tryOverlay(lower: string, episodeDir: string, tree: string): Promise<boolean> {
  if (process.getuid?.() !== 0) return false;
  const upper = path.join(episodeDir, 'upper');
  const work = path.join(episodeDir, 'work');
  await mkdir(upper);
  await mkdir(work);
  try {
    await execFileAsync('mount', [
      '-t',
      'overlay',
      'overlay',
      '-o',
      `lowerdir=${lower},upperdir=${upper},workdir=${work}`,
      tree,
    ]);
    return true;
  } catch {
    return false;
  }
}

/** Where a local sandbox's tree lives; a command runner mounts these. */
export interface TreeLayout {
  root: string;
  home: string;
  tmp: string;
  episodeDir: string;
  /** Writable, at the same path inside an isolation layer: the tree, the home, a worktree's git dir. */
  writable: string[];
  /** Read-only at the same path (a worktree's pristine .git), mounted before `writable`. */
  readOnly: string[];
  /** The worktree's own git dir in the pristine checkout (worktree layer). */
  worktreeGitDir?: string;
}

/** Runs the commands of a sandbox whose tree, files and diff stay on this machine. */
export interface CommandRunner {
  /** 'bwrap', 'none', 'docker'. */
  readonly isolation: string;
  /** `opts.cwd` is an absolute path inside the tree. */
  exec(command: string | string[], opts: ExecOptions & { cwd: string }): Promise<ExecResult>;
  dispose(): Promise<void>;
}

/** Runs commands as processes of this machine, under bwrap or not, in the sandbox's cgroups. */
async function processRunner(opts: LocalSandboxOptions, tree: TreeLayout): Promise<CommandRunner> {
  const isolation = resolveIsolation(opts.isolation);
  const containment = await createContainment(path.basename(tree.episodeDir), {
    memoryMb: opts.memoryMb,
    pidsMax: opts.pidsMax,
    pidNamespace: isolation === 'none',
    cgroups: opts.cgroups,
  });
  const bwrap = isolation === 'bwrap';
  const mounts = { writable: [...tree.writable, tree.tmp], readOnly: tree.readOnly };
  return {
    isolation,
    exec(command, execOpts) {
      const env = { ...scrubbedEnv(tree.home, tree.tmp, execOpts.env), ...containment.env };
      return runCommand(command, {
        cwd: execOpts.cwd,
        env,
        timeoutSec: execOpts.timeoutSec ?? opts.defaultTimeoutSec ?? 30,
        maxOutputBytes: execOpts.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES,
        telemetryFile: path.join(tree.episodeDir, `time-${randomBytes(4).toString('hex')}`),
        stdin: execOpts.stdin,
        enter: containment.enter,
        isolate: bwrap ? bwrapPrefix({ ...mounts, cwd: execOpts.cwd, env }) : undefined,
        killAll: () => containment.killAll(),
        watchMemory: () => containment.watchMemory(),
        memoryMb: containment.memoryMb,
      });
    },
    dispose: () => containment.dispose(),
  };
}

export async function createLocalSandbox(
  opts: LocalSandboxOptions,
  makeRunner: (tree: TreeLayout) => Promise<CommandRunner> = (tree) => processRunner(opts, tree),
): Promise<Sandbox> {
  if (!sweptStale) {
    sweptStale = true;
    await sweepStaleSandboxes();
  }
  const pristine = await ensurePristine(opts.repo, opts.commit, opts.cacheDir);
  const episodeDir = await mkdtemp(path.join(os.tmpdir(), `${SANDBOX_PREFIX}${process.pid}-`));
  const root = path.join(episodeDir, 'repo');
  const home = path.join(episodeDir, 'home');
  const tmp = path.join(episodeDir, 'tmp');
  const tree: TreeLayout = { root, home, tmp, episodeDir, writable: [root, home], readOnly: [] };
  let layer: 'overlay' | 'worktree' = 'worktree';
  let runner: CommandRunner | undefined;
  try {
    await Promise.all([mkdir(root), mkdir(home), mkdir(tmp), mkdir(path.join(episodeDir, 'objects'))]);
    if (opts.layer !== 'worktree' && (await tryOverlay(pristine.dir, episodeDir, root))) {
      layer = 'overlay';
    } else if (opts.layer === 'overlay') {
      throw new Error(
        'overlay mount failed (needs root or a user namespace) and layer "overlay" was required',
      );
    } else {
      await rm(root, { recursive: true });
      await git(['worktree', 'add', '-q', '--detach', root, pristine.head], { cwd: pristine.dir });
      // The worktree's .git is a file pointing into the pristine checkout: git inside an isolation layer
      // needs that visible, and its own part of it writable.
      const pointer = await readFile(path.join(root, '.git'), 'utf8');
      tree.worktreeGitDir = pointer.replace(/^gitdir: /, '').trim();
      tree.writable.push(tree.worktreeGitDir);
      tree.readOnly.push(path.join(pristine.dir, '.git'));
    }
    runner = await makeRunner(tree);
  } catch (err) {
    if (layer === 'overlay') await unmount(root);
    await rm(episodeDir, { recursive: true, force: true });
    throw err;
  }
  return new LocalSandbox(tree, layer, pristine, runner);
}

class LocalSandbox implements Sandbox {
  private disposed = false;
  readonly root: string;
  readonly isolation: string;

  constructor(
    private readonly tree: TreeLayout,
    readonly layer: 'overlay' | 'worktree',
    private readonly pristine: Pristine,
    private readonly runner: CommandRunner,
  ) {
    this.root = tree.root;
    this.isolation = runner.isolation;
  }

  private assertLive(): void {
    if (this.disposed) throw new Error('sandbox was disposed');
  }

  async exec(command: string | string[], opts: ExecOptions = {}): Promise<ExecResult> {
    this.assertLive();
    const cwd = opts.cwd ? await this.resolve(opts.cwd) : this.root;
    return this.runner.exec(command, { ...opts, cwd });
  }

  resolve(relPath: string): Promise<string> {
    this.assertLive();
    return resolveInside(this.root, relPath);
  }

  async readFile(relPath: string): Promise<string> {
    const abs = await this.resolve(relPath);
    const info = await stat(abs);
    if (info.isDirectory()) throw Object.assign(new Error(`${relPath} is a directory`), { code: 'EISDIR' });
    // A FIFO or device would block or never end.
    if (!info.isFile())
      throw Object.assign(new Error(`${relPath} is not a regular file`), { code: 'EINVAL' });
    if (info.size > MAX_READ_BYTES) {
      const message = `${relPath} has ${info.size} bytes; files over ${MAX_READ_BYTES} bytes are not read (use run with head/sed)`;
      throw Object.assign(new Error(message), { code: 'ERR_FS_FILE_TOO_LARGE' });
    }
    return readFile(abs, 'utf8');
  }

  async writeFile(relPath: string, content: string): Promise<void> {
    const abs = await this.resolve(relPath);
    const existing = await stat(abs).catch(() => null);
    // Writing to a FIFO blocks; to a device node, writes outside the tree.
    if (existing && !existing.isFile()) {
      const code = existing.isDirectory() ? 'EISDIR' : 'EINVAL';
      throw Object.assign(new Error(`${relPath} is not a regular file`), { code });
    }
    await mkdir(path.dirname(abs), { recursive: true });
    await writeFile(abs, content);
  }

  async diff(): Promise<string> {
    this.assertLive();
    // Git metadata from the pristine checkout, objects and index in the episode dir: whatever the agent did to
    // the tree's .git (deleted it, added hooks or an fsmonitor to its config) neither breaks nor runs here.
    const gitDir = path.join(this.pristine.dir, '.git');
    const env = {
      GIT_DIR: gitDir,
      GIT_WORK_TREE: this.root,
      GIT_INDEX_FILE: path.join(this.tree.episodeDir, 'diff.index'),
      GIT_OBJECT_DIRECTORY: path.join(this.tree.episodeDir, 'objects'),
      GIT_ALTERNATE_OBJECT_DIRECTORIES: path.join(gitDir, 'objects'),
    };
    return gitSequence(
      [
        ['read-tree', this.pristine.head],
        ['add', '-A'],
        ['diff', '--cached', '--binary', this.pristine.head],
      ],
      { cwd: this.root, env },
    );
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.runner.dispose();
    if (this.layer === 'overlay') {
      await unmount(this.root);
    } else {
      // Twice forced: the agent may have locked the worktree (a `locked` file in its git dir), which
      // `remove --force` and `prune` respect; its git dir is then removed by hand all the same.
      await git(['worktree', 'remove', '--force', '--force', this.root], { cwd: this.pristine.dir }).catch(
        () => undefined,
      );
      if (this.tree.worktreeGitDir) await rm(this.tree.worktreeGitDir, { recursive: true, force: true });
    }
    await rm(this.tree.episodeDir, { recursive: true, force: true });
    if (this.layer === 'worktree')
      await git(['worktree', 'prune'], { cwd: this.pristine.dir }).catch(() => {});
  }
}
