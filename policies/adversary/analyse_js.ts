// What differential testing exercises in a JavaScript module, found by parsing it: the exported functions whose
// lines the reference patch changed (or that call a changed helper of the same module), and the literal
// arguments the repository's tests and the problem statement call them with.
import { parse } from '@babel/parser';
import { VISITOR_KEYS, type Expression, type Node } from '@babel/types';
import type { Tagged } from './values.ts';

export interface JsFunction {
  /** The name it is exported under (`default` for a default export). */
  exported: string;
  local: string;
  startLine: number;
  endLine: number;
  calls: Set<string>;
}

export interface Example {
  args: Tagged[];
  kwargs?: Record<string, Tagged>;
}

function parseModule(source: string): Node | null {
  for (const sourceType of ['module', 'script'] as const) {
    try {
      return parse(source, { sourceType, plugins: ['jsx'], errorRecovery: false }).program;
    } catch {
      // a script with `with`, or not JavaScript at all
    }
  }
  return null;
}

function* walk(node: Node): Generator<Node> {
  yield node;
  for (const key of VISITOR_KEYS[node.type] ?? []) {
    const value = (node as unknown as Record<string, unknown>)[key];
    for (const child of Array.isArray(value) ? value : [value]) {
      if (child && typeof child === 'object' && typeof (child as Node).type === 'string')
        yield* walk(child as Node);
    }
  }
}

const calleeName = (callee: Node): string | undefined =>
  callee.type === 'Identifier'
    ? callee.name
    : callee.type === 'MemberExpression' && callee.property.type === 'Identifier'
      ? callee.property.name
      : undefined;

function callsIn(node: Node): Set<string> {
  const names = new Set<string>();
  for (const n of walk(node)) {
    if (n.type === 'CallExpression') {
      const name = calleeName(n.callee);
      if (name) names.add(name);
    }
  }
  return names;
}

/** Top-level functions of a module with the names they are exported under (unexported ones have ''). */
export function moduleFunctions(source: string): JsFunction[] {
  const program = parseModule(source);
  if (!program || program.type !== 'Program') return [];
  const functions: JsFunction[] = [];
  const exportedAs = new Map<string, string>();
  const add = (local: string, fn: Node, exported: string) =>
    functions.push({
      exported,
      local,
      startLine: fn.loc!.start.line,
      endLine: fn.loc!.end.line,
      calls: callsIn(fn),
    });
  const declare = (decl: Node | null | undefined, exported: boolean) => {
    if (!decl) return;
    if (decl.type === 'FunctionDeclaration' && decl.id) add(decl.id.name, decl, exported ? decl.id.name : '');
    if (decl.type === 'VariableDeclaration') {
      for (const d of decl.declarations) {
        const init = d.init;
        if (d.id.type === 'Identifier' && init && /^(Arrow)?FunctionExpression$/.test(init.type))
          add(d.id.name, d, exported ? d.id.name : '');
      }
    }
  };
  for (const statement of program.body) {
    if (statement.type === 'ExportNamedDeclaration') {
      declare(statement.declaration, true);
      for (const s of statement.specifiers) {
        if (s.type === 'ExportSpecifier' && !statement.source) {
          const name = s.exported.type === 'Identifier' ? s.exported.name : s.exported.value;
          exportedAs.set(s.local.name, name);
        }
      }
    } else if (statement.type === 'ExportDefaultDeclaration') {
      const decl = statement.declaration;
      if (decl.type === 'FunctionDeclaration') add(decl.id?.name ?? 'default', decl, 'default');
    } else if (statement.type === 'ExpressionStatement') {
      commonJsExports(statement.expression, add, exportedAs);
    } else {
      declare(statement, false);
    }
  }
  for (const fn of functions)
    if (!fn.exported && exportedAs.has(fn.local)) fn.exported = exportedAs.get(fn.local)!;
  return functions;
}

const isModuleExports = (n: Node) =>
  n.type === 'MemberExpression' &&
  n.object.type === 'Identifier' &&
  n.object.name === 'module' &&
  n.property.type === 'Identifier' &&
  n.property.name === 'exports';

/** `module.exports = {a, b: c}`, `module.exports.a = …` and `exports.a = …`: CommonJS's named exports. */
function commonJsExports(
  expression: Node,
  add: (local: string, fn: Node, exported: string) => void,
  exportedAs: Map<string, string>,
) {
  if (expression.type !== 'AssignmentExpression' || expression.operator !== '=') return;
  const { left, right } = expression;
  const bind = (name: string, value: Node) => {
    if (value.type === 'Identifier') exportedAs.set(value.name, name);
    else if (/^(Arrow)?FunctionExpression$/.test(value.type)) add(name, value, name);
  };
  if (isModuleExports(left) && right.type === 'ObjectExpression') {
    for (const p of right.properties) {
      if (p.type === 'ObjectProperty' && !p.computed && p.key.type === 'Identifier')
        bind(p.key.name, p.value);
    }
  } else if (
    left.type === 'MemberExpression' &&
    !left.computed &&
    left.property.type === 'Identifier' &&
    (isModuleExports(left.object) || (left.object.type === 'Identifier' && left.object.name === 'exports'))
  ) {
    bind(left.property.name, right);
  }
}

/** Exported functions that contain a changed line, or reach one through the module's own functions. */
export function changedExports(source: string, changedLines: number[]): JsFunction[] {
  const functions = moduleFunctions(source);
  const changed = new Set(
    functions.filter((f) => changedLines.some((l) => l >= f.startLine && l <= f.endLine)).map((f) => f.local),
  );
  // Callers of changed helpers, to a fixed point: a helper two calls deep is still reached.
  for (let grew = true; grew;) {
    grew = false;
    for (const f of functions) {
      if (!changed.has(f.local) && [...f.calls].some((c) => changed.has(c))) {
        changed.add(f.local);
        grew = true;
      }
    }
  }
  return functions.filter((f) => f.exported && changed.has(f.local));
}

class NotLiteral extends Error {}

/** The value of a literal expression (strings, numbers, booleans, null, undefined, arrays, plain objects). */
function literalValue(node: Expression | Node): Tagged {
  switch (node.type) {
    case 'StringLiteral':
    case 'BooleanLiteral':
      return node.value;
    case 'NumericLiteral':
      return node.value;
    case 'NullLiteral':
      return null;
    case 'Identifier':
      if (node.name === 'undefined') return { $undefined: true };
      if (node.name === 'NaN' || node.name === 'Infinity') return { $number: node.name };
      throw new NotLiteral();
    case 'UnaryExpression':
      if (node.operator === '-' && node.argument.type === 'NumericLiteral')
        return node.argument.value === 0 ? { $number: '-0' } : -node.argument.value;
      throw new NotLiteral();
    case 'TemplateLiteral':
      if (node.expressions.length === 0) return node.quasis.map((q) => q.value.cooked ?? '').join('');
      throw new NotLiteral();
    case 'ArrayExpression':
      return node.elements.map((e) => {
        if (!e || e.type === 'SpreadElement') throw new NotLiteral();
        return literalValue(e);
      });
    case 'ObjectExpression': {
      const out: Record<string, Tagged> = {};
      for (const p of node.properties) {
        if (p.type !== 'ObjectProperty' || p.computed) throw new NotLiteral();
        const key =
          p.key.type === 'Identifier' ? p.key.name : p.key.type === 'StringLiteral' ? p.key.value : undefined;
        if (key === undefined || key.startsWith('$')) throw new NotLiteral();
        out[key] = literalValue(p.value);
      }
      return out;
    }
    default:
      throw new NotLiteral();
  }
}

/** Calls of the named functions whose arguments are all literals, per function name, deduplicated. */
export function literalCalls(sources: string[], names: Set<string>): Map<string, Example[]> {
  const found = new Map<string, Example[]>([...names].map((n) => [n, []]));
  for (const source of sources) {
    const program = parseModule(source);
    if (!program) continue;
    for (const node of walk(program)) {
      if (node.type !== 'CallExpression') continue;
      const name = calleeName(node.callee);
      if (!name || !names.has(name)) continue;
      try {
        const args = node.arguments.map((a) => {
          if (a.type === 'SpreadElement' || a.type === 'ArgumentPlaceholder') throw new NotLiteral();
          return literalValue(a);
        });
        const list = found.get(name)!;
        if (!list.some((e) => JSON.stringify(e.args) === JSON.stringify(args))) list.push({ args });
      } catch (err) {
        if (!(err instanceof NotLiteral)) throw err;
      }
    }
  }
  return found;
}
