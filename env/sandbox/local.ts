// Local sandbox: a copy-on-write layer (overlayfs) over a pristine checkout, mounted directly as root or by a
// keeper process in its own user and mount namespace otherwise, or a git worktree where neither can mount.
// Commands run under bubblewrap where it works (isolation.ts), else as plain processes of this machine; either
// way every *file action* is confined to the tree, and cgroups (or a watchdog) limit memory and processes.
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import {
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  realpath,
  rename,
  rm,
  stat,
  writeFile,
} from 'node:fs/promises';
import type { Socket } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { finished } from 'node:stream/promises';
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
  /**
   * `auto`: overlay where it can be mounted (as root directly, otherwise in a user namespace), else worktree.
   * `overlay-userns`: the user-namespace overlay even as root (tests use it); it and `overlay` fail if unavailable.
   */
  layer?: 'auto' | 'overlay' | 'overlay-userns' | 'worktree';
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

/**
 * realpath(3) of the absolute `p` in the mount namespace reached through `via` (`/proc/<pid>/root`). The real
 * realpath reads that magic link as `/` and so resolves in this process's namespace instead.
 */
async function realpathVia(via: string, p: string): Promise<string> {
  const pending = p.split('/').filter(Boolean);
  let resolved = '/';
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift()!;
    if (part === '.') continue;
    if (part === '..') {
      resolved = path.dirname(resolved);
      continue;
    }
    const next = path.join(resolved, part);
    if (!(await lstat(via + next)).isSymbolicLink()) {
      resolved = next;
      continue;
    }
    if (++links > 40) throw Object.assign(new Error(`too many symlinks: ${p}`), { code: 'ELOOP' });
    const target = await readlink(via + next);
    pending.unshift(...target.split('/').filter(Boolean));
    if (path.isAbsolute(target)) resolved = '/';
  }
  return resolved;
}

/**
 * Resolves `relPath` under `root`, rejecting anything that leaves it, through `..` or through symlinks. With
 * `via`, `root` is a path in another mount namespace reached through `via`; the result is then `via` + the
 * resolved path, with no symlink left in it for the kernel to follow from this process's root.
 */
export async function resolveInside(root: string, relPath: string, via = ''): Promise<string> {
  if (typeof relPath !== 'string' || relPath.length === 0)
    throw new SandboxPathError(String(relPath), 'is empty');
  if (relPath.includes('\0')) throw new SandboxPathError(relPath, 'contains a NUL byte');
  const abs = path.resolve(root, relPath);
  if (!isInside(root, abs)) throw new SandboxPathError(relPath, 'is outside the sandbox');
  const resolve = (p: string) => (via ? realpathVia(via, p) : realpath(p));
  const realRoot = await resolve(root);
  let probe = abs;
  // Stops at the root: through `via` even `/` is gone once the keeper is.
  while (probe !== root && !(await lstatOrNull(via + probe))) probe = path.dirname(probe);
  let real: string;
  try {
    real = await resolve(probe);
  } catch {
    throw new SandboxPathError(relPath, 'goes through a dangling symlink');
  }
  if (!isInside(realRoot, real))
    throw new SandboxPathError(relPath, 'leads outside the sandbox through a symlink');
  return via ? via + path.join(real, path.relative(probe, abs)) : abs;
}

/** Removes a directory tree; as non-root, first makes its mode-000 directories (overlayfs's work dir) ours. */
async function removeTree(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true }).catch(async () => {
    await execFileAsync('chmod', ['-R', 'u+rwx', dir]).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });
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
    // A user-namespace overlay went with its keeper, which exits when its owner's end of the pipe closes.
    await removeTree(dir);
    removed++;
  }
  return removed;
}

async function tryOverlay(lower: string, episodeDir: string, tree: string): Promise<boolean> {
  if (process.getuid?.() !== 0) return false;
  const upper = path.join(episodeDir, 'upper');
  const work = path.join(episodeDir, 'work');
  await mkdir(upper, { recursive: true });
  await mkdir(work, { recursive: true });
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

/**
 * Holds a user-namespace overlay: `unshare` maps our uid to root in a new user and mount namespace, where
 * mounting overlayfs is allowed, and the shell then waits on its stdin. The namespace, and the mount, live as
 * long as it (and any command inside) does: it ends when we kill it, or at EOF when this process dies.
 */
export interface Keeper {
  readonly pid: number;
  /** `/proc/<pid>/root`: where this process reaches the keeper's mount namespace. */
  readonly via: string;
  readonly alive: boolean;
  /** Kills the keeper and waits for it. */
  stop(): Promise<void>;
}

// userxattr: in a user namespace overlayfs may not set trusted.* xattrs, without which a directory deleted
// from the lower layer and made again would show the lower one's files through it.
const KEEPER_SCRIPT =
  'mount -t overlay overlay -o "userxattr,lowerdir=$1,upperdir=$2,workdir=$3" "$4" || exit 1; echo ready; while read -r _; do :; done';

let nsenterWorks: boolean | undefined;
function nsenterAvailable(): boolean {
  nsenterWorks ??= spawnSync('nsenter', ['--version'], { stdio: 'ignore' }).status === 0;
  return nsenterWorks;
}

/** argv prefix that runs a command in the keeper's namespaces, in `hostCwd` (a path under `via`). */
function enterKeeper(keeper: Keeper, hostCwd: string): string[] {
  // --wd opens the directory before entering, so it is given as this process reaches it.
  const args = [`--target=${keeper.pid}`, '--user', '--mount', '--preserve-credentials'];
  return ['nsenter', ...args, `--wd=${hostCwd}`, '--'];
}

/** Starts a keeper with the overlay mounted at `tree`; throws with the reason when it cannot. */
async function startKeeper(lower: string, episodeDir: string, tree: string): Promise<Keeper> {
  if (!nsenterAvailable()) throw new Error('nsenter is not installed');
  const upper = path.join(episodeDir, 'upper');
  const work = path.join(episodeDir, 'work');
  await mkdir(upper, { recursive: true });
  await mkdir(work, { recursive: true });
  // Its cwd is the episode dir, so a leak check that looks for processes there finds it.
  const child: ChildProcess = spawn(
    'unshare',
    ['--user', '--map-root-user', '--mount', 'sh', '-c', KEEPER_SCRIPT, 'keeper', lower, upper, work, tree],
    { cwd: episodeDir, env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, stdio: ['pipe', 'pipe', 'pipe'] },
  );
  let alive = true;
  let output = '';
  const exited = new Promise<void>((resolve) => {
    child.once('error', (err) => {
      output += err.message;
      resolve();
    });
    child.once('exit', () => resolve());
  }).then(() => {
    alive = false;
  });
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const ready = await Promise.race([
    exited.then(() => false),
    new Promise<boolean>((resolve) =>
      child.stdout!.on('data', () => /^ready$/m.test(output) && resolve(true)),
    ),
  ]);
  if (!ready) {
    // mount's message may still be in the pipe when the exit is reported.
    await Promise.all([child.stdout!, child.stderr!].map((s) => finished(s).catch(() => undefined)));
    throw new Error(`the user-namespace overlay could not be mounted: ${output.trim().split('\n')[0]}`);
  }
  child.stdout!.destroy();
  child.stderr!.destroy();
  // A sandbox nobody disposed must not keep this process alive; at its exit the pipe closes and the keeper ends.
  (child.stdin as Socket).unref();
  child.unref();
  const pid = child.pid!;
  return {
    pid,
    via: `/proc/${pid}/root`,
    get alive() {
      return alive;
    },
    async stop() {
      // Referenced again: an unreferenced child's exit would not keep this process waiting for it.
      child.ref();
      if (alive) child.kill('SIGKILL');
      await exited;
    },
  };
}

/** Where a local sandbox's tree lives; a command runner mounts these. */
export interface TreeLayout {
  /** The tree as commands see it (in the keeper's mount namespace, if there is one). */
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
  /** The user-namespace overlay's keeper: commands must run in its namespaces, where `root` is mounted. */
  keeper?: Keeper;
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
  const { keeper } = tree;
  return {
    isolation,
    exec(command, execOpts) {
      const env = { ...scrubbedEnv(tree.home, tree.tmp, execOpts.env), ...containment.env };
      // nsenter inside GNU time and the cgroups (entered on the host), before bwrap: bwrap can only bind
      // what its own mount namespace sees, and that must be the keeper's.
      const hostCwd = keeper ? keeper.via + execOpts.cwd : execOpts.cwd;
      const isolate = [
        ...(keeper ? enterKeeper(keeper, hostCwd) : []),
        ...(bwrap ? bwrapPrefix({ ...mounts, cwd: execOpts.cwd, env }) : []),
      ];
      return runCommand(command, {
        cwd: hostCwd,
        env,
        timeoutSec: execOpts.timeoutSec ?? opts.defaultTimeoutSec ?? 30,
        maxOutputBytes: execOpts.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES,
        telemetryFile: path.join(tree.episodeDir, `time-${randomBytes(4).toString('hex')}`),
        stdin: execOpts.stdin,
        enter: containment.enter,
        isolate,
        killAll: () => containment.killAll(),
        watchMemory: () => containment.watchMemory(),
        memoryMb: containment.memoryMb,
      });
    },
    dispose: () => containment.dispose(),
  };
}

/**
 * `makeRunner` defaults to running commands as processes of this machine. Only that runner can enter a keeper's
 * namespaces, so a custom one (Docker's, which bind-mounts the tree by its host path) never gets the
 * user-namespace overlay.
 */
export async function createLocalSandbox(
  opts: LocalSandboxOptions,
  makeRunner?: (tree: TreeLayout) => Promise<CommandRunner>,
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
  const requested = opts.layer ?? 'auto';
  let layer: 'overlay' | 'worktree' = 'worktree';
  let runner: CommandRunner | undefined;
  try {
    await Promise.all([mkdir(root), mkdir(home), mkdir(tmp), mkdir(path.join(episodeDir, 'objects'))]);
    const direct =
      (requested === 'auto' || requested === 'overlay') && (await tryOverlay(pristine.dir, episodeDir, root));
    let keeperError = 'a custom command runner cannot enter its namespace';
    if (!direct && requested !== 'worktree' && !makeRunner) {
      tree.keeper = await startKeeper(pristine.dir, episodeDir, root).catch((err: Error) => {
        keeperError = err.message;
        return undefined;
      });
    }
    if (direct || tree.keeper) {
      layer = 'overlay';
    } else if (requested === 'overlay' || requested === 'overlay-userns') {
      throw new Error(
        `overlay mount failed (needs root, or a user namespace: ${keeperError}) and layer "${requested}" was required`,
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
    runner = await (makeRunner ?? ((t: TreeLayout) => processRunner(opts, t)))(tree);
  } catch (err) {
    if (tree.keeper) await tree.keeper.stop();
    else if (layer === 'overlay') await unmount(root);
    await removeTree(episodeDir);
    throw err;
  }
  return new LocalSandbox(tree, layer, pristine, runner);
}

class LocalSandbox implements Sandbox {
  private disposed = false;
  readonly root: string;
  readonly isolation: string;
  /** Prefix of the paths this process opens: '' or the keeper's `/proc/<pid>/root`. */
  private readonly via: string;

  constructor(
    private readonly tree: TreeLayout,
    readonly layer: 'overlay' | 'worktree',
    private readonly pristine: Pristine,
    private readonly runner: CommandRunner,
  ) {
    this.root = tree.root;
    this.isolation = runner.isolation;
    this.via = tree.keeper?.via ?? '';
  }

  private assertLive(): void {
    if (this.disposed) throw new Error('sandbox was disposed');
    // Its pid may be reused once it is gone: /proc/<pid>/root would then be another process's root.
    if (this.tree.keeper && !this.tree.keeper.alive)
      throw new Error("the sandbox's overlay is gone: its keeper process ended");
  }

  async exec(command: string | string[], opts: ExecOptions = {}): Promise<ExecResult> {
    this.assertLive();
    const cwd = opts.cwd ? (await this.resolve(opts.cwd)).slice(this.via.length) : this.root;
    return this.runner.exec(command, { ...opts, cwd });
  }

  /** A path this process can open: under the keeper's `/proc/<pid>/root` for the user-namespace overlay. */
  resolve(relPath: string): Promise<string> {
    this.assertLive();
    return resolveInside(this.root, relPath, this.via);
  }

  /** fs errors name the path as commands see it, not through the keeper's `/proc/<pid>/root`. */
  private async fsAction<T>(action: () => Promise<T>): Promise<T> {
    try {
      return await action();
    } catch (err) {
      const fsError = err as NodeJS.ErrnoException;
      if (this.via && fsError.path?.startsWith(this.via)) {
        fsError.path = fsError.path.slice(this.via.length);
        fsError.message = fsError.message.replaceAll(this.via, '');
      }
      throw err;
    }
  }

  readFile(relPath: string): Promise<string> {
    return this.fsAction(() => this.readTreeFile(relPath));
  }

  writeFile(relPath: string, content: string): Promise<void> {
    return this.fsAction(() => this.writeTreeFile(relPath, content));
  }

  private async readTreeFile(relPath: string): Promise<string> {
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

  private async writeTreeFile(relPath: string, content: string): Promise<void> {
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
    const commands = [
      ['read-tree', this.pristine.head],
      ['add', '-A'],
      ['diff', '--cached', '--binary', this.pristine.head],
    ];
    const { keeper } = this.tree;
    if (!keeper) return gitSequence(commands, { cwd: this.root, env });
    // In the keeper's namespaces: git resolves its work tree with realpath, which reads `/proc/<pid>/root` as
    // `/` and would land on the empty mount point here.
    const hostCwd = keeper.via + this.root;
    return gitSequence(commands, { cwd: hostCwd, env, runUnder: enterKeeper(keeper, hostCwd) });
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.runner.dispose();
    if (this.tree.keeper) {
      // The mount goes with the keeper's namespace, now that no command is left in it.
      await this.tree.keeper.stop();
    } else if (this.layer === 'overlay') {
      await unmount(this.root);
    } else {
      // Twice forced: the agent may have locked the worktree (a `locked` file in its git dir), which
      // `remove --force` and `prune` respect; its git dir is then removed by hand all the same.
      await git(['worktree', 'remove', '--force', '--force', this.root], { cwd: this.pristine.dir }).catch(
        () => undefined,
      );
      if (this.tree.worktreeGitDir) await rm(this.tree.worktreeGitDir, { recursive: true, force: true });
    }
    await removeTree(this.tree.episodeDir);
    if (this.layer === 'worktree')
      await git(['worktree', 'prune'], { cwd: this.pristine.dir }).catch(() => {});
  }
}
