// The LLM adversary: the LLM policy with the `break-this-patch` template and a tester's role, acting in an env
// of its own over the candidate tree. It sees the task's intent and the candidate diff — never the hidden tests
// nor the coder's conversation. The test files it submits are run on the candidate and on the reference, like
// the differential adversary's, and count only where they pass on the reference.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Task } from '../../datasets/types.ts';
import { CodingEnv } from '../../env/coding-env.ts';
import { filesOf, isTestPath, splitDiff } from '../../env/diff.ts';
import type { Grade } from '../../env/grading.ts';
import { runTaskTests } from '../../env/grading.ts';
import type { Adversary } from '../../env/types.ts';
import { LlmPolicy, type LlmOptions } from '../llm.ts';
import { loadTemplates } from '../templates.ts';
import type { EpisodeContext } from '../types.ts';
import { applyPatch, freshSignals, judgeInFreshTrees, sourceOnly } from './tests.ts';

export const ADVERSARY_TEMPLATES_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'templates');
const TEMPLATE = 'break-this-patch';

const TESTER_INTRO = [
  'You are an independent tester in a sandboxed git repository. A candidate patch is applied; your job is to',
  'write new tests that a correct implementation of the intent passes and this patch fails. Call exactly one',
  'tool per turn. Do not edit source files or existing tests.',
].join(' ');

export interface LlmAdversaryOptions {
  llm: LlmOptions;
  /** Steps the adversary may take (default 20). */
  maxSteps?: number;
  /** Count tests that could not be validated (no gold patch) towards the component. */
  countUnvalidated?: boolean;
}

/** The adversary's own task: the intent and the candidate diff, with no hidden tests to grade against. */
function testerTask(task: Task, candidatePatch: string): Task {
  const statement = [
    `## Intent (the issue the patch is meant to resolve)\n\n${task.problem_statement.trim()}`,
    `## Candidate patch (already applied to the repository)\n\n\`\`\`diff\n${candidatePatch.trim()}\n\`\`\``,
    'Write new tests that break this patch if it is wrong, run them, then submit.',
  ].join('\n\n');
  return {
    ...task,
    instance_id: `${task.instance_id}/adversary`,
    problem_statement: statement,
    hints_text: '',
    patch: '',
    test_patch: '',
    FAIL_TO_PASS: [],
    PASS_TO_PASS: [],
    benchmark_cmd: undefined,
  };
}

/**
 * The file a test ID belongs to: pytest IDs start with it; other runners' IDs are titles, found in the file that
 * spells the innermost one.
 */
function fileOf(id: string, files: Record<string, string>): string {
  const names = Object.keys(files);
  const byPrefix = names.find((f) => id.startsWith(`${f}::`));
  if (byPrefix) return byPrefix;
  const title = id.split(' > ').at(-1)!;
  return names.find((f) => files[f]!.includes(title)) ?? names[0]!;
}

/** The test-file part of what the tester submitted: new or changed test files only. */
const testSections = (patch: string) =>
  splitDiff(patch)
    .filter((f) => f.newPath !== null && isTestPath(f.newPath))
    .map((f) => f.text)
    .join('');

export function llmAdversary(opts: LlmAdversaryOptions): Adversary {
  return async ({ task, patch, makeSandbox }) => {
    const started = performance.now();
    const templates = await loadTemplates({ dirs: [ADVERSARY_TEMPLATES_DIR], includeBuiltin: false });
    const policy = new LlmPolicy(opts.llm, {
      templates: new Map(templates.map((t) => [t.name, t])),
      intro: TESTER_INTRO,
    });
    const candidatePatch = sourceOnly(patch, task);
    const signals = freshSignals(`llm:${opts.llm.model}`, task, opts.countUnvalidated ?? false);
    const done = () => ({ ...signals, wallMs: Math.round(performance.now() - started) });
    const env = new CodingEnv({
      tasks: [testerTask(task, candidatePatch)],
      briefing: (t) =>
        `# Test the patch for ${task.instance_id}\n\n${t.problem_statement}\n\nThe repository's tests: \`${t.test_cmd}\` (action run_tests).`,
      maxSteps: opts.maxSteps ?? 20,
      sandbox: async () => {
        const tree = await makeSandbox();
        await applyPatch(tree, candidatePatch, 'the candidate patch').catch(async (err: unknown) => {
          await tree.dispose();
          throw err;
        });
        return tree;
      },
    });
    let submitted: string | undefined;
    try {
      let { observation, info } = await env.reset({});
      const ctx: EpisodeContext = {
        instanceId: task.instance_id,
        problemStatement: env.currentTask!.problem_statement,
        language: task.language,
        testCmd: task.test_cmd,
        maxSteps: Number(info.max_steps),
        overview: (info.overview as EpisodeContext['overview']) ?? null,
        strategy: TEMPLATE,
      };
      await policy.begin(ctx);
      for (;;) {
        const result = await env.step(await policy.act(observation));
        signals.tried++;
        observation = result.observation;
        info = result.info;
        if (result.terminated || result.truncated) break;
      }
      submitted = (info.grade as Grade | undefined)?.patch;
    } finally {
      await env.close();
    }
    const tests = submitted ? testSections(submitted) : '';
    if (!tests) {
      signals.notes!.push(
        submitted === undefined ? 'the tester did not submit' : 'the tester wrote no test file',
      );
      return done();
    }
    // Its tests are the IDs its files add to a run of the task's test command on the candidate tree.
    const probe = await makeSandbox();
    let added: string[];
    const files = filesOf(tests);
    try {
      await applyPatch(probe, candidatePatch, 'the candidate patch');
      const before = new Set((await runTaskTests(probe, task)).tests.map((t) => t.name));
      await applyPatch(probe, tests, "the tester's test files");
      signals.files = Object.fromEntries(
        await Promise.all(files.map(async (f) => [f, await probe.readFile(f)] as const)),
      );
      added = (await runTaskTests(probe, task)).tests.map((t) => t.name).filter((id) => !before.has(id));
    } finally {
      await probe.dispose();
    }
    if (added.length === 0) signals.notes!.push('its test files add no test the runner reports');
    // Judged in fresh trees: the probe ran the candidate's code, which may have planted files.
    signals.tests = await judgeInFreshTrees(
      task,
      candidatePatch,
      makeSandbox,
      signals.files,
      added.map((id) => ({ id, file: fileOf(id, signals.files) })),
    );
    return done();
  };
}
