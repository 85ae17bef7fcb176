// Procedural mutations of source files: the bug injector of task synthesis (and the candidate changes of
// template repair). Python goes through python3's own `ast` (mutate_py.py), run isolated (`-I`).
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface Mutant {
  /** Stable: the mutation kind, its line and a hash of the mutated text. */
  id: string;
  kind: 'flip_comparison' | 'swap_operator' | 'swap_boolean' | 'off_by_one' | 'drop_negation';
  line: number;
  description: string;
  /** The whole file after the mutation; only one token span differs from the original. */
  source: string;
}

const PYTHON_MUTATOR = fileURLToPath(new URL('./mutate_py.py', import.meta.url));

/** Every single-token mutant of a Python file, deduplicated, in a deterministic order. */
export function pythonMutants(source: string): Promise<Mutant[]> {
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
    child.stdin!.end(JSON.stringify({ source }));
  });
}
