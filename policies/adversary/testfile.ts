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
  /** Python: the folder the module is imported from (`src` in a src layout; '' for the repository root). */
  root?: string;
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
  const specifier = (module: string) => {
    const spec = path.posix.relative(dir, module);
    return spec.startsWith('.') ? spec : `./${spec}`;
  };
  const cases: TestCase[] = [];
  const bodies = findings.map((f, i) => {
    const id = `repogym adversarial ${i + 1}: ${f.target.name}`;
    cases.push({ id, finding: f });
    const ref = f.reference;
    let expected: string;
    let printed = false;
    if ('threw' in ref) expected = `{ threw: ${JSON.stringify(ref.threw)} }`;
    else if (ref.ok && typeof ref.ok === 'object' && !Array.isArray(ref.ok) && '$inspect' in ref.ok) {
      printed = true;
      expected = `{ value: ${JSON.stringify(ref.ok.$inspect)} }`;
    } else expected = `{ value: ${jsLiteral(ref.ok)} }`;
    const module = JSON.stringify(specifier(f.target.file));
    const call = `(await target(${module}, ${JSON.stringify(f.target.name)}))(${f.input.args.map(jsLiteral).join(', ')})`;
    return [
      `test(${JSON.stringify(id)}, async () => {`,
      `  deepStrictEqual(await outcome(async () => ${call}, ${printed}), ${expected});`,
      `});`,
    ].join('\n');
  });
  const content = [
    `// Written by repogym's differential adversary: each test states what the reference solution does.`,
    `import { test } from 'node:test';`,
    `import { deepStrictEqual } from 'node:assert/strict';`,
    `import { inspect } from 'node:util';`,
    '',
    `// The code under test is imported after the assertion is bound: replacing assert's functions changes nothing.`,
    `async function target(specifier, name) {`,
    `  const mod = await import(new URL(specifier, import.meta.url));`,
    `  return mod[name] ?? mod.default?.[name];`,
    `}`,
    '',
    `// -0 and 0 are one answer: a correct fix may compute either.`,
    `const plain = (v) =>`,
    `  Object.is(v, -0) ? 0 : Array.isArray(v) ? v.map(plain) : v && Object.getPrototypeOf(v) === Object.prototype`,
    `    ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)])) : v;`,
    '',
    `async function outcome(run, printed) {`,
    `  try {`,
    `    const value = await run();`,
    `    return { value: printed ? inspect(value, ${INSPECT}) : plain(value) };`,
    `  } catch (err) {`,
    `    return { threw: err instanceof Error ? err.constructor.name : \`thrown \${typeof err}\` };`,
    `  }`,
    `}`,
    '',
    ...bodies.map((b) => `${b}\n`),
  ].join('\n');
  return { path: file, content, cases };
}

// Exact comparison: the types must match all the way down (a str subclass with a lenient __eq__ does not pass,
// 1 is not 1.0), Decimals compare by their digits, floats by value (nan equals nan).
const PYTEST_PRELUDE = `# Written by repogym's differential adversary: each test states what the reference solution does.
import importlib
import math
from decimal import Decimal  # noqa: F401 (expected values may be Decimals)


def _same(a, b):
    if type(a) is not type(b):
        return False
    if type(a) in (list, tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if type(a) is dict:
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if type(a) in (set, frozenset):
        return sorted(map(repr, a)) == sorted(map(repr, b))
    if type(a) is Decimal:
        return str(a) == str(b)
    if type(a) is float:
        return a == b or (math.isnan(a) and math.isnan(b))
    return a == b


def _outcome(run):
    try:
        return ("value", run())
    except Exception as err:
        return ("threw", type(err).__name__)


def _target(module, name):
    return getattr(importlib.import_module(module), name)
`;

/** A pytest file next to the repository's other tests. */
export function pytestFile(dir: string, findings: Finding[]): TestFile {
  const file = path.posix.join(dir, 'test_repogym_adversarial.py');
  const cases: TestCase[] = [];
  const bodies = findings.map((f, i) => {
    const fn = `test_repogym_adversarial_${i + 1}`;
    cases.push({ id: `${file}::${fn}`, finding: f });
    const args = [
      ...f.input.args.map(pyLiteral),
      ...Object.entries(f.input.kwargs ?? {}).map(([k, v]) => `${k}=${pyLiteral(v)}`),
    ].join(', ');
    const target = `_target(${JSON.stringify(f.target.module)}, ${JSON.stringify(f.target.name)})`;
    const ref = f.reference;
    const drained = 'ok' in ref && ref.ok !== null && typeof ref.ok === 'object' && '$iterator' in ref.ok;
    const call = drained ? `list(${target}(${args}))` : `${target}(${args})`;
    let assertion: string;
    if ('threw' in ref)
      assertion = `assert _outcome(lambda: ${call}) == ("threw", ${JSON.stringify(ref.threw)})`;
    else if (ref.literal) assertion = `assert _same(_outcome(lambda: ${call}), ("value", ${ref.literal}))`;
    else assertion = `assert _outcome(lambda: repr(${call})) == ("value", ${JSON.stringify(ref.repr ?? '')})`;
    return `def ${fn}():\n    ${assertion}\n`;
  });
  return { path: file, content: [PYTEST_PRELUDE, '', bodies.join('\n\n')].join('\n'), cases };
}
