import Docker from 'dockerode';
import { createDockerSandbox } from './env/sandbox/docker.ts';
import { makeRepo } from './test/helpers.ts';
const docker = new Docker({ socketPath: '/tmp/rgd/docker.sock' });
const repo = await makeRepo({ 'a.txt': 'a\n' });
let t = performance.now();
const sb = await createDockerSandbox({ repo: repo.dir, commit: repo.commit, docker, memoryMb: 256, pidsMax: 256 });
console.log('create ms', Math.round(performance.now() - t));
for (const cmd of ['id; pwd; echo b > a.txt; git status --short; python3 -c "print(42)"; node -e "console.log(7)"; ls /', 'python3 -c "x=bytearray(80*1024*1024); sum(range(3000000))"', 'cat', 'sleep 100 & echo bg', 'exit 3']) {
  t = performance.now();
  const r = await sb.exec(cmd, { stdin: cmd === 'cat' ? 'from stdin\n' : undefined, timeoutSec: 5 });
  console.log(JSON.stringify(cmd), Math.round(performance.now() - t), 'ms', r.exitCode, r.timedOut, r.telemetry, JSON.stringify(r.output.slice(0, 300)));
}
console.log(await sb.diff());
await sb.dispose();
console.log((await docker.listContainers({ all: true })).length, 'containers left');
