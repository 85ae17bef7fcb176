// The LLM policy: one model call per env step through the `ai` SDK, every env action a tool. Context comes in
// tiers: the repository's overview (tier 1) and the strategy template with the problem statement (tier 2) are
// in every prompt; docs arrive on demand through `read_doc` (tier 3). Each tier has a token budget.
import { createOpenAI } from '@ai-sdk/openai';
import { APICallError, generateText, jsonSchema, tool, type ModelMessage, type ToolSet } from 'ai';
import { z } from 'zod';
import { actionSchemas } from '../env/actions.ts';
import { InfraError } from '../env/coding-env.ts';
import type { Observation } from '../env/types.ts';
import type { Usage } from '../rewards/types.ts';
import type { EpisodeContext, Policy } from './types.ts';

export const llmOptionsSchema = z.strictObject({
  base_url: z.url().describe('OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1'),
  model: z.string().min(1),
  api_key_env: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name')
    .default('OPENAI_API_KEY')
    .describe('the variable holding the key; the key itself never appears in configs, logs or the store'),
  temperature: z.number().min(0).max(2).default(0),
  max_output_tokens: z.number().int().positive().max(1_000_000).default(2048),
  prices: z
    .strictObject({
      input_per_mtok: z.number().nonnegative(),
      output_per_mtok: z.number().nonnegative(),
    })
    .optional()
    .describe('USD per million tokens; without prices, cost caps cannot apply'),
  max_usd_per_episode: z.number().positive().optional(),
  max_tokens_per_episode: z
    .number()
    .int()
    .positive()
    .optional()
    .describe('input + output tokens of one episode; the policy stops before a call that could cross it'),
  context: z
    .strictObject({
      tier1_tokens: z.number().int().min(0).default(1000),
      tier2_tokens: z.number().int().min(0).default(2000),
      tier3_tokens: z.number().int().min(0).default(2000),
    })
    .prefault({}),
  retries: z
    .strictObject({
      max: z.number().int().min(0).max(10).default(4),
      base_ms: z.number().int().min(0).default(500),
      timeout_sec: z.number().positive().default(120),
    })
    .prefault({}),
});
export type LlmOptions = z.infer<typeof llmOptionsSchema>;

/** Spending shared by the episodes of one experiment, so a cap holds across concurrent episodes. */
export class CostLedger {
  private spent: number;
  private reserved = 0;
  /** `alreadySpent`: what earlier sessions of a resumed run spent; the cap covers the whole run. */
  constructor(
    readonly capUsd?: number,
    alreadySpent = 0,
  ) {
    this.spent = alreadySpent;
  }

  /** Reserves a call's worst case; false when it could cross the cap. */
  reserve(usd: number): boolean {
    if (this.capUsd !== undefined && this.spent + this.reserved + usd > this.capUsd) return false;
    this.reserved += usd;
    return true;
  }

  settle(reservedUsd: number, actualUsd: number): void {
    this.reserved -= reservedUsd;
    this.spent += actualUsd;
  }

  get spentUsd(): number {
    return this.spent;
  }
}

/** Rough tokens of a text (4 characters a token): budgets and worst-case cost estimates only. */
const tokensOf = (text: string) => Math.ceil(text.length / 4);

/** Cuts text to a token budget on a line boundary. */
function trimToTokens(text: string, tokens: number): string {
  const limit = tokens * 4;
  if (text.length <= limit) return text;
  let cut = text.lastIndexOf('\n', limit);
  if (cut <= limit / 2) cut = limit;
  // Never split a surrogate pair: a lone surrogate is not valid Unicode, and servers reject it.
  if (/[\uD800-\uDBFF]/.test(text.charAt(cut - 1))) cut--;
  return `${text.slice(0, cut)}\n[... trimmed to ${tokens} tokens ...]`;
}

const TOOL_DESCRIPTIONS: Record<keyof typeof actionSchemas, string> = {
  read_file: 'Read a file (optionally a line range).',
  write_file: 'Create or overwrite a file.',
  str_replace: 'Replace text that occurs exactly once in a file.',
  apply_patch: 'Apply a unified diff.',
  list_dir: 'List a directory.',
  search: 'grep -rnE over the repository.',
  run: 'Run a bash command in the repository (sandboxed, time-limited).',
  run_tests: "Run the repository's visible tests and get parsed results.",
  read_doc: "Look up a topic in the repository's docs/ and the dataset's knowledge base.",
  evaluate: 'Preview the reward from visible signals: tests, quality, security, footprint, cost, hack flags.',
  submit: 'Submit the change for grading on hidden tests. Ends the episode.',
  escalate: 'Stop and report progress when you cannot finish. Ends the episode.',
};

/** The env's actions as tools. Arguments are validated by the env, so a bad call becomes an observation. */
function actionTools(): ToolSet {
  const tools: ToolSet = {};
  for (const [kind, schema] of Object.entries(actionSchemas)) {
    const { $schema: _, ...full } = z.toJSONSchema(schema as z.ZodObject, { io: 'input' });
    // `kind` is the tool's name, not an argument.
    const properties = { ...(full.properties as Record<string, unknown>) };
    delete properties.kind;
    const input = { ...full, properties, required: (full.required ?? []).filter((k) => k !== 'kind') };
    tools[kind] = tool({
      description: TOOL_DESCRIPTIONS[kind as keyof typeof actionSchemas],
      inputSchema: jsonSchema(input as Parameters<typeof jsonSchema>[0]),
    });
  }
  return tools;
}

function describeObservation(o: Observation, tier3Tokens: number): string {
  const body = o.kind === 'read_doc' ? trimToTokens(o.output, tier3Tokens) : o.output;
  const lines = [body];
  if (o.error) lines.push(`[error ${o.error.code}: ${o.error.message}]`);
  if (o.exitCode !== null) lines.push(`[exit code ${o.exitCode}${o.timedOut ? ', timed out' : ''}]`);
  lines.push(`[step ${o.stepIndex}, ${o.stepsLeft} steps left]`);
  return lines.join('\n');
}

const SYSTEM_INTRO = [
  'You are a disciplined senior engineer fixing an issue in a sandboxed git repository.',
  'Work in small steps: make one change, run the tests, read the output, fix, check the reward with',
  '`evaluate`, then `submit`. Call exactly one tool per turn. Never edit, skip or disable tests or test',
  'configuration: that is detected and scores 0.',
].join(' ');

export type StopReason = 'cost_cap_episode' | 'cost_cap_experiment' | 'token_cap_episode' | 'no_tool_call';

export interface LlmPolicyDeps {
  /** Strategy templates by name; the episode's `ctx.strategy` picks one. */
  templates?: Map<string, { name: string; body: string }>;
  ledger?: CostLedger;
  /** Replaces the opening of the system prompt: the role (a fixer by default; the adversary is a tester). */
  intro?: string;
  /** Waits between retries; injectable so tests need not sleep. */
  sleep?: (ms: number) => Promise<void>;
}

interface PendingCall {
  id: string;
  name: string;
  /** The SDK already answered an invalid call (unknown tool, unparsable arguments) with a tool error. */
  answeredBySdk: boolean;
}

export class LlmPolicy implements Policy {
  readonly name = 'llm';
  private readonly model;
  private readonly tools = actionTools();
  private system = '';
  private messages: ModelMessage[] = [];
  private pending: PendingCall[] = [];
  private usageSoFar: Usage = { inputTokens: 0, outputTokens: 0, usd: 0 };
  private lastInputTokens = 0;
  /** The input bound of the call in flight: what a call is booked at when its server reports no usage. */
  private worstCaseInputTokens = 0;
  /** How many messages the last call sent: what came after is new input. */
  private messagesAtLastCall = 0;
  private readonly toolsJson = Object.fromEntries(
    Object.entries(this.tools).map(([name, t]) => [name, [t.description, t.inputSchema]]),
  );
  private stopReason: StopReason | undefined;
  private loaded: Record<string, unknown> = {};
  private calls = 0;
  private retried = 0;

  constructor(
    private readonly opts: LlmOptions,
    private readonly deps: LlmPolicyDeps = {},
  ) {
    const provider = createOpenAI({
      baseURL: opts.base_url,
      // Local servers take any key; the SDK insists on one.
      apiKey: process.env[opts.api_key_env] ?? 'no-key',
    });
    this.model = provider.chat(opts.model);
  }

  async begin(ctx: EpisodeContext): Promise<void> {
    const { tier1_tokens, tier2_tokens } = this.opts.context;
    this.messages = [];
    this.pending = [];
    this.usageSoFar = { inputTokens: 0, outputTokens: 0, usd: 0 };
    this.lastInputTokens = 0;
    this.messagesAtLastCall = 0;
    this.stopReason = undefined;
    this.calls = 0;
    this.retried = 0;
    const template = ctx.strategy ? this.deps.templates?.get(ctx.strategy) : undefined;
    if (ctx.strategy && !template) throw new Error(`unknown strategy template "${ctx.strategy}"`);
    const overview = ctx.overview && tier1_tokens > 0 ? trimToTokens(ctx.overview.text, tier1_tokens) : '';
    const strategy = template ? trimToTokens(template.body, Math.floor(tier2_tokens / 2)) : '';
    this.system = [
      this.deps.intro ?? SYSTEM_INTRO,
      overview && `\n## Project overview (${ctx.overview!.path})\n\n${overview}`,
      strategy && `\n## Strategy: ${template!.name}\n\n${strategy}`,
    ]
      .filter(Boolean)
      .join('\n');
    this.loaded = {
      tier1: ctx.overview ? { path: ctx.overview.path, tokens: tokensOf(overview) } : null,
      tier2: { template: template?.name ?? null, tokens: tokensOf(strategy) },
      tier3: [] as string[],
    };
  }

  async act(observation: Observation): Promise<unknown> {
    if (observation.kind === 'reset') {
      const statement = trimToTokens(observation.output, Math.ceil(this.opts.context.tier2_tokens / 2));
      this.messages.push({ role: 'user', content: statement });
    } else {
      if (observation.kind === 'read_doc')
        (this.loaded.tier3 as string[]).push(observation.output.split('\n')[0]!);
      const text = describeObservation(observation, this.opts.context.tier3_tokens);
      // Every call gets exactly one result: the first the observation, the others a refusal; a call the SDK
      // already answered gets none from us, and its observation comes as a user message.
      const open = this.pending.filter((c) => !c.answeredBySdk);
      const first = this.pending[0];
      const results = open.map((call) =>
        toolResult(call, call === first ? text : 'not run: one tool call per turn'),
      );
      if (results.length) this.messages.push({ role: 'tool', content: results });
      if (first?.answeredBySdk)
        this.messages.push({ role: 'user', content: `Result of your last call:\n${text}` });
    }
    return this.nextAction();
  }

  private async nextAction(): Promise<unknown> {
    for (let nudges = 0; nudges < 3; nudges++) {
      const stop = this.costGuard();
      if (stop) return stop;
      const result = await this.call();
      this.messages.push(...result.response.messages);
      const calls = result.toolCalls;
      if (calls.length === 0) {
        this.messages.push({ role: 'user', content: 'Reply with exactly one tool call.' });
        continue;
      }
      this.pending = calls.map((c) => ({
        id: c.toolCallId,
        name: c.toolName,
        answeredBySdk: 'invalid' in c && c.invalid === true,
      }));
      const first = calls[0]!;
      // An unparsable or invalid call still goes to the env, which answers with an error observation.
      const input = first.input;
      return typeof input === 'object' && input !== null
        ? { ...(input as Record<string, unknown>), kind: first.toolName }
        : { kind: first.toolName, invalid_arguments: String(input) };
    }
    this.stopReason = 'no_tool_call';
    return { kind: 'escalate', report: 'The model answered three times without calling a tool.' };
  }

  /**
   * Worst-case input tokens of the next call. A token is at least one byte, so the bytes sent bound them: the
   * last call's reported input plus every byte added since (tools, system prompt and all, on the first call),
   * with a margin for the request's framing.
   */
  private nextCallInputCeiling(): number {
    const added = this.messages.slice(this.messagesAtLastCall);
    const bytes = (value: unknown) => Buffer.byteLength(JSON.stringify(value));
    const sent =
      this.messagesAtLastCall === 0
        ? bytes(added) + bytes(this.toolsJson) + bytes(this.system)
        : this.lastInputTokens + bytes(added);
    // The SDK's request adds tool wrappers and options around what we count: a quarter more covers it.
    return Math.ceil(sent * 1.25);
  }

  /** Worst-case cost of the next call: its input ceiling, and the output budget for the output. */
  private nextCallCeilingUsd(): number {
    const prices = this.opts.prices!;
    this.worstCaseInputTokens = this.nextCallInputCeiling();
    return (
      (this.worstCaseInputTokens * prices.input_per_mtok +
        this.opts.max_output_tokens * prices.output_per_mtok) /
      1e6
    );
  }

  private reservation = 0;

  /** Stops before a call that could cross a cap: a cap is a promise, not a trigger that fires afterwards. */
  private costGuard(): unknown {
    const tokenCap = this.opts.max_tokens_per_episode;
    if (tokenCap !== undefined) {
      const spent = this.usageSoFar.inputTokens + this.usageSoFar.outputTokens;
      const next = this.nextCallInputCeiling() + this.opts.max_output_tokens;
      if (spent + next > tokenCap) {
        this.stopReason = 'token_cap_episode';
        return {
          kind: 'escalate',
          report: `Stopped before the episode's token cap (${tokenCap}): spent ${spent} tokens, the next call could use up to ${next}.`,
        };
      }
    }
    if (!this.opts.prices) return undefined;
    const ceiling = this.nextCallCeilingUsd();
    const cap = this.opts.max_usd_per_episode;
    let reason: StopReason | undefined;
    if (cap !== undefined && this.usageSoFar.usd + ceiling > cap) reason = 'cost_cap_episode';
    else if (this.deps.ledger && !this.deps.ledger.reserve(ceiling)) reason = 'cost_cap_experiment';
    if (!reason) {
      this.reservation = ceiling;
      return undefined;
    }
    this.stopReason = reason;
    const which =
      reason === 'cost_cap_episode' ? `episode cap $${cap}` : `experiment cap $${this.deps.ledger!.capUsd}`;
    return {
      kind: 'escalate',
      report: `Stopped before the ${which}: spent $${this.usageSoFar.usd.toFixed(4)}, the next call could cost up to $${ceiling.toFixed(4)}.`,
    };
  }

  private async call() {
    const { max, base_ms, timeout_sec } = this.opts.retries;
    for (let attempt = 0; ; attempt++) {
      try {
        this.calls++;
        this.messagesAtLastCall = this.messages.length;
        const result = await generateText({
          model: this.model,
          system: this.system,
          messages: this.messages,
          tools: this.tools,
          // 'auto', not 'required': the SDK throws on a text reply under 'required'; we nudge instead.
          toolChoice: 'auto',
          temperature: this.opts.temperature,
          maxOutputTokens: this.opts.max_output_tokens,
          maxRetries: 0,
          abortSignal: AbortSignal.timeout(timeout_sec * 1000),
        });
        this.recordUsage(result.usage.inputTokens, result.usage.outputTokens);
        return result;
      } catch (err) {
        if (attempt >= max || !retryable(err)) {
          this.settleReservation(0);
          const why = this.redact(err instanceof Error ? err.message.split('\n')[0]! : String(err));
          throw new InfraError(`LLM endpoint failed after ${attempt + 1} attempt(s): ${why}`);
        }
        this.retried++;
        await (this.deps.sleep ?? sleep)(backoffMs(err, attempt, base_ms));
      }
    }
  }

  /** Books a call. Missing or impossible counts are booked at the worst case the call was allowed. */
  private recordUsage(reportedInput: number | undefined, reportedOutput: number | undefined): void {
    const valid = (n: number | undefined): n is number => n !== undefined && Number.isFinite(n) && n >= 0;
    const input = valid(reportedInput) ? reportedInput : this.worstCaseInputTokens;
    const output = valid(reportedOutput) ? reportedOutput : this.opts.max_output_tokens;
    const prices = this.opts.prices;
    const usd = prices ? (input * prices.input_per_mtok + output * prices.output_per_mtok) / 1e6 : 0;
    this.usageSoFar = {
      inputTokens: this.usageSoFar.inputTokens + input,
      outputTokens: this.usageSoFar.outputTokens + output,
      usd: this.usageSoFar.usd + usd,
    };
    this.lastInputTokens = input;
    this.settleReservation(usd);
  }

  private settleReservation(actualUsd: number): void {
    if (this.opts.prices) this.deps.ledger?.settle(this.reservation, actualUsd);
    this.reservation = 0;
  }

  /** Servers and proxies may echo the Authorization header in an error: the key must not reach a log. */
  private redact(text: string): string {
    const key = process.env[this.opts.api_key_env];
    return key && key.length >= 4 ? text.split(key).join('[redacted]') : text;
  }

  usage(): Usage {
    return { ...this.usageSoFar };
  }

  info(): Record<string, unknown> {
    return {
      model: this.opts.model,
      stop_reason: this.stopReason ?? null,
      calls: this.calls,
      retries: this.retried,
      context: this.loaded,
      usage: this.usageSoFar,
    };
  }
}

function toolResult(call: PendingCall, text: string) {
  return {
    type: 'tool-result' as const,
    toolCallId: call.id,
    toolName: call.name,
    output: { type: 'text' as const, value: text },
  };
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** 429, 5xx, timeouts and dropped connections are worth another try; 4xx answers are not. */
function retryable(err: unknown): boolean {
  if (APICallError.isInstance(err)) {
    const status = err.statusCode ?? 0;
    return status === 429 || status >= 500 || status === 0 || err.isRetryable;
  }
  const name = (err as Error | undefined)?.name;
  return name === 'TimeoutError' || name === 'AbortError' || err instanceof TypeError;
}

/** Exponential backoff; a server's Retry-After (seconds) wins, up to 60 s. */
function backoffMs(err: unknown, attempt: number, baseMs: number): number {
  const header = APICallError.isInstance(err) ? err.responseHeaders?.['retry-after'] : undefined;
  const seconds = header !== undefined ? Number(header) : NaN;
  if (Number.isFinite(seconds) && seconds >= 0) return Math.min(60_000, seconds * 1000);
  // Retry-After may also be an HTTP date.
  const until = header !== undefined && /[a-z]/i.test(header) ? Date.parse(header) - Date.now() : NaN;
  if (Number.isFinite(until)) return Math.min(60_000, Math.max(0, until));
  return baseMs * 2 ** attempt;
}
