// The Docker backend against a real dockerd (DOCKER_HOST: the private one .ci/run starts with
// scripts/dockerd.sh): exec semantics, telemetry, the shared tree, a graded episode, and cleanup after a crash.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CodingEnv } from '../env/coding-env.ts';
import { createDockerSandbox, gcContainers, SANDBOX_LABEL } from '../env/sandbox/docker.ts';
import type { Sandbox } from '../env/sandbox/types.ts';
import { PY_FILES, PY_GOLD, pyFixture, type Fixture } from './fixtures.ts';
import { removeDir } from './helpers.ts';

const ROOT = path.resolve(import.meta.dirname, '..');

/** Sandbox containers created by process `pid` (this one by default): test files run side by side. */
async function ownContainers(pid = process.pid) {
  const all = await docker.listContainers({ all: true, filters: { label: [SANDBOX_LABEL] } });
  return all.filter((c) => c.Labels['repogym.owner']?.endsWith(`:${pid}`));
}
let fixture: Fixture;
let docker: Docker;

beforeAll(async () => {
  if (!process.env.DOCKER_HOST)
    throw new Error(
      'DOCKER_HOST is unset: start a daemon with `scripts/dockerd.sh start DIR` (as .ci/run does)',
    );
  docker = new Docker();
  fixture = await pyFixture();
});
afterAll(() => removeDir(fixture.repoDir));

describe('exec', () => {
  let sb: Sandbox;
  beforeAll(async () => {
    sb = await createDockerSandbox({ repo: fixture.task.repo, commit: fixture.task.base_commit });
  });
  afterAll(() => sb.dispose());

  it('runs in the tree, in a container without network or capabilities', async () => {
    const r = await sb.exec(
      'pwd; cat /proc/self/status | grep CapEff; ls /sys/class/net; cat /proc/1/cmdline | tr "\\0" " "',
    );
    expect(r.exitCode).toBe(0);
    const lines = r.output.trim().split('\n');
    expect(lines[0]).toBe(sb.root);
    expect(lines[1]).toMatch(/CapEff:\s+0+$/);
    expect(lines[2]).toBe('lo');
    expect(lines[3]).toContain('docker-init');
    expect(sb.isolation).toBe('docker');
  });

  it('exit codes, stdin, stdout and stderr together, an argv without a shell', async () => {
    expect((await sb.exec('echo out; echo err >&2; exit 7')).exitCode).toBe(7);
    const both = await sb.exec('echo out; echo err >&2');
    expect(both.output).toContain('out');
    expect(both.output).toContain('err');
    expect((await sb.exec(['wc', '-c'], { stdin: 'twelve bytes' })).output.trim()).toBe('12');
    expect((await sb.exec(['printf', '%s', 'a b; echo c'])).output).toBe('a b; echo c');
  });

  it('times out, and reports CPU time and peak memory', async () => {
    const slow = await sb.exec('sleep 30', { timeoutSec: 1 });
    expect(slow.timedOut).toBe(true);
    expect(slow.exitCode).toBeNull();
    expect(slow.telemetry.wallMs).toBeLessThan(10_000);
    const heavy = await sb.exec(['python3', '-c', 'x = bytearray(80 * 1024 * 1024); sum(range(3_000_000))']);
    expect(heavy.exitCode).toBe(0);
    expect(heavy.telemetry.peakRssKb).toBeGreaterThan(80 * 1024);
    expect(heavy.telemetry.cpuMs).toBeGreaterThan(0);
  });

  it('files written on either side are the same files; the diff sees commands’ edits', async () => {
    await sb.writeFile('from-host.txt', 'host\n');
    expect((await sb.exec('cat from-host.txt; echo container > from-container.txt')).output).toBe('host\n');
    expect(await sb.readFile('from-container.txt')).toBe('container\n');
    const diff = await sb.diff();
    expect(diff).toContain('+++ b/from-container.txt');
    expect(diff).toContain('+++ b/from-host.txt');
  });

  it('a background process does not hold the step open', async () => {
    const r = await sb.exec('sleep 300 & echo started');
    expect(r.output.trim()).toBe('started');
    expect(r.telemetry.wallMs).toBeLessThan(1500);
  });
});

it('an episode on the Docker backend runs the tests and grades the gold patch resolved', async () => {
  const env = new CodingEnv({
    tasks: [fixture.task],
    sandbox: (task) => createDockerSandbox({ repo: task.repo, commit: task.base_commit }),
  });
  try {
    await env.reset({ seed: 1 });
    const tests = await env.step({ kind: 'run_tests' });
    expect(tests.observation.tests?.filter((t) => t.status === 'passed').length).toBeGreaterThan(0);
    await env.step({ kind: 'apply_patch', diff: PY_GOLD });
    const done = await env.step({ kind: 'submit' });
    expect(done.terminated).toBe(true);
    expect((done.info.grade as { status: string }).status).toBe('resolved');
  } finally {
    await env.close();
  }
});

it('a container that is gone mid-episode gives error observations; submit still grades', async () => {
  const env = new CodingEnv({
    tasks: [fixture.task],
    sandbox: (task) => createDockerSandbox({ repo: task.repo, commit: task.base_commit }),
  });
  try {
    await env.reset({ seed: 1 });
    const [mine] = await ownContainers();
    await docker.getContainer(mine!.Id).remove({ force: true });
    const obs = (await env.step({ kind: 'run', command: 'echo hi' })).observation;
    expect(obs.output).toContain("the episode's container is gone");
    expect(obs.exitCode).toBeNull();
    // File actions are the harness's own: they work without the container.
    const fixed = PY_FILES['calc/ops.py'].replace('return a - b', 'return a + b');
    await env.step({ kind: 'write_file', path: 'calc/ops.py', content: fixed });
    const done = await env.step({ kind: 'submit' });
    expect((done.info.grade as { status: string }).status).toBe('resolved');
  } finally {
    await env.close();
  }
});

describe('cleanup', () => {
  it('gc removes the container and files of a run killed with SIGKILL, and only those', async () => {
    const live = await createDockerSandbox({ repo: fixture.task.repo, commit: fixture.task.base_commit });
    const script = `
      import { createDockerSandbox } from './env/sandbox/docker.ts';
      const sb = await createDockerSandbox({ repo: ${JSON.stringify(fixture.task.repo)}, commit: ${JSON.stringify(fixture.task.base_commit)} });
      console.log('ready ' + sb.root);
      setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const root = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => {
        const match = /ready (\S+)/.exec(chunk.toString());
        if (match) resolve(match[1]!);
      });
      child.once('exit', (code) => reject(new Error(`child exited with ${code}`)));
    });
    const childs = await ownContainers(child.pid);
    expect(childs).toHaveLength(1);
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    try {
      const removed = await gcContainers(docker);
      expect(removed).toContain(childs[0]!.Id);
      expect(await ownContainers(child.pid)).toEqual([]);
      expect(await ownContainers()).toHaveLength(1);
      // The live sandbox's container is still there and works.
      expect((await live.exec('echo alive')).output.trim()).toBe('alive');
      // Its tree goes at the next local sweep (also run by `repogym sandbox gc`).
      const { sweepStaleSandboxes } = await import('../env/sandbox/local.ts');
      await sweepStaleSandboxes();
      expect(existsSync(root)).toBe(false);
    } finally {
      await live.dispose();
    }
  });

  it('a process that exits without disposing its sandbox removes its container on the way out', async () => {
    const script = `
      import { createDockerSandbox } from './env/sandbox/docker.ts';
      await createDockerSandbox({ repo: ${JSON.stringify(fixture.task.repo)}, commit: ${JSON.stringify(fixture.task.base_commit)} });
      console.log('ready');
      process.exit(0);`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let printed = '';
    child.stdout.on('data', (chunk: Buffer) => (printed += chunk.toString()));
    const code = await new Promise((r) => child.once('exit', r));
    expect(code).toBe(0);
    expect(printed).toContain('ready');
    expect(await ownContainers(child.pid)).toEqual([]);
    // Its tree goes at the next local sweep, as after a crash.
    const { sweepStaleSandboxes } = await import('../env/sandbox/local.ts');
    await sweepStaleSandboxes();
  });

  it('dispose removes the container; a container whose keeper ends removes itself', async () => {
    const sb = await createDockerSandbox({
      repo: fixture.task.repo,
      commit: fixture.task.base_commit,
      lifetimeSec: 2,
    });
    const count = async () => (await ownContainers()).length;
    expect(await count()).toBe(1);
    await new Promise((r) => setTimeout(r, 4000));
    expect(await count()).toBe(0);
    await sb.dispose(); // idempotent on an already-removed container
    const again = await createDockerSandbox({ repo: fixture.task.repo, commit: fixture.task.base_commit });
    expect(await count()).toBe(1);
    await again.dispose();
    expect(await count()).toBe(0);
  });
});
