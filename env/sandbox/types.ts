// The sandbox contract. A backend (local: overlay or worktree, isolated by bwrap or not; Docker) implements
// this and nothing else; the env only talks to a Sandbox.
import type { Telemetry } from '../types.ts';

export interface ExecOptions {
  /** Whole process group is killed after this many seconds. */
  timeoutSec?: number;
  /** Combined stdout+stderr is capped to this many bytes (head + tail kept). */
  maxOutputBytes?: number;
  /** Extra variables on top of the scrubbed environment. */
  env?: Record<string, string>;
  /** Working directory relative to the sandbox root. */
  cwd?: string;
  /** Written to the command's standard input (otherwise it reads from /dev/null). */
  stdin?: string;
}

export interface ExecResult {
  /** Combined stdout and stderr, capped (see `truncatedBytes`). */
  output: string;
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  /** The sandbox's memory limit killed the command (or one of its processes). */
  outOfMemory: boolean;
  /** Bytes dropped from the middle of the output; 0 when nothing was dropped. */
  truncatedBytes: number;
  /** Bytes the command wrote to stdout and stderr, before decoding and capping; absent when unknown. */
  outputBytes?: number;
  telemetry: Telemetry;
}

export interface Sandbox {
  /**
   * Absolute path of the working tree (the repository root) as its commands see it. This process opens it
   * there too, except under the user-namespace overlay, whose mount only its keeper's namespace sees: open what
   * `resolve()` returns.
   */
  readonly root: string;
  /** How the working tree was made ('overlay' | 'worktree' | 'container'), for telemetry and docs. */
  readonly layer: string;
  /** What isolates its commands: 'bwrap', 'none' or 'docker'. */
  readonly isolation: string;
  /** A string runs under `bash -c`; an array runs that argv directly, no shell. */
  exec(command: string | string[], opts?: ExecOptions): Promise<ExecResult>;
  readFile(relPath: string): Promise<string>;
  writeFile(relPath: string, content: string): Promise<void>;
  /**
   * Resolves a path inside the sandbox to an absolute path this process can open, or throws SandboxPathError
   * (also for symlinks leading outside).
   */
  resolve(relPath: string): Promise<string>;
  /** Unified diff (binary-safe) of the working tree against the base commit, new files included. */
  diff(): Promise<string>;
  /** Removes every file and process of the sandbox. Idempotent. */
  dispose(): Promise<void>;
}

export class SandboxPathError extends Error {
  constructor(
    readonly relPath: string,
    reason: string,
  ) {
    super(`path ${JSON.stringify(relPath)} ${reason}`);
    this.name = 'SandboxPathError';
  }
}
