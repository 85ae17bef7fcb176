// A task is a SWE-bench instance plus repogym fields. Read this first; the zod schema is in schema.ts.

export type TestFormat = 'pytest' | 'tap' | 'junit' | 'jest-json';

export interface Task {
  // SWE-bench instance fields
  instance_id: string;
  /** Resolved to an absolute path of a local git repository by the loader. */
  repo: string;
  base_commit: string;
  /** Gold patch (unified diff). */
  patch: string;
  /** Hidden tests, applied only at grading. */
  test_patch: string;
  problem_statement: string;
  hints_text: string;
  FAIL_TO_PASS: string[];
  PASS_TO_PASS: string[];
  version: string;
  environment_setup_commit: string;
  created_at?: string;

  // repogym fields
  /** Shell command run from the repo root; prints a report in `test_format`. */
  test_cmd: string;
  test_format: TestFormat;
  /** For formats written to a file (JUnit XML): the report's path relative to the repo root. */
  test_report_file?: string;
  setup_cmd?: string;
  language: string;
  timeouts: { test_sec: number; command_sec: number; episode_sec: number };
  /** Ceilings the patched code must respect at grading; `memory_mb` caps the test run's peak RSS. */
  constraints: { memory_mb?: number };
  /** Shell command timed on base and patched trees, interleaved, at grading (the performance component). */
  benchmark_cmd?: string;
  /** Extra context for policies (e.g. docs paths, knowledge base). Free-form. */
  context: Record<string, unknown>;
}

export interface RowError {
  /** 1-based line (JSONL) or index+1 (JSON array). */
  line: number;
  field: string;
  reason: string;
}

export interface LoadResult {
  tasks: Task[];
  errors: RowError[];
  /** Each loaded task's row as written (repo as given, no filled-in defaults), by instance_id. */
  rows: Map<string, Record<string, unknown>>;
}
