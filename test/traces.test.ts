import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { mkdir, mkdtemp, readdir, stat, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { SpanStatusCode } from '@opentelemetry/api';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CodingEnv } from '../env/coding-env.ts';
import { configIdentity, parseConfig } from '../experiments/config.ts';
import { runExperiment } from '../experiments/runner.ts';
import type { StoredStep } from '../experiments/store.ts';
import {
  attributeRecord,
  otlpTraceSchema,
  readTrace,
  traceFile,
  type OtlpSpan,
  type OtlpTrace,
} from '../experiments/traces.ts';
import { renderTrajectory } from '../experiments/trajectory.ts';
import { removeDir } from './helpers.ts';

interface Received {
  headers: IncomingHttpHeaders;
  body: unknown;
}

/** A collector stand-in: records the headers and JSON body of every POST /v1/traces. */
async function collector(): Promise<{ server: Server; url: string; requests: Received[] }> {
  const requests: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method === 'POST' && req.url === '/v1/traces') {
        requests.push({ headers: req.headers, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) });
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests };
}

const spansOf = (trace: OtlpTrace) =>
  trace.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans));
const attrs = (span: OtlpSpan) => attributeRecord(span.attributes);

let dir: string;
let out: string;
let otlp: Awaited<ReturnType<typeof collector>>;
let episodes: { id: string; task_id: string; outcome: string; experiment_id: string }[];
let steps: StoredStep[];

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'repogym-traces-'));
  otlp = await collector();
  out = path.join(dir, 'run');
  const config = parseConfig(
    `name: traced\ndataset: {name: "builtin:mini", filter: {limit: 2}}\npolicies: [{name: oracle}]\n` +
      `telemetry: {otlp_endpoint: "${otlp.url}/", headers: {x-api-key: s3cret}}`,
  );
  await runExperiment(config, { outDir: out });
  const db = new Database(path.join(out, 'runs.sqlite'), { readonly: true });
  episodes = db.prepare('SELECT id, task_id, outcome, experiment_id FROM episodes').all() as typeof episodes;
  steps = db.prepare('SELECT * FROM steps ORDER BY episode_id, step').all() as StoredStep[];
  db.close();
});
afterAll(async () => {
  await new Promise((r) => otlp.server.close(r));
  await removeDir(dir);
});

describe('episode traces', () => {
  it('each finished episode has a trace file that validates as OTLP JSON and forms one span tree', async () => {
    expect(episodes).toHaveLength(2);
    expect((await readdir(path.join(out, 'traces'))).sort()).toEqual(
      episodes.map((e) => `${e.id}.json`).sort(),
    );
    for (const episode of episodes) {
      const trace = (await readTrace(out, episode.id))!;
      expect(otlpTraceSchema.safeParse(trace).success).toBe(true);
      const resource = attributeRecord(trace.resourceSpans[0]!.resource?.attributes);
      expect(resource).toMatchObject({
        'service.name': 'repogym',
        'repogym.experiment_id': episode.experiment_id,
        'repogym.episode_id': episode.id,
      });
      const spans = spansOf(trace);
      const ids = new Set(spans.map((s) => s.spanId));
      expect(ids.size).toBe(spans.length);
      expect(new Set(spans.map((s) => s.traceId)).size).toBe(1);
      for (const span of spans) {
        expect(span.traceId).toMatch(/^[0-9a-f]{32}$/);
        expect(span.spanId).toMatch(/^[0-9a-f]{16}$/);
        expect(span.startTimeUnixNano).toMatch(/^\d+$/);
        expect(BigInt(span.endTimeUnixNano) >= BigInt(span.startTimeUnixNano)).toBe(true);
        if (span.parentSpanId) expect(ids.has(span.parentSpanId), span.name).toBe(true);
      }
      const roots = spans.filter((s) => !s.parentSpanId);
      expect(roots.map((s) => s.name)).toEqual(['episode']);
      expect(attrs(roots[0]!)).toMatchObject({
        'repogym.task_id': episode.task_id,
        'repogym.episode_id': episode.id,
        'repogym.grade.status': episode.outcome,
        'repogym.attempt': 1,
      });
    }
  });

  it('has a step span for every stored step, with its kind, index and exit code', async () => {
    for (const episode of episodes) {
      const spans = spansOf((await readTrace(out, episode.id))!);
      const root = spans.find((s) => s.name === 'episode')!;
      const stepSpans = spans.filter((s) => s.name.startsWith('step '));
      const stored = steps.filter((s) => s.episode_id === episode.id);
      expect(stored.length).toBeGreaterThan(0);
      expect(stepSpans.map((s) => [s.name, attrs(s)['repogym.step.index']])).toEqual(
        stored.map((s) => [`step ${s.kind}`, s.step]),
      );
      // Before each step, the policy's time choosing it.
      const thinking = spans.filter((s) => s.name === 'policy.act');
      expect(thinking.map((s) => [s.parentSpanId, attrs(s)['repogym.step.index']])).toEqual(
        stored.map((s) => [root.spanId, s.step]),
      );
      for (const [i, span] of stepSpans.entries()) {
        expect(span.parentSpanId).toBe(root.spanId);
        const a = attrs(span);
        expect(a['repogym.action.kind']).toBe(stored[i]!.kind);
        expect(a['repogym.exit_code'] ?? null).toBe(stored[i]!.exit_code);
        expect(a['repogym.wall_ms']).toBe(stored[i]!.wall_ms);
        expect(typeof a['repogym.output_bytes']).toBe('number');
      }
    }
  });

  it("has a span per command with its exit code, telemetry and a `log` event holding the command's output", async () => {
    const episode = episodes[0]!;
    const spans = spansOf((await readTrace(out, episode.id))!);
    const commands = spans.filter((s) => s.name.startsWith('exec '));
    expect(commands.length).toBeGreaterThan(3);
    for (const command of commands) {
      const a = attrs(command);
      expect(typeof a['process.command_line']).toBe('string');
      expect(Number.isInteger(a['process.exit.code'])).toBe(true);
      expect(typeof a['repogym.wall_ms']).toBe('number');
      expect(typeof a['repogym.output_bytes']).toBe('number');
      expect(command.events?.map((e) => e.name)).toEqual(['log']);
    }
    // The visible test run: its log is the output the step recorded.
    const runTests = spans.find((s) => s.name === 'step run_tests')!;
    const testCommand = commands.find((s) => s.parentSpanId === runTests.spanId && s.name === 'exec node')!;
    const log = attributeRecord(testCommand.events![0]!.attributes).output as string;
    const stored = steps.find((s) => s.episode_id === episode.id && s.kind === 'run_tests')!;
    expect(log.length).toBeGreaterThan(100);
    expect(stored.output.startsWith(log.slice(0, 2000))).toBe(true);
    expect(attrs(testCommand)['process.exit.code']).toBe(stored.exit_code);
    expect(attrs(testCommand)['repogym.peak_rss_kb']).toBe(stored.peak_rss_kb ?? undefined);
  });

  it('has the grading phases under the submit step, each with its commands', async () => {
    for (const episode of episodes) {
      const spans = spansOf((await readTrace(out, episode.id))!);
      const submit = spans.find((s) => s.name === 'step submit')!;
      const grade = spans.find((s) => s.name === 'grade')!;
      expect(grade.parentSpanId).toBe(submit.spanId);
      expect(attrs(grade)['repogym.grade.status']).toBe(episode.outcome);
      const phases = spans.filter((s) => s.parentSpanId === grade.spanId && s.name.startsWith('grade.'));
      expect(phases.map((s) => s.name)).toEqual([
        'grade.apply_patch',
        'grade.analysis',
        'grade.apply_test_patch',
        'grade.hidden_tests',
        'grade.coverage',
      ]);
      const hidden = phases.find((s) => s.name === 'grade.hidden_tests')!;
      expect(attrs(hidden)['repogym.tests.failing']).toBe(0);
      expect(spans.some((s) => s.parentSpanId === hidden.spanId && s.name === 'exec node')).toBe(true);
    }
  });

  it('sends every span to the configured OTLP/HTTP endpoint as JSON, with the configured headers', async () => {
    expect(otlp.requests.length).toBeGreaterThan(0);
    for (const { headers } of otlp.requests) {
      expect(headers['content-type']).toMatch(/^application\/json/);
      expect(headers['x-api-key']).toBe('s3cret');
    }
    const received = otlp.requests.flatMap((r) =>
      spansOf(otlpTraceSchema.parse(r.body)).map((s) => s.spanId),
    );
    const saved = (await Promise.all(episodes.map((e) => readTrace(out, e.id)))).flatMap((t) =>
      spansOf(t!).map((s) => s.spanId),
    );
    expect(received.sort()).toEqual(saved.sort());
  });

  it('stores the collector headers redacted and leaves them out of the run identity', async () => {
    const db = new Database(path.join(out, 'runs.sqlite'), { readonly: true });
    const { config_json } = db.prepare('SELECT config_json FROM experiments').get() as {
      config_json: string;
    };
    db.close();
    expect(config_json).not.toContain('s3cret');
    expect(JSON.parse(config_json).telemetry.headers).toEqual({ 'x-api-key': '<redacted>' });
    const plain = 'name: x\ndataset: {name: "builtin:mini"}\npolicies: [{name: nop}]\n';
    expect(configIdentity(parseConfig(`${plain}telemetry: {otlp_endpoint: "http://h:4318"}`))).toBe(
      configIdentity(parseConfig(plain)),
    );
    expect(() => parseConfig(`${plain}telemetry: {otlp_endpoint: "ftp://h"}`)).toThrow(
      /telemetry\.otlp_endpoint: expected an http\(s\) URL/,
    );
    expect(() => parseConfig(`${plain}telemetry: {otlp_endpoint: "not a url"}`)).toThrow(/otlp_endpoint/);
  });

  it('a resumed run leaves finished episodes and their traces alone', async () => {
    const files = await readdir(path.join(out, 'traces'));
    const before = await Promise.all(files.map((f) => stat(path.join(out, 'traces', f))));
    const again = await runExperiment(
      parseConfig(
        'name: traced\ndataset: {name: "builtin:mini", filter: {limit: 2}}\npolicies: [{name: oracle}]\n',
      ),
      { outDir: out },
    );
    expect(again).toMatchObject({ done: 0, skipped: 2 });
    expect(await readdir(path.join(out, 'traces'))).toEqual(files);
    const after = await Promise.all(files.map((f) => stat(path.join(out, 'traces', f))));
    expect(after.map((s) => s.mtimeMs)).toEqual(before.map((s) => s.mtimeMs));
  });

  it('`renderTrajectory` with `timeline` lists the spans as text', () => {
    const text = renderTrajectory(out, episodes[0]!.id, { timeline: true });
    expect(text).toMatch(/^timeline \(traces\/[\w-]+\.json\): start, duration, span$/m);
    expect(text).toMatch(/^ +\S+ m?s +\S+ m?s {2}episode$/m);
    expect(text).toMatch(/^ +\S+ m?s +\S+ m?s {8}grade\.hidden_tests$/m);
    expect(text).toMatch(/ {10}exec node {2}\(exit 0\)$/m);
  });
});

it('an unreachable OTLP endpoint warns once and fails no episode; the traces are still saved', async () => {
  // A port that was just free: connections to it are refused.
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as AddressInfo).port;
  await new Promise((r) => probe.close(r));
  const warnings: Error[] = [];
  const onWarning = (w: Error) => warnings.push(w);
  process.on('warning', onWarning);
  try {
    const config = parseConfig(
      `name: unreachable\ndataset: {name: "builtin:mini", filter: {limit: 2}}\npolicies: [{name: nop}]\n` +
        `telemetry: {otlp_endpoint: "http://127.0.0.1:${port}", timeout_sec: 1}`,
    );
    const runDir = path.join(dir, 'unreachable');
    const summary = await runExperiment(config, { outDir: runDir });
    expect(summary).toMatchObject({ done: 2, infra: 0, interrupted: false });
    const db = new Database(path.join(runDir, 'runs.sqlite'), { readonly: true });
    const ids = db.prepare('SELECT id FROM episodes').all() as { id: string }[];
    db.close();
    for (const { id } of ids) expect(spansOf((await readTrace(runDir, id))!).length).toBeGreaterThan(3);
    // Emitted on the next tick.
    await new Promise((r) => setImmediate(r));
    const ours = warnings.filter((w) => (w as Error & { code?: string }).code === 'REPOGYM_OTLP_EXPORT');
    expect(ours).toHaveLength(1);
    expect(ours[0]!.message).toContain(`http://127.0.0.1:${port}/v1/traces`);
  } finally {
    process.off('warning', onWarning);
  }
});

it('CodingEnv with a tracer: an invalid action is an error step span, and close() ends the episode span', async () => {
  const memory = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(memory)] });
  const env = new CodingEnv({ dataset: 'builtin:mini', tracer: provider.getTracer('test') });
  try {
    await env.reset({ seed: 1 });
    await env.step({ kind: 'run', command: 'echo hello; exit 3' });
    await env.step({ kind: 'no_such_action' });
  } finally {
    await env.close();
  }
  await provider.forceFlush();
  const spans = memory.getFinishedSpans();
  const byName = (name: string) => spans.find((s) => s.name === name)!;
  const root = byName('episode');
  expect(root.attributes['repogym.seed']).toBe(1);
  expect(root.parentSpanContext).toBeUndefined();
  const run = byName('step run');
  expect(run.attributes).toMatchObject({ 'repogym.exit_code': 3, 'repogym.action.kind': 'run' });
  const exec = spans.find((s) => s.name === 'exec echo')!;
  expect(exec.parentSpanContext?.spanId).toBe(run.spanContext().spanId);
  expect(exec.attributes['process.exit.code']).toBe(3);
  expect(exec.events[0]!.attributes!.output).toBe('hello\n');
  const invalid = byName('step no_such_action');
  expect(invalid.status).toMatchObject({ code: SpanStatusCode.ERROR, message: 'invalid_action' });
  expect(invalid.attributes['repogym.error_code']).toBe('invalid_action');
  await provider.shutdown();
});

it('readTrace rejects a file that is not OTLP JSON, naming the field', async () => {
  const runDir = await mkdtemp(path.join(os.tmpdir(), 'repogym-badtrace-'));
  try {
    await mkdir(path.join(runDir, 'traces'));
    const span = {
      traceId: 'ab'.repeat(16),
      spanId: 'cd'.repeat(8),
      name: 'episode',
      startTimeUnixNano: '2000',
      endTimeUnixNano: '1000',
    };
    const file = traceFile(runDir, 'e1');
    await writeFile(file, JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans: [span] }] }] }));
    await expect(readTrace(runDir, 'e1')).rejects.toThrow(/endTimeUnixNano: the span ends before it starts/);
    await writeFile(
      file,
      JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans: [{ ...span, spanId: 'x' }] }] }] }),
    );
    await expect(readTrace(runDir, 'e1')).rejects.toThrow(/spanId: 16 lowercase hex digits/);
    expect(await readTrace(runDir, 'e2')).toBeNull();
    expect(() => traceFile(runDir, '../e1')).toThrow(/not an episode id/);
  } finally {
    await removeDir(runDir);
  }
});
