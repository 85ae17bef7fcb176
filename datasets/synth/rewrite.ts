// Problem statements rewritten by a model: the synthesiser's template names the failing tests; a model can
// turn that and the failing output into an issue a user might file. It sees no diff, file or line of the
// injected change, only what a user would see, so it cannot leak the fix.
import { createOpenAI } from '@ai-sdk/openai';
import { generateText } from 'ai';

export interface StatementDraft {
  /** The template statement (names the failing tests). */
  statement: string;
  /** The failing test run's output, as the user would see it. */
  failingOutput: string;
}

export type Rewriter = (draft: StatementDraft) => Promise<string>;

const INSTRUCTIONS = [
  'You turn a failing test report into a short GitHub issue written by a user of the library.',
  'Describe the wrong behaviour and what was expected, using the failing tests and their output.',
  'Do not guess at the cause, do not propose a fix, do not name source files or line numbers.',
  'Answer with the issue text only (a title line, a blank line, then the body).',
].join(' ');

/** Output kept from the failing run: its end holds the assertion messages and the summary. */
const OUTPUT_CHARS = 4000;

export function llmRewriter(opts: { baseUrl: string; model: string; apiKeyEnv: string }): Rewriter {
  const provider = createOpenAI({ baseURL: opts.baseUrl, apiKey: process.env[opts.apiKeyEnv] ?? 'no-key' });
  return async (draft) => {
    const { text } = await generateText({
      model: provider.chat(opts.model),
      system: INSTRUCTIONS,
      prompt: `${draft.statement}\n\nFailing test output (end):\n${draft.failingOutput.slice(-OUTPUT_CHARS)}`,
      temperature: 0,
      maxRetries: 2,
    });
    if (text.trim() === '') throw new Error('the model returned an empty statement');
    return text.trim();
  };
}
