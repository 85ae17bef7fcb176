// The task row schema: SWE-bench instance fields + repogym fields, with the defaults a SWE-bench export lacks.
import { z } from 'zod';

/** SWE-bench exports store FAIL_TO_PASS/PASS_TO_PASS as JSON-encoded strings; accept both forms. */
const testIdList = z.preprocess((value) => {
  if (typeof value !== 'string') return value;
  try {
    return JSON.parse(value);
  } catch {
    return value; // left as a string: the array check below reports it
  }
}, z.array(z.string()));

export const testFormatSchema = z.enum(['pytest', 'tap', 'junit', 'jest-json']);

export const taskRowSchema = z.object({
  instance_id: z
    .string()
    .min(1)
    .regex(/^[A-Za-z0-9._\-/]+$/, 'only letters, digits, . _ - / are allowed'),
  repo: z.string().min(1),
  base_commit: z.string().regex(/^[0-9a-f]{7,40}$/, 'must be a git commit SHA'),
  patch: z.string().default(''),
  test_patch: z.string().default(''),
  problem_statement: z.string().min(1),
  hints_text: z.string().default(''),
  FAIL_TO_PASS: testIdList,
  PASS_TO_PASS: testIdList.default([]),
  version: z.union([z.string(), z.number()]).transform(String).default(''),
  environment_setup_commit: z.string().default(''),
  created_at: z.string().optional(),
  test_cmd: z.string().min(1).optional(),
  test_format: testFormatSchema.optional(),
  test_report_file: z
    .string()
    .min(1)
    .refine((p) => !p.startsWith('/') && !p.split('/').includes('..'), 'must be a path inside the repository')
    .optional(),
  setup_cmd: z.string().optional(),
  language: z.string().min(1).optional(),
  timeouts: z
    .object({
      test_sec: z.number().positive().default(300),
      command_sec: z.number().positive().default(60),
      episode_sec: z.number().positive().default(1800),
    })
    .prefault({}),
  constraints: z.object({ memory_mb: z.number().positive().optional() }).prefault({}),
  benchmark_cmd: z.string().min(1).optional(),
  context: z.record(z.string(), z.unknown()).default({}),
});

export type TaskRow = z.infer<typeof taskRowSchema>;
