// Worker thread entry of eslint.ts: lints one file per message, so ESLint never blocks the harness's event loop.
import { parentPort } from 'node:worker_threads';
import { lintText } from './eslint-lint.ts';

export interface LintJob {
  id: number;
  file: string;
  text: string;
}

const port = parentPort;
if (!port) throw new Error('eslint-worker.ts runs as a worker thread');
port.postMessage({ ready: true }); // ESLint and the config are loaded
port.on('message', (job: LintJob) => {
  lintText(job.file, job.text).then(
    (result) => port.postMessage({ id: job.id, result }),
    (e: unknown) => port.postMessage({ id: job.id, error: e instanceof Error ? e.message : String(e) }),
  );
});
