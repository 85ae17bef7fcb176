import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadDataset } from '../datasets/loader.ts';
import type { Task } from '../datasets/types.ts';
import { CodingEnv } from '../env/coding-env.ts';
import type { Grade } from '../env/grading.ts';
import { parseConfig } from '../experiments/config.ts';
import { runEpisode, type StepRecord } from '../experiments/episode.ts';
import { renderTrajectory } from '../experiments/trajectory.ts';
import { runExperiment } from '../experiments/runner.ts';
import { CostLedger, LlmPolicy, llmOptionsSchema } from '../policies/llm.ts';
import { startChatServer, type ChatRequest, type ChatServer, type Reply } from './chat-server.ts';

let tasks: Task[];
let server: ChatServer | undefined;
beforeAll(async () => {
  tasks = (await loadDataset('builtin:mini')).tasks;
});
afterEach(async () => {
  await server?.close();
  server = undefined;
});

const task = (id: string) => tasks.find((t) => t.instance_id === id)!;
const templates = new Map([
  [
    'minimal-patch',
    { name: 'minimal-patch', body: 'STRATEGY: change as few lines as possible, then run_tests.' },
  ],
]);
const noSleep = async () => {};

async function episode(
  id: string,
  script: (request: ChatRequest, index: number) => Reply,
  options: Record<string, unknown> = {},
  deps: { ledger?: CostLedger } = {},
) {
  server = await startChatServer(script);
  const policy = new LlmPolicy(
    llmOptionsSchema.parse({ base_url: server.url, model: 'scripted', ...options }),
    {
      templates,
      sleep: noSleep,
      ...deps,
    },
  );
  const env = new CodingEnv({ tasks: [task(id)], maxSteps: 12 });
  const steps: StepRecord[] = [];
  try {
    const result = await runEpisode(env, policy, { strategy: 'minimal-patch', onStep: (s) => steps.push(s) });
    return { result, steps, requests: server.requests, policy };
  } finally {
    await env.close();
  }
}

const lastToolText = (request: ChatRequest) => {
  const tool = request.messages.filter((m) => m.role === 'tool').at(-1);
  return JSON.stringify(tool?.content ?? '');
};

describe('LLM policy against a real chat-completions server on 127.0.0.1', () => {
  it('solves a mini task: tier-1 overview, template and tools in the request, read_doc round trip, a malformed call answered, a 429 retried', async () => {
    const id = 'ledger__round-half-up-1';
    const gold = task(id).patch;
    let served = 0;
    const { result, steps, requests, policy } = await episode(id, (_request, index) => {
      if (index === 0) return { status: 429, headers: { 'retry-after': '0' } };
      const plan: Reply[] = [
        { toolCall: { name: 'read_doc', arguments: { topic: 'rounding' } } },
        { toolCall: { name: 'read_file', arguments: '{"path": "ledger/money.py", ' } }, // malformed JSON
        { toolCall: { name: 'apply_patch', arguments: { diff: gold } } },
        { toolCall: { name: 'run_tests', arguments: {} } },
        { toolCall: { name: 'submit', arguments: { message: 'Round half up, as docs/money.md says.' } } },
      ];
      return plan[served++]!;
    });
    expect((result.grade as Grade).status).toBe('resolved');
    expect(result.return).toBe(1);
    expect(requests).toHaveLength(6); // 429, then five tool calls

    const first = requests[1]!;
    const system = String(first.messages.find((m) => m.role === 'system')?.content);
    expect(first.messages[0]!.role).toBe('system');
    expect(system).toContain('Project overview (AGENTS.md)');
    expect(system).toContain('STRATEGY: change as few lines as possible');
    expect(first.tools?.map((t) => t.function.name).sort()).toEqual(
      [
        'apply_patch',
        'escalate',
        'evaluate',
        'list_dir',
        'read_doc',
        'read_file',
        'run',
        'run_tests',
        'search',
        'str_replace',
        'submit',
        'write_file',
      ].sort(),
    );
    const readDocParameters = first.tools!.find((t) => t.function.name === 'read_doc')!.function.parameters;
    expect(readDocParameters).toMatchObject({
      properties: { topic: { type: 'string' } },
      required: ['topic'],
    });
    expect(String(first.messages.find((m) => m.role === 'user')?.content)).toContain(
      task(id).problem_statement.slice(0, 40),
    );

    // read_doc's result reaches the model in the next request; the malformed call comes back as an error.
    expect(lastToolText(requests[2]!)).toContain('docs/money.md');
    expect(steps[1]!.observation.error?.code).toBe('invalid_action');
    // The SDK answers the unparsable call itself; the env's error observation follows as a user message.
    expect(lastToolText(requests[3]!)).toContain('Invalid input for tool read_file');
    expect(JSON.stringify(requests[3]!.messages.at(-1))).toContain('error invalid_action');

    expect(policy.info()).toMatchObject({
      retries: 1,
      stop_reason: null,
      context: {
        tier1: { path: 'AGENTS.md' },
        tier2: { template: 'minimal-patch' },
        tier3: ['# docs/money.md'],
      },
    });
    // The server reports about 4 bytes a token for what it was sent; the policy adds up what it reported.
    const reported = requests
      .slice(1)
      .map((r) => Math.ceil(Buffer.byteLength(JSON.stringify([r.messages, r.tools])) / 4));
    expect(policy.usage()).toEqual({
      inputTokens: reported.reduce((a, b) => a + b),
      outputTokens: 250,
      usd: 0,
    });
  });

  it('stops before the episode cost cap and labels the episode', async () => {
    const prices = { input_per_mtok: 10, output_per_mtok: 30 };
    // A prompt is ~3k tokens and grows each turn: ~$0.03 a call. The cap must hold against the worst case
    // of the next call (every byte a token, all 1,000 output tokens), so the policy stops early, not after.
    const { result, steps, requests, policy } = await episode(
      'ledger__round-half-up-1',
      () => ({ toolCall: { name: 'list_dir', arguments: { path: '.' } } }),
      { prices, max_usd_per_episode: 0.2, max_output_tokens: 1000 },
    );
    expect(requests.length).toBeGreaterThanOrEqual(1);
    expect(policy.usage().usd).toBeGreaterThan(0);
    expect(policy.usage().usd).toBeLessThanOrEqual(0.2);
    expect(policy.info().stop_reason).toBe('cost_cap_episode');
    expect(steps.at(-1)!.action).toMatchObject({ kind: 'escalate' });
    expect(String((steps.at(-1)!.action as { report: string }).report)).toMatch(
      /Stopped before the episode cap \$0.2/,
    );
    expect(result.outcome).not.toBe('resolved');
  });

  it('stops before the episode token cap, with no prices needed, and labels the episode', async () => {
    const { result, steps, requests, policy } = await episode(
      'ledger__round-half-up-1',
      () => ({ toolCall: { name: 'list_dir', arguments: { path: '.' } } }),
      { max_tokens_per_episode: 20_000, max_output_tokens: 1000 },
    );
    const used = policy.usage().inputTokens + policy.usage().outputTokens;
    expect(requests.length).toBeGreaterThanOrEqual(2);
    expect(used).toBeGreaterThan(0);
    expect(used).toBeLessThanOrEqual(20_000);
    expect(policy.info().stop_reason).toBe('token_cap_episode');
    expect(String((steps.at(-1)!.action as { report: string }).report)).toMatch(
      /Stopped before the episode's token cap \(20000\)/,
    );
    expect(result.outcome).not.toBe('resolved');
  });

  it('an experiment-wide ledger stops a second episode before the shared cap', async () => {
    const ledger = new CostLedger(0.15);
    const prices = { input_per_mtok: 10, output_per_mtok: 30 };
    const script = (): Reply => ({ toolCall: { name: 'list_dir', arguments: { path: '.' } } });
    const a = await episode(
      'ledger__round-half-up-1',
      script,
      { prices, max_output_tokens: 1000 },
      { ledger },
    );
    await server!.close();
    server = undefined;
    const b = await episode(
      'ledger__round-half-up-1',
      script,
      { prices, max_output_tokens: 1000 },
      { ledger },
    );
    expect(ledger.spentUsd).toBeGreaterThan(0);
    expect(ledger.spentUsd).toBeLessThanOrEqual(0.15);
    expect([a.policy.info().stop_reason, b.policy.info().stop_reason]).toContain('cost_cap_experiment');
  });

  it('gives up after the retries on 5xx and labels the failure infra', async () => {
    await expect(
      episode('ledger__round-half-up-1', () => ({ status: 503 }), { retries: { max: 2, base_ms: 0 } }),
    ).rejects.toThrow(/LLM endpoint failed after 3 attempt\(s\)/);
    expect(server!.requests).toHaveLength(3);
  });
});

describe('LLM policy from the CLI and in experiments', () => {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  const id = 'ledger__round-half-up-1';
  const solve = (...first: Reply[]): ((request: ChatRequest, index: number) => Reply) => {
    const plan: Reply[] = [
      ...first,
      { toolCall: { name: 'apply_patch', arguments: { diff: task(id).patch } } },
      { toolCall: { name: 'submit', arguments: { message: 'Round half up.' } } },
    ];
    return (request) => plan[request.messages.filter((m) => m.role === 'assistant').length]!;
  };

  it('`repogym run --policy llm --base-url … --model x` solves a task; the API key reaches neither output nor sandbox', async () => {
    // The model asks the sandbox for its environment first: the key must not be in it.
    server = await startChatServer(solve({ toolCall: { name: 'run', arguments: { command: 'env' } } }));
    const secret = 'sk-test-SECRET-never-printed';
    const out = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile(
        'node',
        [
          path.join(root, 'bin/repogym.js'),
          'run',
          '--dataset',
          'builtin:mini',
          '--task',
          id,
          '--policy',
          'llm',
          '--base-url',
          server!.url,
          '--model',
          'x',
          '--strategy',
          'minimal-patch',
          '--json',
        ],
        { cwd: root, env: { ...process.env, OPENAI_API_KEY: secret } },
        (err, stdout, stderr) =>
          resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });
    expect(out.stderr).toBe('');
    expect(out.code).toBe(0);
    const result = JSON.parse(out.stdout.trim().split('\n').at(-1)!) as { resolved: boolean };
    expect(result.resolved).toBe(true);
    expect(out.stdout).not.toContain(secret);
    expect(JSON.stringify(server.requests)).toContain('REPOGYM_SANDBOX'); // env's output went back
    expect(JSON.stringify(server.requests)).not.toContain(secret);
    expect(String(server.requests[0]!.messages[0]!.content)).toContain('Strategy: minimal-patch');
  });

  it('a bandit over strategies learns across episodes, logs each choice and its tokens, and a resumed run continues it', async () => {
    server = await startChatServer(solve());
    const dir = await mkdtemp(path.join(os.tmpdir(), 'repogym-bandit-'));
    try {
      const config = parseConfig(
        [
          'name: bandit-llm',
          `dataset: {name: "builtin:mini", filter: {instance_ids: [${id}, ledger__low-stock-threshold-3]}}`,
          'policies:',
          '  - name: bandit',
          '    bandit: {kind: ucb1}',
          '    arms: [minimal-patch, reproduce-first]',
          `    inner: {base_url: "${server.url}", model: x}`,
          'seeds: 2',
          'concurrency: 2',
          'budgets: {max_steps: 4}',
        ].join('\n'),
      );
      const summary = await runExperiment(config, { outDir: dir });
      expect(summary.done).toBe(4);
      const db = new Database(path.join(dir, 'runs.sqlite'), { readonly: true });
      try {
        const episodes = db
          .prepare('SELECT task_id, resolved, arm, policy_info_json FROM episodes')
          .all() as {
          task_id: string;
          resolved: number;
          arm: string;
          policy_info_json: string;
        }[];
        const infos = episodes.map(
          (e) =>
            JSON.parse(e.policy_info_json) as {
              arm: string;
              event: { updated: boolean; reward: number; context: { features: number[] } };
            },
        );
        expect(infos.every((i) => ['minimal-patch', 'reproduce-first'].includes(i.arm))).toBe(true);
        expect(episodes.map((e) => e.arm)).toEqual(infos.map((i) => i.arm));
        expect(infos.every((i) => i.event.updated && i.event.context.features.length === 6)).toBe(true);
        // The scripted model solves round-half-up only: its reward is 1, the other task's 0.
        for (const [i, e] of episodes.entries()) expect(infos[i]!.event.reward).toBe(e.resolved);
        const state = db.prepare('SELECT state_json FROM bandit_state').get() as { state_json: string };
        const saved = JSON.parse(state.state_json) as { kind: string; counts: number[] };
        expect(saved.kind).toBe('ucb1');
        expect(saved.counts.reduce((a, b) => a + b)).toBe(4);
        // Every model call's tokens are on the step it chose.
        const spent = db
          .prepare('SELECT SUM(input_tokens) AS i, COUNT(input_tokens) AS n FROM steps')
          .get() as {
          i: number;
          n: number;
        };
        expect(spent.n).toBeGreaterThanOrEqual(4);
        expect(spent.i).toBe(
          server.requests.reduce(
            (sum, r) => sum + Math.ceil(Buffer.byteLength(JSON.stringify([r.messages, r.tools])) / 4),
            0,
          ),
        );
        // Each episode row totals its policy's spending: the steps' tokens, summed per episode.
        const totals = db
          .prepare(
            `SELECT e.input_tokens AS episode, (SELECT SUM(s.input_tokens) FROM steps s WHERE s.episode_id = e.id) AS steps
             FROM episodes e`,
          )
          .all() as { episode: number; steps: number }[];
        expect(totals.every((t) => t.episode > 0 && t.episode === t.steps)).toBe(true);
        // The manifest names the model called and the dependency versions installed, not package.json's ranges.
        const manifest = JSON.parse(
          (db.prepare('SELECT manifest_json FROM experiments').get() as { manifest_json: string })
            .manifest_json,
        ) as { model_ids: string[]; dependencies: Record<string, string> };
        expect(manifest.model_ids).toEqual(['x']);
        expect(manifest.dependencies['apache-arrow']).toMatch(/^\d+\.\d+\.\d+$/);
        // A trajectory shows what each model call cost.
        const firstId = (db.prepare('SELECT id FROM episodes LIMIT 1').get() as { id: string }).id;
        expect(renderTrajectory(dir, firstId)).toMatch(/\d+ in \+ \d+ out tokens, \$\d+\.\d{4}/);
        // One logged update per episode, in order.
        const updates = db.prepare('SELECT seq, reward FROM bandit_updates ORDER BY seq').all();
        expect(updates.map((u) => (u as { seq: number }).seq)).toEqual([1, 2, 3, 4]);
      } finally {
        db.close();
      }
      // Resume: drop one episode as if the run had died before committing it; the re-run runs just that one
      // and continues the stored bandit (5 pulls in all), not a fresh one.
      const rw = new Database(path.join(dir, 'runs.sqlite'));
      try {
        const victim = (rw.prepare('SELECT id FROM episodes LIMIT 1').get() as { id: string }).id;
        for (const table of ['steps', 'reward_components', 'rewards', 'bandit_updates']) {
          rw.prepare(`DELETE FROM ${table} WHERE episode_id = ?`).run(victim);
        }
        rw.prepare('DELETE FROM episodes WHERE id = ?').run(victim);
      } finally {
        rw.close();
      }
      const resumed = await runExperiment(config, { outDir: dir });
      expect([resumed.done, resumed.skipped]).toEqual([1, 3]);
      const after = new Database(path.join(dir, 'runs.sqlite'), { readonly: true });
      try {
        const row = after.prepare('SELECT state_json FROM bandit_state').get() as { state_json: string };
        const counts = (JSON.parse(row.state_json) as { counts: number[] }).counts;
        expect(counts.reduce((a, b) => a + b)).toBe(5);
      } finally {
        after.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
