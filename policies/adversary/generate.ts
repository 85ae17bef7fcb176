// Inputs for differential testing, generated with fast-check from the shapes of the calls the repository's
// tests (and the problem statement) make: each argument position gets an arbitrary of the kind of value seen
// there, biased towards the values seen and their neighbours. Python's int/float/Decimal/tuple travel tagged.
import fc from 'fast-check';
import type { Example } from './analyse_js.ts';
import { sizeOf, type Tagged } from './values.ts';

type Kind =
  | 'string'
  | 'int'
  | 'number'
  | 'float'
  | 'decimal'
  | 'boolean'
  | 'null'
  | 'undefined'
  | 'array'
  | 'tuple'
  | 'object'
  | 'other';

function kindOf(v: Tagged): Kind {
  if (v === null) return 'null';
  if (typeof v === 'string') return 'string';
  if (typeof v === 'boolean') return 'boolean';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'number';
  if (Array.isArray(v)) return 'array';
  const keys = Object.keys(v);
  if (keys.length === 1 && keys[0] === '$undefined') return 'undefined';
  if (keys.length === 1 && keys[0] === '$float') return 'float';
  if (keys.length === 1 && keys[0] === '$decimal') return 'decimal';
  if (keys.length === 1 && keys[0] === '$tuple') return 'tuple';
  if (keys.length === 1 && keys[0] === '$number') return 'other';
  return 'object';
}

/** Characters strings are built from: the examples' own, plus separators, punctuation, case and accents. */
const EXTRA_CHARS = [...' -_.,;!?()"\'/:aZ09\t\r\né'];
/** Pairs whose meaning differs from their characters' (line endings, escaped quotes, runs of spaces). */
const EXTRA_PAIRS = ['\r\n', '""', '  '];

function stringArbitrary(pool: string[]): fc.Arbitrary<Tagged> {
  const chars = [...new Set([...pool.join(''), ...EXTRA_CHARS, ...EXTRA_PAIRS])];
  const longest = Math.max(0, ...pool.map((s) => s.length));
  const generated = fc.string({
    unit: fc.constantFrom(...chars),
    maxLength: Math.min(40, Math.max(12, 2 * longest)),
  });
  // An example with one character inserted, removed or replaced: near misses of what the tests check.
  const edited = fc
    .tuple(fc.constantFrom(...pool), fc.nat(), fc.constantFrom(...chars), fc.nat(2))
    .map(([s, at, c, op]) => {
      const i = s.length ? at % (s.length + 1) : 0;
      return op === 0
        ? s.slice(0, i) + c + s.slice(i)
        : op === 1
          ? s.slice(0, i) + s.slice(i + 1)
          : s.slice(0, i) + c + s.slice(i + 1);
    });
  if (!pool.length) return generated;
  const near = fc.oneof(fc.constantFrom(...pool), edited);
  // Examples joined: longer inputs of the same vocabulary (more words, more lines, repeated tokens).
  const joined = fc
    .tuple(fc.array(near, { minLength: 2, maxLength: 3 }), fc.constantFrom(' ', '', '\n', ', '))
    .map(([parts, sep]) => parts.join(sep));
  // The same text in another case: case handling is where string code goes wrong most.
  const recased = fc
    .tuple(fc.oneof(near, joined), fc.constantFrom('upper', 'lower', 'title'))
    .map(([text, how]) =>
      how === 'upper'
        ? text.toUpperCase()
        : how === 'lower'
          ? text.toLowerCase()
          : text.replace(/\p{L}+/gu, (w) => w[0]!.toUpperCase() + w.slice(1)),
    );
  return fc.oneof(near, generated, joined, recased);
}

function integers(pool: number[]): fc.Arbitrary<number> {
  const lo = Math.max(-1e6, Math.min(0, ...pool) - 10);
  const hi = Math.min(1e6, Math.max(0, ...pool) + 10);
  const near = pool.length
    ? [
        fc.constantFrom(...pool),
        fc.constantFrom(...pool).chain((n) => fc.integer({ min: n - 2, max: n + 2 })),
      ]
    : [];
  return fc.oneof(...near, fc.integer({ min: -3, max: 3 }), fc.integer({ min: lo, max: hi }));
}

/** Decimal numbers with few digits (halves, cents, mills): where rounding and boundaries go wrong. */
const fractions = (maxAbs: number) =>
  fc.oneof(
    fc.integer({ min: -maxAbs * 100, max: maxAbs * 100 }).map((n) => n / 100),
    fc.integer({ min: -maxAbs * 1000, max: maxAbs * 1000 }).map((n) => n / 1000),
    fc.integer({ min: -maxAbs, max: maxAbs }).map((n) => n + 0.5),
  );

function arbitraryFor(kind: Kind, pool: Tagged[]): fc.Arbitrary<Tagged> {
  const seen = pool.filter((v) => kindOf(v) === kind);
  const maxAbs = (xs: number[]) => Math.min(1e6, Math.max(10, ...xs.map((x) => Math.ceil(Math.abs(x) * 2))));
  switch (kind) {
    case 'string':
      return stringArbitrary(seen as string[]);
    case 'int':
      return integers(seen as number[]);
    case 'number': {
      const xs = seen as number[];
      return fc.oneof(fc.constantFrom(...xs), fractions(maxAbs(xs)), integers(xs.map(Math.round)));
    }
    case 'float': {
      const xs = seen.map((v) => Number((v as { $float: string }).$float)).filter(Number.isFinite);
      return fc
        .oneof(fractions(maxAbs(xs)), integers(xs.map(Math.round)))
        .map((x) => ({ $float: String(x) }));
    }
    case 'decimal': {
      const xs = seen.map((v) => Number((v as { $decimal: string }).$decimal)).filter(Number.isFinite);
      const texts = seen.map((v) => (v as { $decimal: string }).$decimal);
      const generated = fc.oneof(
        fc.integer({ min: -maxAbs(xs) * 100, max: maxAbs(xs) * 100 }).map((n) => (n / 100).toFixed(2)),
        fc.integer({ min: -maxAbs(xs) * 1000, max: maxAbs(xs) * 1000 }).map((n) => (n / 1000).toFixed(3)),
        fc.integer({ min: -maxAbs(xs), max: maxAbs(xs) }).map(String),
      );
      return fc.oneof(fc.constantFrom(...texts), generated).map((t) => ({ $decimal: t }));
    }
    case 'boolean':
      return fc.boolean();
    case 'array': {
      const elements = (seen as Tagged[][]).flat();
      const longest = Math.max(0, ...(seen as Tagged[][]).map((a) => a.length));
      const element = elements.length
        ? valueArbitrary(elements)
        : fc.oneof(fc.integer({ min: -5, max: 5 }), fc.string({ maxLength: 4 }));
      return fc.array(element, { maxLength: Math.min(12, Math.max(5, longest + 2)) });
    }
    case 'tuple': {
      const tuples = seen.map((v) => (v as { $tuple: Tagged[] }).$tuple);
      const length = tuples[0]!.length;
      const same = tuples.filter((t) => t.length === length);
      const positions = Array.from({ length }, (_, i) => valueArbitrary(same.map((t) => t[i]!)));
      return fc.tuple(...positions).map((items) => ({ $tuple: items }));
    }
    case 'object': {
      const objects = seen as Record<string, Tagged>[];
      const keys = [...new Set(objects.flatMap((o) => Object.keys(o)))];
      const model = Object.fromEntries(
        keys.map((k) => [k, valueArbitrary(objects.filter((o) => k in o).map((o) => o[k]!))]),
      );
      // Keys left out exercise the defaults.
      return fc.oneof(
        fc.constantFrom(...objects),
        fc.record(model, { requiredKeys: [] }).map((o) => ({ ...o }) as Tagged),
      );
    }
    default:
      return fc.constantFrom(...seen);
  }
}

/** An arbitrary over the kinds of value seen in `pool` (a position's values across examples). */
export function valueArbitrary(pool: Tagged[]): fc.Arbitrary<Tagged> {
  const kinds = [...new Set(pool.map(kindOf))];
  const arbitraries = kinds.map((k) => arbitraryFor(k, pool));
  return arbitraries.length === 1 ? arbitraries[0]! : fc.oneof(...arbitraries);
}

const shapeOf = (e: Example) => JSON.stringify([e.args.map(kindOf), Object.keys(e.kwargs ?? {}).sort()]);

/** An arbitrary over calls shaped like the examples: one per distinct shape (arity, kinds, keywords). */
export function callArbitrary(examples: Example[]): fc.Arbitrary<Example> {
  const groups = new Map<string, Example[]>();
  for (const e of examples) groups.set(shapeOf(e), [...(groups.get(shapeOf(e)) ?? []), e]);
  const perShape = [...groups.values()].map((group) => {
    const positions = group[0]!.args.map((_, i) => valueArbitrary(group.map((e) => e.args[i]!)));
    const keywords = Object.keys(group[0]!.kwargs ?? {});
    const kwargs = Object.fromEntries(
      keywords.map((k) => [k, valueArbitrary(group.map((e) => e.kwargs![k]!))]),
    );
    return fc
      .record({ args: fc.tuple(...positions), kwargs: fc.record(kwargs) })
      .map(({ args, kwargs: kw }): Example => (keywords.length ? { args, kwargs: { ...kw } } : { args }));
  });
  return fc.oneof(...perShape);
}

/**
 * The examples themselves, then generated calls, deduplicated, `count` in all; the same seed gives the same
 * inputs.
 */
export function generateInputs(examples: Example[], count: number, seed: number): Example[] {
  const seen = new Set<string>();
  const out: Example[] = [];
  const add = (e: Example) => {
    const key = JSON.stringify(e);
    if (!seen.has(key) && out.length < count) {
      seen.add(key);
      out.push(e);
    }
  };
  examples.forEach(add);
  for (const e of fc.sample(callArbitrary(examples), { numRuns: count * 2, seed })) add(e);
  // Smallest first: when two inputs show the same divergence, the test states the simpler one.
  return out.sort((a, b) => sizeOf(a) - sizeOf(b));
}
