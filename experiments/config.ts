// The experiment config: one YAML/JSON file says what to run. Validated with zod; `experiments/schema.json`
// (for editors) is generated from the same schema by `npm run schema`.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import YAML from 'yaml';
import { z } from 'zod';

const policySchema = z.discriminatedUnion('name', [
  z.object({ name: z.literal('oracle') }),
  z.object({ name: z.literal('nop') }),
  z.object({ name: z.literal('replay'), actions: z.string().min(1).describe('JSONL file of actions') }),
]);

export const experimentConfigSchema = z
  .object({
    name: z
      .string()
      .regex(/^(?!\.+$)[\w.-]+$/, 'letters, digits, . _ - only, and not only dots')
      .describe('names the run; the default output dir is runs/<name>'),
    seed: z.number().int().min(0).default(0).describe('experiment seed; episode seeds derive from it'),
    dataset: z.object({
      name: z
        .string()
        .min(1)
        .describe('builtin:<name> or a .jsonl/.json task file (relative to this config)'),
      repos_dir: z.string().optional(),
      test_cmd: z.string().optional(),
      filter: z
        .object({
          instance_ids: z.array(z.string()).optional(),
          languages: z.array(z.string()).optional(),
          limit: z.number().int().positive().optional(),
        })
        .default({}),
      split: z
        .object({
          part: z.enum(['train', 'test']),
          test_fraction: z.number().gt(0).lt(1).default(0.2),
          seed: z.number().int().min(0).default(0),
        })
        .optional()
        .describe('a deterministic train/test split by instance_id hash, applied before filter'),
    }),
    policies: z.array(policySchema).min(1).describe('each policy runs every (task, seed, epoch)'),
    reward: z
      .object({
        primary: z.literal('swebench').default('swebench'),
      })
      .default({ primary: 'swebench' }),
    epochs: z.number().int().positive().default(1),
    seeds: z
      .number()
      .int()
      .positive()
      .default(1)
      .describe('episodes per task per epoch, each with its own seed'),
    concurrency: z.number().int().positive().max(64).default(2),
    budgets: z
      .object({
        max_steps: z.number().int().positive().default(50),
        wall_sec: z.number().positive().optional().describe("per episode; the task's episode_sec by default"),
      })
      .default({ max_steps: 50 }),
    sandbox: z
      .object({
        backend: z.literal('local').default('local'),
        layer: z.enum(['auto', 'overlay', 'worktree']).default('auto'),
      })
      .default({ backend: 'local', layer: 'auto' }),
    retries: z
      .number()
      .int()
      .min(0)
      .max(10)
      .default(2)
      .describe('re-runs of an episode that failed for infra'),
    output: z.string().optional().describe('output dir (relative to the working dir); default runs/<name>'),
  })
  .strict();

export type ExperimentConfig = z.infer<typeof experimentConfigSchema>;

export class ConfigError extends Error {
  override name = 'ConfigError';
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
  for (const policy of config.policies)
    if (policy.name === 'replay') policy.actions = relative(policy.actions);
  return config;
}

export const experimentJsonSchema = z.toJSONSchema(experimentConfigSchema, { io: 'input' });
