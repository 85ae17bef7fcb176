// Values crossing into a sandbox and back as tagged JSON: plain JSON, plus tags for what JSON cannot say
// ({$undefined}, {$number: 'NaN'|'Infinity'|'-Infinity'|'-0'} for JavaScript; {$float}, {$decimal}, {$tuple} for
// Python; {$inspect}/{$repr} for a result that is not plain data, compared by its printed form). The drivers
// (drive_js.mjs, drive_py.py) decode and encode the same tags; this file prints them as source literals.

export type Tagged = null | boolean | number | string | Tagged[] | { [key: string]: Tagged };

type TaggedObject = { [key: string]: Tagged };

/** The tag's payload when `v` is exactly `{[tag]: payload}`. */
const tagOf = (v: TaggedObject, tag: string): Tagged | undefined =>
  Object.keys(v).length === 1 && tag in v ? v[tag] : undefined;

const JS_NUMBERS: Record<string, string> = {
  NaN: 'NaN',
  Infinity: 'Infinity',
  '-Infinity': '-Infinity',
  '-0': '-0',
};

/** A JavaScript expression that evaluates to the tagged value (not for $inspect, which has no literal). */
export function jsLiteral(v: Tagged): string {
  if (Array.isArray(v)) return `[${v.map(jsLiteral).join(', ')}]`;
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (tagOf(v, '$undefined') !== undefined) return 'undefined';
  const number = tagOf(v, '$number');
  if (number !== undefined) return JS_NUMBERS[String(number)]!;
  const entries = Object.entries(v).map(([k, x]) => `${JSON.stringify(k)}: ${jsLiteral(x)}`);
  return `{ ${entries.join(', ')} }`;
}

function pyFloat(text: string): string {
  const n = Number(text);
  if (Number.isNaN(n)) return "float('nan')";
  if (!Number.isFinite(n)) return n > 0 ? "float('inf')" : "float('-inf')";
  return /[.eE]/.test(text) ? text : `${text}.0`;
}

/** A Python expression that evaluates to the tagged value; `Decimal` must be imported where it is used. */
export function pyLiteral(v: Tagged): string {
  if (v === null) return 'None';
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  // JSON string escapes are valid in Python string literals.
  if (typeof v === 'string' || typeof v === 'number') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(pyLiteral).join(', ')}]`;
  const float = tagOf(v, '$float');
  if (float !== undefined) return pyFloat(String(float));
  const decimal = tagOf(v, '$decimal');
  if (decimal !== undefined) return `Decimal(${JSON.stringify(decimal)})`;
  const tuple = tagOf(v, '$tuple');
  if (Array.isArray(tuple)) {
    const items = tuple.map(pyLiteral);
    return items.length === 1 ? `(${items[0]},)` : `(${items.join(', ')})`;
  }
  return `{${Object.entries(v)
    .map(([k, x]) => `${JSON.stringify(k)}: ${pyLiteral(x)}`)
    .join(', ')}}`;
}

/** Size of a value as printed: the smallest diverging input makes the clearest test. */
export const sizeOf = (v: unknown): number => JSON.stringify(v)?.length ?? 0;
