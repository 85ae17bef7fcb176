// Adversarial tests of the sandbox isolation (env/sandbox/, docs/sandbox.md), from a tester who did not write
// it. Each test that names a past behaviour in parentheses demonstrated a real hole before its fix; tests named
// `holds: …` are attacks that were contained from the start.
// Scratch files live under /tmp/adv-iso-<pid>/ and are removed at the end; every env and sandbox is closed.
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Task } from '../datasets/types.ts';
import type { Action } from '../env/actions.ts';
import { CodingEnv } from '../env/coding-env.ts';
import { createDockerSandbox, SANDBOX_LABEL } from '../env/sandbox/docker.ts';
import { createLocalSandbox } from '../env/sandbox/local.ts';
import type { Sandbox } from '../env/sandbox/types.ts';
import type { Observation } from '../env/types.ts';
import { pyFixture, type Fixture } from './fixtures.ts';
import { removeDir } from './helpers.ts';

const MEMORY_MB = 256;
const SCRATCH = `/tmp/adv-iso-${process.pid}`;

let fixture: Fixture;
beforeAll(async () => {
  fixture = await pyFixture();
  await mkdir(SCRATCH, { recursive: true });
});
afterAll(async () => {
  await removeDir(fixture.repoDir);
  await rm(SCRATCH, { recursive: true, force: true });
});

const bwrapSandbox = (task: Task, extra: Record<string, unknown> = {}) =>
  createLocalSandbox({
    repo: task.repo,
    commit: task.base_commit,
    isolation: 'bwrap',
    memoryMb: MEMORY_MB,
    pidsMax: 256,
    ...extra,
  });
const dockerSandbox = (task: Task) =>
  createDockerSandbox({ repo: task.repo, commit: task.base_commit, memoryMb: MEMORY_MB, pidsMax: 256 });

function makeEnv(sandbox: (task: Task) => Promise<Sandbox>): CodingEnv {
  return new CodingEnv({ tasks: [fixture.task], maxSteps: 1000, maxOutputBytes: 8192, sandbox });
}

async function step(env: CodingEnv, action: Record<string, unknown>): Promise<Observation> {
  return (await env.step(action as Action)).observation;
}
const run = (env: CodingEnv, command: string, timeoutSec = 20) =>
  step(env, { kind: 'run', command, timeoutSec });

/** Python that allocates 100 MiB, then forges GNU time's report through the inherited fd 3 (shared offset). */
const FORGE_TELEMETRY = `python3 - <<'EOF'
import os
hog = bytearray(100 * 1024 * 1024)
for i in range(0, len(hog), 4096): hog[i] = 1
try:
    os.write(3, b" " * 64 + b"\\n0.01 0.00 0.00 1\\n")
    os.lseek(3, 0, 0)  # GNU time writes its real line over the padding; the forged last line stays
except OSError:
    pass  # no such descriptor: nothing to forge through
EOF`;

/** A process that renames itself so its /proc/<pid>/stat reads like a zombie's: `N (a) Z b) S …`. */
const ZOMBIE_LOOKALIKE = (body: string) =>
  `python3 -c 'import ctypes; ctypes.CDLL(None).prctl(15, b"a) Z b", 0, 0, 0); ${body}'`;

describe('bwrap (local)', () => {
  it('swapping the tree path under /tmp for a symlink creates nothing on the host and breaks no later command (bwrap followed it)', async () => {
    // Was: the tree's mount point lies inside the agent-writable /tmp; bwrap follows the agent's symlink
    // through /oldroot when creating it, so directories appear on the host outside the sandbox.
    const target = path.join(SCRATCH, 'bwrap-mkdir-target');
    await mkdir(target, { recursive: true });
    const env = makeEnv((task) => bwrapSandbox(task));
    try {
      await env.reset({ seed: 1 });
      const first = await run(
        env,
        `case "$PWD" in /tmp/*) ;; *) echo "tree not under /tmp"; exit 3;; esac
top=$(echo "$PWD" | cut -d/ -f3)
mv "/tmp/$top" /tmp/moved-away && ln -s "/oldroot${target}" "/tmp/$top" && echo swapped`,
      );
      expect(first.output).toContain('swapped');
      const second = await run(env, 'echo second-command-ran');
      // What should happen: nothing appears on the host, and the sandbox keeps working.
      expect(readdirSync(target)).toEqual([]);
      expect(second.output).toContain('second-command-ran');
    } finally {
      await env.close();
      await rm(target, { recursive: true, force: true });
    }
  });

  it('host sysctls under /proc/sys are read-only (were writable: kernel.core_pattern runs a program as host root)', async () => {
    // Was: bwrap runs as real root, so its "cover /proc/sys read-only" step is skipped (its unprivileged
    // access(W_OK) check fails) and the command, uid 0 = host kuid 0, may write global sysctls. Writing
    // core_pattern = "|<path in the tree>" would run agent code as root on the host. Nothing is written here:
    // only opened for writing, and an invalid number (rejected by the handler, i.e. past the permission check).
    const env = makeEnv((task) => bwrapSandbox(task));
    try {
      await env.reset({ seed: 1 });
      const obs = await run(
        env,
        `python3 - <<'EOF'
import os
for p in ["/proc/sys/kernel/core_pattern", "/proc/sys/kernel/modprobe"]:
    try:
        os.close(os.open(p, os.O_WRONLY)); print("WRITABLE", p)
    except OSError as e:
        print("denied", p, e.strerror)
fd = None
try:
    fd = os.open("/proc/sys/kernel/printk_ratelimit", os.O_WRONLY)
    os.write(fd, b"not-a-number")
except OSError as e:
    print("printk_ratelimit:", e.strerror)  # EINVAL = permitted, value rejected; EROFS/EACCES = denied
finally:
    if fd is not None: os.close(fd)
EOF`,
      );
      // What should happen (as under docker): Read-only file system / Permission denied everywhere.
      expect(obs.output).not.toContain('WRITABLE');
      expect(obs.output).not.toContain('printk_ratelimit: Invalid argument');
    } finally {
      await env.close();
    }
  });

  it('telemetry (peak RSS, CPU) cannot be forged through an inherited descriptor or a file in /tmp', async () => {
    // Was: `time -o FILE` leaves FILE open (fd 3) in the command; docs say the report is "out of the agent's
    // reach". A graded run's peakRssKb feeds the `performance` reward (memory ceiling), so it is hackable.
    const env = makeEnv((task) => bwrapSandbox(task));
    try {
      await env.reset({ seed: 1 });
      const fds = await run(env, 'ls -l /proc/self/fd/ | grep -c "repogym-time\\|time-"');
      const obs = await run(env, FORGE_TELEMETRY);
      expect(obs.exitCode).toBe(0);
      expect(obs.telemetry.peakRssKb).toBeGreaterThan(100 * 1024);
      expect(fds.output.trim()).toBe('0');
    } finally {
      await env.close();
    }
  });

  it('a command can kill itself (as pid 1 of its namespace its own signals were ignored)', async () => {
    // Was: `--as-pid-1` makes the command the namespace's init, which the kernel shields from its own
    // signals; `kill $$` (or abort()) does nothing and the step reports success. Docker and `none` report 143.
    const env = makeEnv((task) => bwrapSandbox(task));
    try {
      await env.reset({ seed: 1 });
      const obs = await run(env, 'kill -TERM $$; echo still-alive');
      expect(obs.output).not.toContain('still-alive');
      expect(obs.exitCode).toBe(143);
    } finally {
      await env.close();
    }
  });

  it('with the worktree layer a `locked` file no longer leaves the worktree git dir in the shared pristine cache', async () => {
    // Was: the agent may write its worktree's git dir; `locked` makes `git worktree remove --force` and
    // `prune` keep it, so the agent's files outlive dispose() in the pristine .git later episodes read.
    const cacheDir = path.join(SCRATCH, 'cache-worktree');
    const sb = await bwrapSandbox(fixture.task, { layer: 'worktree', cacheDir });
    let pristineGit: string;
    try {
      expect(sb.layer).toBe('worktree');
      const r = await sb.exec(
        'g=$(sed "s/^gitdir: //" .git); echo "$g"; echo kept > "$g/locked"; echo note-for-next-episode > "$g/note"',
      );
      pristineGit = path.dirname(path.dirname(r.output.trim().split('\n')[0]!));
    } finally {
      await sb.dispose();
    }
    try {
      expect(existsSync(pristineGit)).toBe(true);
      // What should happen: no worktree admin dir (nor the agent's note) is left once the sandbox is gone.
      expect(
        existsSync(path.join(pristineGit, 'worktrees'))
          ? await readdir(path.join(pristineGit, 'worktrees'))
          : [],
      ).toEqual([]);
    } finally {
      await rm(cacheDir, { recursive: true, force: true });
    }
  });

  describe('holds', () => {
    let env: CodingEnv;
    beforeAll(async () => {
      env = makeEnv((task) => bwrapSandbox(task));
      await env.reset({ seed: 1 });
    });
    afterAll(() => env.close());

    it('holds: kill -9 -1, /proc/1/root, the docker socket, abstract sockets and /run stay inside', async () => {
      const obs = await run(
        env,
        [
          'kill -9 -1 2>&1; echo after-kill',
          'ls /proc/1/root/ | tr "\\n" " "; echo',
          'ls /tmp/rgd/docker.sock /var/run/docker.sock /run 2>&1 | head -3',
          `python3 -c '
import socket
for addr in ["\\0/containerd-shim", "/tmp/rgd/docker.sock"]:
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(addr); print("CONNECTED", addr)
    except OSError as e:
        print("refused", type(e).__name__)'`,
        ].join('; '),
      );
      expect(obs.output).toContain('after-kill');
      expect(obs.output).not.toContain('CONNECTED');
      expect(obs.output).not.toMatch(/^docker\.sock/m);
      expect((await run(env, 'echo alive')).output).toContain('alive');
    });

    it('holds: a process renamed to look like a zombie is still killed after the command', async () => {
      const obs = await run(
        env,
        `${ZOMBIE_LOOKALIKE('import time; time.sleep(1000)')} >/dev/null 2>&1 & sleep 0.5; echo bg`,
      );
      expect(obs.output).toContain('bg');
      const after = await run(env, 'cat /proc/[0-9]*/comm');
      expect(after.output).not.toContain('a) Z b');
    });
  });
});

describe('docker', () => {
  beforeAll(() => {
    if (!process.env.DOCKER_HOST)
      throw new Error('DOCKER_HOST is unset (export DOCKER_HOST=unix:///tmp/rgd/docker.sock)');
  });

  it('holds: /proc/sys is read-only in the container', async () => {
    const env = makeEnv(dockerSandbox);
    try {
      await env.reset({ seed: 1 });
      const obs = await run(
        env,
        `python3 -c 'import os
try:
    os.close(os.open("/proc/sys/kernel/core_pattern", os.O_WRONLY)); print("WRITABLE")
except OSError as e:
    print("denied", e.strerror)'`,
      );
      expect(obs.output).toContain('denied');
    } finally {
      await env.close();
    }
  });

  it('telemetry (peak RSS, CPU) cannot be forged through an inherited descriptor or a file in /tmp', async () => {
    // Was: as under bwrap, plus the report file sits in the agent's own writable /tmp.
    const env = makeEnv(dockerSandbox);
    try {
      await env.reset({ seed: 1 });
      const obs = await run(env, FORGE_TELEMETRY);
      expect(obs.exitCode).toBe(0);
      expect(obs.telemetry.peakRssKb).toBeGreaterThan(100 * 1024);
    } finally {
      await env.close();
    }
  });

  it('a process whose name contains ") Z " no longer survives the after-command sweep', async () => {
    // Was: KILL_ALL skips zombies by matching `*") Z "*` on the whole stat line, which includes the
    // agent-chosen comm; such a process outlives its step (docs: "background processes do not outlive their step").
    const env = makeEnv(dockerSandbox);
    try {
      await env.reset({ seed: 1 });
      const obs = await run(
        env,
        `${ZOMBIE_LOOKALIKE('import time; time.sleep(1000)')} >/dev/null 2>&1 & sleep 0.5; echo bg`,
      );
      expect(obs.output).toContain('bg');
      const after = await run(env, 'cat /proc/[0-9]*/comm');
      expect(after.output).not.toContain('a) Z b');
    } finally {
      await env.close();
    }
  });

  it('no survivor is left to race read_file/write_file with a symlink swap (it read and wrote host files)', async () => {
    // Was: file actions check the path (realpath) and then open it; a process left running in the container
    // swaps a directory with a symlink to a host path in between (TOCTOU), so the harness (root, on the host)
    // reads and writes outside the tree. Needs the surviving process of the test above.
    const secretDir = path.join(SCRATCH, 'host-secret');
    await mkdir(secretDir, { recursive: true });
    await writeFile(path.join(secretDir, 'f'), 'HOST-SECRET-4242\n');
    const env = makeEnv(dockerSandbox);
    try {
      await env.reset({ seed: 1 });
      await step(env, {
        kind: 'write_file',
        path: 'race.py',
        content: `import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
libc.prctl(15, b"a) Z b", 0, 0, 0)
os.makedirs("race/d", exist_ok=True)
open("race/d/f", "w").write("innocent\\n")
os.symlink(${JSON.stringify(secretDir)}, "race/s")
while True:
    libc.renameat2(-100, b"race/d", -100, b"race/s", 2)  # RENAME_EXCHANGE
`,
      });
      const started = await run(env, 'nohup python3 race.py >/dev/null 2>&1 & sleep 1; echo started');
      expect(started.output).toContain('started');
      let leaked = 0;
      for (let i = 0; i < 150 && leaked === 0; i++) {
        const obs = await step(env, { kind: 'read_file', path: 'race/d/f' });
        if (obs.output.includes('HOST-SECRET-4242')) leaked++;
      }
      for (let i = 0; i < 60; i++)
        await step(env, { kind: 'write_file', path: 'race/d/pwned', content: 'x\n' });
      // What should happen: neither the host file's content reaches the agent nor a file lands on the host.
      expect(leaked).toBe(0);
      expect(existsSync(path.join(secretDir, 'pwned'))).toBe(false);
    } finally {
      await env.close();
      await rm(secretDir, { recursive: true, force: true });
    }
  }, 120_000);

  it('a FIFO in /tmp does not hang the step (the time report was read from there)', async () => {
    // Was: the report is read with `cat` in a second exec that has no timeout action (and the file is in the
    // agent's /tmp); a FIFO there blocks it forever, so env.step never returns and no budget applies.
    const env = makeEnv(dockerSandbox);
    try {
      await env.reset({ seed: 1 });
      const pending = run(
        env,
        'for f in /tmp/.repogym-time-*; do rm -f "$f"; mkfifo "$f"; done; echo fifo',
        5,
      );
      pending.catch(() => undefined);
      const outcome = await Promise.race([
        pending.then(() => 'returned'),
        new Promise((r) => setTimeout(() => r('hung'), 45_000)),
      ]);
      expect(outcome).toBe('returned');
    } finally {
      await env.close();
    }
  }, 90_000);

  it('the agent cannot kill the keeper (it took the container down and the step threw)', async () => {
    // Was: the agent can end its own container (kill the keeper, or SIGTERM docker-init); the env then
    // throws out of step() (no error observation, the episode is not labelled infra or agent-caused).
    const env = makeEnv(dockerSandbox);
    try {
      await env.reset({ seed: 1 });
      let first: Observation | Error;
      try {
        first = await run(env, 'kill -9 $(cat /proc/1/task/1/children); sleep 2; echo after');
      } catch (err) {
        first = err as Error;
      }
      let second: Observation | Error;
      try {
        second = await run(env, 'echo next');
      } catch (err) {
        second = err as Error;
      }
      expect(first).not.toBeInstanceOf(Error);
      expect(second).not.toBeInstanceOf(Error);
      expect((second as Observation).output).toContain('next');
    } finally {
      await env.close();
    }
    // Nothing left behind either way.
    const left = await new Docker().listContainers({ all: true, filters: { label: [SANDBOX_LABEL] } });
    expect(left.filter((c) => c.Labels['repogym.owner']?.endsWith(`:${process.pid}`))).toEqual([]);
  });
});
