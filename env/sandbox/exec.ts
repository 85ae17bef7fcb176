// Runs one command in its own process group with a timeout, a capped output and resource telemetry.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { INIT } from './isolation.ts';
import type { ExecResult } from './types.ts';

export const DEFAULT_MAX_OUTPUT_BYTES = 64 * 1024;
export const TRUNCATION_MARKER = (dropped: number) => `\n[... ${dropped} bytes truncated ...]\n`;

/** Keeps the first and last `cap/2` bytes of a stream; counts what falls in between. */
export class CappedBuffer {
  private head: Buffer[] = [];
  private headBytes = 0;
  private tail: Buffer[] = [];
  private tailBytes = 0;
  dropped = 0;
  /** Every byte pushed, kept or dropped. */
  total = 0;

  constructor(private readonly cap: number) {}

  push(chunk: Buffer): void {
    this.total += chunk.length;
    const headRoom = Math.ceil(this.cap / 2) - this.headBytes;
    if (headRoom > 0) {
      const part = chunk.subarray(0, headRoom);
      this.head.push(part);
      this.headBytes += part.length;
      chunk = chunk.subarray(part.length);
    }
    if (chunk.length === 0) return;
    this.tail.push(chunk);
    this.tailBytes += chunk.length;
    const tailCap = Math.floor(this.cap / 2);
    while (this.tailBytes > tailCap) {
      const first = this.tail[0]!;
      const excess = this.tailBytes - tailCap;
      if (first.length <= excess) {
        this.tail.shift();
        this.tailBytes -= first.length;
        this.dropped += first.length;
      } else {
        this.tail[0] = first.subarray(excess);
        this.tailBytes -= excess;
        this.dropped += excess;
      }
    }
  }

  toString(): string {
    const head = Buffer.concat(this.head).toString('utf8');
    const tail = Buffer.concat(this.tail).toString('utf8');
    return this.dropped > 0 ? head + TRUNCATION_MARKER(this.dropped) + tail : head + tail;
  }
}

const MARKER_PATTERN = /\n\[\.\.\. (\d+) bytes truncated \.\.\.\]\n/;

/**
 * Caps a string the same way CappedBuffer caps a stream. Text that was capped before (a command's output
 * with a suffix added) is cut around its marker, and the new marker counts every byte dropped.
 */
export function capText(text: string, cap = DEFAULT_MAX_OUTPUT_BYTES): string {
  const marker = MARKER_PATTERN.exec(text);
  if (!marker || Buffer.byteLength(text) <= cap) {
    const buffer = new CappedBuffer(cap);
    buffer.push(Buffer.from(text, 'utf8'));
    return buffer.toString();
  }
  const before = Buffer.from(text.slice(0, marker.index), 'utf8');
  const after = Buffer.from(text.slice(marker.index + marker[0].length), 'utf8');
  const head = before.subarray(0, Math.ceil(cap / 2));
  const tail = after.subarray(Math.max(0, after.length - Math.floor(cap / 2)));
  const dropped = Number(marker[1]) + (before.length - head.length) + (after.length - tail.length);
  return head.toString('utf8') + TRUNCATION_MARKER(dropped) + tail.toString('utf8');
}

// Variables a build or test tool legitimately needs. Everything else (API keys, tokens, cloud credentials,
// the caller's HOME) stays outside the sandbox.
const PASSTHROUGH =
  /^(PATH|LANG|LANGUAGE|LC_[A-Z]+|TZ|TERM|PYENV_[A-Z_]+|JAVA_HOME|GOROOT|CARGO_HOME|RUSTUP_HOME)$/;
const SECRET = /(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|AUTH|SESSION|COOKIE)/i;

export function scrubbedEnv(
  home: string,
  tmp: string,
  extra: Record<string, string> = {},
): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value !== undefined && PASSTHROUGH.test(name) && !SECRET.test(name)) env[name] = value;
  }
  // pyenv shims locate their root through HOME, which we replace.
  const pyenvRoot = path.join(os.homedir(), '.pyenv');
  if (!env.PYENV_ROOT && existsSync(pyenvRoot)) env.PYENV_ROOT = pyenvRoot;
  Object.assign(env, {
    HOME: home,
    TMPDIR: tmp,
    CI: 'true',
    NO_COLOR: '1',
    FORCE_COLOR: '0',
    PYTHONDONTWRITEBYTECODE: '1',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_TERMINAL_PROMPT: '0',
  });
  for (const [name, value] of Object.entries(extra)) {
    if (!SECRET.test(name)) env[name] = value;
  }
  return env;
}

const TIME_BIN = '/usr/bin/time';
const hasGnuTime = existsSync(TIME_BIN);

export interface RunOptions {
  cwd: string;
  env: NodeJS.ProcessEnv;
  timeoutSec: number;
  maxOutputBytes: number;
  /** Where GNU time writes its report; must be outside the agent's tree. */
  telemetryFile: string;
  stdin?: string;
  /** argv prefix that places the command in the sandbox's cgroup. */
  enter?: string[];
  /** argv prefix that isolates the command (bwrap), inside the resource measurement. */
  isolate?: string[];
  /** Kills every process of the sandbox, also those that left the process group. */
  killAll?: () => void;
  /** Started with the command; `stop()` says whether the memory limit killed it. */
  watchMemory?: () => { stop(): boolean };
  /** Named in the output when the memory limit kills the command. */
  memoryMb?: number;
}

/** Kills every process of a group; ignores a group that is already gone. */
function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // ESRCH: nothing left to kill.
  }
}

export async function runCommand(command: string | string[], opts: RunOptions): Promise<ExecResult> {
  const argv = typeof command === 'string' ? ['bash', '-c', command] : command;
  const isolated = [...(opts.isolate ?? []), ...INIT, ...argv];
  // GNU time runs outside the isolation: its report file lives outside the agent's reach.
  const timed = hasGnuTime
    ? [TIME_BIN, '-q', '-f', '%e %U %S %M', '-o', opts.telemetryFile, ...isolated]
    : isolated;
  const wrapped = [...(opts.enter ?? []), ...timed];
  const started = performance.now();
  const output = new CappedBuffer(opts.maxOutputBytes);
  const memoryWatch = opts.watchMemory?.();
  const child = spawn(wrapped[0]!, wrapped.slice(1), {
    cwd: opts.cwd,
    env: opts.env,
    detached: true, // own process group, so a timeout kills children too
    stdio: [opts.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
  // EPIPE when the command exits without reading its input is not an error of ours.
  child.stdin?.on('error', () => {});
  child.stdin?.end(opts.stdin);
  const pid = child.pid;
  // stdout/stderr are pipes by the stdio option above.
  const stdout = child.stdout!;
  const stderr = child.stderr!;
  stdout.on('data', (chunk: Buffer) => output.push(chunk));
  stderr.on('data', (chunk: Buffer) => output.push(chunk));

  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    if (pid) killGroup(pid);
    opts.killAll?.();
  }, opts.timeoutSec * 1000);

  const { exitCode, signal, spawnError } = await new Promise<{
    exitCode: number | null;
    signal: string | null;
    spawnError?: Error;
  }>((resolve) => {
    child.once('error', (err) => resolve({ exitCode: null, signal: null, spawnError: err }));
    child.once('exit', (code, sig) => resolve({ exitCode: code, signal: sig }));
  });
  clearTimeout(timer);
  const outOfMemory = memoryWatch?.stop() ?? false;
  // Background processes the command left behind die with it: a step leaves nothing running.
  if (pid) killGroup(pid);
  opts.killAll?.();
  await new Promise<void>((resolve) => {
    if (stdout.closed && stderr.closed) return resolve();
    child.once('close', () => resolve());
    // A grandchild that escaped the group may hold the pipes open; don't wait for it.
    setTimeout(() => {
      stdout.destroy();
      stderr.destroy();
      resolve();
    }, 2000).unref();
  });
  const wallMs = Math.round(performance.now() - started);
  if (spawnError) output.push(Buffer.from(`failed to start: ${spawnError.message}\n`));
  if (outOfMemory)
    output.push(
      Buffer.from(`\n[killed: the sandbox's memory limit (${opts.memoryMb ?? '?'} MiB) was exceeded]\n`),
    );

  let cpuMs: number | null = null;
  let peakRssKb: number | null = null;
  if (hasGnuTime && !timedOut) {
    const report = await readFile(opts.telemetryFile, 'utf8').catch(() => '');
    await rm(opts.telemetryFile, { force: true });
    const fields = report.trim().split('\n').pop()?.split(' ').map(Number) ?? [];
    if (fields.length === 4 && fields.every((n) => Number.isFinite(n))) {
      cpuMs = Math.round((fields[1]! + fields[2]!) * 1000);
      peakRssKb = fields[3]!;
    }
  }
  return {
    output: output.toString(),
    exitCode: timedOut ? null : exitCode,
    signal: timedOut ? 'SIGKILL' : signal,
    timedOut,
    outOfMemory,
    truncatedBytes: output.dropped,
    outputBytes: output.total,
    telemetry: { wallMs, cpuMs, peakRssKb },
  };
}
