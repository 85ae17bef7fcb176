// Finds, limits and kills every process a sandbox started, including those that left the process group
// (setsid, double fork). Where cgroups are writable, each sandbox gets its own cgroup (v1: one per `pids` and
// `memory` hierarchy; v2: one directory), which a process cannot leave by forking: the kernel enforces the
// pids and memory limits and lists the members. Otherwise processes are found by a marker variable in their
// environment, and an RSS watchdog enforces the memory limit.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, rmdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

export const SANDBOX_MARKER = 'REPOGYM_SANDBOX';
export const DEFAULT_PIDS_MAX = 4096;
export const DEFAULT_MEMORY_MB = 4096;

const V1_ROOT = '/sys/fs/cgroup';
const V2_ROOT = '/sys/fs/cgroup';
const GROUP = 'repogym';

// A pid namespace per command: when its first process exits the kernel kills and reaps every other one at
// once. Killing a fork bomb process by process races its forks, and orphans left for a host pid 1 that does
// not reap (as on our CI machines) stay zombies holding pids. bwrap makes its own, so it skips this.
const PID_NAMESPACE = ['unshare', '--pid', '--fork', '--kill-child'];
let pidNamespaceWorks: boolean | undefined;
function canUnsharePid(): boolean {
  pidNamespaceWorks ??= spawnSync(PID_NAMESPACE[0]!, [...PID_NAMESPACE.slice(1), 'true']).status === 0;
  return pidNamespaceWorks;
}

export type CgroupVersion = 'v1' | 'v2' | 'none';

/** v1 when the pids and memory hierarchies are mounted separately, v2 when the unified root has both. */
export function cgroupVersion(): CgroupVersion {
  if (process.getuid?.() !== 0) return 'none';
  if (existsSync(`${V1_ROOT}/pids/cgroup.procs`) && existsSync(`${V1_ROOT}/memory/cgroup.procs`)) return 'v1';
  const controllers = readText(`${V2_ROOT}/cgroup.controllers`)?.split(/\s+/) ?? [];
  if (controllers.includes('memory') && controllers.includes('pids')) return 'v2';
  return 'none';
}

export interface Limits {
  /** Most processes at once; a fork bomb stops here. */
  pidsMax?: number;
  /** Memory of all the sandbox's processes together, in MiB. */
  memoryMb?: number;
  /** Run each command in its own pid namespace (off when the isolation layer makes one). */
  pidNamespace?: boolean;
  /** false: the marker and the RSS watchdog even where cgroups are writable (no pids limit then). */
  cgroups?: boolean;
}

export interface Containment {
  /** argv prefix that moves the command into the sandbox's cgroups (and pid namespace, when asked). */
  readonly enter: string[];
  /** Environment variables that mark the sandbox's processes. */
  readonly env: Record<string, string>;
  /** How the limits are enforced: by the kernel (`cgroup v1`, `cgroup v2`) or by polling (`watchdog`). */
  readonly enforcement: string;
  readonly memoryMb: number;
  /** SIGKILLs every live process of the sandbox; returns how many it found. */
  killAll(): number;
  /** Watches one command; `stop()` ends the watch and says whether the memory limit killed something. */
  watchMemory(): { stop(): boolean };
  dispose(): Promise<void>;
}

function readText(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
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
  return (readText(path.join(dir, 'cgroup.procs')) ?? '').split('\n').filter(Boolean).map(Number);
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

/** Resident set size of a process in KiB, 0 when it is gone. */
function rssKb(pid: number): number {
  const match = /^VmRSS:\s+(\d+)/m.exec(readText(`/proc/${pid}/status`) ?? '');
  return match ? Number(match[1]) : 0;
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

/** The `oom_kill` count a memory cgroup reports (v1 memory.oom_control, v2 memory.events). */
function oomKills(file: string): number {
  const match = /^oom_kill (\d+)/m.exec(readText(file) ?? '');
  return match ? Number(match[1]) : 0;
}

interface Cgroups {
  dirs: string[];
  /** File whose `oom_kill` line counts kernel OOM kills in this sandbox. */
  oomFile: string;
  version: 'v1' | 'v2';
}

async function makeCgroups(name: string, pidsMax: number, memoryBytes: number): Promise<Cgroups | null> {
  const version = cgroupVersion();
  try {
    if (version === 'v1') {
      const pids = path.join(V1_ROOT, 'pids', GROUP, name);
      const memory = path.join(V1_ROOT, 'memory', GROUP, name);
      await mkdir(pids, { recursive: true });
      await writeFile(path.join(pids, 'pids.max'), String(pidsMax));
      await mkdir(memory, { recursive: true });
      await writeFile(path.join(memory, 'memory.limit_in_bytes'), String(memoryBytes));
      // Without swap accounting the limit would push the excess to swap instead of stopping it.
      if (existsSync(path.join(memory, 'memory.memsw.limit_in_bytes')))
        await writeFile(path.join(memory, 'memory.memsw.limit_in_bytes'), String(memoryBytes));
      return { dirs: [pids, memory], oomFile: path.join(memory, 'memory.oom_control'), version };
    }
    if (version === 'v2') {
      // Controllers must be enabled in every ancestor's subtree_control, and v2 forbids processes in a
      // cgroup that delegates them, so sandboxes live one level below `repogym`.
      const parent = path.join(V2_ROOT, GROUP);
      await writeFile(path.join(V2_ROOT, 'cgroup.subtree_control'), '+memory +pids');
      await mkdir(parent, { recursive: true });
      await writeFile(path.join(parent, 'cgroup.subtree_control'), '+memory +pids');
      const dir = path.join(parent, name);
      await mkdir(dir, { recursive: true });
      await writeFile(path.join(dir, 'pids.max'), String(pidsMax));
      await writeFile(path.join(dir, 'memory.max'), String(memoryBytes));
      await writeFile(path.join(dir, 'memory.swap.max'), '0').catch(() => undefined);
      return { dirs: [dir], oomFile: path.join(dir, 'memory.events'), version };
    }
  } catch {
    // not writable here (a container without cgroup delegation): fall back to the marker and the watchdog
  }
  return null;
}

const WATCHDOG_MS = 100;

export async function createContainment(id: string, limits: Limits = {}): Promise<Containment> {
  const env = { [SANDBOX_MARKER]: id };
  const pidsMax = limits.pidsMax ?? DEFAULT_PIDS_MAX;
  const memoryMb = limits.memoryMb ?? DEFAULT_MEMORY_MB;
  // The owner's pid in the name lets a later process remove the cgroups if this one dies without disposing.
  const cgroups =
    limits.cgroups === false
      ? null
      : await makeCgroups(`${process.pid}.${id}`, pidsMax, memoryMb * 1024 * 1024);
  const list = () => [...new Set([...(cgroups?.dirs.flatMap(cgroupPids) ?? []), ...markedPids(id)])];
  const procsFiles = cgroups?.dirs.map((d) => path.join(d, 'cgroup.procs')) ?? [];
  return {
    // sh moves itself into each cgroup, then execs the command: every descendant is born inside.
    enter: [
      ...(procsFiles.length
        ? [
            'sh',
            '-c',
            'n=$1; shift; while [ "$n" -gt 0 ]; do echo $$ > "$1" || exit 125; shift; n=$((n-1)); done; exec "$@"',
            'enter',
            String(procsFiles.length),
            ...procsFiles,
          ]
        : []),
      ...(limits.pidNamespace !== false && canUnsharePid() ? PID_NAMESPACE : []),
    ],
    env,
    enforcement: cgroups ? `cgroup ${cgroups.version}` : 'watchdog',
    memoryMb,
    killAll: () => killUntilEmpty(list),
    watchMemory() {
      if (cgroups) {
        const before = oomKills(cgroups.oomFile);
        return { stop: () => oomKills(cgroups.oomFile) > before };
      }
      let exceeded = false;
      const timer = setInterval(() => {
        const pids = markedPids(id);
        const total = pids.reduce((sum, pid) => sum + rssKb(pid), 0);
        if (total > memoryMb * 1024) {
          exceeded = true;
          killUntilEmpty(() => markedPids(id));
        }
      }, WATCHDOG_MS);
      return {
        stop() {
          clearInterval(timer);
          return exceeded;
        },
      };
    },
    async dispose() {
      killUntilEmpty(list);
      // A killed process leaves the cgroup only once reaped; retry briefly.
      for (const dir of cgroups?.dirs ?? []) {
        for (let attempt = 0; attempt < 50; attempt++) {
          try {
            await rmdir(dir);
            break;
          } catch {
            await new Promise((r) => setTimeout(r, 20));
          }
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
  const parents = [
    path.join(V1_ROOT, 'pids', GROUP),
    path.join(V1_ROOT, 'memory', GROUP),
    path.join(V2_ROOT, GROUP),
  ];
  for (const parent of parents) {
    for (const name of existsSync(parent) ? readdirSync(parent) : []) {
      const owner = Number(name.split('.')[0]);
      if (!/^\d+\./.test(name) || (owner > 0 && processAlive(owner))) continue;
      const dir = path.join(parent, name);
      killUntilEmpty(() => cgroupPids(dir));
      await rmdir(dir).catch(() => undefined);
    }
  }
}
