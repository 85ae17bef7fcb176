// Concrete test files from divergences: each test calls the target with the diverging input and states what
// the reference solution did (returned a value, or threw an error of some class). Written in the language's
// usual runner (node:test, pytest) so the task's own test command runs them.
import path from 'node:path';
import type { Example } from './analyse_js.ts';
import { jsLiteral, pyLiteral, type Tagged } from './values.ts';

export interface Target {
  language: 'javascript' | 'python';
  /** Repository path of the module. */
  file: string;
  /** Python: the dotted module; JavaScript: same as file. */
  module: string;
  name: string;
}

/** What the reference did on an input, as the drivers report it. */
export type Outcome = { ok: Tagged; literal?: string | null; repr?: string } | { threw: string };

export interface Finding {
  target: Target;
  input: Example;
  reference: Outcome;
}

export interface TestCase {
  /** The test's ID as the task's runner will report it. */
  id: string;
  finding: Finding;
}

export interface TestFile {
  path: string;
  content: string;
  cases: TestCase[];
}

/** The call as source in the target's language, cut at `limit` characters. */
export const describeCall = (f: Finding, limit = 200): string => {
  const literal = f.target.language === 'python' ? pyLiteral : jsLiteral;
  const args = f.input.args.map(literal);
  const kwargs = Object.entries(f.input.kwargs ?? {}).map(([k, v]) => `${k}=${literal(v)}`);
  const text = `${f.target.name}(${[...args, ...kwargs].join(', ')})`;
  return text.length > limit ? `${text.slice(0, limit)}…` : text;
};

const INSPECT = '{ depth: 6, sorted: true, breakLength: Infinity }';

/** A node:test file next to the repository's other tests; `dir` is where its tests live. */
export function nodeTestFile(dir: string, extension: string, findings: Finding[]): TestFile {
  const file = path.posix.join(dir, `repogym-adversarial.test${extension}`);
  const modules = [...new Set(findings.map((f) => f.target.file))];
  const alias = (module: string) => `m${modules.indexOf(module)}`;
  const imports = modules.map((m) => {
    let spec = path.posix.relative(dir, m);
    if (!spec.startsWith('.')) spec = `./${spec}`;
    return `import * as ${alias(m)} from ${JSON.stringify(spec)};`;
  });
  const cases: TestCase[] = [];
  const bodies = findings.map((f, i) => {
    const id = `repogym adversarial ${i + 1}: ${f.target.name}`;
    cases.push({ id, finding: f });
    const call = `${alias(f.target.file)}[${JSON.stringify(f.target.name)}](${f.input.args.map(jsLiteral).join(', ')})`;
    const ref = f.reference;
    let expected: string;
    let printed = false;
    if ('threw' in ref) expected = `{ threw: ${JSON.stringify(ref.threw)} }`;
    else if (ref.ok && typeof ref.ok === 'object' && !Array.isArray(ref.ok) && '$inspect' in ref.ok) {
      printed = true;
      expected = `{ value: ${JSON.stringify(ref.ok.$inspect)} }`;
    } else expected = `{ value: ${jsLiteral(ref.ok)} }`;
    return [
      `test(${JSON.stringify(id)}, async () => {`,
      `  assert.deepStrictEqual(await outcome(() => ${call}, ${printed}), ${expected});`,
      `});`,
    ].join('\n');
  });
  const content = [
    `// Written by repogym's differential adversary: each test states what the reference solution does.`,
    `import { test } from 'node:test';`,
    `import assert from 'node:assert/strict';`,
    `import { inspect } from 'node:util';`,
    ...imports,
    '',
    `async function outcome(run, printed) {`,
    `  try {`,
    `    const value = await run();`,
    `    return { value: printed ? inspect(value, ${INSPECT}) : value };`,
    `  } catch (err) {`,
    `    return { threw: err instanceof Error ? err.constructor.name : \`thrown \${typeof err}\` };`,
    `  }`,
    `}`,
    '',
    ...bodies.map((b) => `${b}\n`),
  ].join('\n');
  return { path: file, content, cases };
}

/** A pytest file next to the repository's other tests. */
export function pytestFile(dir: string, findings: Finding[]): TestFile {
  const file = path.posix.join(dir, 'test_repogym_adversarial.py');
  const modules = [...new Set(findings.map((f) => f.target.module))];
  const cases: TestCase[] = [];
  const bodies = findings.map((f, i) => {
    const fn = `test_repogym_adversarial_${i + 1}`;
    cases.push({ id: `${file}::${fn}`, finding: f });
    const args = [
      ...f.input.args.map(pyLiteral),
      ...Object.entries(f.input.kwargs ?? {}).map(([k, v]) => `${k}=${pyLiteral(v)}`),
    ].join(', ');
    const call = `${f.target.module}.${f.target.name}(${args})`;
    const ref = f.reference;
    const assertion =
      'threw' in ref
        ? `assert _outcome(lambda: ${call}) == ("threw", ${JSON.stringify(ref.threw)})`
        : ref.literal
          ? `assert _outcome(lambda: ${call}) == ("value", ${ref.literal})`
          : `assert _outcome(lambda: repr(${call})) == ("value", ${JSON.stringify(ref.repr ?? '')})`;
    return `def ${fn}():\n    ${assertion}\n`;
  });
  const content = [
    `# Written by repogym's differential adversary: each test states what the reference solution does.`,
    `from decimal import Decimal  # noqa: F401 (expected values may be Decimals)`,
    ...modules.map((m) => `import ${m}`),
    '',
    '',
    `def _outcome(run):`,
    `    try:`,
    `        return ("value", run())`,
    `    except Exception as err:`,
    `        return ("threw", type(err).__name__)`,
    '',
    '',
    bodies.join('\n\n'),
  ].join('\n');
  return { path: file, content, cases };
}
