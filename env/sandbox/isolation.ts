// How a local sandbox's commands see the machine. `bwrap` (bubblewrap) runs each command in fresh mount,
// pid, network, IPC, UTS and cgroup namespaces with no capabilities: the system and the toolchains on PATH
// read-only, the sandbox's tree, home and /tmp writable, nothing else of the host's files, no network.
// `none` runs commands as plain processes of this machine (file *actions* stay confined to the tree either
// way). docs/sandbox.md says what each mode does and does not isolate.
import { spawnSync } from 'node:child_process';
import { existsSync, realpathSync, statSync } from 'node:fs';
import path from 'node:path';

export const ISOLATION_MODES = ['auto', 'bwrap', 'none'] as const;
export type IsolationMode = (typeof ISOLATION_MODES)[number];

const BWRAP = 'bwrap';

// Merged-/usr Debian: these are symlinks into /usr; elsewhere they are directories and get bound as such.
const SYSTEM_DIRS = ['/usr', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32', '/opt'];
// Only what programs need from /etc: no shadow, ssh keys, machine credentials or package-manager secrets.
const ETC_ENTRIES = [
  'alternatives',
  'ca-certificates',
  'ca-certificates.conf',
  'group',
  'hosts',
  'ld.so.cache',
  'ld.so.conf',
  'ld.so.conf.d',
  'locale.alias',
  'localtime',
  'mime.types',
  'nsswitch.conf',
  'os-release',
  'passwd',
  'protocols',
  'services',
  'ssl',
  'timezone',
];

let bwrapWorks: boolean | undefined;
/** Whether bubblewrap is installed and may create namespaces here (it needs root or user namespaces). */
export function bwrapAvailable(): boolean {
  bwrapWorks ??=
    spawnSync(BWRAP, ['--ro-bind', '/', '/', '--unshare-all', '--die-with-parent', '--', 'true'], {
      stdio: 'ignore',
    }).status === 0;
  return bwrapWorks;
}

let warnedNone = false;
/** `auto` is bwrap where it works; `none` (chosen or fallen back to) warns once per process. */
export function resolveIsolation(mode: IsolationMode = 'auto'): 'bwrap' | 'none' {
  if (mode === 'bwrap' && !bwrapAvailable()) {
    throw new Error(
      'sandbox isolation "bwrap" was required but bubblewrap cannot run here (install the bubblewrap package; it needs root or unprivileged user namespaces)',
    );
  }
  const resolved = mode === 'none' || (mode === 'auto' && !bwrapAvailable()) ? 'none' : 'bwrap';
  if (resolved === 'none' && !warnedNone) {
    warnedNone = true;
    process.emitWarning(
      mode === 'none'
        ? 'sandbox isolation "none": commands run as ordinary processes of this machine and can read and write anything this user can'
        : 'bubblewrap is not available, so sandbox commands run without isolation ("none"); install bubblewrap to isolate them',
      { code: 'REPOGYM_NO_ISOLATION' },
    );
  }
  return resolved;
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

const TOOLCHAIN_VARIABLES = ['PATH', 'PYENV_ROOT', 'CARGO_HOME', 'RUSTUP_HOME', 'JAVA_HOME', 'GOROOT'];

/** Toolchain directories outside the system dirs that the sandbox's PATH needs (pyenv, nvm, cargo, …). */
function toolchainDirs(env: NodeJS.ProcessEnv): string[] {
  const dirs = new Set<string>();
  const underSystem = (p: string) => SYSTEM_DIRS.some((s) => p === s || p.startsWith(`${s}/`));
  for (const entry of (env.PATH ?? '').split(':')) {
    if (!path.isAbsolute(entry) || !isDir(entry)) continue;
    const real = realpathSync(entry);
    if (!underSystem(entry) && !underSystem(real)) dirs.add(real);
  }
  // pyenv's shims exec the interpreter under its root; cargo and rustup keep toolchains in their homes.
  for (const name of TOOLCHAIN_VARIABLES.slice(1)) {
    const dir = env[name];
    if (dir && path.isAbsolute(dir) && isDir(dir)) dirs.add(realpathSync(dir));
  }
  return [...dirs].sort();
}

export interface BwrapLayout {
  /** Writable, at the same path inside: the repository tree, the sandbox's home and tmp (its TMPDIR). */
  writable: string[];
  /** Read-only at the same path, mounted before `writable` (which may lie inside them). */
  readOnly: string[];
  /** Working directory inside. */
  cwd: string;
  /** The command's environment, for the toolchain directories on its PATH. */
  env: NodeJS.ProcessEnv;
}

/**
 * Host paths a sandbox sees read-only at the same path: the system directories that are real directories
 * (merged-/usr symlinks are recreated, not mounted), the /etc files programs need, and the toolchains on PATH.
 */
export function hostMounts(env: NodeJS.ProcessEnv): string[] {
  // Every command asks: the answer depends only on these variables, and the file system checks cost.
  const key = TOOLCHAIN_VARIABLES.map((name) => env[name] ?? '').join('\0');
  let mounts = mountsByEnv.get(key);
  if (!mounts) {
    mounts = [
      ...SYSTEM_DIRS.filter((dir) => existsSync(dir) && realpathSync(dir) === dir),
      ...ETC_ENTRIES.map((entry) => `/etc/${entry}`).filter((file) => existsSync(file)),
      ...toolchainDirs(env),
    ];
    mountsByEnv.set(key, mounts);
  }
  return mounts;
}
const mountsByEnv = new Map<string, string[]>();

// Host /proc entries that are not namespaced: writable, they would let the command set the host's sysctls
// (e.g. kernel.core_pattern, which runs a program as root) or trigger sysrq.
const PROC_READ_ONLY = ['/proc/sys', '/proc/sysrq-trigger', '/proc/irq', '/proc/bus', '/proc/fs'];

/** argv prefix that runs a command under bubblewrap with `layout`. */
export function bwrapPrefix(layout: BwrapLayout): string[] {
  // --as-pid-1: no bwrap init in between, so the command's resource usage reaches GNU time outside through
  // ordinary waits (INIT is pid 1 and waits for it); when pid 1 exits the kernel kills the rest.
  const args = [
    BWRAP,
    '--unshare-all',
    '--as-pid-1',
    '--die-with-parent',
    '--new-session',
    '--cap-drop',
    'ALL',
  ];
  for (const dir of SYSTEM_DIRS) {
    if (existsSync(dir) && realpathSync(dir) !== dir)
      args.push('--symlink', path.relative('/', realpathSync(dir)), dir);
  }
  for (const dir of hostMounts(layout.env)) args.push('--ro-bind', dir, dir);
  args.push('--dev', '/dev', '--proc', '/proc');
  for (const entry of PROC_READ_ONLY) args.push('--ro-bind-try', entry, entry);
  // A fresh tmpfs per command at /tmp: the mount points of the binds below are made in it, where the agent
  // cannot plant a symlink that bwrap (root, outside the sandbox) would follow.
  args.push('--tmpfs', '/tmp');
  for (const dir of layout.readOnly) args.push('--ro-bind', dir, dir);
  for (const dir of layout.writable) args.push('--bind', dir, dir);
  // The new root is a tmpfs bwrap made for the mount points; read-only, nothing lands outside the binds.
  args.push('--remount-ro', '/', '--chdir', layout.cwd, '--');
  return args;
}

/**
 * pid 1 of a command's namespace, between the isolation and the command: closes every inherited descriptor
 * above stderr (GNU time's report file among them, which the command could otherwise overwrite) and runs the
 * command as its child, so the command is not pid 1 (which ignores its own signals: `kill $$` would do
 * nothing), and waits for it. Its exit status is the command's (128 + n for signal n).
 */
export const INIT = [
  'bash',
  '-c',
  'for fd in /proc/self/fd/*; do n=${fd##*/}; [ "$n" -gt 2 ] && [ -e "$fd" ] && exec {n}>&-; done; exec 3<&0; "$@" 0<&3 3<&- & wait $!',
  'init',
];
