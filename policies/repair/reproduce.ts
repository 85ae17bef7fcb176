// Reproduction from the problem statement, for tasks whose visible tests all pass (the bug is reported, not
// tested). Issue reports show calls with what they returned ("// actual: …", a doctest's output) and often
// what was expected. Each such call becomes an example with an oracle: it must stop returning what the report
// says it returned and, when an expected value is given, return that. Only examples that reproduce on the
// unmodified code are used, so a misread report costs nothing.
import { readFileSync } from 'node:fs';
import { parse } from '@babel/parser';
import type { Expression, LVal, Node, Statement } from '@babel/types';

/** What a report claims about one call: what it returned (or that it threw) and what it should return. */
export interface Claim {
  actual?: string;
  expected?: string;
  /** The report says the call throws (the actual is an exception). */
  raises?: boolean;
}

export interface CodeBlock {
  language: string;
  code: string;
}

/** Fenced code blocks of a markdown text, with their info string (empty when none). */
export function codeBlocks(markdown: string): CodeBlock[] {
  const out: CodeBlock[] = [];
  for (const m of markdown.matchAll(
    /^ {0,3}(`{3,}|~{3,})[ \t]*([\w+-]*)[^\n]*\n([\s\S]*?)^ {0,3}\1[ \t]*$/gm,
  )) {
    out.push({ language: m[2]!.toLowerCase(), code: m[3]! });
  }
  return out;
}

const EXCEPTION = /^[A-Z]\w*(?:Error|Exception)\b/;
// A value as reports write it: a literal, a collection, or a constructor-like call such as Decimal('18').
const VALUE = /^(?:['"`[{(\d-]|true\b|false\b|null\b|undefined\b|None\b|True\b|False\b|NaN\b|[A-Z]\w*\()/;

/** Cuts a claimed value at the commentary that follows it: "<-", a parenthesis, a line end or a run of spaces. */
function valueText(text: string): string | undefined {
  let value = text
    .trim()
    .replace(/[,;:(]+$/, '')
    .trim();
  for (const cut of [/\n/g, /[ \t]{2,}/g, /\s+<-/g, /\s+\(/g, /\s+—/g]) {
    // Only a cut outside brackets and strings: "[('t', 13), ('it', 9)]" is one value.
    const at = [...value.matchAll(cut)].find((m) => m.index > 0 && depthOf(value.slice(0, m.index)) === 0);
    if (at) value = value.slice(0, at.index);
  }
  value = value.replace(/[,;]+$/, '').trim();
  return value || undefined;
}

/**
 * Reads the claim in the comment after a call. `printed` marks a console.log/print example, whose output is
 * compared as text, so any text counts as its actual; other values must look like values.
 */
export function parseClaim(comment: string, printed = false): Claim | undefined {
  const text = comment
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .join('\n');
  if (!text) return undefined;
  const label = (name: string) => new RegExp(`(?:^|\\n)${name}:[ \\t]*([^\\n]*)`, 'i').exec(text)?.[1];
  let actual: string | undefined;
  let expected: string | undefined;
  if (/(?:^|\n)(?:actual|expected):/i.test(text)) {
    const a = label('actual');
    const e = label('expected');
    actual = a === undefined ? undefined : valueText(a);
    expected = e === undefined ? undefined : valueText(e);
  } else {
    const at = text.search(/\bexpected\b/i);
    const left = at >= 0 ? text.slice(0, at) : text;
    actual = valueText(left);
    // "'items 0-19/42'  ok": the report says this call is right, so there is nothing to check.
    const remark = actual === undefined ? '' : left.trim().slice(actual.length);
    if (at < 0 && /^[\s,;(]*(?:ok|fine|correct)\b/i.test(remark)) return undefined;
    if (at >= 0) {
      const rest = text.slice(at + 'expected'.length).trim();
      // "(expected 3 true)": the closing parenthesis belongs to the remark, not the value.
      expected = valueText(depthOf(rest) < 0 ? rest.replace(/\)\s*$/, '') : rest);
    }
  }
  const raises = actual !== undefined && EXCEPTION.test(actual);
  if (actual !== undefined && !raises && !printed && !VALUE.test(actual)) actual = undefined;
  if (expected !== undefined && !VALUE.test(expected)) expected = undefined;
  if (actual === undefined && expected === undefined) return undefined;
  return {
    ...(actual !== undefined && { actual }),
    ...(expected !== undefined && { expected }),
    ...(raises && { raises }),
  };
}

export interface Reproduction {
  language: 'javascript' | 'python';
  /** How many examples the script checks. */
  examples: number;
  /** The whole script: the driver with the examples in front. */
  script: string;
}

const DRIVERS = {
  javascript: readFileSync(new URL('./repro_js.mjs', import.meta.url), 'utf8'),
  python: readFileSync(new URL('./repro_py.py', import.meta.url), 'utf8'),
};

interface Example {
  id: number;
  claim: Claim;
  printed: boolean;
}

interface JsBlock {
  /** The block's code with imports turned into `__import` calls and examples into `__check` calls. */
  body: string;
  /** Names the block declares at top level: the driver must not put package exports of the same name in scope. */
  declared: string[];
  examples: Example[];
}

function isConsoleLog(expr: Expression): expr is Expression & { arguments: Expression[] } {
  return (
    expr.type === 'CallExpression' &&
    expr.callee.type === 'MemberExpression' &&
    expr.callee.object.type === 'Identifier' &&
    expr.callee.object.name === 'console' &&
    expr.callee.property.type === 'Identifier' &&
    expr.callee.property.name === 'log' &&
    expr.arguments.length > 0 &&
    expr.arguments.every((a) => a.type !== 'SpreadElement' && a.type !== 'ArgumentPlaceholder')
  );
}

/** Names a declaration pattern binds: `x`, `{ a, b: c }`, `[d, ...e]`, `{ f = 1 }`. */
function boundNames(pattern: LVal | Node | null | undefined): string[] {
  if (!pattern) return [];
  switch (pattern.type) {
    case 'Identifier':
      return [pattern.name];
    case 'ObjectPattern':
      return pattern.properties.flatMap((p) => boundNames(p.type === 'RestElement' ? p.argument : p.value));
    case 'ArrayPattern':
      return pattern.elements.flatMap((e) => boundNames(e));
    case 'AssignmentPattern':
      return boundNames(pattern.left);
    case 'RestElement':
      return boundNames(pattern.argument);
    default:
      return [];
  }
}

/** A JavaScript/TypeScript block as the driver runs it, or undefined when it does not parse. */
export function jsBlock(code: string, firstId: number): JsBlock | undefined {
  let ast;
  try {
    ast = parse(code, {
      sourceType: 'module',
      allowAwaitOutsideFunction: true,
      plugins: ['typescript'],
    });
  } catch {
    return undefined;
  }
  const body = ast.program.body;
  const comments = ast.comments ?? [];
  const edits: { start: number; end: number; text: string }[] = [];
  const declared: string[] = [];
  const examples: Example[] = [];
  body.forEach((stmt: Statement, i) => {
    const next = body[i + 1]?.start ?? code.length;
    if (stmt.type === 'ImportDeclaration') {
      const from = `await __import(${JSON.stringify(stmt.source.value)})`;
      const parts = stmt.specifiers.map((s) => {
        declared.push(s.local.name);
        if (s.type === 'ImportNamespaceSpecifier') return `const ${s.local.name} = ${from};`;
        if (s.type === 'ImportDefaultSpecifier') return `const ${s.local.name} = (${from}).default;`;
        const imported = s.imported.type === 'Identifier' ? s.imported.name : s.imported.value;
        return `const ${s.local.name} = (${from})[${JSON.stringify(imported)}];`;
      });
      edits.push({ start: stmt.start!, end: stmt.end!, text: parts.join(' ') || `${from};` });
      return;
    }
    if (stmt.type === 'VariableDeclaration') {
      for (const d of stmt.declarations) declared.push(...boundNames(d.id));
    }
    if ((stmt.type === 'FunctionDeclaration' || stmt.type === 'ClassDeclaration') && stmt.id) {
      declared.push(stmt.id.name);
    }
    if (stmt.type !== 'ExpressionStatement') return;
    // The comments after the statement, up to the next statement or a blank line, hold the claim.
    const after: string[] = [];
    let cursor = stmt.end!;
    for (const c of comments) {
      if (c.start! < stmt.end! || c.start! >= next) continue;
      if (/\n[ \t]*\n/.test(code.slice(cursor, c.start!))) break;
      after.push(c.value);
      cursor = c.end!;
    }
    const expr = stmt.expression;
    const printed = isConsoleLog(expr);
    const claim = parseClaim(after.join('\n'), printed);
    if (!claim) return;
    const id = firstId + examples.length;
    examples.push({ id, claim, printed });
    const value = isConsoleLog(expr)
      ? `[${code.slice(expr.arguments[0]!.start!, expr.arguments.at(-1)!.end!)}]`
      : `(${code.slice(expr.start!, expr.end!)})`;
    edits.push({ start: stmt.start!, end: stmt.end!, text: `await __check(${id}, async () => ${value});` });
  });
  let out = code;
  for (const e of edits.sort((a, b) => b.start - a.start))
    out = out.slice(0, e.start) + e.text + out.slice(e.end);
  return { body: out, declared, examples };
}

interface PyItem {
  code: string;
  example?: Example;
}

/** Where a Python line's comment starts, outside string literals (-1 when it has none). */
function commentStart(line: string): number {
  let quote: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quote) {
      if (ch === '\\') i++;
      else if (ch === quote) quote = undefined;
    } else if (ch === '"' || ch === "'") quote = ch;
    else if (ch === '#') return i;
  }
  return -1;
}

/** Open brackets minus closed ones, string literals skipped. */
function depthOf(code: string): number {
  return [...code.replace(/(["'`])(?:\\.|(?!\1).)*\1/g, '')].reduce(
    (d, ch) => d + ('([{'.includes(ch) ? 1 : ')]}'.includes(ch) ? -1 : 0),
    0,
  );
}

/** A Python block as statements to run in order, the ones with a claim marked as examples. */
export function pyBlock(code: string, firstId: number): PyItem[] {
  const lines = code.split('\n');
  const items: PyItem[] = [];
  const example = (claim: Claim | undefined, printed: boolean) =>
    claim ? { id: firstId + items.filter((i) => i.example).length, claim, printed } : undefined;
  if (lines.some((l) => l.trimStart().startsWith('>>> '))) {
    // A doctest: each `>>>` statement's output is what the call returned (its repr) or the traceback it raised.
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!.trim();
      if (!line.startsWith('>>>')) continue;
      const source = [line.slice(4)];
      while (lines[i + 1]?.trim().startsWith('...')) source.push(lines[++i]!.trim().slice(4));
      const want: string[] = [];
      while (i + 1 < lines.length && lines[i + 1]!.trim() && !lines[i + 1]!.trim().startsWith('>>>')) {
        want.push(lines[++i]!.trim());
      }
      const raises = want[0]?.startsWith('Traceback');
      const claim: Claim | undefined = !want.length
        ? undefined
        : raises
          ? { actual: want.at(-1)!, raises: true }
          : { actual: want.join('\n') };
      const found = example(claim, false);
      items.push({ code: source.join('\n'), ...(found && { example: found }) });
    }
    return items;
  }
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!;
    if (!raw.trim() || raw.trimStart().startsWith('#')) continue;
    const statement: string[] = [];
    const comment: string[] = [];
    let j = i;
    for (;;) {
      const at = commentStart(lines[j]!);
      statement.push(at < 0 ? lines[j]! : lines[j]!.slice(0, at));
      if (at >= 0) comment.push(lines[j]!.slice(at + 1));
      if (depthOf(statement.join('\n')) <= 0 || j + 1 >= lines.length) break;
      j++;
    }
    i = j;
    while (lines[i + 1]?.trimStart().startsWith('#')) comment.push(lines[++i]!.trimStart().slice(1));
    const source = statement.join('\n').trimEnd();
    const print = /^print\(([\s\S]*)\)$/.exec(source.trim());
    const claim = parseClaim(comment.join('\n'), Boolean(print));
    const found = example(claim, Boolean(print));
    items.push({ code: print && claim ? `(${print[1]},)` : source, ...(found && { example: found }) });
  }
  return items;
}

/** The examples a problem statement gives for the task's language, as one script, or undefined if none. */
export function reproductionOf(statement: string, language: string): Reproduction | undefined {
  const blocks = codeBlocks(statement);
  if (language === 'javascript') {
    const parsed: JsBlock[] = [];
    let next = 0;
    for (const b of blocks) {
      if (!['js', 'javascript', 'mjs', 'ts', 'typescript', ''].includes(b.language)) continue;
      const block = jsBlock(b.code, next);
      if (!block || block.examples.length === 0) continue;
      parsed.push(block);
      next += block.examples.length;
    }
    if (next === 0) return undefined;
    return {
      language,
      examples: next,
      script: `const BLOCKS = ${JSON.stringify(parsed)};\n${DRIVERS.javascript}`,
    };
  }
  if (language === 'python') {
    const parsed: PyItem[][] = [];
    let next = 0;
    for (const b of blocks) {
      if (!['python', 'py', 'pycon', 'python3', ''].includes(b.language)) continue;
      const items = pyBlock(b.code, next);
      const count = items.filter((i) => i.example).length;
      if (count === 0) continue;
      parsed.push(items);
      next += count;
    }
    if (next === 0) return undefined;
    return {
      language,
      examples: next,
      script: `BLOCKS = ${JSON.stringify(JSON.stringify(parsed))}\n${DRIVERS.python}`,
    };
  }
  return undefined;
}
