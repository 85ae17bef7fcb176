// Adversarial tests for issue 5 (policies): the LLM policy, tiered context, templates, bandits over strategies.
// Written by a separate tester. Tests marked "FOUND" failed when written (the comment says how) and now guard
// the fix; "defended" ones were attacks that already held. The model is always a real HTTP server on
// 127.0.0.1 speaking OpenAI chat completions, driven through the real `ai` SDK; envs, sandboxes, git repos and
// the experiment runner are the real ones.
import { execFile } from 'node:child_process';
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, mkdtemp, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadDataset, loadRows } from '../datasets/loader.ts';
import type { Task } from '../datasets/types.ts';
import { CodingEnv } from '../env/coding-env.ts';
import { FIXED_IDENTITY, git } from '../env/git.ts';
import { parseConfig } from '../experiments/config.ts';
import { runEpisode, type StepRecord } from '../experiments/episode.ts';
import { runExperiment } from '../experiments/runner.ts';
import { CostLedger, LlmPolicy, llmOptionsSchema } from '../policies/llm.ts';
import { makeRepo, removeDir } from './helpers.ts';
import { JS_GOLD, JS_TEST_PATCH } from './fixtures.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const ID = 'ledger__round-half-up-1';
const ID2 = 'ledger__low-stock-threshold-3';
const ID3 = 'ledger__parse-thousands-5';

let tasks: Task[];
beforeAll(async () => {
  tasks = (await loadDataset('builtin:mini')).tasks;
});
const task = (id: string) => tasks.find((t) => t.instance_id === id)!;

// ---------------------------------------------------------------------------------------------------------
// A raw chat-completions server: unlike test/chat-server.ts it can omit usage, bill by the byte, send several
// tool calls, hang, drop the connection, send any status, header or body. Still a real HTTP server.

interface ChatBody {
  model: string;
  max_tokens?: number;
  messages: { role: string; content: unknown; tool_calls?: { id: string }[]; tool_call_id?: string }[];
  tools?: { function: { name: string } }[];
}
interface RawRequest {
  /** Bytes of the request body as received. */
  bytes: number;
  body: ChatBody;
  headers: IncomingHttpHeaders;
}
type RawReply =
  { status: number; headers?: Record<string, string>; body?: unknown } | { hang: true } | { destroy: true };

interface RawServer {
  url: string;
  requests: RawRequest[];
  close(): Promise<void>;
}

const servers: RawServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});

async function rawServer(script: (req: RawRequest, index: number) => RawReply): Promise<RawServer> {
  const requests: RawRequest[] = [];
  const hanging: ServerResponse[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const request: RawRequest = {
        bytes: raw.length,
        body: JSON.parse(raw.toString('utf8')) as ChatBody,
        headers: req.headers,
      };
      requests.push(request);
      const reply = script(request, requests.length - 1);
      if ('hang' in reply) {
        hanging.push(res);
        return;
      }
      if ('destroy' in reply) {
        req.socket.destroy();
        return;
      }
      res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers });
      res.end(
        typeof reply.body === 'string'
          ? reply.body
          : JSON.stringify(reply.body ?? { error: { message: `status ${reply.status}`, type: 'error' } }),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const handle: RawServer = {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of hanging) res.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  servers.push(handle);
  return handle;
}

type Usage = { prompt_tokens?: number | null; completion_tokens?: number | null } | null;

const toolCall = (name: string, args: unknown, id: string) => ({
  id,
  type: 'function',
  function: { name, arguments: typeof args === 'string' ? args : JSON.stringify(args) },
});

/** A 200 completion; `usage: null` leaves the usage object out, as some servers do. */
function completion(
  message: { content: string | null; tool_calls?: unknown[] },
  usage: Usage = { prompt_tokens: 100, completion_tokens: 10 },
): RawReply {
  return {
    status: 200,
    body: {
      id: 'chatcmpl-adv',
      object: 'chat.completion',
      created: 1_700_000_000,
      model: 'adversary',
      choices: [
        {
          index: 0,
          message: { role: 'assistant', ...message },
          finish_reason: message.tool_calls ? 'tool_calls' : 'stop',
        },
      ],
      ...(usage === null ? {} : { usage }),
    },
  };
}
const calls = (index: number, usage: Usage | undefined, ...list: [string, unknown][]) =>
  completion(
    { content: null, tool_calls: list.map(([n, a], k) => toolCall(n, a, `call_${index}_${k}`)) },
    usage,
  );
const text = (content: string, usage?: Usage) => completion({ content }, usage);

const templates = new Map([
  ['minimal-patch', { name: 'minimal-patch', body: 'STRATEGY: change as few lines as possible.' }],
]);
const noSleep = async () => {};

async function llmEpisode(
  server: RawServer,
  options: Record<string, unknown> = {},
  opts: { task?: Task; maxSteps?: number; ledger?: CostLedger; sleep?: (ms: number) => Promise<void> } = {},
) {
  const policy = new LlmPolicy(
    llmOptionsSchema.parse({
      base_url: server.url,
      model: 'adversary',
      retries: { max: 1, base_ms: 0, timeout_sec: 30 },
      ...options,
    }),
    { templates, sleep: opts.sleep ?? noSleep, ...(opts.ledger ? { ledger: opts.ledger } : {}) },
  );
  const env = new CodingEnv({ tasks: [opts.task ?? task(ID)], maxSteps: opts.maxSteps ?? 12 });
  const steps: StepRecord[] = [];
  try {
    const result = await runEpisode(env, policy, {
      strategy: 'minimal-patch',
      onStep: (s) => steps.push(s),
    });
    return { result, steps, policy, requests: server.requests };
  } finally {
    await env.close();
  }
}

/** Every tool call of every assistant message must be answered by exactly one tool message. */
function toolAnswers(body: ChatBody): Map<string, number> {
  const answers = new Map<string, number>();
  for (const m of body.messages)
    for (const c of m.tool_calls ?? []) if (!answers.has(c.id)) answers.set(c.id, 0);
  for (const m of body.messages)
    if (m.role === 'tool') answers.set(m.tool_call_id!, (answers.get(m.tool_call_id!) ?? 0) + 1);
  return answers;
}

function runCli(args: string[], env: Record<string, string> = {}) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      'node',
      [path.join(ROOT, 'bin/repogym.js'), ...args],
      { cwd: ROOT, env: { ...process.env, ...env }, timeout: 60_000 },
      (err, stdout, stderr) =>
        resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** Every file under a run directory, as bytes (sqlite + WAL, report, arrow…). */
async function allBytes(dir: string): Promise<{ file: string; text: string }[]> {
  const out: { file: string; text: string }[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    const file = path.join(entry.parentPath, entry.name);
    out.push({ file, text: (await readFile(file)).toString('latin1') });
  }
  return out;
}

const tmpDirs: string[] = [];
const tmp = async (prefix: string) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), `repogym-adv-${prefix}-`));
  tmpDirs.push(dir);
  return dir;
};
afterAll(async () => {
  for (const d of tmpDirs.splice(0)) await removeDir(d);
});

// A small JS repository whose files a test chooses (AGENTS.md, docs/…), as a real task.
async function customTask(
  extra: Record<string, string>,
  row: Record<string, unknown> = {},
  after?: (dir: string) => Promise<void>,
): Promise<Task> {
  const repo = await makeRepo({
    'package.json': '{ "name": "calc", "type": "module" }\n',
    'src/calc.js': 'export function add(a, b) {\n  return a - b;\n}\n',
    'test/calc.test.js':
      "import { test } from 'node:test';\nimport assert from 'node:assert/strict';\n\ntest('ok', () => {\n  assert.ok(true);\n});\n",
    ...extra,
  });
  tmpDirs.push(repo.dir);
  let commit = repo.commit;
  if (after) {
    await after(repo.dir);
    await git(['add', '-A'], { cwd: repo.dir });
    await git(['commit', '-q', '-m', 'more'], { cwd: repo.dir, env: FIXED_IDENTITY });
    commit = (await git(['rev-parse', 'HEAD'], { cwd: repo.dir })).trim();
  }
  const { tasks: loaded, errors } = await loadRows(
    [
      {
        line: 1,
        value: {
          instance_id: 'calc__adv-1',
          patch: JS_GOLD,
          test_patch: JS_TEST_PATCH,
          problem_statement: 'add(2, 2) returns 0 instead of 4.',
          FAIL_TO_PASS: ['add'],
          PASS_TO_PASS: ['ok'],
          language: 'javascript',
          timeouts: { test_sec: 30, command_sec: 10, episode_sec: 300 },
          ...row,
          repo: repo.dir,
          base_commit: commit,
        },
      },
    ],
    '/',
  );
  if (errors.length) throw new Error(JSON.stringify(errors));
  return loaded[0]!;
}

const systemOf = (body: ChatBody) => String(body.messages.find((m) => m.role === 'system')?.content ?? '');

// =========================================================================================================
describe('cost caps', () => {
  // FOUND: when a server leaves `usage` out of its reply, LlmPolicy.recordUsage books 0 tokens and $0
  // (`result.usage.inputTokens ?? 0`), so `usageSoFar.usd` never grows and max_usd_per_episode never binds:
  // the policy keeps calling until max_steps. The reserved worst case should be charged when usage is unknown.
  it('a server that omits `usage`: the episode cap still holds (unknown usage is not free)', async () => {
    const server = await rawServer((_r, i) => calls(i, null, ['list_dir', { path: '.' }]));
    // Each call's worst case is at least its 1,000 output tokens at $30/Mtok = $0.03: at most 3 calls fit $0.1.
    const { policy, requests } = await llmEpisode(server, {
      prices: { input_per_mtok: 10, output_per_mtok: 30 },
      max_usd_per_episode: 0.1,
      max_output_tokens: 1000,
    });
    expect(requests.length).toBeLessThanOrEqual(3);
    expect(policy.info().stop_reason).toBe('cost_cap_episode');
  });

  // FOUND: negative token counts are booked as they come: one reply with prompt_tokens = -1e8 makes the
  // episode's spend -$1,000, after which the cap never binds again. Usage must be clamped (or rejected).
  it('negative token counts from the server cannot buy budget back', async () => {
    const server = await rawServer((_r, i) =>
      calls(
        i,
        i === 0
          ? { prompt_tokens: -100_000_000, completion_tokens: -1_000_000 }
          : { prompt_tokens: 2000, completion_tokens: 1000 },
        ['list_dir', { path: '.' }],
      ),
    );
    const { policy, requests } = await llmEpisode(server, {
      prices: { input_per_mtok: 10, output_per_mtok: 30 },
      max_usd_per_episode: 0.1,
      max_output_tokens: 1000,
    });
    expect(policy.usage().inputTokens).toBeGreaterThanOrEqual(0);
    expect(policy.usage().usd).toBeGreaterThanOrEqual(0);
    // Every real call costs $0.05 (2,000 in, 1,000 out): only a handful fit a $0.1 cap.
    expect(requests.length).toBeLessThanOrEqual(4);
  });

  // FOUND: docs/policies.md promises the pre-call bound is "every byte sent a token", but the first call's
  // bound counts JSON.stringify of the ai-SDK messages plus `{name: [description, schema]}` for tools, not the
  // request the SDK sends (`{"type":"function","function":{...}}` wrappers, model, tool_choice, …): about 17%
  // short. A server that bills exactly one token per byte it receives pushes the episode past its cap.
  it('the worst-case bound covers every byte sent: a server billing one token per request byte stays under the cap', async () => {
    const billByByte = (r: RawRequest, i: number) =>
      calls(i, { prompt_tokens: r.bytes, completion_tokens: 0 }, ['escalate', { report: 'done' }]);
    const options = {
      prices: { input_per_mtok: 1000, output_per_mtok: 0 }, // $0.001 a token
      max_output_tokens: 1,
    };
    // Dry run without a cap: the size of the first request, which is the same in the capped run.
    const dry = await rawServer(billByByte);
    await llmEpisode(dry, options, { maxSteps: 1 });
    const firstCallUsd = (dry.requests[0]!.bytes * 1000) / 1e6;
    const cap = firstCallUsd * 0.98;

    const server = await rawServer(billByByte);
    const { policy } = await llmEpisode(server, { ...options, max_usd_per_episode: cap }, { maxSteps: 1 });
    expect(policy.usage().usd).toBeLessThanOrEqual(cap);
  });

  // FOUND: runExperiment builds a fresh CostLedger(budgets.usd) each time it is called, so a resumed run
  // (after Ctrl-C, a crash, or re-running to retry infra episodes) starts from $0 and may spend budgets.usd
  // again: the experiment-wide cap is per invocation, not per experiment.
  it('the experiment cap (budgets.usd) holds across an interrupted and resumed run', async () => {
    const server = await rawServer((r, i) =>
      calls(i, { prompt_tokens: Math.ceil(r.bytes / 4), completion_tokens: 50 }, ['list_dir', { path: '.' }]),
    );
    const dir = await tmp('resume-ledger');
    const config = parseConfig(
      [
        'name: adv-resume-ledger',
        `dataset: {name: "builtin:mini", filter: {instance_ids: [${ID}, ${ID2}]}}`,
        'policies:',
        '  - name: llm',
        `    base_url: "${server.url}"`,
        '    model: adversary',
        '    max_output_tokens: 100',
        '    prices: {input_per_mtok: 10, output_per_mtok: 30}',
        '    retries: {max: 0, base_ms: 0}',
        'concurrency: 1',
        'retries: 0',
        'budgets: {usd: 0.1, max_steps: 20}',
      ].join('\n'),
    );
    const controller = new AbortController();
    const first = await runExperiment(config, {
      outDir: dir,
      signal: controller.signal,
      onEpisode: () => controller.abort(),
    });
    expect(first.done).toBe(1);
    const resumed = await runExperiment(config, { outDir: dir });
    expect(resumed.done).toBe(1);
    const db = new Database(path.join(dir, 'runs.sqlite'), { readonly: true });
    try {
      const rows = db.prepare('SELECT policy_info_json FROM episodes ORDER BY finished_at').all() as {
        policy_info_json: string;
      }[];
      expect(rows).toHaveLength(2);
      const infos = rows.map(
        (r) => JSON.parse(r.policy_info_json) as { stop_reason: string | null; usage: { usd: number } },
      );
      expect(infos[0]!.stop_reason).toBe('cost_cap_experiment'); // the first invocation used up the budget
      const spent = infos.map((i) => i.usage.usd).reduce((a, b) => a + b, 0);
      // Each invocation alone spends most of the $0.1 (the first stops at the cap).
      expect(spent).toBeLessThanOrEqual(0.1);
    } finally {
      db.close();
    }
  });

  // FOUND: `budgets.usd` / `budgets.usd_per_episode` with an LLM policy that has no `prices` is accepted and
  // silently ignored (costGuard returns early without prices): a user's safety cap does nothing. It should be a
  // config error before any model call.
  it('budgets.usd with an LLM policy that has no prices is refused before any model call', async () => {
    const server = await rawServer((_r, i) => calls(i, undefined, ['escalate', { report: 'x' }]));
    const parse = () =>
      parseConfig(
        [
          'name: adv-noprices',
          `dataset: {name: "builtin:mini", filter: {instance_ids: [${ID}]}}`,
          'policies:',
          '  - name: llm',
          `    base_url: "${server.url}"`,
          '    model: adversary',
          'budgets: {usd: 1, usd_per_episode: 0.1, max_steps: 1}',
        ].join('\n'),
      );
    // Refused when the config is read, so no run (and no model call) can start.
    expect(parse).toThrow(/policies\.0\.prices: a USD cap is set, so prices are required/);
    expect(server.requests).toHaveLength(0);
  });

  // FOUND: `repogym run --policy llm --max-usd 0.01` without --prices runs with no cap at all (the flag's own
  // help says "needs --prices"); it should be a usage error (exit 2) before any model call.
  it('CLI: --max-usd without --prices is a usage error, not a silently ignored cap', async () => {
    const server = await rawServer((_r, i) => calls(i, undefined, ['escalate', { report: 'x' }]));
    const out = await runCli([
      'run',
      '--dataset',
      'builtin:mini',
      '--task',
      ID,
      '--policy',
      'llm',
      '--base-url',
      server.url,
      '--model',
      'x',
      '--max-usd',
      '0.01',
      '--max-steps',
      '1',
    ]);
    expect(out.code).toBe(2);
    expect(out.stderr).toMatch(/--prices/);
    expect(server.requests).toHaveLength(0);
  });

  // DEFENDED: with a 1M-token output budget the worst case of one call is above the cap, so the policy stops
  // before the first call, labelled, and spends nothing.
  it('defended: a huge max_output_tokens makes the policy stop before the first call, labelled', async () => {
    const server = await rawServer((_r, i) => calls(i, undefined, ['list_dir', { path: '.' }]));
    const { policy, steps, requests } = await llmEpisode(server, {
      prices: { input_per_mtok: 1, output_per_mtok: 60 },
      max_output_tokens: 1_000_000,
      max_usd_per_episode: 1,
    });
    expect(requests).toHaveLength(0);
    expect(policy.info().stop_reason).toBe('cost_cap_episode');
    expect(steps.at(-1)!.action).toMatchObject({ kind: 'escalate' });
  });

  // DEFENDED: concurrent episodes sharing one ledger (a server that reports honest usage) stay under its cap.
  it('defended: concurrent episodes on one ledger stay under the shared cap', async () => {
    const server = await rawServer((r, i) =>
      calls(i, { prompt_tokens: Math.ceil(r.bytes / 4), completion_tokens: 100 }, [
        'list_dir',
        { path: '.' },
      ]),
    );
    // Sized for the pre-call bound (every byte sent a token, plus a quarter): a call's bound is ~$0.12 here.
    const ledger = new CostLedger(0.3);
    const options = { prices: { input_per_mtok: 10, output_per_mtok: 30 }, max_output_tokens: 100 };
    const results = await Promise.all(
      [ID, ID2, ID3].map((id) => llmEpisode(server, options, { task: task(id), maxSteps: 8, ledger })),
    );
    expect(ledger.spentUsd).toBeGreaterThan(0);
    expect(ledger.spentUsd).toBeLessThanOrEqual(0.3);
    expect(results.map((r) => r.policy.info().stop_reason)).toContain('cost_cap_experiment');
  });
});

// =========================================================================================================
describe('tool calls', () => {
  // FOUND: for a call the SDK cannot parse (unknown tool, malformed JSON arguments) generateText already puts
  // a `tool` message with an error result for that call id into `response.messages`; the policy appends those
  // messages and then answers the same id again with the env's observation. The next request carries two tool
  // results for one tool_call_id (strict endpoints reject that; others show the model two contradicting answers).
  it('an invalid tool call (unknown tool, malformed JSON) gets exactly one tool result', async () => {
    const server = await rawServer((_r, i) =>
      i === 0
        ? calls(i, undefined, ['rm_rf', { path: '/' }])
        : i === 1
          ? calls(i, undefined, ['read_file', '{"path": "ledger/money.py", '])
          : calls(i, undefined, ['list_dir', { path: '.' }]),
    );
    const { steps, requests } = await llmEpisode(server, {}, { maxSteps: 3 });
    expect(steps[0]!.observation.error?.code).toBe('invalid_action');
    expect(steps[1]!.observation.error?.code).toBe('invalid_action');
    for (const r of requests.slice(1)) {
      for (const [id, n] of toolAnswers(r.body)) expect(n, `tool results for ${id}`).toBe(1);
    }
  });

  // DEFENDED: `kind` inside the arguments cannot override the tool's name.
  it('defended: a read_file call with arguments {kind: "submit"} runs read_file', async () => {
    const server = await rawServer((_r, i) =>
      calls(i, undefined, ['read_file', { kind: 'submit', path: 'README.md', message: 'gotcha' }]),
    );
    const { steps } = await llmEpisode(server, {}, { maxSteps: 1 });
    expect(steps[0]!.action).toMatchObject({ kind: 'read_file' });
    expect(steps[0]!.observation.kind).toBe('read_file');
    expect(steps[0]!.info.grade).toBeUndefined();
  });

  // DEFENDED: several tool calls in one reply: the first runs, every other id gets a "not run" result.
  it('defended: several tool calls in one reply are all answered in the next request', async () => {
    const server = await rawServer((_r, i) =>
      calls(
        i,
        undefined,
        ['list_dir', { path: '.' }],
        ['submit', { message: 'sneaky second call' }],
        ['run', { command: 'true' }],
      ),
    );
    const { steps, requests } = await llmEpisode(server, {}, { maxSteps: 2 });
    expect(steps[0]!.action).toMatchObject({ kind: 'list_dir' });
    expect(steps[0]!.terminated).toBe(false);
    for (const [id, n] of toolAnswers(requests[1]!.body)) expect(n, id).toBe(1);
  });

  // DEFENDED: arguments that are a JSON array, a number or null come back as invalid_action observations.
  it('defended: arguments as an array, a number or null become invalid_action observations', async () => {
    const args = ['[1,2]', '42', 'null'];
    const server = await rawServer((_r, i) =>
      i < 3 ? calls(i, undefined, ['read_file', args[i]!]) : calls(i, undefined, ['list_dir', { path: '.' }]),
    );
    const { steps } = await llmEpisode(server, {}, { maxSteps: 4 });
    expect(steps.slice(0, 3).map((s) => s.observation.error?.code)).toEqual([
      'invalid_action',
      'invalid_action',
      'invalid_action',
    ]);
    expect(steps[3]!.observation.error).toBeFalsy();
  });

  // FINDING (severe): docs/policies.md says "a reply without a tool call is nudged up to three times, then the
  // policy escalates", but the policy passes toolChoice: 'required' and the ai SDK (v6) throws "Model response
  // did not contain a tool call even though tool choice was required" on a text reply. LlmPolicy.call() turns
  // that into an InfraError, so the nudge loop in nextAction() is dead code: one chatty reply (common with
  // local models) kills the episode.
  it('a text reply without a tool call is nudged and the episode goes on', async () => {
    const server = await rawServer((_r, i) =>
      i === 0 ? text('I think the bug is in money.py.') : calls(i, undefined, ['list_dir', { path: '.' }]),
    );
    const { steps, requests } = await llmEpisode(server, {}, { maxSteps: 1 });
    expect(requests).toHaveLength(2);
    expect(JSON.stringify(requests[1]!.body.messages)).toContain('Reply with exactly one tool call.');
    expect(steps[0]!.action).toMatchObject({ kind: 'list_dir' });
  });

  // FINDING (severe, same root cause): a model that never calls a tool should end in an escalation labelled
  // no_tool_call and count as an agent failure. Instead the episode is recorded as failure_class 'infra':
  // retried by the runner, re-run on every resume, and excluded from resolve rates — so a model that cannot
  // use tools is not scored as failing at all.
  it('text-only replies forever: an agent failure labelled no_tool_call, not an infra failure', async () => {
    const server = await rawServer(() => text('Sure! Here is my plan: ...'));
    const dir = await tmp('chatty');
    const config = parseConfig(
      [
        'name: adv-chatty',
        `dataset: {name: "builtin:mini", filter: {instance_ids: [${ID}]}}`,
        'policies:',
        '  - name: llm',
        `    base_url: "${server.url}"`,
        '    model: adversary',
        '    retries: {max: 0, base_ms: 0}',
        'retries: 0',
        'budgets: {max_steps: 3}',
      ].join('\n'),
    );
    const summary = await runExperiment(config, { outDir: dir });
    const db = new Database(path.join(dir, 'runs.sqlite'), { readonly: true });
    try {
      const row = db.prepare('SELECT failure_class, error, policy_info_json FROM episodes').get() as {
        failure_class: string;
        error: string | null;
        policy_info_json: string | null;
      };
      expect(row.failure_class, String(row.error)).toBe('agent');
      expect(summary.infra).toBe(0);
      expect(JSON.parse(row.policy_info_json ?? '{}')).toMatchObject({ stop_reason: 'no_tool_call' });
    } finally {
      db.close();
    }
  });
});

// =========================================================================================================
describe('retries', () => {
  // DEFENDED: a server that never answers is cut by timeout_sec, retried, then fails as infra.
  it('defended: a hanging server times out, is retried, then fails as infra', async () => {
    const server = await rawServer(() => ({ hang: true }));
    await expect(
      llmEpisode(server, { retries: { max: 1, base_ms: 0, timeout_sec: 0.3 } }, { maxSteps: 1 }),
    ).rejects.toMatchObject({ name: 'InfraError' });
    expect(server.requests).toHaveLength(2);
  });

  // DEFENDED: a dropped connection is retried and the episode goes on.
  it('defended: a dropped connection is retried', async () => {
    const server = await rawServer((_r, i) =>
      i === 0 ? { destroy: true } : calls(i, undefined, ['list_dir', { path: '.' }]),
    );
    const { steps, policy } = await llmEpisode(server, {}, { maxSteps: 1 });
    expect(steps[0]!.action).toMatchObject({ kind: 'list_dir' });
    expect(policy.info().retries).toBe(1);
  });

  // DEFENDED: 400 and 401 are not retried; they fail the episode as infra after one attempt.
  it('defended: 400 and 401 are not retried', async () => {
    for (const status of [400, 401]) {
      const server = await rawServer(() => ({ status }));
      await expect(llmEpisode(server, { retries: { max: 3, base_ms: 0 } }, { maxSteps: 1 })).rejects.toThrow(
        /after 1 attempt/,
      );
      expect(server.requests).toHaveLength(1);
    }
  });

  // DEFENDED: a huge Retry-After is capped (60 s); negative and garbage values fall back to the backoff.
  it('defended: Retry-After huge is capped, negative/garbage fall back to exponential backoff', async () => {
    const waits: number[] = [];
    const headers = ['100000000', '-5', 'soon'];
    const server = await rawServer((_r, i) =>
      i < 3
        ? { status: 429, headers: { 'retry-after': headers[i]! } }
        : calls(i, undefined, ['list_dir', { path: '.' }]),
    );
    await llmEpisode(
      server,
      { retries: { max: 3, base_ms: 10 } },
      { maxSteps: 1, sleep: async (ms) => void waits.push(ms) },
    );
    expect(waits).toEqual([60_000, 20, 40]);
  });

  // FINDING (minor): Retry-After may be an HTTP date (RFC 9110 §10.2.3); backoffMs only reads seconds, so a
  // server saying "retry at <date 30 s from now>" is hammered after base_ms. docs: "a server's Retry-After wins".
  it('Retry-After given as an HTTP date is honoured', async () => {
    const waits: number[] = [];
    const server = await rawServer((_r, i) =>
      i === 0
        ? { status: 429, headers: { 'retry-after': new Date(Date.now() + 30_000).toUTCString() } }
        : calls(i, undefined, ['list_dir', { path: '.' }]),
    );
    await llmEpisode(
      server,
      { retries: { max: 1, base_ms: 1 } },
      { maxSteps: 1, sleep: async (ms) => void waits.push(ms) },
    );
    expect(waits).toHaveLength(1);
    expect(waits[0]).toBeGreaterThanOrEqual(20_000);
  });

  // DEFENDED: a 200 with an empty `choices`, and a 200 whose body is not JSON, fail as infra, not as a crash
  // of another kind.
  it('defended: 200 with no choices or a non-JSON body fails as infra', async () => {
    for (const body of [
      { id: 'x', object: 'chat.completion', created: 1, model: 'm', choices: [] },
      '<html>captive portal</html>',
    ]) {
      const server = await rawServer(() => ({ status: 200, body }));
      await expect(llmEpisode(server, {}, { maxSteps: 1 })).rejects.toMatchObject({ name: 'InfraError' });
    }
  });
});

// =========================================================================================================
describe('secrets', () => {
  const SENTINEL = 'sk-adv-SENTINEL-7f3a9c';
  const echo401 = (r: RawRequest): RawReply => ({
    status: 401,
    body: {
      error: { message: `Incorrect API key provided: ${String(r.headers.authorization)}`, type: 'auth' },
    },
  });

  // FOUND: a 401 whose message quotes the Authorization header (proxies and gateways do; OpenAI quotes a
  // masked key) becomes the InfraError's message verbatim, which the runner stores in episodes.error and
  // which reaches runs.sqlite (and any report of errors). The key must be redacted from error messages.
  it('a 401 that echoes the key: the key reaches no file of the run directory', async () => {
    const server = await rawServer(echo401);
    const dir = await tmp('secret');
    const config = parseConfig(
      [
        'name: adv-secret',
        `dataset: {name: "builtin:mini", filter: {instance_ids: [${ID}]}}`,
        'policies:',
        '  - name: llm',
        `    base_url: "${server.url}"`,
        '    model: adversary',
        '    api_key_env: ADV_SENTINEL_KEY',
        'retries: 0',
        'budgets: {max_steps: 2}',
      ].join('\n'),
    );
    process.env.ADV_SENTINEL_KEY = SENTINEL;
    let summary;
    try {
      summary = await runExperiment(config, { outDir: dir });
    } finally {
      delete process.env.ADV_SENTINEL_KEY;
    }
    expect(summary.infra).toBe(1);
    expect(String(server.requests[0]!.headers.authorization)).toContain(SENTINEL); // the key was used
    expect(JSON.stringify(summary)).not.toContain(SENTINEL);
    for (const { file, text } of await allBytes(dir)) expect(text, file).not.toContain(SENTINEL);
  });

  // FOUND: the same through the CLI: `repogym run` prints the endpoint error, key included, on stderr.
  it('CLI: a 401 that echoes the key does not print the key', async () => {
    const server = await rawServer(echo401);
    const out = await runCli(
      [
        'run',
        '--dataset',
        'builtin:mini',
        '--task',
        ID,
        '--policy',
        'llm',
        '--base-url',
        server.url,
        '--model',
        'x',
        '--max-steps',
        '1',
      ],
      { OPENAI_API_KEY: SENTINEL },
    );
    expect(out.code).not.toBe(0);
    expect(out.stdout + out.stderr).not.toContain(SENTINEL);
  });
});

// =========================================================================================================
describe('a bandit over strategies in an experiment with a shared budget', () => {
  // One run: a neural bandit over two strategies, concurrency 2, 5 episodes, an experiment budget that runs
  // out during the run. The tests below read it.
  let dir: string;
  let rows: {
    task_id: string;
    arm: string | null;
    failure_class: string;
    policy_info_json: string;
  }[];
  let state: { kind: string; counts: number[] };
  const ids = [ID, ID2, ID3, 'ledger__allocate-remainder-2', 'ledger__remove-unknown-sku-4'];

  beforeAll(async () => {
    const server = await rawServer((r, i) =>
      calls(i, { prompt_tokens: Math.ceil(r.bytes / 4), completion_tokens: 10 }, ['list_dir', { path: '.' }]),
    );
    dir = await tmp('bandit');
    const config = parseConfig(
      [
        'name: adv-bandit',
        `dataset: {name: "builtin:mini", filter: {instance_ids: [${ids.join(', ')}]}}`,
        'policies:',
        '  - name: bandit',
        '    bandit: {kind: neural, hidden: [8]}',
        '    arms: [minimal-patch, reproduce-first]',
        `    inner: {base_url: "${server.url}", model: adversary, max_output_tokens: 10,`,
        '            prices: {input_per_mtok: 2, output_per_mtok: 2}, retries: {max: 0, base_ms: 0}}',
        'concurrency: 2',
        'retries: 0',
        'budgets: {usd: 0.03, max_steps: 6}',
      ].join('\n'),
    );
    const summary = await runExperiment(config, { outDir: dir });
    expect(summary.done).toBe(ids.length);
    await servers.splice(servers.indexOf(server), 1)[0]!.close();
    const db = new Database(path.join(dir, 'runs.sqlite'), { readonly: true });
    try {
      rows = db
        .prepare('SELECT task_id, arm, failure_class, policy_info_json FROM episodes ORDER BY finished_at')
        .all() as typeof rows;
      state = JSON.parse(
        (db.prepare('SELECT state_json FROM bandit_state').get() as { state_json: string }).state_json,
      ) as typeof state;
    } finally {
      db.close();
    }
  }, 90_000);

  type Info = {
    arm: string;
    event: { updated?: boolean; skipped?: string; reward?: number };
    inner: { calls: number; stop_reason: string | null; usage: { usd: number } };
  };
  const infos = () => rows.map((r) => JSON.parse(r.policy_info_json) as Info);

  // REGRESSION (found, then fixed upstream by commit a11778a during this review): runWithRetries wrote every
  // episode with `arm: null`, so the report's "arm (or policy) choice over time" (`e.arm ?? e.policy`) showed
  // the policy name instead of the chosen strategy. (Infra-failed bandit episodes still get arm null.)
  it('the episodes table records the arm the bandit chose', () => {
    const chosen = infos().map((i) => i.arm);
    expect(chosen.every((a) => a === 'minimal-patch' || a === 'reproduce-first')).toBe(true);
    expect(rows.map((r) => r.arm)).toEqual(chosen);
  });

  // FOUND: an episode stopped by the experiment budget before the model was ever called (calls: 0,
  // stop_reason cost_cap_experiment) is graded as an escalation with reward 0, and BanditLearner.end() feeds
  // that 0 to the bandit as if the strategy had failed. Once the budget runs out every remaining episode
  // teaches the bandit "this arm scores 0". Like infra failures, such episodes say nothing about the strategy.
  it('episodes stopped by the experiment budget before any model call do not update the bandit', () => {
    const starved = infos().filter(
      (i) => i.inner.calls === 0 && i.inner.stop_reason === 'cost_cap_experiment',
    );
    expect(starved.length).toBeGreaterThan(0); // the scenario happened
    for (const i of starved) expect(i.event.updated, JSON.stringify(i.event)).not.toBe(true);
    const learnedFrom = infos().filter((i) => i.inner.calls > 0).length;
    expect(state.counts.reduce((a, b) => a + b, 0)).toBe(learnedFrom);
  });

  // DEFENDED: the shared ledger holds across concurrent bandit episodes; the neural bandit (which refuses
  // overlapping calls) is serialised and its state persisted.
  it('defended: the experiment budget holds across concurrent episodes; the neural bandit ran and was saved', () => {
    const spent = infos()
      .map((i) => i.inner.usage.usd)
      .reduce((a, b) => a + b, 0);
    expect(spent).toBeGreaterThan(0);
    expect(spent).toBeLessThanOrEqual(0.03);
    expect(state.kind).toBe('neural');
    expect(rows.every((r) => r.failure_class !== 'infra')).toBe(true);
  });
});

describe('experiments: infra failures, episode retries and per-episode caps', () => {
  // DEFENDED: a bandit whose inner LLM fails as infra learns nothing from those episodes.
  it('defended: infra-failed bandit episodes do not update the bandit', async () => {
    const server = await rawServer(() => ({ status: 503 }));
    const dir = await tmp('bandit-infra');
    const config = parseConfig(
      [
        'name: adv-bandit-infra',
        `dataset: {name: "builtin:mini", filter: {instance_ids: [${ID}, ${ID2}]}}`,
        'policies:',
        '  - name: bandit',
        '    bandit: {kind: ucb1}',
        '    arms: [minimal-patch, reproduce-first]',
        `    inner: {base_url: "${server.url}", model: x, retries: {max: 0, base_ms: 0}}`,
        'retries: 1',
        'budgets: {max_steps: 2}',
      ].join('\n'),
    );
    const summary = await runExperiment(config, { outDir: dir });
    expect(summary.infra).toBe(2);
    const db = new Database(path.join(dir, 'runs.sqlite'), { readonly: true });
    try {
      const row = db.prepare('SELECT state_json FROM bandit_state').get() as { state_json: string };
      expect((JSON.parse(row.state_json) as { counts: number[] }).counts).toEqual([0, 0]);
    } finally {
      db.close();
    }
  });

  // FOUND: the per-episode cap is per *attempt*. When the endpoint fails mid-episode the runner re-runs the
  // episode (config `retries`) with a fresh LlmPolicy whose spend starts at $0, so one episode (one row,
  // `attempts` 3) can cost (retries + 1) × usd_per_episode — the spend of failed attempts is forgotten.
  it('an episode retried after infra failures spends at most usd_per_episode in all', async () => {
    let billed = 0;
    const server = await rawServer((r, i) => {
      const turn = r.body.messages.filter((m) => m.role === 'assistant').length;
      if (turn >= 2) return { status: 500 };
      billed += (2000 * 10 + 100 * 30) / 1e6;
      return calls(i, { prompt_tokens: 2000, completion_tokens: 100 }, ['list_dir', { path: '.' }]);
    });
    const dir = await tmp('retry-cap');
    const config = parseConfig(
      [
        'name: adv-retry-cap',
        `dataset: {name: "builtin:mini", filter: {instance_ids: [${ID}]}}`,
        'policies:',
        '  - name: llm',
        `    base_url: "${server.url}"`,
        '    model: adversary',
        '    max_output_tokens: 100',
        '    prices: {input_per_mtok: 10, output_per_mtok: 30}',
        '    retries: {max: 0, base_ms: 0}',
        'retries: 2',
        'budgets: {usd_per_episode: 0.15, max_steps: 10}',
      ].join('\n'),
    );
    await runExperiment(config, { outDir: dir });
    // Attempts that failed for infra spent money too: all attempts together stay under the episode's cap.
    expect(billed).toBeGreaterThan(0);
    expect(billed).toBeLessThanOrEqual(0.15);
  });

  // FOUND: runner.ts picks `options.max_usd_per_episode ?? config.budgets.usd_per_episode`, so a looser
  // policy-level cap silently replaces the experiment's `budgets.usd_per_episode` ("cost cap of one episode")
  // instead of the tighter of the two applying.
  it("budgets.usd_per_episode still binds when the policy's own max_usd_per_episode is looser", async () => {
    const server = await rawServer((r, i) =>
      calls(i, { prompt_tokens: Math.ceil(r.bytes / 4), completion_tokens: 50 }, ['list_dir', { path: '.' }]),
    );
    const dir = await tmp('two-caps');
    const config = parseConfig(
      [
        'name: adv-two-caps',
        `dataset: {name: "builtin:mini", filter: {instance_ids: [${ID}]}}`,
        'policies:',
        '  - name: llm',
        `    base_url: "${server.url}"`,
        '    model: adversary',
        '    max_output_tokens: 100',
        '    prices: {input_per_mtok: 1, output_per_mtok: 1}',
        '    max_usd_per_episode: 10',
        'budgets: {usd_per_episode: 0.03, max_steps: 30}',
      ].join('\n'),
    );
    await runExperiment(config, { outDir: dir });
    const db = new Database(path.join(dir, 'runs.sqlite'), { readonly: true });
    try {
      const row = db.prepare('SELECT policy_info_json FROM episodes').get() as { policy_info_json: string };
      const info = JSON.parse(row.policy_info_json) as { usage: { usd: number }; calls: number };
      expect(info.calls).toBeGreaterThan(0);
      expect(info.usage.usd).toBeLessThanOrEqual(0.03);
    } finally {
      db.close();
    }
  });

  // FOUND: when the endpoint gives up mid-episode, runWithRetries' catch branch records the episode with
  // `steps: []` and `policy_info_json: null`: the calls already made and the money they cost (counted by the
  // ledger) vanish from the store, so a run's recorded spend is less than what it spent.
  it('an episode that fails as infra after paid calls keeps its spend in the store', async () => {
    const server = await rawServer((r, i) =>
      i < 2
        ? calls(i, { prompt_tokens: 1000, completion_tokens: 100 }, ['list_dir', { path: '.' }])
        : { status: 500 },
    );
    const dir = await tmp('infra-spend');
    const config = parseConfig(
      [
        'name: adv-infra-spend',
        `dataset: {name: "builtin:mini", filter: {instance_ids: [${ID}]}}`,
        'policies:',
        '  - name: llm',
        `    base_url: "${server.url}"`,
        '    model: adversary',
        '    prices: {input_per_mtok: 10, output_per_mtok: 30}',
        '    retries: {max: 0, base_ms: 0}',
        'retries: 0',
        'budgets: {max_steps: 6}',
      ].join('\n'),
    );
    const summary = await runExperiment(config, { outDir: dir });
    expect(summary.infra).toBe(1);
    const db = new Database(path.join(dir, 'runs.sqlite'), { readonly: true });
    try {
      const row = db.prepare('SELECT policy_info_json FROM episodes').get() as {
        policy_info_json: string | null;
      };
      const stepsUsd =
        (db.prepare('SELECT SUM(usd) AS usd FROM steps').get() as { usd: number | null }).usd ?? 0;
      const infoUsd = row.policy_info_json
        ? ((JSON.parse(row.policy_info_json) as { usage?: { usd: number } }).usage?.usd ?? 0)
        : 0;
      // Two paid calls: 2 × (1,000 × $10 + 100 × $30) / 1e6 = $0.026.
      expect(Math.max(stepsUsd, infoUsd)).toBeCloseTo(0.026, 6);
    } finally {
      db.close();
    }
  });
});

// =========================================================================================================
describe('tiered context', () => {
  const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

  // FOUND: trimToTokens (and the env's 16,000-character overview cut) slice UTF-16 strings at an arbitrary
  // index, so a cut that lands inside an emoji leaves a lone surrogate in the system prompt. JSON.stringify
  // sends it as "\ud83d", which is not valid Unicode: OpenAI answers 400, Python servers fail to encode it.
  it('trimming the overview to its budget never leaves a lone surrogate in the prompt', async () => {
    const t = await customTask({ 'AGENTS.md': `a${'🚀'.repeat(5000)}\n` });
    const server = await rawServer((_r, i) => calls(i, undefined, ['list_dir', { path: '.' }]));
    const { requests } = await llmEpisode(server, {}, { task: t, maxSteps: 1 });
    const system = systemOf(requests[0]!.body);
    expect(system).toContain('Project overview (AGENTS.md)');
    expect(LONE_SURROGATE.test(system)).toBe(false);
  });

  // FINDING (minor): tier1_tokens: 0 should load no overview, but trimToTokens(text, 0) returns
  // "\n[... trimmed to 0 tokens ...]", which is non-empty: the prompt gets a "Project overview" section that
  // holds only a trim marker, and the log claims tier-1 tokens were loaded.
  it('tier1_tokens: 0 loads no overview', async () => {
    const server = await rawServer((_r, i) => calls(i, undefined, ['list_dir', { path: '.' }]));
    const { requests, policy } = await llmEpisode(server, { context: { tier1_tokens: 0 } }, { maxSteps: 1 });
    expect(systemOf(requests[0]!.body)).not.toContain('Project overview');
    const tier1 = (policy.info().context as { tier1: { tokens: number } | null }).tier1;
    expect(tier1?.tokens ?? 0).toBe(0);
  });

  // DEFENDED: a huge AGENTS.md is cut to the tier-1 budget (4 characters a token, plus the trim marker).
  it('defended: a huge AGENTS.md is trimmed to the tier-1 budget', async () => {
    const t = await customTask({ 'AGENTS.md': `${'Rule: keep it small.\n'.repeat(20_000)}` });
    const server = await rawServer((_r, i) => calls(i, undefined, ['list_dir', { path: '.' }]));
    const { requests } = await llmEpisode(
      server,
      { context: { tier1_tokens: 100 } },
      { task: t, maxSteps: 1 },
    );
    const system = systemOf(requests[0]!.body);
    const section = system.slice(system.indexOf('## Project overview'));
    expect(section.length).toBeLessThan(100 * 4 + 200);
    expect(section).toContain('trimmed to 100 tokens');
  });

  // DEFENDED: no AGENTS.md, CLAUDE.md or README: no overview, no crash.
  it('defended: a repository with no overview file gets no overview section', async () => {
    const t = await customTask({});
    const server = await rawServer((_r, i) => calls(i, undefined, ['list_dir', { path: '.' }]));
    const { requests, policy } = await llmEpisode(server, {}, { task: t, maxSteps: 1 });
    expect(systemOf(requests[0]!.body)).not.toContain('Project overview');
    expect((policy.info().context as { tier1: unknown }).tier1).toBeNull();
  });

  // DEFENDED: docs/ as a symlink to a host folder, a doc that links to a host file, AGENTS.md linking to a host
  // file: read_doc and the overview read nothing from the host.
  it('defended: docs/ and AGENTS.md symlinked outside the sandbox leak no host file', async () => {
    const host = await tmp('hostdocs');
    const secret = 'HOST-SECRET-3c1e';
    await writeFile(path.join(host, 'rounding.md'), `# rounding\n${secret}\n`);
    const t = await customTask({ 'README.md': '# calc\nA tiny calculator.\n' }, {}, async (repo) => {
      await symlink(host, path.join(repo, 'docs'));
      await mkdir(path.join(repo, 'doc'));
      await symlink(path.join(host, 'rounding.md'), path.join(repo, 'doc', 'rounding.md'));
      await symlink(path.join(host, 'rounding.md'), path.join(repo, 'AGENTS.md'));
    });
    const env = new CodingEnv({ tasks: [t], maxSteps: 5 });
    try {
      const { info } = await env.reset({});
      expect(JSON.stringify(info.overview)).not.toContain(secret);
      for (const topic of ['rounding', '.*', 'rounding ../../etc/passwd']) {
        const step = await env.step({ kind: 'read_doc', topic });
        expect(step.observation.output).not.toContain(secret);
      }
    } finally {
      await env.close();
    }
  });

  // DEFENDED: read_doc topics that are regex syntax, whitespace or path traversal, and knowledge-base entries
  // with hostile topics, are answered as text lookups.
  it('defended: regex-special, blank and traversal topics; hostile knowledge-base topics', async () => {
    const t = await customTask(
      { 'docs/money.md': '# Money\nRound half up.\n' },
      {
        context: {
          knowledge_base: [{ topic: '../../../etc/passwd', text: 'kb: nothing here' }, { topic: 1 }],
        },
      },
    );
    const env = new CodingEnv({ tasks: [t], maxSteps: 10 });
    try {
      await env.reset({});
      for (const topic of ['(a+)+$', '[', '   ', '\\', '../../../../etc/passwd', 'money']) {
        const step = await env.step({ kind: 'read_doc', topic });
        expect(step.observation.error?.code ?? null, topic).toBeNull();
        expect(step.observation.output).not.toMatch(/root:x:0:0/);
      }
      const last = await env.step({ kind: 'read_doc', topic: 'money rounding' });
      expect(last.observation.output).toContain('# docs/money.md');
    } finally {
      await env.close();
    }
  });
});

// =========================================================================================================
describe('templates and strategy configuration', () => {
  const experiment = (server: RawServer, lines: string[]) =>
    parseConfig(
      [
        'name: adv-config',
        `dataset: {name: "builtin:mini", filter: {instance_ids: [${ID}]}}`,
        'policies:',
        ...lines.map((l) => l.replace('URL', server.url)),
        'budgets: {max_steps: 1}',
      ].join('\n'),
    );

  // DEFENDED: an unknown strategy (llm), an unknown arm (bandit), and a malformed templates_dir are config
  // errors that name the problem, before any model call.
  it('defended: unknown strategy / arm and malformed template dir are config errors before any call', async () => {
    const server = await rawServer((_r, i) => calls(i, undefined, ['escalate', { report: 'x' }]));
    const badTemplates = await tmp('templates');
    await writeFile(path.join(badTemplates, 'broken.md'), '---\nname: Not A Slug\n---\nbody\n');
    const cases: [string[], RegExp, string?][] = [
      [
        ['  - name: llm', '    base_url: "URL"', '    model: x', '    strategy: yolo'],
        /policies\.0: unknown strategy template "yolo"/,
      ],
      [
        [
          '  - name: bandit',
          '    bandit: {kind: ucb1}',
          '    arms: [minimal-patch, nonexistent-arm]',
          '    inner: {base_url: "URL", model: x}',
        ],
        /unknown strategy template "nonexistent-arm"/,
      ],
      [['  - name: llm', '    base_url: "URL"', '    model: x'], /broken\.md: .*name/, badTemplates],
    ];
    for (const [lines, message, templatesDir] of cases) {
      const config = experiment(server, lines);
      if (templatesDir) config.templates_dir = templatesDir;
      await expect(runExperiment(config, { outDir: await tmp('cfg') })).rejects.toThrow(message);
    }
    expect(server.requests).toHaveLength(0);
  });

  // FINDING (minor): `repogym run --policy llm --strategy <unknown>` is only noticed in policy.begin(), after
  // the sandbox was built and the reset printed, and exits 1 like a runtime failure; flag problems (as
  // --base-url/--model are) should be usage errors (exit 2) before any sandbox work.
  it('CLI: an unknown --strategy is a usage error before any sandbox is built', async () => {
    const server = await rawServer((_r, i) => calls(i, undefined, ['escalate', { report: 'x' }]));
    const out = await runCli([
      'run',
      '--dataset',
      'builtin:mini',
      '--task',
      ID,
      '--policy',
      'llm',
      '--base-url',
      server.url,
      '--model',
      'x',
      '--strategy',
      'no-such-strategy',
      '--max-steps',
      '1',
    ]);
    expect(out.stderr).toMatch(/no-such-strategy/);
    expect(out.stdout).not.toMatch(/^reset/m);
    expect(out.code).toBe(2);
  });
});
