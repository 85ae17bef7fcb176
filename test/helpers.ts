import { createHash } from 'node:crypto';
import { mkdtemp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { FIXED_IDENTITY, git } from '../env/git.ts';

/** A real git repository with one commit holding `files`; returns its path and commit. */
export async function makeRepo(files: Record<string, string>): Promise<{ dir: string; commit: string }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'repogym-fixture-'));
  for (const [name, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
    await writeFile(path.join(dir, name), content);
  }
  await git(['init', '-q', '-b', 'main'], { cwd: dir });
  await git(['add', '-A'], { cwd: dir });
  await git(['commit', '-q', '-m', 'fixture'], { cwd: dir, env: FIXED_IDENTITY });
  const commit = (await git(['rev-parse', 'HEAD'], { cwd: dir })).trim();
  return { dir, commit };
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

/**
 * A shell fragment that starts `command` after printing `label=<host pid>`. Commands run in their own pid
 * namespace, where `$$` and `$!` are not host pids; /proc (the host's) names the real one.
 */
export function withHostPid(label: string, command: string): string {
  return `sh -c 'read -r p _ </proc/self/stat; echo ${label}=$p; exec ${command}'`;
}

/** True while `pid` runs; a zombie waiting to be reaped counts as gone. Polls briefly: SIGKILL is async. */
export async function isRunning(pid: number, graceMs = 1000): Promise<boolean> {
  const deadline = Date.now() + graceMs;
  for (;;) {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null);
    const running = stat !== null && stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
    if (!running || Date.now() > deadline) return running;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Hash of every file (path + content) under `dir`, to prove nothing outside a sandbox changed. */
export async function treeHash(dir: string): Promise<string> {
  const hash = createHash('sha256');
  const walk = async (d: string) => {
    const entries = (await readdir(d, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name));
    for (const entry of entries) {
      const p = path.join(d, entry.name);
      hash.update(p);
      if (entry.isDirectory()) await walk(p);
      else if (entry.isFile()) hash.update(await readFile(p));
    }
  };
  await walk(dir);
  return hash.digest('hex');
}

/**
 * Runs `work` while a timer ticks every `tickMs`, and returns its result with the longest gap between ticks:
 * how long the event loop was blocked. A loop blocked up to the end counts until the end.
 */
export async function longestStall<T>(
  work: () => Promise<T>,
  tickMs: number,
): Promise<{ result: T; stallMs: number }> {
  let last = performance.now();
  let worst = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - last);
    last = now;
  }, tickMs);
  let result: T;
  try {
    result = await work();
  } finally {
    clearInterval(timer);
  }
  return { result, stallMs: Math.max(worst, performance.now() - last) };
}
