// Gives the whole test run a private TMPDIR and cache, and fails the run if anything is left behind in it:
// a sandbox directory, an overlay mount, or a process started from a sandbox.
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export function leftovers(root: string): string[] {
  const found: string[] = [];
  for (const name of readdirSync(root)) if (name.startsWith('repogym-sb-')) found.push(`sandbox dir ${name}`);
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const mountPoint = line.split(' ')[4] ?? '';
    if (mountPoint.startsWith(root)) found.push(`mount ${mountPoint}`);
  }
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const environ = readFileSync(`/proc/${pid}/environ`, 'utf8');
      const cwd = readlinkSync(`/proc/${pid}/cwd`);
      if (environ.includes(`TMPDIR=${root}/repogym-sb-`) || cwd.startsWith(path.join(root, 'repogym-sb-')))
        found.push(`process ${pid}: ${readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ')}`);
    } catch {
      // the process ended while we looked
    }
  }
  return found;
}

export default function setup() {
  const root = mkdtempSync(path.join(os.tmpdir(), 'repogym-test-'));
  const previous = { TMPDIR: process.env.TMPDIR, REPOGYM_CACHE: process.env.REPOGYM_CACHE };
  process.env.TMPDIR = root;
  process.env.REPOGYM_CACHE = path.join(root, 'cache');
  return () => {
    const found = leftovers(root);
    process.env.TMPDIR = previous.TMPDIR;
    process.env.REPOGYM_CACHE = previous.REPOGYM_CACHE;
    if (found.length === 0) rmSync(root, { recursive: true, force: true });
    if (found.length > 0) throw new Error(`tests left things behind in ${root}:\n${found.join('\n')}`);
  };
}
