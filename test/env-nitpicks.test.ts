// Small contract defects an audit found: unknown action fields, read_file ranges, host paths in errors,
// duration formatting, step after close, dataset file names and extensions.
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDataset, loadTaskFile } from '../datasets/loader.ts';
import type { Task } from '../datasets/types.ts';
import { actionJsonSchema, parseAction } from '../env/actions.ts';
import { CodingEnv, EnvStateError } from '../env/coding-env.ts';
import { createLocalSandbox } from '../env/sandbox/local.ts';
import type { Sandbox } from '../env/sandbox/types.ts';
import { makeVec } from '../env/vector.ts';
import { runEpisode, type StepRecord } from '../experiments/episode.ts';
import { LlmPolicy, llmOptionsSchema } from '../policies/llm.ts';
import { startChatServer } from './chat-server.ts';
import { removeDir } from './helpers.ts';

const TASK = 'slugkit__trim-separators-1';
let tasks: Task[];
let tmp: string;
beforeAll(async () => {
  tasks = (await loadDataset('builtin:mini')).tasks;
  tmp = await mkdtemp(path.join(os.tmpdir(), 'repogym-nitpicks-'));
});
afterAll(async () => {
  await removeDir(tmp);
});

/** An env on the mini task whose sandbox root the test can see (to check it never leaks). */
function envWithRoot(): { env: CodingEnv; root: () => string } {
  let sandbox: Sandbox | undefined;
  const env = new CodingEnv({
    dataset: 'builtin:mini',
    task: TASK,
    sandbox: async (task) =>
      (sandbox = await createLocalSandbox({
        repo: task.repo,
        commit: task.base_commit,
        defaultTimeoutSec: task.timeouts.command_sec,
      })),
  });
  return { env, root: () => sandbox!.root };
}

describe('unknown action fields', () => {
  it('parseAction rejects an unknown field and names it with the allowed ones', () => {
    const run = parseAction({ kind: 'run', command: 'x', timeout: 5 });
    expect(run).toEqual({
      ok: false,
      message: 'unknown field "timeout" for run; its fields: command, timeoutSec',
    });
    const read = parseAction({ kind: 'read_file', path: 'a.py', start_line: 3 });
    expect(read.ok).toBe(false);
    expect(!read.ok && read.message).toMatch(/unknown field "start_line" for read_file; .*startLine/);
    // A misspelt required field: both the missing and the unknown one are named.
    const typo = parseAction({ kind: 'read_file', file: 'a.py' });
    expect(!typo.ok && typo.message).toMatch(/^path: .*; unknown field "file"/);
    expect(parseAction({ kind: 'run', command: 'x', timeoutSec: 5 }).ok).toBe(true);
  });

  it('the exported JSON Schema forbids extra fields and describes input (defaulted fields optional)', () => {
    const variants = actionJsonSchema.oneOf as {
      properties: { kind: { const: string } };
      required: string[];
      additionalProperties: unknown;
    }[];
    for (const v of variants) expect(v.additionalProperties, v.properties.kind.const).toBe(false);
    expect(variants.find((v) => v.properties.kind.const === 'list_dir')!.required).toEqual(['kind']);
  });

  it('in an episode the typo is an error observation, counted invalid, and the episode goes on', async () => {
    const { env } = envWithRoot();
    try {
      await env.reset();
      const r = await env.step({ kind: 'read_file', path: 'src/slugify.js', start_line: 3 });
      expect(r.observation.error).toEqual({
        code: 'invalid_action',
        message: 'unknown field "start_line" for read_file; its fields: path, startLine, endLine',
      });
      expect(r.info.invalid_actions).toBe(1);
      expect(r.terminated || r.truncated).toBe(false);
      const ok = await env.step({ kind: 'read_file', path: 'src/slugify.js', startLine: 1, endLine: 1 });
      expect(ok.observation.error).toBeUndefined();
    } finally {
      await env.close();
    }
  });

  it("the LLM policy's tools forbid extra arguments, and a model's extra argument comes back as an error", async () => {
    const server = await startChatServer((_request, index) =>
      index === 0
        ? { toolCall: { name: 'run', arguments: { command: 'ls', timeout: 5 } } }
        : { toolCall: { name: 'escalate', arguments: { report: 'done' } } },
    );
    const env = new CodingEnv({ tasks, task: TASK, maxSteps: 5 });
    const steps: StepRecord[] = [];
    try {
      const policy = new LlmPolicy(llmOptionsSchema.parse({ base_url: server.url, model: 'scripted' }));
      await runEpisode(env, policy, { onStep: (s) => steps.push(s) });
      const tools = server.requests[0]!.tools!;
      expect(tools.length).toBeGreaterThan(0);
      for (const t of tools) {
        expect(t.function.parameters, t.function.name).toMatchObject({ additionalProperties: false });
      }
      expect(steps[0]!.observation.error?.code).toBe('invalid_action');
      expect(steps[0]!.observation.error?.message).toContain('unknown field "timeout" for run');
      expect(steps[1]!.terminated).toBe(true);
    } finally {
      await env.close();
      await server.close();
    }
  });
});

describe('read_file ranges, host paths, durations, close', () => {
  const { env, root } = envWithRoot();
  beforeAll(async () => {
    await env.reset();
  });
  afterAll(async () => {
    await env.close();
  });

  it('an inverted range and a start past the end are errors; an end past the end is clamped', async () => {
    const lines = (await env.step({ kind: 'run', command: 'wc -l < src/slugify.js' })).observation.output;
    const count = Number(lines.trim());
    expect(count).toBeGreaterThan(5);
    const inverted = await env.step({ kind: 'read_file', path: 'src/slugify.js', startLine: 5, endLine: 2 });
    expect(inverted.observation.error).toEqual({
      code: 'invalid_action',
      message: 'endLine 2 is before startLine 5',
    });
    const past = await env.step({ kind: 'read_file', path: 'src/slugify.js', startLine: 1000 });
    expect(past.observation.error).toEqual({
      code: 'invalid_action',
      message: `startLine 1000 is past the end: src/slugify.js has ${count} lines`,
    });
    // The line after the final newline does not exist either.
    const afterLast = await env.step({ kind: 'read_file', path: 'src/slugify.js', startLine: count + 1 });
    expect(afterLast.observation.error?.code).toBe('invalid_action');
    const last = await env.step({
      kind: 'read_file',
      path: 'src/slugify.js',
      startLine: count,
      endLine: 9999,
    });
    expect(last.observation.error).toBeUndefined();
    expect(last.observation.output).toBe('}\n');
    expect(past.info.invalid_actions).toBe(2);
    expect(past.terminated || past.truncated).toBe(false);
  });

  it('filesystem errors name the path in the repository, never the sandbox host path', async () => {
    await env.step({ kind: 'run', command: 'mkdir -p emptydir' });
    const cases: [unknown, string, string][] = [
      [{ kind: 'read_file', path: 'nope.py' }, 'not_found', 'nope.py: no such file or directory'],
      [
        { kind: 'read_file', path: 'src/slugify.js/x' },
        'not_a_directory',
        'src/slugify.js/x: not a directory',
      ],
      [
        { kind: 'str_replace', path: 'nope.py', old: 'a', new: 'b' },
        'not_found',
        'nope.py: no such file or directory',
      ],
      [{ kind: 'list_dir', path: 'nope' }, 'not_found', 'nope: no such file or directory'],
      [
        { kind: 'list_dir', path: 'src/slugify.js/x' },
        'not_a_directory',
        'src/slugify.js/x: not a directory',
      ],
      [
        { kind: 'write_file', path: 'src/slugify.js/x', content: 'x' },
        'io_error',
        'src/slugify.js: file already exists',
      ],
    ];
    for (const [action, code, message] of cases) {
      const r = await env.step(action);
      expect(r.observation.error, JSON.stringify(action)).toEqual({ code, message });
    }
    // Errors reported by commands (grep, git apply) carry relative paths too.
    for (const action of [
      { kind: 'search', pattern: 'x', path: 'nope' },
      {
        kind: 'apply_patch',
        diff: 'diff --git a/nope.py b/nope.py\n--- a/nope.py\n+++ b/nope.py\n@@ -1 +1 @@\n-a\n+b\n',
      },
      { kind: 'write_file', path: 'emptydir', content: 'x' },
      { kind: 'read_file', path: 'emptydir' },
    ]) {
      const r = await env.step(action);
      expect(r.observation.error, JSON.stringify(action)).toBeDefined();
      expect(r.observation.error!.message).not.toContain(root());
      expect(r.observation.error!.message).not.toContain(os.tmpdir());
    }
  });

  it('a timeout is shown with at most one decimal', async () => {
    const r = await env.step({ kind: 'run', command: 'sleep 30', timeoutSec: 1.27 });
    expect(r.observation.timedOut).toBe(true);
    expect(r.observation.output).toContain('[timed out after 1.3s]');
  });

  it('a step after close() says so, and reset() opens the env again', async () => {
    const own = new CodingEnv({ tasks, task: TASK });
    await own.reset();
    await own.close();
    await expect(own.step({ kind: 'list_dir' })).rejects.toThrow(EnvStateError);
    await expect(own.step({ kind: 'list_dir' })).rejects.toThrow('step() called after close()');
    await own.reset();
    expect((await own.step({ kind: 'list_dir' })).observation.error).toBeUndefined();
    await own.close();
  });

  it('a vector env stepped after close() throws instead of autoresetting its sub-envs', async () => {
    const vec = makeVec('repogym/coding-v0', 2, { tasks, task: TASK, maxSteps: 1 });
    await vec.reset({ seed: 1 });
    await vec.step([{ kind: 'list_dir' }, { kind: 'list_dir' }]); // both truncate: next step autoresets
    await vec.close();
    await expect(vec.step([{ kind: 'list_dir' }, { kind: 'list_dir' }])).rejects.toThrow(
      'step() called after close()',
    );
  });
});

describe('dataset files', () => {
  it('a malformed .json dataset names the file', async () => {
    const file = path.join(tmp, 'broken.json');
    await writeFile(file, '[{"instance_id": ');
    await expect(loadTaskFile(file)).rejects.toThrow(`${file}: not valid JSON: `);
  });

  it('the .json extension is matched case-insensitively', async () => {
    const file = path.join(tmp, 'rows.JSON');
    await writeFile(file, JSON.stringify([tasks[0]], null, 2));
    const loaded = await loadTaskFile(file);
    expect(loaded.errors).toEqual([]);
    expect(loaded.tasks.map((t) => t.instance_id)).toEqual([tasks[0]!.instance_id]);
  });
});

describe('str_replace uniqueness', () => {
  it('counts overlapping occurrences: "aa" in "aaa" is not unique', async () => {
    const env = new CodingEnv({ dataset: 'builtin:mini', task: TASK });
    try {
      await env.reset({ seed: 1 });
      await env.step({ kind: 'write_file', path: 'overlap.txt', content: 'xaaay\n' });
      const ambiguous = await env.step({ kind: 'str_replace', path: 'overlap.txt', old: 'aa', new: 'b' });
      expect(ambiguous.observation.error?.code).toBe('multiple_matches');
      expect(ambiguous.observation.error?.message).toMatch(/occurs 2 times/);
      const unique = await env.step({ kind: 'str_replace', path: 'overlap.txt', old: 'aaa', new: 'b' });
      expect(unique.observation.error).toBeUndefined();
      const read = await env.step({ kind: 'read_file', path: 'overlap.txt' });
      expect(read.observation.output).toContain('xby');
    } finally {
      await env.close();
    }
  });
});
