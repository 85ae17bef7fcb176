// The experiment config: one YAML/JSON file says what to run. Validated with zod; `experiments/schema.json`
// (for editors) is generated from the same schema by `npm run schema`.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import YAML from 'yaml';
import { z } from 'zod';
import { DEFAULT_MEMORY_MB, DEFAULT_PIDS_MAX } from '../env/sandbox/containment.ts';
import { SANDBOX_BACKENDS } from '../env/sandbox/backends.ts';
import { ISOLATION_MODES } from '../env/sandbox/isolation.ts';
import { banditSpecSchema } from '../policies/bandits/spec.ts';
import { adversarySpecSchema } from '../policies/adversary/index.ts';
import { llmOptionsSchema } from '../policies/llm.ts';
import { REPAIR_STRATEGY_NAMES, repairOptionsSchema } from '../policies/repair/index.ts';
import {
  BUILTIN_VARIANTS,
  isBuiltinVariant,
  resolveVariant,
  variantSchema,
  type Variant,
} from '../rewards/variants.ts';

const builtinVariantName = z.enum(Object.keys(BUILTIN_VARIANTS) as [string, ...string[]]);
const variantEntrySchema = z.union([builtinVariantName, variantSchema]);

/**
 * A built-in name or a definition. Checked by hand rather than as a zod union, whose error for a bad
 * definition is only "Invalid input": here the bad field and the reason reach the user.
 */
const variantEntry = z.custom<string | Variant>().superRefine((value, ctx) => {
  if (typeof value === 'string') {
    if (!isBuiltinVariant(value)) {
      const builtins = Object.keys(BUILTIN_VARIANTS).join(', ');
      ctx.addIssue({
        code: 'custom',
        message: `"${value}" is not a built-in variant (${builtins}); define it as {name, gate?, weights}`,
      });
    }
    return;
  }
  const checked = variantSchema.safeParse(value);
  for (const issue of checked.success ? [] : checked.error.issues) {
    ctx.addIssue({ code: 'custom', path: issue.path, message: issue.message });
  }
});

const policyId = z
  .string()
  .regex(/^[\w.-]+$/)
  .optional()
  .describe('names the policy in the store and the report; needed when two policies share a name');
/** The policy a bandit or a tournament runs with each strategy. */
const innerPolicySchema = z.union(
  [repairOptionsSchema.extend({ name: z.literal('repair') }), llmOptionsSchema],
  {
    error: (issue) =>
      issue.code === 'invalid_union'
        ? 'expected {name: repair, probe?, max_files?} for template repair, or LLM options {base_url, model, …}'
        : undefined,
  },
);

const policySchema = z.discriminatedUnion('name', [
  z.strictObject({ name: z.literal('oracle'), id: policyId }),
  z.strictObject({ name: z.literal('nop'), id: policyId }),
  z.strictObject({
    name: z.literal('replay'),
    id: policyId,
    actions: z.string().min(1).describe('JSONL of actions'),
  }),
  llmOptionsSchema.extend({
    name: z.literal('llm'),
    id: policyId,
    strategy: z
      .string()
      .min(1)
      .optional()
      .describe('strategy template name (policies/templates, templates_dir)'),
  }),
  repairOptionsSchema.extend({
    name: z.literal('repair'),
    id: policyId,
    strategy: z
      .enum(REPAIR_STRATEGY_NAMES)
      .describe('the repair strategy (template family order): docs/policies.md'),
  }),
  z.strictObject({
    name: z.literal('bandit'),
    id: policyId,
    bandit: banditSpecSchema.describe(
      'ucb1, thompson, exp3, epsilon-greedy, linucb, lints or neural: docs/bandits.md',
    ),
    arms: z
      .array(z.string().min(1))
      .min(2)
      .refine((arms) => new Set(arms).size === arms.length, 'an arm is listed twice')
      .describe('strategy names the bandit chooses between: LLM templates, or repair strategies'),
    inner: innerPolicySchema.describe(
      'the policy each episode runs with the chosen strategy: the LLM policy, or {name: repair} for template repair',
    ),
  }),
  z.strictObject({
    name: z.literal('tournament'),
    id: policyId,
    strategies: z
      .array(z.string().min(1))
      .min(2)
      .refine((s) => new Set(s).size === s.length, 'a strategy is listed twice')
      .describe(
        'strategies run side by side on every (task, seed, epoch), each stored as policy <id>/<strategy>; the report picks the best by the primary variant',
      ),
    inner: innerPolicySchema.describe('the policy every candidate runs: the LLM policy, or {name: repair}'),
  }),
]);

/** How a policy is named in the store, the report and episode keys. */
export const policyLabel = (policy: { name: string; id?: string }) => policy.id ?? policy.name;

export const experimentConfigSchema = z.strictObject({
  name: z
    .string()
    .regex(/^(?!\.+$)[\w.-]+$/, 'letters, digits, . _ - only, and not only dots')
    .describe('names the run; the default output dir is runs/<name>'),
  seed: z.number().int().min(0).default(0).describe('experiment seed; episode seeds derive from it'),
  dataset: z.strictObject({
    name: z.string().min(1).describe('builtin:<name> or a .jsonl/.json task file (relative to this config)'),
    repos_dir: z.string().optional(),
    test_cmd: z.string().optional(),
    filter: z
      .strictObject({
        instance_ids: z.array(z.string()).optional(),
        languages: z.array(z.string()).optional(),
        limit: z.number().int().positive().optional(),
      })
      .default({}),
    split: z
      .strictObject({
        part: z.enum(['train', 'test']),
        test_fraction: z.number().gt(0).lt(1).default(0.2),
        seed: z.number().int().min(0).default(0),
      })
      .optional()
      .describe('a deterministic train/test split by instance_id hash, applied before filter'),
  }),
  policies: z
    .array(policySchema)
    .min(1)
    .refine(
      (ps) => new Set(ps.map(policyLabel)).size === ps.length,
      'two policies share a name: give each an `id`',
    )
    .describe('each policy runs every (task, seed, epoch)'),
  reward: z
    .strictObject({
      primary: z
        .string()
        .default('swebench')
        .describe(
          'the variant the env returns as reward (what a learner optimises): built in or from `variants`',
        ),
      variants: z
        .array(variantEntry)
        .default([])
        .describe('more variants scored on every episode for comparison'),
      shaping: z
        .strictObject({ gamma: z.number().gt(0).max(1).default(1) })
        .optional()
        .describe('potential-based shaping from visible tests (off when absent)'),
    })
    .superRefine((reward, ctx) => {
      const names = reward.variants.map((v) => (typeof v === 'string' ? v : v.name));
      const duplicate = names.find((n, i) => names.indexOf(n) !== i);
      if (duplicate)
        ctx.addIssue({ code: 'custom', path: ['variants'], message: `"${duplicate}" is listed twice` });
      reward.variants.forEach((v, i) => {
        if (typeof v !== 'string' && isBuiltinVariant(v.name)) {
          const message = `"${v.name}" is a built-in variant; give yours another name`;
          ctx.addIssue({ code: 'custom', path: ['variants', i, 'name'], message });
        }
      });
      if (!isBuiltinVariant(reward.primary) && !names.includes(reward.primary)) {
        ctx.addIssue({
          code: 'custom',
          path: ['primary'],
          message: `"${reward.primary}" is neither built in (${Object.keys(BUILTIN_VARIANTS).join(', ')}) nor defined in variants`,
        });
      }
    })
    .default({ primary: 'swebench', variants: [] }),
  epochs: z.number().int().positive().max(10_000).default(1),
  order: z
    .enum(['dataset', 'shuffled'])
    .default('dataset')
    .describe(
      'task order within each epoch: as in the dataset, or shuffled by (seed, epoch) so a learner does not see one repository after another',
    ),
  seeds: z
    .number()
    .int()
    .positive()
    .max(10_000)
    .default(1)
    .describe('episodes per task per epoch, each with its own seed'),
  concurrency: z.number().int().positive().max(64).default(2),
  budgets: z
    .strictObject({
      usd: z
        .number()
        .positive()
        .optional()
        .describe('cost cap of the whole experiment: LLM policies stop before a call could cross it'),
      usd_per_episode: z.number().positive().optional().describe('cost cap of one episode'),
      tokens_per_episode: z
        .number()
        .int()
        .positive()
        .optional()
        .describe(
          'token cap of one episode: LLM policies stop before a call could cross it; the cost reward scores against it',
        ),
      max_steps: z.number().int().positive().default(50),
      wall_sec: z.number().positive().optional().describe("per episode; the task's episode_sec by default"),
    })
    .default({ max_steps: 50 }),
  sandbox: z
    .strictObject({
      backend: z
        .enum(SANDBOX_BACKENDS)
        .default('local')
        .describe(
          'local: a copy-on-write checkout on this machine; docker: commands run in a container (DOCKER_HOST)',
        ),
      layer: z.enum(['auto', 'overlay', 'worktree']).default('auto'),
      isolation: z
        .enum(ISOLATION_MODES)
        .default('auto')
        .describe('bwrap: bubblewrap namespaces; none: plain processes (warns); auto: bwrap where it works'),
      memory_mb: z
        .number()
        .int()
        .positive()
        .default(DEFAULT_MEMORY_MB)
        .describe("all of a sandbox's processes"),
      pids_max: z.number().int().positive().default(DEFAULT_PIDS_MAX),
      image: z
        .string()
        .min(1)
        .optional()
        .describe('docker backend: the image; a registry-free base image by default'),
    })
    .default({
      backend: 'local',
      layer: 'auto',
      isolation: 'auto',
      memory_mb: DEFAULT_MEMORY_MB,
      pids_max: DEFAULT_PIDS_MAX,
    }),
  templates_dir: z
    .string()
    .min(1)
    .optional()
    .describe('a folder of strategy templates (*.md) added to the built-ins (relative to this config)'),
  retries: z.number().int().min(0).max(10).default(2).describe('re-runs of an episode that failed for infra'),
  adversary: adversarySpecSchema
    .optional()
    .describe(
      'an adversarial tester run on graded submissions; its findings feed the `adversarial` component (docs/adversary.md)',
    ),
  telemetry: z
    .strictObject({
      otlp_endpoint: z
        .url({ protocol: /^https?$/, error: 'expected an http(s) URL, e.g. http://localhost:4318' })
        .optional()
        .describe(
          "an OTLP/HTTP collector: each episode's spans are also sent to <endpoint>/v1/traces (JSON); they are always saved in <out>/traces",
        ),
      headers: z
        .record(z.string(), z.string())
        .default({})
        .describe(
          'HTTP headers for the collector; their values are not stored with the run (secrets can also come from OTEL_EXPORTER_OTLP_HEADERS)',
        ),
      timeout_sec: z
        .number()
        .positive()
        .max(300)
        .default(10)
        .describe('per export, retries included; an unreachable collector warns once and never fails a run'),
    })
    .default({ headers: {}, timeout_sec: 10 })
    .describe('where traces go besides the run dir (docs/traces.md); not part of the run identity'),
  output: z
    .string()
    .min(1)
    .optional()
    .describe('output dir (relative to the working dir); default runs/<name>'),
});

export type ExperimentConfig = z.infer<typeof experimentConfigSchema>;

/**
 * A repair bandit's arms and a repair tournament's strategies must be repair strategies (LLM ones are checked
 * against the templates).
 */
function checkRepairArms(config: ExperimentConfig): string[] {
  return config.policies.flatMap((p, i) => {
    if ((p.name !== 'bandit' && p.name !== 'tournament') || !('name' in p.inner)) return [];
    const [field, names] = p.name === 'bandit' ? ['arms', p.arms] : ['strategies', p.strategies];
    return names
      .map((name, j) => ({ name, j }))
      .filter(({ name }) => !REPAIR_STRATEGY_NAMES.includes(name))
      .map(
        ({ name, j }) =>
          `policies.${i}.${field}.${j}: "${name}" is not a repair strategy (${REPAIR_STRATEGY_NAMES.join(', ')})`,
      );
  });
}

export type PolicySpec = ExperimentConfig['policies'][number];
/** A policy that runs episodes itself: a tournament stands for one such policy per strategy. */
export type RunnablePolicy = Exclude<PolicySpec, { name: 'tournament' }>;

/**
 * The policies episodes run with: a tournament becomes one repair or LLM policy per strategy, labelled
 * `<tournament>/<strategy>`, so its candidates share every (task, seed, epoch) and resume like any policy.
 */
export function runnablePolicies(config: Pick<ExperimentConfig, 'policies'>): RunnablePolicy[] {
  return config.policies.flatMap((p): RunnablePolicy[] => {
    if (p.name !== 'tournament') return [p];
    return p.strategies.map((strategy) => {
      const id = `${policyLabel(p)}/${strategy}`;
      if ('name' in p.inner) {
        const { name: _name, ...repair } = p.inner;
        return { ...repair, name: 'repair', id, strategy };
      }
      return { ...p.inner, name: 'llm', id, strategy };
    });
  });
}

/** Tournaments by label with their strategies, for grouping stored episodes. */
export function tournamentsOf(config: Pick<ExperimentConfig, 'policies'>): Map<string, string[]> {
  return new Map(
    config.policies.flatMap((p) =>
      p.name === 'tournament' ? [[policyLabel(p), p.strategies] as const] : [],
    ),
  );
}

/** Cost caps need prices: a cap that cannot be priced would silently not apply. */
function checkPricedCaps(config: ExperimentConfig): string[] {
  const problems: string[] = [];
  const budgetCap = config.budgets.usd !== undefined || config.budgets.usd_per_episode !== undefined;
  config.policies.forEach((p, i) => {
    const options =
      p.name === 'llm'
        ? p
        : (p.name === 'bandit' || p.name === 'tournament') && !('name' in p.inner)
          ? p.inner
          : undefined;
    if (!options || options.prices) return;
    if (budgetCap || options.max_usd_per_episode !== undefined) {
      problems.push(
        `policies.${i}${p.name === 'llm' ? '' : '.inner'}.prices: a USD cap is set, so prices are required`,
      );
    }
  });
  return problems;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** What the user wrote, before defaults: a run's identity, so a new default in repogym keeps old runs resumable. */
const userWritten = new WeakMap<ExperimentConfig, unknown>();

/** JSON with sorted keys: the same config always hashes the same. */
export function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) =>
      a < b ? -1 : a > b ? 1 : 0,
    );
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

export function configIdentity(config: ExperimentConfig): string {
  // How a run is carried out, not what it measures: a run resumes with more or fewer episodes at a time, other
  // retries, another output path or another trace collector.
  const {
    telemetry: _telemetry,
    concurrency: _concurrency,
    retries: _retries,
    output: _output,
    ...identity
  } = (userWritten.get(config) ?? config) as Record<string, unknown>;
  return stableJson(identity);
}

/** The identity runs stored before schema 4 were hashed with: it still held concurrency, retries and output. */
export function legacyConfigIdentity(config: ExperimentConfig): string {
  const { telemetry: _telemetry, ...identity } = (userWritten.get(config) ?? config) as Record<
    string,
    unknown
  >;
  return stableJson(identity);
}

/** Parses and validates a config; errors name the bad field's path and the reason. */
export function parseConfig(text: string, source = 'config'): ExperimentConfig {
  let raw: unknown;
  try {
    raw = source.endsWith('.json') ? JSON.parse(text) : YAML.parse(text);
  } catch (err) {
    throw new ConfigError(
      `${source}: not valid ${source.endsWith('.json') ? 'JSON' : 'YAML'}: ${(err as Error).message}`,
    );
  }
  const result = experimentConfigSchema.safeParse(raw);
  if (result.success) {
    const problems = [...checkPricedCaps(result.data), ...checkRepairArms(result.data)];
    if (problems.length) throw new ConfigError(`${source}: ${problems.join('; ')}`);
    userWritten.set(result.data, raw);
  }
  if (!result.success) {
    const problems = result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new ConfigError(`${source}: ${problems.join('; ')}`);
  }
  return result.data;
}

/** Loads a config file; relative dataset and replay paths are resolved against the config's folder. */
export async function loadConfig(file: string): Promise<ExperimentConfig> {
  const config = parseConfig(await readFile(file, 'utf8'), file);
  const here = path.dirname(path.resolve(file));
  const relative = (p: string) => (path.isAbsolute(p) ? p : path.resolve(here, p));
  if (!config.dataset.name.startsWith('builtin:')) config.dataset.name = relative(config.dataset.name);
  if (config.dataset.repos_dir) config.dataset.repos_dir = relative(config.dataset.repos_dir);
  if (config.templates_dir) config.templates_dir = relative(config.templates_dir);
  for (const policy of config.policies)
    if (policy.name === 'replay') policy.actions = relative(policy.actions);
  return config;
}

/** The run's variants, primary first: the primary is the env's reward, all of them are stored per episode. */
export function rewardVariants(config: ExperimentConfig): Variant[] {
  const listed = config.reward.variants.map((v) => resolveVariant(v));
  const primary =
    listed.find((v) => v.name === config.reward.primary) ?? resolveVariant(config.reward.primary);
  return [primary, ...listed.filter((v) => v.name !== primary.name)];
}

export const experimentJsonSchema = z.toJSONSchema(experimentConfigSchema, {
  io: 'input',
  unrepresentable: 'any',
  // The hand-checked variant entry is documented as the union it checks.
  override: (ctx) => {
    if (ctx.zodSchema !== variantEntry) return;
    const { $schema: _, ...union } = z.toJSONSchema(variantEntrySchema, { io: 'input' });
    Object.assign(ctx.jsonSchema, union);
  },
});
