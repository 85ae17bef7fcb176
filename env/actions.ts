// The action space: a discriminated union on `kind`, validated with zod and exported as JSON Schema (for
// LLM tool definitions and for other languages). Objects are strict: a misspelt field is an error, not dropped.
import { z } from 'zod';

const path = z.string().min(1).describe('path relative to the repository root');

export const actionSchemas = {
  read_file: z.strictObject({
    kind: z.literal('read_file'),
    path,
    startLine: z.number().int().positive().optional(),
    endLine: z.number().int().positive().optional(),
  }),
  write_file: z.strictObject({ kind: z.literal('write_file'), path, content: z.string() }),
  str_replace: z.strictObject({
    kind: z.literal('str_replace'),
    path,
    old: z.string().min(1).describe('text that occurs exactly once in the file'),
    new: z.string(),
  }),
  apply_patch: z.strictObject({
    kind: z.literal('apply_patch'),
    diff: z.string().min(1).describe('unified diff'),
  }),
  list_dir: z.strictObject({ kind: z.literal('list_dir'), path: path.default('.') }),
  search: z.strictObject({
    kind: z.literal('search'),
    pattern: z.string().min(1).describe('extended regular expression'),
    path: path.optional(),
  }),
  run: z.strictObject({
    kind: z.literal('run'),
    command: z.string().min(1).describe('bash command, run from the repository root'),
    timeoutSec: z.number().positive().max(3600).optional(),
  }),
  run_tests: z.strictObject({
    kind: z.literal('run_tests'),
    tests: z.array(z.string().min(1)).optional().describe('test IDs to report; all when omitted'),
    timeoutSec: z
      .number()
      .positive()
      .max(3600)
      .optional()
      .describe("stop the run after this many seconds; the task's test timeout by default"),
  }),
  read_doc: z.strictObject({
    kind: z.literal('read_doc'),
    topic: z
      .string()
      .min(1)
      .describe("what to look up in the repository's docs/ and the dataset's knowledge base"),
  }),
  evaluate: z.strictObject({ kind: z.literal('evaluate') }),
  submit: z.strictObject({
    kind: z.literal('submit'),
    message: z.string().optional().describe('PR description'),
  }),
  escalate: z.strictObject({
    kind: z.literal('escalate'),
    report: z.string().min(1).describe('progress report'),
  }),
} as const;

export const actionSchema = z.discriminatedUnion(
  'kind',
  Object.values(actionSchemas) as unknown as [
    (typeof actionSchemas)[keyof typeof actionSchemas],
    ...(typeof actionSchemas)[keyof typeof actionSchemas][],
  ],
);

export type Action = z.infer<typeof actionSchema>;
export type ActionKind = Action['kind'];
export const ACTION_KINDS = Object.keys(actionSchemas) as ActionKind[];

/** What `step()` accepts (input side: fields with a default, like list_dir's `path`, are optional). */
export const actionJsonSchema = z.toJSONSchema(actionSchema, { io: 'input' });

/** Parses untrusted input into an Action, or returns a one-line reason naming the bad field. */
export function parseAction(input: unknown): { ok: true; action: Action } | { ok: false; message: string } {
  const result = actionSchema.safeParse(input);
  if (result.success) return { ok: true, action: result.data };
  const kind = (input as { kind?: unknown } | null)?.kind;
  const issues = result.error.issues;
  if (issues[0]!.path[0] === 'kind') {
    const message = `unknown action kind ${JSON.stringify(kind)}; expected one of ${ACTION_KINDS.join(', ')}`;
    return { ok: false, message };
  }
  // Every issue, so that a misspelt field (`file` for `path`) names both the missing and the unknown one.
  const message = issues
    .map((issue) => {
      if (issue.code !== 'unrecognized_keys') return `${issue.path.join('.') || 'action'}: ${issue.message}`;
      const allowed = Object.keys(actionSchemas[kind as ActionKind].shape).filter((k) => k !== 'kind');
      const names = issue.keys.map((k) => JSON.stringify(k)).join(', ');
      return `unknown field${issue.keys.length > 1 ? 's' : ''} ${names} for ${String(kind)}; its fields: ${allowed.join(', ') || 'none'}`;
    })
    .join('; ');
  return { ok: false, message };
}
