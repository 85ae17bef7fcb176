// Runs the examples a problem statement gives (policies/repair/reproduce.ts builds BLOCKS and puts it in
// front of this file) from the repository root, and prints one line per example:
// `REPOGYM_REPRO <id> fixed|reproduces|other`. Exits 1 when any example still reproduces the report.
/* global BLOCKS -- reproduce.ts puts it in front of this file */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { format, inspect, isDeepStrictEqual } from 'node:util';

const ROOT = process.cwd();
const manifest = existsSync('package.json') ? JSON.parse(readFileSync('package.json', 'utf8')) : {};

/** The repository's own package by its name (reports import it as users do), anything else as Node would. */
function specifierOf(spec) {
  const name = manifest.name;
  if (name && (spec === name || spec.startsWith(`${name}/`))) {
    const sub = spec.slice(name.length);
    const exported =
      typeof manifest.exports === 'string'
        ? manifest.exports
        : (manifest.exports?.['.' + sub]?.default ?? manifest.exports?.['.' + sub]);
    const entry = typeof exported === 'string' ? exported : sub ? `.${sub}` : (manifest.main ?? 'index.js');
    return pathToFileURL(path.resolve(ROOT, entry)).href;
  }
  if (spec.startsWith('.') || spec.startsWith('/')) return pathToFileURL(path.resolve(ROOT, spec)).href;
  return spec;
}
const importOf = (spec) => import(specifierOf(spec));

const squash = (text) =>
  String(text)
    .replace(/\s+/g, ' ')
    .replace(/([[{(]) /g, '$1')
    .replace(/ ([\]}),])/g, '$1')
    .trim();

/** Whether what the call gave is what a claim says, as printed text or as an equal literal. */
function matches(claim, outcome) {
  if (squash(outcome.text) === squash(claim)) return true;
  try {
    const literal = new Function(`"use strict"; return (${claim});`)();
    return isDeepStrictEqual(outcome.printed ? format(...outcome.values) : outcome.value, literal);
  } catch {
    return false;
  }
}

function verdict(claim, outcome) {
  const fixed =
    !outcome.threw &&
    (claim.expected !== undefined
      ? matches(claim.expected, outcome)
      : claim.raises || !matches(claim.actual, outcome));
  if (fixed) return 'fixed';
  // "TypeError: …" is reproduced by a TypeError, not by any error.
  if (claim.raises)
    return outcome.threw && outcome.name === claim.actual.split(':')[0].trim() ? 'reproduces' : 'other';
  if (outcome.threw) return 'other';
  return claim.actual === undefined || matches(claim.actual, outcome) ? 'reproduces' : 'other';
}

// Export names that cannot be declared as variables (`default`, keywords).
const RESERVED = new Set(
  'default await break case catch class const continue debugger delete do else enum export extends false finally for function if implements import in instanceof interface let new null package private protected public return static super switch this throw true try typeof var void while with yield arguments eval'.split(
    ' ',
  ),
);

let reproduced = 0;
const AsyncFunction = (async () => {}).constructor;
let pkg = {};
try {
  pkg = manifest.name ? await importOf(manifest.name) : {};
} catch {
  // A package that fails to load: each block's own imports will say so.
}
for (const block of BLOCKS) {
  const seen = new Set();
  const check = async (id, run) => {
    const example = block.examples.find((e) => e.id === id);
    let outcome;
    try {
      const value = await run();
      outcome = example.printed
        ? { printed: true, values: value, text: format(...value) }
        : { value, text: inspect(value, { depth: 8, breakLength: Infinity }) };
    } catch (error) {
      outcome = { threw: true, name: error?.name ?? typeof error, text: String(error) };
    }
    const result = verdict(example.claim, outcome);
    if (result === 'reproduces') reproduced++;
    seen.add(id);
    console.log(`\nREPOGYM_REPRO ${id} ${result}`);
  };
  // Reports often call the package's functions without importing them.
  const names = Object.keys(pkg).filter(
    (n) => /^[A-Za-z_$][\w$]*$/.test(n) && !RESERVED.has(n) && !block.declared.includes(n),
  );
  try {
    await new AsyncFunction(
      '__pkg',
      '__import',
      '__check',
      `const { ${names.join(', ')} } = __pkg;\n${block.body}`,
    )(pkg, importOf, check);
  } catch {
    // Setup the report's code needs but the sandbox lacks (a file, a server): its later examples don't run.
  }
  for (const e of block.examples) if (!seen.has(e.id)) console.log(`\nREPOGYM_REPRO ${e.id} other`);
}
process.exitCode = reproduced > 0 ? 1 : 0;
