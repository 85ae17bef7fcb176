// Runs one exported function of a repository module on many inputs and prints one line per input: the request's
// nonce, then JSON {i, ok: value} or {i, threw: name}, values in the tagged JSON of policies/adversary/values.ts.
// The nonce keeps what the code under test prints (debug output, forged lines) out of the answers. Run from the
// repository root with the request on stdin: {module, name, inputs: [{args}], repeat, nonce}.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { inspect } from 'node:util';

const request = JSON.parse(readFileSync(0, 'utf8'));
// Kept before the code under test loads: it may replace process.stdout.write.
const write = process.stdout.write.bind(process.stdout);
const answer = (line) => write(`${request.nonce}${JSON.stringify(line)}\n`);

const NUMBERS = { NaN: NaN, Infinity: Infinity, '-Infinity': -Infinity, '-0': -0 };

function decode(value) {
  if (Array.isArray(value)) return value.map(decode);
  if (value === null || typeof value !== 'object') return value;
  if ('$undefined' in value) return undefined;
  if ('$number' in value) return NUMBERS[value.$number];
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, decode(v)]));
}

class NotPlain extends Error {}

function encodePlain(value, depth) {
  if (depth > 20) throw new NotPlain();
  if (value === undefined) return { $undefined: true };
  if (typeof value === 'number') {
    // -0 and 0 are one answer: a correct fix may compute either (generated tests normalise the same way).
    if (Object.is(value, -0)) return 0;
    return Number.isFinite(value) ? value : { $number: String(value) };
  }
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (Array.isArray(value)) return value.map((v) => encodePlain(v, depth + 1));
  const proto = typeof value === 'object' ? Object.getPrototypeOf(value) : undefined;
  if (proto === Object.prototype || proto === null) {
    const keys = Object.keys(value).sort();
    // A key that looks like a tag would decode as one: compare such objects by their printed form.
    if (keys.some((k) => k.startsWith('$'))) throw new NotPlain();
    return Object.fromEntries(keys.map((k) => [k, encodePlain(value[k], depth + 1)]));
  }
  throw new NotPlain();
}

function encode(value) {
  try {
    return encodePlain(value, 0);
  } catch (err) {
    if (!(err instanceof NotPlain)) throw err;
    return { $inspect: inspect(value, { depth: 6, sorted: true, breakLength: Infinity }) };
  }
}

const errorName = (err) => (err instanceof Error ? err.constructor.name : `thrown ${typeof err}`);

async function call(fn, input) {
  try {
    let result = fn(...decode(input.args));
    if (result && typeof result.then === 'function') result = await result;
    return { ok: encode(result) };
  } catch (err) {
    return { threw: errorName(err) };
  }
}

let fn;
try {
  const mod = await import(pathToFileURL(path.resolve(request.module)).href);
  // A CommonJS module's exports may only be on its default export.
  fn = mod[request.name] ?? mod.default?.[request.name];
} catch (err) {
  answer({ fatal: `import failed: ${errorName(err)}: ${String(err?.message ?? err).slice(0, 300)}` });
  process.exit(0);
}
if (typeof fn !== 'function') {
  answer({ fatal: `${request.name} is not an exported function` });
  process.exit(0);
}
for (const [i, input] of request.inputs.entries()) {
  const first = await call(fn, input);
  let line = first;
  for (let i = 1; i < (request.repeat ?? 1); i++) {
    if (JSON.stringify(await call(fn, input)) !== JSON.stringify(first)) line = { nondeterministic: true };
  }
  // Written synchronously (a pipe on Linux): if a later input hangs, the lines before it are not lost.
  answer({ i, ...line });
}
