// Procedural mutations of JavaScript and TypeScript source, parsed with @babel/parser. Each mutant replaces
// one span of the original text, found through the nodes' `start`/`end` offsets, so formatting and comments
// elsewhere are kept exactly (no printer). Mutants that equal the original or do not parse are dropped.
import { createHash } from 'node:crypto';
import { parse, type ParserOptions, type ParserPlugin } from '@babel/parser';
import type { EditKind, Mutant } from './mutate.ts';

export interface ScriptDialect {
  typescript: boolean;
  jsx: boolean;
}

/** The parser dialect of a file: TypeScript for .ts/.tsx/.mts/.cts, JSX for .tsx and the JavaScript ones. */
export function dialectOf(file: string): ScriptDialect {
  const ext = file.slice(file.lastIndexOf('.')).toLowerCase();
  const typescript = ['.ts', '.tsx', '.mts', '.cts'].includes(ext);
  // `<T>x` is a type assertion in .ts, so JSX only where the extension allows it.
  return { typescript, jsx: !typescript || ext === '.tsx' };
}

/** A Babel node, loosely: every node has these; the rest is read per type. */
interface Node {
  type: string;
  start: number;
  end: number;
  [key: string]: unknown;
}

interface Edit {
  kind: EditKind;
  start: number;
  end: number;
  text: string;
  description: string;
}

type SourceType = 'module' | 'script';

/** Functions that are easily confused with each other: rounding the wrong way, the wrong extreme. */
const CALL_SWAPS: Record<string, string[]> = {
  'Math.floor': ['ceil', 'round'],
  'Math.ceil': ['floor', 'round'],
  'Math.round': ['floor', 'ceil'],
  'Math.trunc': ['ceil', 'round'],
  'Math.min': ['max'],
  'Math.max': ['min'],
};

const COMPARE_FLIPS: Record<string, string> = {
  '<': '<=',
  '<=': '<',
  '>': '>=',
  '>=': '>',
  '==': '!=',
  '!=': '==',
  '===': '!==',
  '!==': '===',
};
const BINARY_SWAPS: Record<string, string> = { '+': '-', '-': '+', '*': '/', '/': '*', '%': '/' };
const ASSIGN_SWAPS: Record<string, string> = { '+=': '-=', '-=': '+=', '*=': '/=', '/=': '*=' };
const UPDATE_SWAPS: Record<string, string> = { '++': '--', '--': '++' };
const LOGICAL_SWAPS: Record<string, string> = { '&&': '||', '||': '&&' };
/** Keys that hold no runtime code (types) or no nodes to mutate (positions, comments). */
const SKIPPED_KEYS = new Set([
  'loc',
  'extra',
  'comments',
  'tokens',
  'leadingComments',
  'trailingComments',
  'innerComments',
  'typeAnnotation',
  'returnType',
  'typeParameters',
  'typeArguments',
  'superTypeParameters',
  'superTypeArguments',
  'implements',
  'predicate',
]);
/** Node types with no runtime code. */
const SKIPPED_TYPES = new Set([
  'TSInterfaceDeclaration',
  'TSTypeAliasDeclaration',
  'TSDeclareFunction',
  'TSDeclareMethod',
  'TSIndexSignature',
  'TSTypeAnnotation',
  'TSTypeParameterDeclaration',
  'TSTypeParameterInstantiation',
]);
const FUNCTION_TYPES = new Set([
  'FunctionDeclaration',
  'FunctionExpression',
  'ArrowFunctionExpression',
  'ObjectMethod',
  'ClassMethod',
  'ClassPrivateMethod',
]);
const CONDITIONAL_TYPES = new Set([
  'IfStatement',
  'WhileStatement',
  'DoWhileStatement',
  'ConditionalExpression',
]);
/** Where statement lists live: the blocks remove_statement may shorten. */
const BLOCK_KEYS: Record<string, string> = {
  Program: 'body',
  BlockStatement: 'body',
  StaticBlock: 'body',
  TSModuleBlock: 'body',
  SwitchCase: 'consequent',
};

function isNode(value: unknown): value is Node {
  return typeof value === 'object' && value !== null && typeof (value as Node).type === 'string';
}

function children(node: Node): Node[] {
  const out: Node[] = [];
  for (const key of Object.keys(node)) {
    if (SKIPPED_KEYS.has(key)) continue;
    const value = node[key];
    if (Array.isArray(value)) out.push(...value.filter(isNode));
    else if (isNode(value)) out.push(value);
  }
  return out;
}

function parserOptions(dialect: ScriptDialect, sourceType: SourceType): ParserOptions {
  const plugins: ParserPlugin[] = ['decorators-legacy'];
  if (dialect.typescript) plugins.push('typescript');
  if (dialect.jsx) plugins.push('jsx');
  return { sourceType, plugins, errorRecovery: false, attachComment: false };
}

/** Parses as a module, else as a script; throws the module parse's error when neither works. */
function parseScript(source: string, dialect: ScriptDialect): { program: Node; sourceType: SourceType } {
  let moduleError: unknown;
  for (const sourceType of ['module', 'script'] as const) {
    try {
      const file = parse(source, parserOptions(dialect, sourceType)) as unknown as Node;
      return { program: file.program as Node, sourceType };
    } catch (err) {
      moduleError ??= err;
    }
  }
  const language = dialect.typescript ? 'TypeScript' : 'JavaScript';
  throw new Error(`not valid ${language}: ${(moduleError as Error).message.split('\n')[0]}`);
}

function parses(source: string, dialect: ScriptDialect, sourceType: SourceType): boolean {
  try {
    parse(source, parserOptions(dialect, sourceType));
    return true;
  } catch {
    return false;
  }
}

/** Offset of the operator `op` in source[from, to): past blanks, parentheses and comments, or -1. */
function operatorAt(source: string, from: number, to: number, op: string): number {
  let i = from;
  while (i < to) {
    const c = source[i]!;
    if (/\s|[()]/.test(c)) i++;
    else if (source.startsWith('//', i)) {
      const stop = source.indexOf('\n', i);
      i = stop < 0 ? to : stop;
    } else if (source.startsWith('/*', i)) {
      const close = source.indexOf('*/', i + 2);
      if (close < 0) return -1;
      i = close + 2;
    } else break;
  }
  return i < to && source.startsWith(op, i) ? i : -1;
}

/** An argument simple enough to swap with its neighbour: a name, a literal, a.b.c, -1, this. */
function isSimple(node: Node): boolean {
  switch (node.type) {
    case 'Identifier':
    case 'ThisExpression':
    case 'StringLiteral':
    case 'NumericLiteral':
    case 'BigIntLiteral':
    case 'BooleanLiteral':
    case 'NullLiteral':
      return true;
    case 'TemplateLiteral':
      return (node.expressions as Node[]).length === 0;
    case 'MemberExpression':
    case 'OptionalMemberExpression': {
      const property = node.property as Node;
      const object = node.object as Node;
      const simpleProperty = node.computed ? isSimple(property) : property.type === 'Identifier';
      return simpleProperty && ['Identifier', 'ThisExpression', 'MemberExpression'].includes(object.type)
        ? isSimple(object)
        : false;
    }
    case 'UnaryExpression':
      return node.operator === '-' && (node.argument as Node).type === 'NumericLiteral';
    default:
      return false;
  }
}

/** A string literal, or a `+` that concatenates one. */
function isString(node: Node): boolean {
  if (node.type === 'StringLiteral' || node.type === 'TemplateLiteral') return true;
  return (
    node.type === 'BinaryExpression' &&
    node.operator === '+' &&
    (isString(node.left as Node) || isString(node.right as Node))
  );
}

/** The parameter a null guard tests: the first plain (or defaulted) identifier, past a TS `this`. */
function firstParamName(fn: Node): string | undefined {
  const params = (fn.params as Node[]).filter((p) => !(p.type === 'Identifier' && p.name === 'this'));
  const first = params[0];
  if (first?.type === 'Identifier') return first.name as string;
  if (first?.type === 'AssignmentPattern' && (first.left as Node).type === 'Identifier') {
    return (first.left as Node).name as string;
  }
  return undefined;
}

function collectEdits(source: string, program: Node, wanted: ReadonlySet<EditKind>): Edit[] {
  const edits: Edit[] = [];
  const add = (kind: EditKind, start: number, end: number, text: string, description: string) => {
    if (wanted.has(kind)) edits.push({ kind, start, end, text, description });
  };
  const lineStart = (offset: number) => source.lastIndexOf('\n', offset - 1) + 1;
  const lineEnd = (offset: number) => {
    const stop = source.indexOf('\n', offset);
    return stop < 0 ? source.length : stop;
  };
  const eolAt = (offset: number) => (source[lineEnd(offset) - 1] === '\r' ? '\r\n' : '\n');
  /** Nothing but blanks before `start` on its line, and nothing but blanks or a `//` comment after `end`. */
  const aloneOnLines = (start: number, end: number) => {
    const after = source.slice(end, lineEnd(end)).trim();
    return source.slice(lineStart(start), start).trim() === '' && (after === '' || after.startsWith('//'));
  };
  const swapOperator = (kind: EditKind, from: number, to: number, op: string, next: string) => {
    const at = operatorAt(source, from, to, op);
    if (at >= 0) add(kind, at, at + op.length, next, `\`${op}\` became \`${next}\``);
  };
  const negations = new Map<number, Node>();
  const collectNegations = (node: Node) => {
    if (node.type === 'UnaryExpression' && node.operator === '!') negations.set(node.start, node);
    for (const child of children(node)) if (!FUNCTION_TYPES.has(child.type)) collectNegations(child);
  };

  const visit = (node: Node) => {
    if (SKIPPED_TYPES.has(node.type) || node.declare === true) return;
    const op = node.operator as string | undefined;
    switch (node.type) {
      case 'BinaryExpression': {
        const [left, right] = [node.left as Node, node.right as Node];
        if (op! in COMPARE_FLIPS)
          swapOperator('flip_comparison', left.end, right.start, op!, COMPARE_FLIPS[op!]!);
        // `'a' + b` → `'a' - b` only fails on types: not a plausible bug.
        else if (op! in BINARY_SWAPS && !(op === '+' && (isString(left) || isString(right)))) {
          swapOperator('swap_operator', left.end, right.start, op!, BINARY_SWAPS[op!]!);
        }
        break;
      }
      case 'AssignmentExpression':
        if (op! in ASSIGN_SWAPS && !(op === '+=' && isString(node.right as Node))) {
          swapOperator(
            'swap_operator',
            (node.left as Node).end,
            (node.right as Node).start,
            op!,
            ASSIGN_SWAPS[op!]!,
          );
        }
        break;
      case 'UpdateExpression': {
        const at = node.prefix ? node.start : node.end - 2;
        if (op! in UPDATE_SWAPS && source.startsWith(op!, at)) {
          add('swap_operator', at, at + 2, UPDATE_SWAPS[op!]!, `\`${op}\` became \`${UPDATE_SWAPS[op!]}\``);
        }
        break;
      }
      case 'LogicalExpression':
        if (op! in LOGICAL_SWAPS) {
          swapOperator(
            'swap_boolean',
            (node.left as Node).end,
            (node.right as Node).start,
            op!,
            LOGICAL_SWAPS[op!]!,
          );
        }
        break;
      case 'NumericLiteral': {
        const text = source.slice(node.start, node.end);
        if (/^(0|[1-9][0-9]*)$/.test(text)) {
          for (const delta of [1n, -1n]) {
            const value = BigInt(text) + delta;
            if (value >= 0n)
              add('off_by_one', node.start, node.end, `${value}`, `\`${text}\` became \`${value}\``);
          }
        }
        break;
      }
      case 'BooleanLiteral': {
        const [old, next] = node.value ? ['true', 'false'] : ['false', 'true'];
        add('change_constant', node.start, node.end, next, `\`${old}\` became \`${next}\``);
        break;
      }
      case 'CallExpression':
      case 'OptionalCallExpression':
      case 'NewExpression': {
        const callee = node.callee as Node;
        const method =
          callee.type === 'MemberExpression' && !callee.computed ? (callee.property as Node) : undefined;
        if (node.type !== 'NewExpression' && method && (callee.object as Node).type === 'Identifier') {
          const owner = (callee.object as Node).name as string;
          for (const next of CALL_SWAPS[`${owner}.${method.name as string}`] ?? []) {
            add(
              'swap_call',
              method.start,
              method.end,
              next,
              `\`${owner}.${method.name as string}\` became \`${owner}.${next}\``,
            );
          }
        }
        const args = (node.arguments as Node[] | undefined) ?? [];
        for (let i = 0; i + 1 < args.length; i++) {
          const [a, b] = [args[i]!, args[i + 1]!];
          if (!isSimple(a) || !isSimple(b) || source.slice(a.start, b.end).includes('\n')) continue;
          const [first, second] = [source.slice(a.start, a.end), source.slice(b.start, b.end)];
          add(
            'swap_arguments',
            a.start,
            b.end,
            second + source.slice(a.end, b.start) + first,
            `arguments \`${first}\` and \`${second}\` were swapped`,
          );
        }
        break;
      }
      case 'ReturnStatement':
        if (node.argument) collectNegations(node.argument as Node);
        break;
    }

    if (CONDITIONAL_TYPES.has(node.type)) {
      const test = node.test as Node;
      collectNegations(test);
      if (!(test.type === 'UnaryExpression' && test.operator === '!')) {
        add(
          'negate_condition',
          test.start,
          test.end,
          `!(${source.slice(test.start, test.end)})`,
          'the condition was negated',
        );
      }
    }

    if (FUNCTION_TYPES.has(node.type) && (node.body as Node | undefined)?.type === 'BlockStatement') {
      const kind = node.kind as string | undefined;
      const name = firstParamName(node);
      const anchor = ((node.body as Node).body as Node[])[0];
      // Constructors and setters: an early `return p` would not return p.
      if (name && anchor && (kind === undefined || kind === 'method')) {
        const first = lineStart(anchor.start);
        const indent = source.slice(first, anchor.start);
        if (indent.trim() === '') {
          const guard = `${indent}if (${name} == null || ${name}.length === 0) return ${name};${eolAt(first)}`;
          add(
            'null_guard',
            first,
            first,
            guard,
            `a guard returning \`${name}\` early when it is empty was inserted`,
          );
        }
      }
    }

    const blockKey = BLOCK_KEYS[node.type];
    const block = blockKey ? (node[blockKey] as Node[]) : [];
    for (let i = 0; block.length >= 2 && i < block.length; i++) {
      const stmt = block[i]!;
      const removable =
        (stmt.type === 'ExpressionStatement' && !isString(stmt.expression as Node)) ||
        (stmt.type === 'VariableDeclaration' &&
          stmt.declare !== true &&
          (stmt.declarations as Node[]).every((d) => d.init !== null && d.init !== undefined));
      if (!removable || !aloneOnLines(stmt.start, stmt.end)) continue;
      // Without semicolons, the next line could join the previous statement once this one is gone.
      const [prev, next] = [block[i - 1], block[i + 1]];
      const joins =
        prev &&
        next &&
        /^[([`+\-/]/.test(source[next.start]!) &&
        !/[;}]$/.test(source.slice(prev.start, prev.end));
      if (joins) continue;
      const stop = Math.min(source.length, lineEnd(stmt.end) + 1);
      const text = source.slice(stmt.start, stmt.end).split('\n')[0]!;
      add('remove_statement', lineStart(stmt.start), stop, '', `the statement \`${text}\` was removed`);
    }

    for (const child of children(node)) visit(child);
  };
  visit(program);
  for (const node of negations.values()) {
    if (source[node.start] === '!') add('drop_negation', node.start, node.start + 1, '', 'a `!` was dropped');
  }
  return edits;
}

/** Mutated text a file may produce at most (mutants × file length): beyond it, mutants of a bundle exhaust memory. */
const MAX_MUTATED_CHARS = 256 * 1024 * 1024;

/**
 * Whether the file, with source[start, end) replaced by `text`, still parses. Re-parsing the whole file for each
 * mutant is slow on long files, so only the top-level statement holding the change is parsed (a member of a
 * top-level class: inside a stub class declaring the class's other private names), which is sound for these
 * edits: none adds a declaration or an export. The whole file when that statement shares a line with another,
 * or when the edit removes it entirely (an `export { x }` elsewhere may name it).
 */
function parseCheck(source: string, program: Node, dialect: ScriptDialect, sourceType: SourceType) {
  const lineStart = (offset: number) => source.lastIndexOf('\n', offset - 1) + 1;
  const afterLine = (offset: number) => {
    const stop = source.indexOf('\n', offset);
    return stop < 0 ? source.length : stop + 1;
  };
  const spanOf = (node: Node) => {
    const [begin, stop] = [lineStart(node.start), afterLine(node.end)];
    const tail = source.slice(node.end, stop).trim();
    const alone = source.slice(begin, node.start).trim() === '' && (tail === '' || tail.startsWith('//'));
    return { begin, stop, alone };
  };
  const privateName = (member: Node) => {
    const key = member.key as Node | undefined;
    return key?.type === 'PrivateName' ? ((key.id as Node).name as string) : undefined;
  };
  const strict = ((program.directives as Node[] | undefined) ?? []).some(
    (d) => (d.value as Node | undefined)?.value === 'use strict',
  );
  const prologue = strict ? "'use strict';\n" : '';
  const tops = (program.body as Node[]).map((stmt) => {
    const declared = stmt.type.startsWith('Export') ? (stmt.declaration as Node | null | undefined) : stmt;
    const cls = declared?.type === 'ClassDeclaration' ? declared : undefined;
    const members = cls ? ((cls.body as Node).body as Node[]) : [];
    return {
      ...spanOf(stmt),
      cls,
      members: members.map((m) => ({ ...spanOf(m), privateName: privateName(m) })),
    };
  });
  const within = (span: { begin: number; stop: number }, start: number, end: number) =>
    span.begin <= start && end <= span.stop;
  const patched = (span: { begin: number; stop: number }, start: number, end: number, text: string) =>
    source.slice(span.begin, start) + text + source.slice(end, span.stop);

  return (start: number, end: number, text: string): boolean => {
    const top = tops.find((t) => within(t, start, end));
    if (top?.alone) {
      const member = top.members.find((m) => within(m, start, end));
      if (top.cls && member?.alone) {
        const others = new Set(
          top.members.map((m) => m.privateName).filter((n) => n && n !== member.privateName),
        );
        const head = `${top.cls.abstract ? 'abstract ' : ''}class _${top.cls.superClass ? ' extends Object' : ''} {`;
        const declarations = [...others].map((n) => `#${n};`).join(' ');
        const stub = `${prologue}${head}${declarations}\n${patched(member, start, end, text)}\n}\n`;
        return parses(stub, dialect, sourceType);
      }
      const region = patched(top, start, end, text);
      if (region.trim() !== '') return parses(prologue + region, dialect, sourceType);
    }
    return parses(source.slice(0, start) + text + source.slice(end), dialect, sourceType);
  };
}

// True when the replacement joins a neighbouring character into a comment opener (`a */* c */b` would become
// `a //* c */b`): the mutant would still parse, with the rest of the line commented out.
function opensComment(source: string, edit: Edit): boolean {
  const around =
    source.slice(Math.max(0, edit.start - 1), edit.start) + edit.text + source.slice(edit.end, edit.end + 1);
  const before = source.slice(Math.max(0, edit.start - 1), edit.end + 1);
  const comments = (text: string) => (text.match(/\/[/*]/g) ?? []).length;
  return comments(around) > comments(before);
}

/** Applies, sorts (line, kind, source), deduplicates and re-parses; ids are `${kind}-${line}-${sha256[:12]}`. */
function finalize(
  source: string,
  edits: Edit[],
  stillParses: (start: number, end: number, text: string) => boolean,
): Mutant[] {
  // Lines as git counts them (\n only), found by binary search over the line starts.
  const starts = [0];
  for (let i = source.indexOf('\n'); i >= 0; i = source.indexOf('\n', i + 1)) starts.push(i + 1);
  const lineOf = (offset: number) => {
    let [lo, hi] = [0, starts.length - 1];
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  };
  const candidates = edits.map((e) => ({
    edit: e,
    line: lineOf(e.start),
    source: source.slice(0, e.start) + e.text + source.slice(e.end),
  }));
  const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  candidates.sort((a, b) => a.line - b.line || cmp(a.edit.kind, b.edit.kind) || cmp(a.source, b.source));
  const seen = new Set<string>([source]);
  const out: Mutant[] = [];
  for (const { edit, line, source: mutated } of candidates) {
    if (seen.has(mutated)) continue;
    seen.add(mutated);
    if (opensComment(source, edit) || !stillParses(edit.start, edit.end, edit.text)) continue;
    const digest = createHash('sha256').update(mutated, 'utf8').digest('hex').slice(0, 12);
    out.push({
      id: `${edit.kind}-${line}-${digest}`,
      kind: edit.kind,
      line,
      description: edit.description,
      source: mutated,
    });
  }
  return out;
}

/**
 * Every mutant of a JavaScript or TypeScript file of the given kinds, deduplicated, in a deterministic order.
 * Throws when the source does not parse, or when its mutants would be too much text to hold (a bundle).
 */
export function scriptMutants(source: string, dialect: ScriptDialect, kinds: readonly EditKind[]): Mutant[] {
  const { program, sourceType } = parseScript(source, dialect);
  const edits = collectEdits(source, program, new Set(kinds));
  if (edits.length * source.length > MAX_MUTATED_CHARS) {
    throw new Error(`too large to mutate: ${edits.length} mutants of a ${source.length}-character file`);
  }
  return finalize(source, edits, parseCheck(source, program, dialect, sourceType));
}
