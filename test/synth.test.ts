import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadDataset } from '../datasets/loader.ts';
import {
  ALL_KINDS,
  INJECTION_KINDS,
  languageOf,
  mutantsOf,
  type EditKind,
  type Mutant,
} from '../datasets/synth/mutate.ts';
import { llmRewriter } from '../datasets/synth/rewrite.ts';
import { synthesize } from '../datasets/synth/synthesize.ts';
import { validateTask } from '../datasets/validate.ts';
import { startChatServer } from './chat-server.ts';
import { makeRepo, removeDir } from './helpers.ts';

const SOURCE = [
  '"""Prices."""',
  '',
  'def total(prices, discount=0):',
  '    # sum first, then discount',
  '    if not prices:',
  '        return 0',
  '    subtotal = sum(prices)',
  '    return subtotal - discount if subtotal > discount and discount >= 0 else subtotal',
  '',
].join('\n');

/** The single-token kinds, on a Python file. */
const tokenMutants = (source: string) =>
  mutantsOf('prices.py', source, {
    kinds: ['flip_comparison', 'swap_operator', 'swap_boolean', 'off_by_one', 'drop_negation'],
  });

describe('Python mutations through ast', () => {
  it('changes one token span per mutant, keeps comments and formatting, and every mutant parses', async () => {
    const mutants = await tokenMutants(SOURCE);
    expect(new Set(mutants.map((m) => m.kind))).toEqual(
      new Set(['flip_comparison', 'swap_operator', 'swap_boolean', 'off_by_one', 'drop_negation']),
    );
    for (const m of mutants) {
      const before = SOURCE.split('\n');
      const after = m.source.split('\n');
      expect(after).toHaveLength(before.length);
      const changed = after.map((line, i) => (line === before[i] ? -1 : i + 1)).filter((i) => i > 0);
      expect(changed, m.id).toEqual([m.line]);
      expect(m.source).toContain('# sum first, then discount');
    }
    expect(mutants.find((m) => m.description === '`>` became `>=`')?.line).toBe(8);
    expect(mutants.find((m) => m.kind === 'drop_negation')?.source).toContain('    if prices:');
  });

  it('is deterministic, with stable ids, and reports invalid Python clearly', async () => {
    const [a, b] = [await tokenMutants(SOURCE), await tokenMutants(SOURCE)];
    expect(a.map((m) => m.id)).toEqual(b.map((m) => m.id));
    expect(new Set(a.map((m) => m.id)).size).toBe(a.length);
    await expect(tokenMutants('def broken(:\n')).rejects.toThrow(/not valid Python: .*line 1/);
  });

  it('handles non-ASCII text before a mutated token (ast columns are utf-8 bytes)', async () => {
    const mutants = await tokenMutants('label = "prix € 5"; n = 3 + 4\n');
    expect(mutants.map((m) => m.source)).toContain('label = "prix € 5"; n = 3 - 4\n');
  });
});

/** The lines a mutant replaced and the ones it put instead: everything around them is byte-for-byte equal. */
function changed(before: string, after: string): { removed: string[]; added: string[] } {
  const [a, b] = [before.split('\n'), after.split('\n')];
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start++;
  let [endA, endB] = [a.length, b.length];
  while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) [endA, endB] = [endA - 1, endB - 1];
  return { removed: a.slice(start, endA), added: b.slice(start, endB) };
}

interface KindCase {
  name: string;
  file: string;
  kind: EditKind;
  source: string[];
  /** [removed lines, added lines] of mutants that must be there. */
  expected: [string[], string[]][];
  /** Added lines that no mutant of this kind may produce. */
  absent?: string[][];
  /** Lines that no mutant of this kind may remove or change. */
  kept?: string[];
}

const PY_CASES: KindCase[] = [
  {
    name: 'flip_comparison: < and `is not`',
    file: 'cmp.py',
    kind: 'flip_comparison',
    source: [
      'def within(a, b, c):',
      '    # compare a < b, keep this comment',
      '    return a < b and c is not None',
      '',
    ],
    expected: [
      [['    return a < b and c is not None'], ['    return a <= b and c is not None']],
      [['    return a < b and c is not None'], ['    return a < b and c is None']],
    ],
  },
  {
    name: 'swap_operator: * and +=',
    file: 'ops.py',
    kind: 'swap_operator',
    source: [
      'def area(w, h):',
      '    total = w * h  # cm²',
      '    total += 1',
      '    return "area: " + str(total)',
      '',
    ],
    expected: [
      [['    total = w * h  # cm²'], ['    total = w / h  # cm²']],
      [['    total += 1'], ['    total -= 1']],
    ],
    kept: ['    return "area: " + str(total)'],
  },
  {
    name: 'swap_boolean keeps odd spacing',
    file: 'bools.py',
    kind: 'swap_boolean',
    source: ['ok = ready and  valid  # two spaces', ''],
    expected: [[['ok = ready and  valid  # two spaces'], ['ok = ready or  valid  # two spaces']]],
  },
  {
    name: 'off_by_one, never below zero',
    file: 'consts.py',
    kind: 'off_by_one',
    source: ['LIMIT = 0', 'STEP = 10  # per page', ''],
    expected: [
      [['LIMIT = 0'], ['LIMIT = 1']],
      [['STEP = 10  # per page'], ['STEP = 9  # per page']],
      [['STEP = 10  # per page'], ['STEP = 11  # per page']],
    ],
    absent: [['LIMIT = -1']],
  },
  {
    name: 'drop_negation in while and return, parentheses kept',
    file: 'neg.py',
    kind: 'drop_negation',
    source: [
      'def run(step, a, b):',
      '    done = False',
      '    while not done:',
      '        done = step()',
      '    return not (a or b)',
      '',
    ],
    expected: [
      [['    while not done:'], ['    while done:']],
      [['    return not (a or b)'], ['    return (a or b)']],
    ],
  },
  {
    name: 'negate_condition of an if and a ternary',
    file: 'cond.py',
    kind: 'negate_condition',
    source: [
      'def go(count):',
      '    if count > 0:  # positive',
      '        count = 1 if count else 2',
      '    return count',
      '',
    ],
    expected: [
      [['    if count > 0:  # positive'], ['    if not (count > 0):  # positive']],
      [['        count = 1 if count else 2'], ['        count = 1 if not (count) else 2']],
    ],
  },
  {
    name: 'swap_arguments: simple neighbours on one line only',
    file: 'args.py',
    kind: 'swap_arguments',
    source: ['move(src, dst)  # order matters', 'copy(src, f(dst))', 'link(a,', '     b)', ''],
    expected: [[['move(src, dst)  # order matters'], ['move(dst, src)  # order matters']]],
    kept: ['copy(src, f(dst))', 'link(a,', '     b)'],
  },
  {
    name: 'change_constant: booleans',
    file: 'flags.py',
    kind: 'change_constant',
    source: ['DEBUG = False', 'VERBOSE = True  # default', ''],
    expected: [
      [['DEBUG = False'], ['DEBUG = True']],
      [['VERBOSE = True  # default'], ['VERBOSE = False  # default']],
    ],
  },
  {
    name: 'null_guard after the docstring, past self',
    file: 'guard.py',
    kind: 'null_guard',
    source: [
      'def first(items):',
      '    """The first item."""',
      '    # items is a list',
      '    return items[0]',
      '',
      'class Box:',
      '    def put(self, thing):',
      '        self.thing = thing',
      '',
    ],
    expected: [
      [[], ['    if not items:', '        return items']],
      [[], ['        if not thing:', '            return thing']],
    ],
    absent: [['        if not self:', '            return self']],
  },
  {
    name: 'remove_statement: not a return, not the only statement of a block',
    file: 'stmts.py',
    kind: 'remove_statement',
    source: [
      'def prepare(xs):',
      '    xs.sort()  # in place',
      '    total = sum(xs)',
      '    return total',
      '',
      'def only(x):',
      '    x.close()',
      '',
    ],
    expected: [
      [['    xs.sort()  # in place'], []],
      [['    total = sum(xs)'], []],
    ],
    kept: ['    return total', '    x.close()'],
  },
];

const JS_CASES: KindCase[] = [
  {
    name: 'flip_comparison: < and ===',
    file: 'cmp.js',
    kind: 'flip_comparison',
    source: [
      'export function within(a, b, c) {',
      '  // compare a < b, keep this comment',
      '  return a < b && c === null;',
      '}',
      '',
    ],
    expected: [
      [['  return a < b && c === null;'], ['  return a <= b && c === null;']],
      [['  return a < b && c === null;'], ['  return a < b && c !== null;']],
    ],
  },
  {
    name: 'swap_operator: *, += and ++, not a string concatenation',
    file: 'ops.js',
    kind: 'swap_operator',
    source: [
      'export function area(w, h) {',
      '  let total = w * h; // cm²',
      '  total += 1;',
      '  total++;',
      "  return 'area: ' + total;",
      '}',
      '',
    ],
    expected: [
      [['  let total = w * h; // cm²'], ['  let total = w / h; // cm²']],
      [['  total += 1;'], ['  total -= 1;']],
      [['  total++;'], ['  total--;']],
    ],
    kept: ["  return 'area: ' + total;"],
  },
  {
    name: 'swap_boolean keeps odd spacing',
    file: 'bools.js',
    kind: 'swap_boolean',
    source: ['const ok = ready &&  valid; // two spaces', ''],
    expected: [
      [['const ok = ready &&  valid; // two spaces'], ['const ok = ready ||  valid; // two spaces']],
    ],
  },
  {
    name: 'off_by_one, never below zero',
    file: 'consts.mjs',
    kind: 'off_by_one',
    source: ['export const LIMIT = 0;', 'export const STEP = 10; // per page', ''],
    expected: [
      [['export const LIMIT = 0;'], ['export const LIMIT = 1;']],
      [['export const STEP = 10; // per page'], ['export const STEP = 9; // per page']],
      [['export const STEP = 10; // per page'], ['export const STEP = 11; // per page']],
    ],
    absent: [['export const LIMIT = -1;']],
  },
  {
    name: 'drop_negation in while, ternary and return',
    file: 'neg.js',
    kind: 'drop_negation',
    source: [
      'function run(step, a, b) {',
      '  let done = false;',
      '  while (!done) done = step();',
      '  const x = !a ? 1 : 2;',
      '  return !(a || b) && x;',
      '}',
      '',
    ],
    expected: [
      [['  while (!done) done = step();'], ['  while (done) done = step();']],
      [['  const x = !a ? 1 : 2;'], ['  const x = a ? 1 : 2;']],
      [['  return !(a || b) && x;'], ['  return (a || b) && x;']],
    ],
  },
  {
    name: 'negate_condition of an if and a ternary',
    file: 'cond.cjs',
    kind: 'negate_condition',
    source: [
      'function go(count) {',
      '  if (count > 0) { // positive',
      '    count = count ? 1 : 2;',
      '  }',
      '  return count;',
      '}',
      'module.exports = { go };',
      '',
    ],
    expected: [
      [['  if (count > 0) { // positive'], ['  if (!(count > 0)) { // positive']],
      [['    count = count ? 1 : 2;'], ['    count = !(count) ? 1 : 2;']],
    ],
  },
  {
    name: 'swap_arguments: simple neighbours on one line only',
    file: 'args.js',
    kind: 'swap_arguments',
    source: ['move(src, this.dst); // order matters', 'copy(src, f(dst));', 'link(a,', '  b);', ''],
    expected: [[['move(src, this.dst); // order matters'], ['move(this.dst, src); // order matters']]],
    kept: ['copy(src, f(dst));', 'link(a,', '  b);'],
  },
  {
    name: 'change_constant: booleans',
    file: 'flags.js',
    kind: 'change_constant',
    source: ['export const DEBUG = false;', 'export const VERBOSE = true; // default', ''],
    expected: [
      [['export const DEBUG = false;'], ['export const DEBUG = true;']],
      [['export const VERBOSE = true; // default'], ['export const VERBOSE = false; // default']],
    ],
  },
  {
    name: 'null_guard in a function and a method, not a constructor',
    file: 'guard.jsx',
    kind: 'null_guard',
    source: [
      'export function first(items) {',
      '  // items is a list',
      '  return items[0];',
      '}',
      '',
      'export class Box {',
      '  constructor(thing) {',
      '    this.thing = thing;',
      '  }',
      '  render(props = {}) {',
      '    return <div>{props.label}</div>;',
      '  }',
      '}',
      '',
    ],
    expected: [
      [[], ['  if (items == null || items.length === 0) return items;']],
      [[], ['    if (props == null || props.length === 0) return props;']],
    ],
    absent: [['    if (thing == null || thing.length === 0) return thing;']],
  },
  {
    name: 'remove_statement: not a return, not the only statement of a block',
    file: 'stmts.js',
    kind: 'remove_statement',
    source: [
      'function prepare(xs) {',
      '  xs.sort(); // in place',
      '  const total = xs.reduce((a, b) => a + b, 0);',
      '  return total;',
      '}',
      '',
      'function only(x) {',
      '  x.close();',
      '}',
      '',
    ],
    expected: [
      [['  xs.sort(); // in place'], []],
      [['  const total = xs.reduce((a, b) => a + b, 0);'], []],
    ],
    kept: ['  return total;', '  x.close();'],
  },
];

describe.each([
  ['Python', PY_CASES],
  ['JavaScript', JS_CASES],
])('%s mutation kinds', (_language, cases) => {
  it.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const source = c.source.join('\n');
    const mutants = await mutantsOf(c.file, source, { kinds: [c.kind] });
    expect(mutants.map((m) => m.kind)).toEqual(mutants.map(() => c.kind));
    const diffs = mutants.map((m) => changed(source, m.source));
    for (const [removed, added] of c.expected) expect(diffs).toContainEqual({ removed, added });
    for (const added of c.absent ?? []) for (const d of diffs) expect(d.added).not.toEqual(added);
    for (const line of c.kept ?? []) for (const d of diffs) expect(d.removed).not.toContain(line);
    for (const [i, m] of mutants.entries()) {
      const d = diffs[i]!;
      // One small region changes, at the mutant's line; comments elsewhere survive.
      expect(d.removed.length <= 1 && d.added.length <= 2, m.id).toBe(true);
      expect(m.source.split('\n')[m.line - 1], m.id).toBe(d.added[0] ?? source.split('\n')[m.line]);
      for (const line of c.source.filter((l) => /#|\/\//.test(l) && !d.removed.includes(l))) {
        expect(m.source, m.id).toContain(line);
      }
    }
  });
});

describe('mutantsOf', () => {
  const TS = [
    "import type { Item } from './item.js';",
    '',
    'export type Limit = 1 | 2; // a type: never mutated',
    '',
    'export class Cart<T extends Item> {',
    '  private items: T[] = [];',
    '  constructor(private readonly limit: number = 3) {}',
    '',
    '  add(item: T, count = 1): number {',
    '    const size = <number>this.items.length; // a type assertion: not JSX in .ts',
    '    if (size >= this.limit) return -1;',
    '    this.items.push(item);',
    '    return size + count;',
    '  }',
    '}',
    'declare function ambient(x: 5): boolean;',
    '',
  ].join('\n');

  it('knows languages by extension and gives nothing for the rest', async () => {
    const files = [
      'a.py',
      'b.js',
      'c.mjs',
      'd.cjs',
      'e.jsx',
      'f.ts',
      'g.tsx',
      'h.mts',
      'i.cts',
      'j.rb',
      'Makefile',
    ];
    expect(files.map(languageOf)).toEqual([
      'python',
      'javascript',
      'javascript',
      'javascript',
      'javascript',
      'typescript',
      'typescript',
      'typescript',
      'typescript',
      undefined,
      undefined,
    ]);
    expect(languageOf('dir.js/README')).toBeUndefined();
    await expect(mutantsOf('notes.rb', 'x = 1 + 2\n')).resolves.toEqual([]);
    expect(INJECTION_KINDS).toEqual(ALL_KINDS.filter((k) => k !== 'null_guard' && k !== 'swap_call'));
  });

  it('swaps look-alike calls (rounding, extremes) for repair, never for injection', async () => {
    const js = 'export const pages = (n, per) => Math.max(1, Math.floor(n / per));\n';
    const swaps = (await mutantsOf('a.js', js)).filter((m) => m.kind === 'swap_call');
    expect(swaps.map((m) => m.description).sort()).toEqual([
      '`Math.floor` became `Math.ceil`',
      '`Math.floor` became `Math.round`',
      '`Math.max` became `Math.min`',
    ]);
    expect(swaps[0]!.source).not.toBe(js);
    expect(await mutantsOf('a.js', js, { kinds: INJECTION_KINDS })).not.toContainEqual(
      expect.objectContaining({ kind: 'swap_call' }),
    );
    // `math.ceil` is offered only where math is imported: the swap adds no import.
    const py = 'def minutes(words):\n    return round(words / 200) + max(words, 0)\n';
    const described = async (source: string) =>
      (await mutantsOf('a.py', source)).filter((m) => m.kind === 'swap_call').map((m) => m.description);
    expect(await described(py)).toEqual(['`max` became `min`']);
    expect((await described(`import math\n\n${py}`)).sort()).toEqual([
      '`max` became `min`',
      '`round` became `math.ceil`',
      '`round` became `math.floor`',
    ]);
  });

  it('mutates TypeScript code but not its types', async () => {
    const mutants = await mutantsOf('src/cart.ts', TS);
    const diffs = mutants.map((m) => changed(TS, m.source));
    expect(diffs).toContainEqual({
      removed: ['    if (size >= this.limit) return -1;'],
      added: ['    if (size > this.limit) return -1;'],
    });
    expect(diffs).toContainEqual({
      removed: ['    return size + count;'],
      added: ['    return size - count;'],
    });
    expect(diffs).toContainEqual({
      removed: ['  constructor(private readonly limit: number = 3) {}'],
      added: ['  constructor(private readonly limit: number = 4) {}'],
    });
    expect(diffs).toContainEqual({
      removed: [],
      added: ['    if (item == null || item.length === 0) return item;'],
    });
    // Types, the import and the ambient declaration are left alone.
    for (const d of diffs) expect(d.removed.join('\n')).not.toMatch(/Limit|ambient|import|private items/);
    expect(new Set(mutants.map((m) => m.kind))).toEqual(
      new Set([
        'flip_comparison',
        'swap_operator',
        'off_by_one',
        'negate_condition',
        'null_guard',
        'remove_statement',
      ]),
    );
  });

  it('rejects a syntax error in any language, naming the file', async () => {
    await expect(mutantsOf('src/a.js', 'function (x) {\n')).rejects.toThrow(
      /src\/a\.js: not valid JavaScript: .*\(1:/,
    );
    await expect(mutantsOf('src/a.ts', 'let x: = 1;\n')).rejects.toThrow(/src\/a\.ts: not valid TypeScript/);
    await expect(mutantsOf('pkg/a.py', 'def broken(:\n')).rejects.toThrow(
      /pkg\/a\.py: not valid Python: .*line 1/,
    );
    // JSX is not TypeScript: `<div>` in a .ts file does not parse.
    await expect(mutantsOf('a.ts', 'const el = <div>hi</div>;\n')).rejects.toThrow(/not valid TypeScript/);
  });

  it('refuses a file whose mutants would be too much text to hold (a bundle), in either language', async () => {
    const lines = 'x = 1 + 2\n'.repeat(5_000);
    await expect(mutantsOf('dist/bundle.js', lines)).rejects.toThrow(/bundle\.js: too large to mutate/);
    await expect(mutantsOf('vendor/big.py', lines)).rejects.toThrow(/big\.py: too large to mutate/);
  });

  it('falls back to a script for code that is no module, and drops mutants that stop parsing', async () => {
    const sloppy = ['with (Math) {', '  x = max(1, 2);', '  y = 1;', '}', ''].join('\n');
    const mutants = await mutantsOf('old.js', sloppy);
    expect(mutants.map((m) => m.source)).toContain(sloppy.replace('max(1, 2)', 'max(2, 1)'));
    // `return x` in an async generator is a SyntaxError: that guard is dropped, not reported.
    expect(
      await mutantsOf('gen.py', 'async def stream(x):\n    yield x\n', { kinds: ['null_guard'] }),
    ).toEqual([]);
    expect(await mutantsOf('gen.py', 'def plain(x):\n    yield x\n', { kinds: ['null_guard'] })).toHaveLength(
      1,
    );
  });

  it.each([
    ['py', SOURCE],
    ['ts', TS],
  ])(
    'is deterministic (.%s): stable ids from the text, sorted by line, kind and source',
    async (ext, source) => {
      const [a, b] = [await mutantsOf(`m.${ext}`, source), await mutantsOf(`m.${ext}`, source)];
      expect(a).toEqual(b);
      expect(a.length).toBeGreaterThan(5);
      expect(new Set(a.map((m) => m.source)).size).toBe(a.length);
      for (let i = 1; i < a.length; i++) {
        const [p, q] = [a[i - 1]!, a[i]!];
        const ordered =
          p.line < q.line ||
          (p.line === q.line && (p.kind < q.kind || (p.kind === q.kind && p.source < q.source)));
        expect(ordered, q.id).toBe(true);
      }
      for (const m of a) {
        const digest = createHash('sha256').update(m.source).digest('hex').slice(0, 12);
        expect(m.id).toBe(`${m.kind}-${m.line}-${digest}`);
        expect(m.source).not.toBe(source);
      }
      // A subset of kinds gives the same mutants, filtered.
      const some = await mutantsOf(`m.${ext}`, source, { kinds: ['off_by_one', 'remove_statement'] });
      expect(some).toEqual(a.filter((m: Mutant) => m.kind === 'off_by_one' || m.kind === 'remove_statement'));
    },
  );
});

describe('synthesize', () => {
  it('turns mutants of a repository that is not ours into tasks that validate (oracle resolves, nop does not)', async () => {
    // A small unittest-style project, unlike the built-in ones: a class, properties, an exception path.
    const repo = await makeRepo({
      'shelf/__init__.py': 'from shelf.stock import Shelf\n',
      'shelf/stock.py': [
        'class Shelf:',
        '    def __init__(self, capacity):',
        '        if capacity <= 0:',
        '            raise ValueError("capacity must be positive")',
        '        self.capacity = capacity',
        '        self.items = []',
        '',
        '    @property',
        '    def free(self):',
        '        return self.capacity - len(self.items)',
        '',
        '    def put(self, item):',
        '        if not self.free > 0:',
        '            raise OverflowError("shelf is full")',
        '        self.items.append(item)',
        '        return len(self.items)',
        '',
      ].join('\n'),
      'tests/test_stock.py': [
        'import unittest',
        'from shelf import Shelf',
        '',
        'class ShelfTest(unittest.TestCase):',
        '    def test_free_space(self):',
        '        s = Shelf(2)',
        '        s.put("a")',
        '        self.assertEqual(s.free, 1)',
        '',
        '    def test_full(self):',
        '        s = Shelf(1)',
        '        s.put("a")',
        '        with self.assertRaises(OverflowError):',
        '            s.put("b")',
        '',
        '    def test_bad_capacity(self):',
        '        with self.assertRaises(ValueError):',
        '            Shelf(0)',
        '',
      ].join('\n'),
    });
    try {
      const opts = {
        repo: repo.dir,
        testCmd: 'python3 -m pytest -rA -p no:cacheprovider',
        testFormat: 'pytest' as const,
        seed: 7,
        maxTasks: 3,
      };
      const first = await synthesize(opts);
      expect(first.rows.length).toBe(3);
      const again = await synthesize(opts);
      expect(again.rows.map((r) => [r.instance_id, r.base_commit])).toEqual(
        first.rows.map((r) => [r.instance_id, r.base_commit]),
      );
      const file = path.join(repo.dir, 'synth.jsonl');
      await writeFile(file, first.rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
      const loaded = await loadDataset(file);
      expect(loaded.errors).toEqual([]);
      for (const task of loaded.tasks) {
        expect(task.FAIL_TO_PASS.length, task.instance_id).toBeGreaterThan(0);
        expect(task.PASS_TO_PASS.length, task.instance_id).toBeGreaterThan(0);
        const validation = await validateTask(task, 0);
        expect(validation.problems, task.instance_id).toEqual([]);
      }

      // With a model configured, statements are rewritten from what a user sees; a failed call keeps the template.
      const issue =
        'Shelf reports the wrong free space\n\nAfter putting one item on a shelf of two, free is wrong.';
      const server = await startChatServer((_request, i) => (i === 0 ? { text: issue } : { status: 400 }));
      try {
        const rewrite = llmRewriter({ baseUrl: server.url, model: 'scripted', apiKeyEnv: 'REPOGYM_NO_KEY' });
        const rewritten = await synthesize({ ...opts, maxTasks: 2, rewrite });
        const synthOf = (row: Record<string, unknown>) =>
          (row.context as { synth: { statement: string } }).synth.statement;
        expect(rewritten.rows[0]!.problem_statement).toBe(issue);
        expect(synthOf(rewritten.rows[0]!)).toBe('llm');
        expect(rewritten.rows[1]!.problem_statement).toBe(first.rows[1]!.problem_statement);
        expect(synthOf(rewritten.rows[1]!)).toMatch(/^template \(rewrite failed: /);
        const prompt = JSON.stringify(server.requests[0]!.messages);
        for (const test of first.rows[0]!.FAIL_TO_PASS as string[]) expect(prompt).toContain(test);
        // The model never sees the fix: no line the gold patch adds.
        const fix = (first.rows[0]!.patch as string)
          .split('\n')
          .filter((l) => l.startsWith('+') && !l.startsWith('+++') && l.trim().length > 8);
        expect(fix.length).toBeGreaterThan(0);
        for (const line of fix) expect(prompt).not.toContain(JSON.stringify(line.slice(1)).slice(1, -1));
      } finally {
        await server.close();
      }
    } finally {
      await removeDir(repo.dir);
    }
  });

  it('synthesizes tasks from a JavaScript repository (ESM classes, describe/it specs) that validate', async () => {
    // Unlike the built-in JS repos (flat `test()` calls in test/*.test.js): a class with private fields, nested
    // describe/it suites under spec/, run through a shell glob.
    const repo = await makeRepo({
      'package.json': JSON.stringify({ name: 'lru', type: 'module', private: true }, null, 2) + '\n',
      'lib/lru.js': [
        '/** A cache that keeps the `limit` most recently used entries. */',
        'export class LruCache {',
        '  #limit;',
        '  #entries = new Map();',
        '',
        '  constructor(limit) {',
        '    if (!Number.isInteger(limit) || limit < 1) {',
        "      throw new RangeError('limit must be a positive integer');",
        '    }',
        '    this.#limit = limit;',
        '  }',
        '',
        '  get size() {',
        '    return this.#entries.size;',
        '  }',
        '',
        '  get(key) {',
        '    if (!this.#entries.has(key)) return undefined;',
        '    const value = this.#entries.get(key);',
        '    // Re-inserting moves the key to the most recent end.',
        '    this.#entries.delete(key);',
        '    this.#entries.set(key, value);',
        '    return value;',
        '  }',
        '',
        '  set(key, value) {',
        '    this.#entries.delete(key);',
        '    this.#entries.set(key, value);',
        '    while (this.#entries.size > this.#limit) {',
        '      this.#entries.delete(this.#entries.keys().next().value);',
        '    }',
        '    return this;',
        '  }',
        '}',
        '',
      ].join('\n'),
      'spec/lru.spec.js': [
        "import { describe, it } from 'node:test';",
        "import assert from 'node:assert/strict';",
        "import { LruCache } from '../lib/lru.js';",
        '',
        "describe('LruCache', () => {",
        "  it('rejects a limit below one', () => {",
        '    assert.throws(() => new LruCache(0), RangeError);',
        '  });',
        '',
        "  describe('get and set', () => {",
        "    it('returns what was stored', () => {",
        "      const cache = new LruCache(2).set('a', 1);",
        "      assert.equal(cache.get('a'), 1);",
        "      assert.equal(cache.get('b'), undefined);",
        '    });',
        '',
        "    it('evicts the least recently used entry', () => {",
        "      const cache = new LruCache(2).set('a', 1).set('b', 2);",
        "      cache.get('a');",
        "      cache.set('c', 3);",
        "      assert.equal(cache.get('b'), undefined);",
        "      assert.equal(cache.get('a'), 1);",
        '      assert.equal(cache.size, 2);',
        '    });',
        '  });',
        '});',
        '',
      ].join('\n'),
    });
    try {
      const result = await synthesize({
        repo: repo.dir,
        testCmd: 'node --test --test-reporter=tap spec/*.spec.js',
        testFormat: 'tap',
        seed: 3,
        maxTasks: 3,
      });
      expect(result.rows.length).toBeGreaterThanOrEqual(2);
      for (const row of result.rows) {
        expect(row.language).toBe('javascript');
        expect((row.context as { synth: { file: string } }).synth.file).toBe('lib/lru.js');
      }
      const file = path.join(repo.dir, 'synth.jsonl');
      await writeFile(file, result.rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
      const loaded = await loadDataset(file);
      expect(loaded.errors).toEqual([]);
      for (const task of loaded.tasks) {
        expect(task.FAIL_TO_PASS.length, task.instance_id).toBeGreaterThan(0);
        expect(task.PASS_TO_PASS.length, task.instance_id).toBeGreaterThan(0);
        expect(
          task.FAIL_TO_PASS.every((t) => t.startsWith('LruCache > ')),
          task.instance_id,
        ).toBe(true);
        const validation = await validateTask(task, 0);
        expect(validation.problems, task.instance_id).toEqual([]);
      }
    } finally {
      await removeDir(repo.dir);
    }
  });
});

it('refuses a folder inside another repository (its refs would land in the enclosing one)', async () => {
  const repo = await makeRepo({
    'pkg/mod.py': 'x = 1 + 2\n',
    'tests/test_mod.py': 'def test_x():\n    assert True\n',
  });
  try {
    const opts = { testCmd: 'python3 -m pytest -rA', testFormat: 'pytest' as const, seed: 0, maxTasks: 1 };
    await expect(synthesize({ ...opts, repo: path.join(repo.dir, 'pkg') })).rejects.toThrow(
      /is not the top of a git repository/,
    );
  } finally {
    await removeDir(repo.dir);
  }
});
