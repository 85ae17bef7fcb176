// Gives the whole test run a private TMPDIR and cache, and fails the run if anything is left behind in it:
// a sandbox directory, an overlay mount, or a process started from a sandbox.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Docker from 'dockerode';
import { SANDBOX_LABEL } from '../env/sandbox/docker.ts';

function mountsUnder(root: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4] ?? '')
    .filter((mountPoint) => mountPoint.startsWith(root));
}

function sandboxProcesses(root: string): number[] {
  const pids: number[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const environ = readFileSync(`/proc/${pid}/environ`, 'utf8');
      const cwd = readlinkSync(`/proc/${pid}/cwd`);
      if (environ.includes(`TMPDIR=${root}/repogym-sb-`) || cwd.startsWith(path.join(root, 'repogym-sb-')))
        pids.push(Number(pid));
    } catch {
      // the process ended while we looked
    }
  }
  return pids;
}

export function leftovers(root: string): string[] {
  return [
    ...readdirSync(root)
      .filter((name) => name.startsWith('repogym-sb-'))
      .map((name) => `sandbox dir ${name}`),
    ...mountsUnder(root).map((m) => `mount ${m}`),
    ...sandboxProcesses(root).map((pid) => {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
      return `process ${pid}: ${cmdline}`;
    }),
  ];
}

/** Sandbox containers whose tree lies under `root` (only with a Docker daemon configured). */
async function containersUnder(root: string): Promise<Docker.ContainerInfo[]> {
  if (!process.env.DOCKER_HOST) return [];
  const containers = await new Docker().listContainers({ all: true, filters: { label: [SANDBOX_LABEL] } });
  return containers.filter((c) => c.Mounts.some((m) => m.Source.startsWith(root)));
}

export default function setup() {
  const root = mkdtempSync(path.join(os.tmpdir(), 'repogym-test-'));
  const previous = { TMPDIR: process.env.TMPDIR, REPOGYM_CACHE: process.env.REPOGYM_CACHE };
  process.env.TMPDIR = root;
  process.env.REPOGYM_CACHE = path.join(root, 'cache');
  return async () => {
    const containers = await containersUnder(root);
    const found = [
      ...leftovers(root),
      ...containers.map((c) => `container ${c.Id.slice(0, 12)} (${c.State})`),
    ];
    process.env.TMPDIR = previous.TMPDIR;
    process.env.REPOGYM_CACHE = previous.REPOGYM_CACHE;
    if (found.length > 0) {
      // vitest reports a throwing teardown but still exits 0, so fail the run explicitly.
      console.error(`tests left things behind in ${root}:\n${found.join('\n')}`);
      process.exitCode = 1;
      // Then clean up, so that one bad run does not pollute the machine.
      for (const pid of sandboxProcesses(root)) spawnSync('kill', ['-KILL', String(pid)]);
      for (const mountPoint of mountsUnder(root)) spawnSync('umount', ['-l', mountPoint]);
      for (const c of containers) await new Docker().getContainer(c.Id).remove({ force: true });
    }
    rmSync(root, { recursive: true, force: true });
  };
}
