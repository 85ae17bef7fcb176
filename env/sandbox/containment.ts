// Finds and kills every process a sandbox started, including those that left the process group (setsid,
// double fork). With a writable cgroup v1 `pids` hierarchy, each sandbox gets its own cgroup, which a process
// cannot leave by forking; otherwise processes are found by a marker variable in their environment.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, rmdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

const CGROUP_ROOT = '/sys/fs/cgroup/pids/repogym';
export const SANDBOX_MARKER = 'REPOGYM_SANDBOX';
/** A fork bomb stops here instead of taking the machine down. */
const PIDS_MAX = 4096;

// A pid namespace per command: when its first process exits the kernel kills and reaps every other one at
// once. Killing a fork bomb process by process races its forks, and orphans left for a host pid 1 that does
// not reap (as on our CI machines) stay zombies holding pids.
const PID_NAMESPACE = ['unshare', '--pid', '--fork', '--kill-child'];
let pidNamespaceWorks: boolean | undefined;
function canUnsharePid(): boolean {
  pidNamespaceWorks ??= spawnSync(PID_NAMESPACE[0]!, [...PID_NAMESPACE.slice(1), 'true']).status === 0;
  return pidNamespaceWorks;
}

export interface Containment {
  /** argv prefix that moves the command into the sandbox's cgroup and its own pid namespace, where available. */
  readonly enter: string[];
  /** Environment variables that mark the sandbox's processes. */
  readonly env: Record<string, string>;
  /** SIGKILLs every live process of the sandbox; returns how many it found. */
  killAll(): number;
  dispose(): Promise<void>;
}

function killPids(pids: number[]): number {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  return pids.length;
}

function cgroupPids(dir: string): number[] {
  try {
    return readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function markedPids(id: string): number[] {
  const needle = `${SANDBOX_MARKER}=${id}\0`;
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/environ`, 'latin1').includes(needle)) pids.push(Number(entry));
    } catch {
      // ended, or not ours to read
    }
  }
  return pids;
}

/** Kills until nothing is left: a process may fork while we kill its siblings. */
function killUntilEmpty(list: () => number[]): number {
  let total = 0;
  for (let round = 0; round < 20; round++) {
    const found = killPids(list());
    if (found === 0) break;
    total += found;
  }
  return total;
}

export async function createContainment(id: string): Promise<Containment> {
  const env = { [SANDBOX_MARKER]: id };
  // The owner's pid in the name lets a later process remove the cgroup if this one dies without disposing.
  const dir = path.join(CGROUP_ROOT, `${process.pid}.${id}`);
  let cgroup = false;
  if (process.getuid?.() === 0 && existsSync(path.dirname(CGROUP_ROOT))) {
    try {
      await mkdir(dir, { recursive: true });
      await writeFile(path.join(dir, 'pids.max'), String(PIDS_MAX));
      cgroup = true;
    } catch {
      cgroup = false;
    }
  }
  const list = () => [...new Set([...(cgroup ? cgroupPids(dir) : []), ...markedPids(id)])];
  return {
    // sh moves itself into the cgroup, then execs the command: every descendant is born inside.
    enter: [
      ...(cgroup ? ['sh', '-c', 'echo $$ > "$0" && exec "$@"', path.join(dir, 'cgroup.procs')] : []),
      ...(canUnsharePid() ? PID_NAMESPACE : []),
    ],
    env,
    killAll: () => killUntilEmpty(list),
    async dispose() {
      killUntilEmpty(list);
      // A killed process leaves the cgroup only once reaped; retry briefly.
      for (let attempt = 0; cgroup && attempt < 50; attempt++) {
        try {
          await rmdir(dir);
          return;
        } catch {
          await new Promise((r) => setTimeout(r, 20));
        }
      }
    },
  };
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Kills the processes of sandboxes whose owner died (kill -9, crash) and removes their cgroups. */
export async function sweepStaleCgroups(): Promise<void> {
  for (const name of existsSync(CGROUP_ROOT) ? readdirSync(CGROUP_ROOT) : []) {
    const owner = Number(name.split('.')[0]);
    if (Number.isInteger(owner) && owner > 0 && processAlive(owner)) continue;
    const dir = path.join(CGROUP_ROOT, name);
    killUntilEmpty(() => cgroupPids(dir));
    await rmdir(dir).catch(() => undefined);
  }
}
