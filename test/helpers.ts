import { spawn } from 'node:child_process';
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
 * A shell fragment that prints `label=<tag>` and starts `command` with argv[0] `repogym-tag-<tag>`, so the
 * host can find the process by its command line: commands run in their own pid namespace (and under bwrap
 * with their own /proc), where no pid they can see is a host pid.
 */
export function withHostPid(label: string, command: string): string {
  const tag = 100_000_000 + Math.floor(Math.random() * 900_000_000);
  return `bash -c 'echo ${label}=${tag}; exec -a repogym-tag-${tag} ${command}'`;
}

/** True while the process tagged `tag` by withHostPid runs (zombies have no command line, so they count as gone). Polls briefly: SIGKILL is async. */
export async function isRunning(tag: number, graceMs = 1000): Promise<boolean> {
  const needle = `repogym-tag-${tag}\0`;
  const deadline = Date.now() + graceMs;
  for (;;) {
    let running = false;
    for (const entry of await readdir('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      const cmdline = await readFile(`/proc/${entry}/cmdline`, 'latin1').catch(() => '');
      if (cmdline.startsWith(needle)) running = true;
    }
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

// A pseudo-terminal around the CLI: what the child writes comes out on stdout, what we write reaches its tty.
const PTY_BRIDGE = String.raw`
import fcntl, os, pty, select, struct, sys, termios
pid, fd = pty.fork()
if pid == 0:
    os.execvp(sys.argv[1], sys.argv[1:])
fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack('HHHH', 60, 200, 0, 0))
inputs = [fd, 0]
while True:
    ready, _, _ = select.select(inputs, [], [])
    if fd in ready:
        try:
            data = os.read(fd, 65536)
        except OSError:
            break
        if not data:
            break
        os.write(1, data)
    if 0 in ready:
        data = os.read(0, 65536)
        if data:
            os.write(fd, data)
        else:
            inputs.remove(0)
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
`;

/**
 * `repogym <args>` on a terminal (through PTY_BRIDGE). `waitFor` resolves once the output, past what earlier
 * waits consumed, matches; it rejects if the CLI exits first. What is written to `child.stdin` reaches its tty.
 */
export function ptyCli(args: string[]) {
  const root = path.resolve(import.meta.dirname, '..');
  const child = spawn('python3', ['-c', PTY_BRIDGE, 'node', path.join(root, 'bin', 'repogym.js'), ...args], {
    cwd: root,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  let output = '';
  let seen = 0;
  const waiters: { pattern: RegExp; resolve: () => void }[] = [];
  const check = () => {
    for (const w of [...waiters]) {
      const match = w.pattern.exec(output.slice(seen));
      if (match) {
        seen += match.index + match[0].length;
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  };
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString();
    check();
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    exited,
    output: () => output,
    waitFor: (pattern: RegExp) =>
      Promise.race([
        new Promise<void>((resolve) => {
          waiters.push({ pattern, resolve });
          check();
        }),
        exited.then((code) => {
          throw new Error(`the CLI exited (${code}) before printing ${pattern}:\n${output}`);
        }),
      ]),
  };
}

/** Runs at most `limit` of the wrapped functions at once: two cores, and each grading spawns a test run. */
export function limiter(limit: number) {
  let active = 0;
  const queue: (() => void)[] = [];
  return async <T>(fn: () => Promise<T>): Promise<T> => {
    if (active >= limit) await new Promise<void>((resolve) => queue.push(resolve));
    active++;
    try {
      return await fn();
    } finally {
      active--;
      queue.shift()?.();
    }
  };
}
