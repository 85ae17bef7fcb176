// Procedural mutations of source files: the bug injector of task synthesis (and the candidate changes of
// template repair). Python goes through python3's own `ast` (mutate_py.py), run isolated (`-I`); JavaScript
// and TypeScript through @babel/parser (mutate_js.ts). Both replace spans of the original text located by the
// parser's positions, so formatting and comments elsewhere survive.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dialectOf, scriptMutants } from './mutate_js.ts';

export type EditKind =
  | 'flip_comparison'
  | 'swap_operator'
  | 'swap_boolean'
  | 'off_by_one'
  | 'drop_negation'
  | 'negate_condition'
  | 'swap_arguments'
  | 'change_constant'
  | 'null_guard'
  | 'remove_statement'
  | 'swap_call';

export const ALL_KINDS: readonly EditKind[] = [
  'flip_comparison',
  'swap_operator',
  'swap_boolean',
  'off_by_one',
  'drop_negation',
  'negate_condition',
  'swap_arguments',
  'change_constant',
  'null_guard',
  'remove_statement',
  'swap_call',
];

/**
 * The kinds synthesis injects: a null guard adds code that handles more, it does not break anything; calls
 * swapped between look-alikes (floor/ceil, min/max) came after builtin:synth was generated and are left out so
 * the published dataset stays reproducible.
 */
export const INJECTION_KINDS: readonly EditKind[] = ALL_KINDS.filter(
  (k) => k !== 'null_guard' && k !== 'swap_call',
);

export interface Mutant {
  /** Stable: `${kind}-${line}-${sha256(source).slice(0, 12)}`. */
  id: string;
  kind: EditKind;
  /** 1-based line of the change in the original file (for an inserted guard: the line it is inserted at). */
  line: number;
  description: string;
  /** The whole file after the mutation; only the changed span differs from the original. */
  source: string;
}

export type Language = 'python' | 'javascript' | 'typescript';

const EXTENSIONS: Record<string, Language> = {
  '.py': 'python',
  '.js': 'javascript',
  '.mjs': 'javascript',
  '.cjs': 'javascript',
  '.jsx': 'javascript',
  '.ts': 'typescript',
  '.tsx': 'typescript',
  '.mts': 'typescript',
  '.cts': 'typescript',
};

/** The language of a file by its extension, or undefined when no mutator handles it. */
export function languageOf(file: string): Language | undefined {
  const dot = file.lastIndexOf('.');
  if (dot < 0 || dot < file.lastIndexOf('/')) return undefined;
  return EXTENSIONS[file.slice(dot).toLowerCase()];
}

const PYTHON_MUTATOR = fileURLToPath(new URL('./mutate_py.py', import.meta.url));

async function pythonMutants(source: string, kinds: readonly EditKind[]): Promise<Mutant[]> {
  // python3 ends a line at a lone CR too, where the mutator's byte offsets count only LF.
  if (/\r(?!\n)/.test(source)) throw new Error('not supported: Python with lone CR (old Mac) line endings');
  // A UTF-8 byte-order mark is legal in a Python file but not in ast.parse's input: mutate without, keep it.
  const bom = source.startsWith('\ufeff') ? '\ufeff' : '';
  const mutants = await runPythonMutator(source.slice(bom.length), kinds);
  return mutants.map((m) => ({ ...m, source: bom + m.source }));
}

function runPythonMutator(source: string, kinds: readonly EditKind[]): Promise<Mutant[]> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      'python3',
      ['-I', PYTHON_MUTATOR],
      { maxBuffer: 256 * 1024 * 1024, timeout: 60_000 },
      (err, stdout) => {
        if (err) return reject(new Error(`python mutator failed: ${err.message.split('\n')[0]}`));
        const parsed = JSON.parse(stdout) as Mutant[] | { error: string };
        if (!Array.isArray(parsed)) return reject(new Error(parsed.error));
        resolve(parsed);
      },
    );
    child.stdin!.end(JSON.stringify({ source, kinds }));
  });
}

/**
 * Every mutant of `file` (its language by extension) of the given kinds (default: all), deduplicated, each
 * parsing, in the order (line, kind, source). An unknown extension or a declaration file gives []; a source
 * that does not parse rejects with `<file>: not valid <Language>: …`.
 */
export async function mutantsOf(
  file: string,
  source: string,
  opts: { kinds?: readonly EditKind[] } = {},
): Promise<Mutant[]> {
  const kinds = opts.kinds ?? ALL_KINDS;
  const language = languageOf(file);
  // .d.ts/.d.mts/.d.cts hold types only: nothing runs, so nothing to mutate.
  if (!language || /\.d\.[cm]?ts$/i.test(file)) return [];
  try {
    if (language === 'python') return await pythonMutants(source, kinds);
    return scriptMutants(source, dialectOf(file), kinds);
  } catch (err) {
    throw new Error(`${file}: ${(err as Error).message}`, { cause: err });
  }
}
