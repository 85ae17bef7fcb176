// Hostile actions against each isolating backend, through the env as an agent would send them: each is
// contained, ends in a clear observation, and leaves nothing behind (processes, files, cgroups).
import { existsSync, readdirSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CodingEnv } from '../env/coding-env.ts';
import { SANDBOX_MARKER } from '../env/sandbox/containment.ts';
import Docker from 'dockerode';
import { createDockerSandbox, SANDBOX_LABEL } from '../env/sandbox/docker.ts';
import { createLocalSandbox, SANDBOX_PREFIX } from '../env/sandbox/local.ts';
import type { Sandbox } from '../env/sandbox/types.ts';
import type { Task } from '../datasets/types.ts';
import type { Action } from '../env/actions.ts';
import type { Observation } from '../env/types.ts';
import { pyFixture, type Fixture } from './fixtures.ts';
import { isRunning, removeDir, withHostPid } from './helpers.ts';

const MEMORY_MB = 256;

interface Backend {
  name: string;
  sandbox: (task: Task) => Promise<Sandbox>;
  /** Processes this test file's sandboxes run beyond their own plumbing. */
  processes: () => Promise<number>;
}

const BACKENDS: Backend[] = [
  {
    name: 'bwrap',
    sandbox: (task) =>
      createLocalSandbox({
        repo: task.repo,
        commit: task.base_commit,
        isolation: 'bwrap',
        memoryMb: MEMORY_MB,
        pidsMax: 256,
      }),
    processes: sandboxProcesses,
  },
  {
    // DOCKER_HOST: the private dockerd .ci/run starts (scripts/dockerd.sh).
    name: 'docker',
    sandbox: (task) =>
      createDockerSandbox({
        repo: task.repo,
        commit: task.base_commit,
        memoryMb: MEMORY_MB,
        pidsMax: 256,
      }),
    processes: containerProcesses,
  },
];

/** Host processes carrying a sandbox marker, i.e. anything a sandbox started that still runs. */
async function sandboxProcesses(): Promise<number> {
  let found = 0;
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    const environ = await readFile(`/proc/${entry}/environ`, 'latin1').catch(() => '');
    if (environ.includes(`${SANDBOX_MARKER}=${SANDBOX_PREFIX}${process.pid}-`)) found++;
  }
  return found;
}

/** Processes in this process's sandbox containers other than each one's init and keeper. */
async function containerProcesses(): Promise<number> {
  const docker = new Docker();
  let found = 0;
  for (const info of await sandboxContainers()) {
    const top = await docker
      .getContainer(info.Id)
      .top({ ps_args: '-o pid,args' })
      .catch(() => ({ Processes: [] as string[][] }));
    // Docker gives [pid, args] per process, Podman one "pid args" string: match the joined row.
    found += top.Processes.filter(
      (row: string[]) => !/^\d+ (\/usr\/bin\/docker-init -- )?sleep 14400$/.test(row.join(' ')),
    ).length;
  }
  return found;
}

async function sandboxContainers() {
  const containers = await new Docker().listContainers({
    all: true,
    filters: { label: [SANDBOX_LABEL] },
  });
  return containers.filter((c) => c.Labels['repogym.owner']?.endsWith(`:${process.pid}`));
}

function sandboxDirs(): string[] {
  return readdirSync(os.tmpdir()).filter((n) => n.startsWith(`${SANDBOX_PREFIX}${process.pid}-`));
}

function cgroups(): string[] {
  const dirs = ['/sys/fs/cgroup/pids/repogym', '/sys/fs/cgroup/memory/repogym'];
  return dirs.flatMap((d) =>
    existsSync(d) ? readdirSync(d).filter((n) => n.startsWith(`${process.pid}.`)) : [],
  );
}

let fixture: Fixture;
let secretsBefore: string | undefined;
beforeAll(async () => {
  fixture = await pyFixture();
  secretsBefore = process.env.REPOGYM_HOSTILE_API_KEY;
  process.env.REPOGYM_HOSTILE_API_KEY = 'sk-hostile-secret-7731';
});
afterAll(async () => {
  if (secretsBefore === undefined) delete process.env.REPOGYM_HOSTILE_API_KEY;
  else process.env.REPOGYM_HOSTILE_API_KEY = secretsBefore;
  await removeDir(fixture.repoDir);
});

describe.each(BACKENDS)('hostile actions under $name', (backend) => {
  let env: CodingEnv;
  const run = async (command: string, timeoutSec = 20): Promise<Observation> =>
    (await env.step({ kind: 'run', command, timeoutSec } as Action)).observation;

  beforeAll(async () => {
    env = new CodingEnv({
      tasks: [fixture.task],
      maxSteps: 100,
      maxOutputBytes: 8192,
      sandbox: backend.sandbox,
    });
    await env.reset({ seed: 1 });
  });

  afterAll(async () => {
    await env.close();
    // Nothing left behind once the episode is closed.
    expect(await backend.processes()).toBe(0);
    expect(sandboxDirs()).toEqual([]);
    expect(cgroups()).toEqual([]);
    if (backend.name === 'docker') expect(await sandboxContainers()).toEqual([]);
  });

  it('a fork bomb hits the pids limit and is gone when the command ends', async () => {
    const obs = await run(':(){ :|:& };:; sleep 2; echo survived', 10);
    expect(obs.output).toMatch(/Resource temporarily unavailable|retry: No child processes|fork/);
    expect(await backend.processes()).toBe(0);
    // The sandbox still works afterwards.
    expect((await run('echo fine')).output).toContain('fine');
  });

  it('a memory hog is killed at the memory limit and says so', async () => {
    const obs = await run(
      `python3 -c "
chunks = []
while True:
    chunks.append(bytearray(16 * 1024 * 1024))"`,
    );
    expect(obs.exitCode).not.toBe(0);
    expect(obs.output).toContain(`memory limit (${MEMORY_MB} MiB) was exceeded`);
  });

  it('an infinite loop is killed at its timeout', async () => {
    const obs = await run('while :; do :; done', 1);
    expect(obs.timedOut).toBe(true);
    expect(obs.exitCode).toBeNull();
    expect(obs.output).toContain('timed out');
  });

  it('1 GB of stdout is capped to head and tail', async () => {
    const obs = await run('echo START; head -c 1000000000 /dev/zero | tr "\\0" x; echo; echo END', 60);
    expect(obs.exitCode).toBe(0);
    expect(Buffer.byteLength(obs.output)).toBeLessThan(8192 + 200);
    expect(obs.output).toMatch(/^START/);
    expect(obs.output).toMatch(/\[\.\.\. 99\d{7} bytes truncated \.\.\.\]/);
    expect(obs.output.trimEnd().endsWith('END')).toBe(true);
  });

  it('a daemon left running after the command is killed with it', async () => {
    const obs = await run(
      `nohup ${withHostPid('a', 'sleep 1000')} >/dev/null 2>&1 & setsid -f ${withHostPid('b', 'sleep 1001')}; sleep 0.3; cat nohup.out 2>/dev/null; echo started`,
    );
    expect(obs.output).toContain('started');
    expect(await backend.processes()).toBe(0);
    const tag = Number(/b=(\d+)/.exec(obs.output)?.[1]);
    expect(tag).toBeGreaterThan(0);
    expect(await isRunning(tag)).toBe(false);
  });

  it('cannot connect to the network, not even to a server on the host loopback', async () => {
    let connections = 0;
    const server = net.createServer((socket) => {
      connections++;
      socket.end('hello from the host\n');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    try {
      const obs = await run(
        `python3 - <<'EOF'
import socket
for host, port in [("127.0.0.1", ${port}), ("1.1.1.1", 80), ("example.com", 80)]:
    try:
        socket.create_connection((host, port), timeout=3).recv(100)
        print("CONNECTED", host)
    except OSError as e:
        print("refused", host, type(e).__name__)
EOF`,
      );
      expect(obs.output).not.toContain('CONNECTED');
      expect(obs.output.match(/refused/g)).toHaveLength(3);
      expect(connections).toBe(0);
    } finally {
      server.close();
    }
  });

  it('cannot write outside the repository', async () => {
    const hostFile = path.join(os.tmpdir(), `repogym-hostile-${process.pid}-${Date.now()}`);
    const obs = await run(
      [
        `echo x > ${hostFile} && echo wrote-tmp`,
        'echo x > /usr/repogym-hostile && echo wrote-usr',
        'echo x > /etc/repogym-hostile && echo wrote-etc',
        `echo x > ${os.homedir()}/repogym-hostile && echo wrote-home`,
        `echo x > ${fixture.repoDir}/HOSTILE && echo wrote-source`,
        'echo ok > inside.txt && cat inside.txt',
      ].join('; '),
    );
    // The sandbox's own /tmp is private: the write succeeds there, not on the host.
    expect(existsSync(hostFile)).toBe(false);
    expect(obs.output).not.toMatch(/wrote-(usr|etc|home|source)/);
    expect(existsSync(path.join(fixture.repoDir, 'HOSTILE'))).toBe(false);
    expect(existsSync(path.join(os.homedir(), 'repogym-hostile'))).toBe(false);
    expect(obs.output).toContain('ok');
  });

  it("cannot read the host's environment secrets or home directory", async () => {
    const obs = await run(
      [
        'env',
        'cat /proc/*/environ 2>/dev/null | tr "\\0" "\\n"',
        `ls -a ${os.homedir()} 2>&1 | head -5`,
        `cat ${os.homedir()}/.bash_history ${os.homedir()}/.ssh/* 2>&1 | head -3`,
        'cat /etc/shadow 2>&1 | head -1',
        'ls /proc | grep -c "^[0-9]"',
      ].join('; echo ---; '),
    );
    expect(obs.output).not.toContain('sk-hostile-secret-7731');
    // Toolchains on PATH (pyenv, cargo) are mounted read-only; nothing else of the home directory is there.
    expect(obs.output).toContain(`${os.homedir()}/.bash_history: No such file or directory`);
    for (const entry of ['.bashrc', '.profile', '.config', '.npmrc', '.gitconfig', '.ssh'])
      expect(obs.output).not.toMatch(new RegExp(`^\\${entry}$`, 'm'));
    expect(obs.output).toContain('/etc/shadow: No such file or directory');
    // Only the command's own processes are visible, not the host's.
    const visible = Number(obs.output.trim().split('\n').pop());
    expect(visible).toBeLessThan(10);
  });
});
