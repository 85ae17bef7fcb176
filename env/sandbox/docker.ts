// Docker backend (dockerode): one container per episode runs the sandbox's commands. The tree stays this
// machine's copy-on-write checkout (local.ts), bind-mounted at the same path, so file actions and the diff
// are the local ones; everything the agent *runs* runs in the container: no network, memory and pids limits,
// no capabilities, a read-only root. The default image is built here without a registry: an empty skeleton
// (`docker import`) into which the host's /usr and toolchains are mounted read-only. Works against any
// Docker-API socket on this machine (DOCKER_HOST, Podman's socket); a remote daemon cannot see the tree.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { mkdtemp, mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import Docker from 'dockerode';
import { DEFAULT_MEMORY_MB, DEFAULT_PIDS_MAX, processAlive } from './containment.ts';
import { CappedBuffer, DEFAULT_MAX_OUTPUT_BYTES, scrubbedEnv } from './exec.ts';
import { hostMounts } from './isolation.ts';
import {
  createLocalSandbox,
  type CommandRunner,
  type LocalSandboxOptions,
  type TreeLayout,
} from './local.ts';
import type { ExecOptions, ExecResult, Sandbox } from './types.ts';

// Fully qualified: Podman would resolve a short name against docker.io instead of its local images.
export const BASE_IMAGE = 'localhost/repogym/base:1';
/** Every sandbox container carries this label; `repogym sandbox gc` removes those whose owner is gone. */
export const SANDBOX_LABEL = 'repogym.sandbox';
const OWNER_LABEL = 'repogym.owner';
const HOST_INIT = '/usr/bin/docker-init';
const EXIT_POLL_MS = 50;

export interface DockerSandboxOptions extends Omit<LocalSandboxOptions, 'isolation'> {
  /** A client; by default one from DOCKER_HOST (or /var/run/docker.sock). */
  docker?: Docker;
  /**
   * The container image. By default the registry-free base image, with this machine's /usr, toolchains
   * and a few /etc files mounted read-only; any other image must bring its own toolchain.
   */
  image?: string;
  /** The container removes itself after this long even if this process died (default 4 h). */
  lifetimeSec?: number;
}

let sharedClient: Docker | undefined;
/** One client for the process (from DOCKER_HOST, or /var/run/docker.sock) unless a caller passes its own. */
export function defaultDocker(): Docker {
  sharedClient ??= new Docker();
  return sharedClient;
}

function owner(): string {
  return `${os.hostname()}:${process.pid}`;
}

/** Reads a stream to its end (pull progress, import results), surfacing errors the daemon reports in it. */
async function drain(docker: Docker, stream: NodeJS.ReadableStream): Promise<void> {
  await new Promise<void>((resolve, reject) =>
    docker.modem.followProgress(stream, (err: Error | null, events: { error?: string }[]) => {
      const failed = events?.find((e) => e.error);
      if (err || failed) reject(err ?? new Error(failed!.error));
      else resolve();
    }),
  );
}

const importing = new WeakMap<Docker, Promise<void>>();

/** Builds the base image once per client, however many sandboxes start at once. */
function baseImage(docker: Docker): Promise<void> {
  let pending = importing.get(docker);
  if (!pending) {
    pending = ensureBaseImage(docker);
    importing.set(docker, pending);
    pending.catch(() => importing.delete(docker));
  }
  return pending;
}

/** Builds the base image from an empty skeleton with `docker import`: no registry, no network. */
export async function ensureBaseImage(docker: Docker): Promise<void> {
  const found = await docker
    .getImage(BASE_IMAGE)
    .inspect()
    .then(() => true)
    .catch(() => false);
  if (found) return;
  const root = await mkdtemp(path.join(os.tmpdir(), 'repogym-rootfs-'));
  try {
    for (const dir of ['tmp', 'proc', 'sys', 'dev', 'run', 'etc', 'root', 'home', 'usr'])
      await mkdir(path.join(root, dir));
    // Merged-/usr hosts have /bin, /lib… as symlinks into /usr; the image mirrors them.
    for (const dir of ['/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32']) {
      if (!existsSync(dir)) continue;
      const real = realpathSync(dir);
      if (real !== dir) await symlink(path.relative('/', real), path.join(root, dir));
      else await mkdir(path.join(root, dir));
    }
    await writeFile(path.join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
    await writeFile(path.join(root, 'etc/group'), 'root:x:0:\n');
    const tar = spawn('tar', ['-C', root, '-c', '.'], { stdio: ['ignore', 'pipe', 'inherit'] });
    // The tag inside `repo`: Podman ignores a separate `tag` parameter and would tag it `latest`.
    await drain(docker, await docker.importImage(tar.stdout, { repo: BASE_IMAGE }));
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

/** The keeper's pid: at start the only child of pid 1 (docker-init). */
// Right after start docker-init may not have forked it yet: look again for up to 2 s.
const FIND_KEEPER = [
  'i=0',
  'while [ $i -lt 100 ]; do',
  '  for d in /proc/[0-9]*; do',
  '    read -r s < "$d/stat" 2>/dev/null || continue',
  '    set -- $s',
  '    [ "$4" = 1 ] && { echo "$1"; exit 0; }',
  '  done',
  '  i=$((i + 1)); sleep 0.02',
  'done',
].join('\n');

/** Kills every process of the container but init (1) and the keeper ($0), stopping each first so none forks. */
const KILL_ALL = [
  'self=$$ keeper=$0',
  'for round in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do',
  '  pids=""',
  '  for d in /proc/[0-9]*; do',
  '    p=${d#/proc/}',
  '    [ "$p" != 1 ] && [ "$p" != "$keeper" ] && [ "$p" != "$self" ] || continue',
  '    read -r stat < "$d/stat" 2>/dev/null || continue',
  '    case "${stat##*) }" in Z*) continue ;; esac', // the state follows the last ")": a name may hold one
  '    pids="$pids $p"',
  '  done',
  '  [ -z "$pids" ] && exit 0',
  '  kill -STOP $pids 2>/dev/null; kill -KILL $pids 2>/dev/null',
  'done',
].join('\n');

interface Usage {
  cpuNs: number | null;
  /** Peak memory of the container since the last reset, in bytes. */
  peakBytes: number | null;
}

/**
 * The container's cgroup files on this host (the daemon is local: the tree is bind-mounted), found through
 * its init's /proc/<pid>/cgroup. Read from outside the container, so a command cannot forge them.
 */
function cgroupFiles(
  hostPid: number,
): { cpu: string; cpuV2: boolean; peak: string; resetPeak: boolean } | null {
  let lines: string[];
  try {
    lines = readFileSync(`/proc/${hostPid}/cgroup`, 'utf8').trim().split('\n');
  } catch {
    return null;
  }
  const v1 = (controller: string) => {
    const line = lines.find((l) => l.split(':')[1]?.split(',').includes(controller));
    return line ? path.join('/sys/fs/cgroup', controller, line.split(':')[2]!) : null;
  };
  const cpuacct = v1('cpuacct');
  const memory = v1('memory');
  if (cpuacct && memory && existsSync(path.join(memory, 'memory.max_usage_in_bytes')))
    return {
      cpu: path.join(cpuacct, 'cpuacct.usage'),
      cpuV2: false,
      peak: path.join(memory, 'memory.max_usage_in_bytes'),
      resetPeak: true,
    };
  const unified = lines.find((l) => l.startsWith('0::'));
  const dir = unified ? path.join('/sys/fs/cgroup', unified.slice(3)) : null;
  if (dir && existsSync(path.join(dir, 'memory.peak')))
    return {
      cpu: path.join(dir, 'cpu.stat'),
      cpuV2: true,
      peak: path.join(dir, 'memory.peak'),
      resetPeak: true,
    };
  return null;
}

function readNumber(file: string, pattern?: RegExp): number | null {
  try {
    const text = readFileSync(file, 'utf8');
    const value = Number(pattern ? pattern.exec(text)?.[1] : text.trim());
    return Number.isFinite(value) ? value : null;
  } catch {
    return null;
  }
}

/** CPU time from the container's stats, where its cgroup files are not readable here (e.g. rootless). */
async function statsCpuNs(container: Docker.Container): Promise<number | null> {
  try {
    const s = await container.stats({ stream: false, 'one-shot': true });
    return s.cpu_stats.cpu_usage.total_usage;
  } catch {
    return null;
  }
}

async function dockerRunner(opts: DockerSandboxOptions, tree: TreeLayout): Promise<CommandRunner> {
  const docker = opts.docker ?? defaultDocker();
  const image = opts.image ?? BASE_IMAGE;
  if (image === BASE_IMAGE) await baseImage(docker);
  const memoryMb = opts.memoryMb ?? DEFAULT_MEMORY_MB;
  const env = scrubbedEnv(tree.home, '/tmp');
  const hostSystem = image === BASE_IMAGE ? hostMounts(env) : [];
  const binds = [
    ...hostSystem.map((dir) => `${dir}:${dir}:ro`),
    `${tree.tmp}:/tmp`,
    ...tree.readOnly.map((dir) => `${dir}:${dir}:ro`),
    ...tree.writable.map((dir) => `${dir}:${dir}`),
  ];
  const keeper = ['sleep', String(opts.lifetimeSec ?? 4 * 3600)];
  // docker-init (tini) as pid 1 reaps what the agent orphans. Docker's own `Init` mounts it at /sbin, which
  // the host /usr mounted over it hides; the host's copy under /usr serves instead.
  const hostInit = hostSystem.includes('/usr') && existsSync(HOST_INIT);
  const container = await docker.createContainer({
    Image: image,
    Cmd: hostInit ? [HOST_INIT, '--', ...keeper] : keeper,
    Labels: { [SANDBOX_LABEL]: path.basename(tree.episodeDir), [OWNER_LABEL]: owner() },
    WorkingDir: tree.root,
    Env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
    // init and keeper run as nobody: commands run as root without capabilities (so without CAP_KILL), and
    // cannot kill them to take the container down mid-episode.
    User: '65534:65534',
    NetworkDisabled: true,
    HostConfig: {
      Binds: binds,
      NetworkMode: 'none',
      Memory: memoryMb * 1024 * 1024,
      MemorySwap: memoryMb * 1024 * 1024,
      PidsLimit: opts.pidsMax ?? DEFAULT_PIDS_MAX,
      // Explicit and modest: Podman's default (1048576) is above the host's, and init, running as nobody
      // without capabilities, may not raise it.
      Ulimits: [
        { Name: 'nofile', Soft: 4096, Hard: 4096 },
        { Name: 'nproc', Soft: 16384, Hard: 16384 },
      ],
      ReadonlyRootfs: true,
      CapDrop: ['ALL'],
      SecurityOpt: ['no-new-privileges'],
      Init: !hostInit,
      // Once the keeper ends (lifetimeSec, or killed), the container removes itself.
      AutoRemove: true,
    },
  });
  live.set(container.id, docker);
  try {
    await container.start();
  } catch (err) {
    live.delete(container.id);
    await container.remove({ force: true }).catch(() => undefined);
    throw err;
  }
  const info = await container.inspect();
  const cgroup = cgroupFiles(info.State.Pid);
  const usage = async (): Promise<Usage> => {
    if (!cgroup) return { cpuNs: await statsCpuNs(container), peakBytes: null };
    const cpuNs = cgroup.cpuV2 ? readNumber(cgroup.cpu, /^usage_usec (\d+)/m) : readNumber(cgroup.cpu);
    return {
      cpuNs: cpuNs === null ? null : cgroup.cpuV2 ? cpuNs * 1000 : cpuNs,
      peakBytes: readNumber(cgroup.peak),
    };
  };
  const resetPeak = async () => {
    if (cgroup?.resetPeak) await writeFile(cgroup.peak, '0').catch(() => undefined);
  };

  // The kernel's OOM kills anywhere in the container arrive as `oom` events.
  let oomEvents = 0;
  const events = await docker.getEvents({ filters: { container: [container.id], event: ['oom'] } });
  events.on('data', () => oomEvents++);
  events.on('error', () => undefined);

  /** Runs argv in the container; `onExit` runs once the process exited while its output is still open. */
  async function run(
    argv: string[],
    o: { cwd: string; env?: Record<string, string>; stdin?: string; cap: number; timeoutSec: number },
    hooks: { onTimeout?: () => Promise<void>; onExit?: () => Promise<void> } = {},
  ) {
    const exec = await container.exec({
      Cmd: argv,
      AttachStdout: true,
      AttachStderr: true,
      AttachStdin: o.stdin !== undefined,
      User: '0:0',
      WorkingDir: o.cwd,
      Env: Object.entries(o.env ?? {}).map(([k, v]) => `${k}=${v}`),
    });
    const stream = await exec.start({ hijack: true, stdin: o.stdin !== undefined });
    const output = new CappedBuffer(o.cap);
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        output.push(chunk);
        done();
      },
    });
    docker.modem.demuxStream(stream, sink, sink);
    if (o.stdin !== undefined) {
      stream.write(o.stdin);
      (stream as unknown as { end(): void }).end();
    }
    const ended = new Promise<void>((resolve) => {
      stream.once('end', resolve);
      stream.once('close', resolve);
      stream.once('error', () => resolve());
    });
    let timedOut = false;
    let done = false;
    const timer = setTimeout(() => {
      timedOut = true;
      void hooks.onTimeout?.();
    }, o.timeoutSec * 1000);
    // A background process holding stdout open would keep the stream open (Docker then waits 2 s, or
    // forever); once the command itself exited, what is left is killed.
    const watch = (async () => {
      while (!done && hooks.onExit) {
        await new Promise((r) => setTimeout(r, EXIT_POLL_MS));
        if (done) return;
        const state = await exec.inspect().catch(() => null);
        if (state && !state.Running) {
          await new Promise((r) => setTimeout(r, EXIT_POLL_MS));
          if (!done) await hooks.onExit();
          return;
        }
      }
    })();
    await ended;
    done = true;
    clearTimeout(timer);
    await watch;
    const { ExitCode } = await exec.inspect();
    return { output, timedOut, exitCode: ExitCode };
  }

  const found = await run(['sh', '-c', FIND_KEEPER], { cwd: '/', cap: 4096, timeoutSec: 30 });
  const keeperPid = found.output.toString().trim();
  if (!/^\d+$/.test(keeperPid)) {
    await container.remove({ force: true }).catch(() => undefined);
    throw new Error(
      `docker sandbox: cannot find the container's keeper process (got ${JSON.stringify(keeperPid)})`,
    );
  }
  const killAll = () =>
    run(['sh', '-c', KILL_ALL, keeperPid], { cwd: '/', cap: 4096, timeoutSec: 30 }).then(() => undefined);

  async function execInContainer(
    command: string | string[],
    execOpts: ExecOptions & { cwd: string },
  ): Promise<ExecResult> {
    const argv = typeof command === 'string' ? ['bash', '-c', command] : command;
    await resetPeak();
    const before = await usage();
    const oomBefore = oomEvents;
    const started = performance.now();
    const result = await run(
      argv,
      {
        cwd: execOpts.cwd,
        env: execOpts.env,
        stdin: execOpts.stdin,
        cap: execOpts.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES,
        timeoutSec: execOpts.timeoutSec ?? opts.defaultTimeoutSec ?? 30,
      },
      { onTimeout: killAll, onExit: killAll },
    );
    const wallMs = Math.round(performance.now() - started);
    // Background processes the command left behind die with it: a step leaves nothing running.
    await killAll();
    const after = await usage();
    const cpuMs =
      before.cpuNs !== null && after.cpuNs !== null ? Math.round((after.cpuNs - before.cpuNs) / 1e6) : null;
    const peakRssKb = after.peakBytes === null ? null : Math.round(after.peakBytes / 1024);
    // The event can trail the exit a little.
    if (result.exitCode !== 0 && oomEvents === oomBefore) await new Promise((r) => setTimeout(r, 100));
    const outOfMemory = oomEvents > oomBefore;
    if (outOfMemory)
      result.output.push(
        Buffer.from(`\n[killed: the sandbox's memory limit (${memoryMb} MiB) was exceeded]\n`),
      );
    return {
      output: result.output.toString(),
      exitCode: result.timedOut ? null : result.exitCode,
      signal: result.timedOut ? 'SIGKILL' : null,
      timedOut: result.timedOut,
      outOfMemory,
      truncatedBytes: result.output.dropped,
      outputBytes: result.output.total,
      telemetry: { wallMs, cpuMs, peakRssKb },
    };
  }

  return {
    isolation: 'docker',
    async exec(command, execOpts): Promise<ExecResult> {
      try {
        return await execInContainer(command, execOpts);
      } catch (err) {
        const status = (err as { statusCode?: number }).statusCode;
        if (status !== 404 && status !== 409) throw err;
        // The container stopped under the episode (its lifetime ran out, the daemon restarted): each command
        // says so; files, the diff and grading do not need it.
        return {
          output: `[sandbox error: the episode's container is gone: ${(err as Error).message}]\n`,
          exitCode: null,
          signal: null,
          timedOut: false,
          outOfMemory: false,
          truncatedBytes: 0,
          telemetry: { wallMs: 0, cpuMs: null, peakRssKb: null },
        };
      }
    },
    async dispose() {
      live.delete(container.id);
      (events as unknown as { destroy(): void }).destroy();
      await container.remove({ force: true }).catch((err: { statusCode?: number }) => {
        // 404: already gone; 409: AutoRemove is removing it.
        if (err.statusCode !== 404 && err.statusCode !== 409) throw err;
      });
    },
  };
}

/** Containers of sandboxes not yet disposed, removed if the process exits without disposing them. */
const live = new Map<string, Docker>();

// 'exit' handlers must be synchronous: a child node process sends the DELETEs while this one waits. Only for a
// unix socket; otherwise (and after a crash or SIGKILL) the keeper's lifetime and `sandbox gc` clean up.
process.once('exit', () => {
  const sockets = [...live].map(([id, docker]) => ({
    id,
    socketPath: (docker.modem as unknown as { socketPath?: unknown }).socketPath,
  }));
  const removable = sockets.filter((c) => typeof c.socketPath === 'string');
  if (removable.length === 0) return;
  const script = `const http = require('node:http');
for (const { id, socketPath } of ${JSON.stringify(removable)})
  http.request({ socketPath, method: 'DELETE', path: '/containers/' + id + '?force=true' }).on('error', () => {}).end();`;
  spawnSync(process.execPath, ['-e', script], { stdio: 'ignore', timeout: 10_000 });
});

let swept = false;

export async function createDockerSandbox(opts: DockerSandboxOptions): Promise<Sandbox> {
  if (!swept) {
    swept = true;
    await gcContainers(opts.docker ?? defaultDocker());
  }
  return createLocalSandbox(opts, (tree) => dockerRunner(opts, tree));
}

/** Removes sandbox containers whose owning process on this host is gone (or every one, with `all`). */
export async function gcContainers(docker = defaultDocker(), all = false): Promise<string[]> {
  const containers = await docker.listContainers({ all: true, filters: { label: [SANDBOX_LABEL] } });
  const removed: string[] = [];
  for (const info of containers) {
    const [host, pid] = (info.Labels[OWNER_LABEL] ?? '').split(':');
    const orphan = host === os.hostname() && !processAlive(Number(pid));
    if (!all && !orphan) continue;
    await docker
      .getContainer(info.Id)
      .remove({ force: true })
      .then(() => removed.push(info.Id))
      .catch(() => undefined);
  }
  return removed;
}
