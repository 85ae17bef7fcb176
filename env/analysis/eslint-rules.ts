// Security rules ESLint and eslint-plugin-security lack: spellings of eval, Function, require and child_process
// that hide the name (`globalThis['ev' + 'al']`, `(() => {}).constructor(code)`, `createRequire(url)('fs')`,
// ``import(`child_process`)``). Loaded as the in-config plugin `repogym`; the rule ids below are stable, since
// rewards count findings per (tool, file, rule), after minus before. They resolve names through ESLint's scope
// manager, so a local variable called `window` or `process` is not the global one.
import type { Rule, Scope, SourceCode } from 'eslint';
import type * as ESTree from 'estree';

/** Modules that give code a network or a process (also used by the config's restricted imports). */
export const NETWORK_OR_PROCESS_MODULES = [
  'child_process',
  'cluster',
  'worker_threads',
  'net',
  'tls',
  'dgram',
  'dns',
  'http',
  'https',
  'http2',
];
/** Modules that compile and run code. */
export const CODE_MODULES = ['vm', 'repl', 'inspector'];
const moduleNamed = (list: string[]) => (name: string) =>
  list.some(
    (m) => name === m || name === `node:${m}` || name.startsWith(`${m}/`) || name.startsWith(`node:${m}/`),
  );
const isNetworkOrProcessModule = moduleNamed(NETWORK_OR_PROCESS_MODULES);
const isVmModule = moduleNamed(['vm']);

/** Identifiers that name the global object. */
const GLOBAL_OBJECTS = new Set(['globalThis', 'global', 'window', 'self', 'frames', 'top', 'parent']);
/** Properties of the global object that run code or load modules, reached as `globalThis[key]`. */
const DANGEROUS_GLOBALS = new Set([
  'eval',
  'Function',
  'require',
  'process',
  'module',
  'execScript',
  'setTimeout',
  'setInterval',
  'setImmediate',
  'constructor',
]);
const PROCESS_INTERNALS = new Set(['binding', '_linkedBinding', 'dlopen', 'mainModule']);
const VM_CALLS = new Set(['runInNewContext', 'runInThisContext', 'runInContext', 'compileFunction']);
const VM_CLASSES = new Set(['Script', 'SourceTextModule', 'SyntheticModule']);

type Node = ESTree.Node & Partial<Rule.NodeParentExtension>;
type Expr = ESTree.Node;
const MAX_DEPTH = 4;

/** Strips what does not change the value: TS casts and non-null assertions, optional chains. */
function unwrap(node: Expr): Expr {
  let n = node as Expr & { expression?: Expr; type: string };
  while (
    [
      'TSAsExpression',
      'TSSatisfiesExpression',
      'TSNonNullExpression',
      'TSTypeAssertion',
      'ChainExpression',
    ].includes(n.type) &&
    n.expression
  )
    n = n.expression as typeof n;
  return n;
}

function findVariable(scope: Scope.Scope | null, name: string): Scope.Variable | undefined {
  for (let s = scope; s; s = s.upper) {
    const v = s.set.get(name);
    if (v) return v;
  }
  return undefined;
}

/** True when `name` here is the global binding (a configured global or an undeclared name). */
function isGlobalName(scope: Scope.Scope, name: string): boolean {
  const v = findVariable(scope, name);
  if (!v || (v.scope.type === 'global' && v.defs.length === 0)) return true;
  // TypeScript's `declare const require: any` describes the global; it does not replace it.
  return v.defs.every(
    (d) => d.type === 'Variable' && (d.parent as { declare?: boolean } | null)?.declare === true,
  );
}

/** Every reference to the global `name`, in any scope. */
function globalReferences(sc: SourceCode, program: ESTree.Program, name: string): Scope.Reference[] {
  const refs = new Set(sc.getScope(program).through.filter((r) => r.identifier.name === name));
  for (const scope of sc.scopeManager.scopes) {
    const v = scope.set.get(name);
    if (v && isGlobalName(scope, name)) for (const r of v.references) refs.add(r);
  }
  return [...refs];
}

/** The initialiser of a variable assigned exactly once (`const g = globalThis`), for following aliases. */
function aliasOf(scope: Scope.Scope, id: ESTree.Identifier): Expr | undefined {
  const v = findVariable(scope, id.name);
  const def = v?.defs.length === 1 ? v.defs[0] : undefined;
  if (!v || !def || def.type !== 'Variable' || def.node.id.type !== 'Identifier' || !def.node.init) return;
  if (v.references.some((r) => r.isWrite() && r.identifier !== def.node.id)) return;
  return def.node.init;
}

function staticString(node: Expr, scope: Scope.Scope, depth = 0): string | undefined {
  const n = unwrap(node);
  if (depth > MAX_DEPTH) return undefined;
  switch (n.type) {
    case 'Literal':
      return typeof n.value === 'string' || typeof n.value === 'number' ? String(n.value) : undefined;
    case 'TemplateLiteral': {
      let s = n.quasis[0]?.value.cooked ?? '';
      for (let i = 0; i < n.expressions.length; i++) {
        const part = staticString(n.expressions[i]!, scope, depth + 1);
        if (part === undefined) return undefined;
        s += part + (n.quasis[i + 1]?.value.cooked ?? '');
      }
      return s;
    }
    case 'BinaryExpression': {
      if (n.operator !== '+' || n.left.type === 'PrivateIdentifier') return undefined;
      const l = staticString(n.left, scope, depth + 1);
      const r = l === undefined ? undefined : staticString(n.right, scope, depth + 1);
      return l === undefined || r === undefined ? undefined : l + r;
    }
    case 'Identifier': {
      const init = aliasOf(scope, n);
      return init ? staticString(init, scope, depth + 1) : undefined;
    }
    default:
      return undefined;
  }
}

/** `Symbol('x')`, `Symbol.for('x')`, `Symbol.iterator`, or a constant holding one. */
function isSymbol(node: Expr, scope: Scope.Scope, depth = 0): boolean {
  const n = unwrap(node);
  if (depth > MAX_DEPTH) return false;
  if (n.type === 'Identifier') {
    const init = aliasOf(scope, n);
    return init !== undefined && isSymbol(init, scope, depth + 1);
  }
  const callee = n.type === 'CallExpression' ? unwrap(n.callee) : n;
  if (callee.type === 'Identifier') return callee.name === 'Symbol' && isGlobalName(scope, 'Symbol');
  return callee.type === 'MemberExpression' && isGlobal(callee.object, 'Symbol', scope);
}

const isPlainStringLiteral = (n: Expr) => n.type === 'Literal' && typeof n.value === 'string';

/** The property name of `a.b` / `a['b']` / `` a[`b`] ``, when it is a constant. */
function propertyName(node: ESTree.MemberExpression, scope: Scope.Scope): string | undefined {
  if (!node.computed) return node.property.type === 'Identifier' ? node.property.name : undefined;
  return staticString(node.property, scope);
}

function isGlobalObject(node: Expr, scope: Scope.Scope, depth = 0): boolean {
  const n = unwrap(node);
  if (depth > MAX_DEPTH) return false;
  switch (n.type) {
    case 'Identifier': {
      if (GLOBAL_OBJECTS.has(n.name) && isGlobalName(scope, n.name)) return true;
      const init = aliasOf(scope, n);
      return init !== undefined && isGlobalObject(init, scope, depth + 1);
    }
    case 'MemberExpression': {
      const name = propertyName(n, scope);
      return name !== undefined && GLOBAL_OBJECTS.has(name) && isGlobalObject(n.object, scope, depth + 1);
    }
    case 'LogicalExpression':
      return isGlobalObject(n.left, scope, depth + 1) || isGlobalObject(n.right, scope, depth + 1);
    case 'ConditionalExpression':
      return isGlobalObject(n.consequent, scope, depth + 1) || isGlobalObject(n.alternate, scope, depth + 1);
    case 'SequenceExpression':
      return isGlobalObject(n.expressions[n.expressions.length - 1]!, scope, depth + 1);
    default:
      return false;
  }
}

/** `name` as the global (`process`, `Function`), as a member of the global object, or through an alias. */
function isGlobal(node: Expr, name: string, scope: Scope.Scope, depth = 0): boolean {
  const n = unwrap(node);
  if (depth > MAX_DEPTH) return false;
  if (n.type === 'Identifier') {
    if (n.name === name && isGlobalName(scope, name)) return true;
    const init = aliasOf(scope, n);
    return init !== undefined && isGlobal(init, name, scope, depth + 1);
  }
  if (n.type === 'MemberExpression')
    return propertyName(n, scope) === name && isGlobalObject(n.object, scope);
  return false;
}

/** The module a name was bound from: `import x from 'm'`, `import { x } from 'm'`, `const x = require('m')`. */
function boundFromModule(id: ESTree.Identifier, scope: Scope.Scope, test: (m: string) => boolean): boolean {
  const def = findVariable(scope, id.name)?.defs[0];
  if (!def) return false;
  if (def.type === 'ImportBinding') {
    const source = (def.parent as ESTree.ImportDeclaration).source.value;
    return typeof source === 'string' && test(source);
  }
  if (def.type === 'Variable' && def.node.init) {
    let init = unwrap(def.node.init);
    if (init.type === 'MemberExpression') init = unwrap(init.object);
    if (
      init.type === 'CallExpression' &&
      init.callee.type === 'Identifier' &&
      init.callee.name === 'require'
    ) {
      const arg = init.arguments[0];
      const m = arg && arg.type !== 'SpreadElement' ? staticString(arg, scope) : undefined;
      return m !== undefined && test(m);
    }
  }
  return false;
}

/** A function that loads modules: `require`, `createRequire(url)`, `module.require`, or an alias of one. */
function isRequireFunction(node: Expr, scope: Scope.Scope, depth = 0): boolean {
  const n = unwrap(node);
  if (depth > MAX_DEPTH) return false;
  switch (n.type) {
    case 'Identifier': {
      if (n.name === 'require' && isGlobalName(scope, 'require')) return true;
      const init = aliasOf(scope, n);
      return init !== undefined && isRequireFunction(init, scope, depth + 1);
    }
    case 'MemberExpression':
      return propertyName(n, scope) === 'require';
    case 'CallExpression': {
      const callee = unwrap(n.callee);
      return (
        (callee.type === 'Identifier' && callee.name === 'createRequire') ||
        (callee.type === 'MemberExpression' && propertyName(callee, scope) === 'createRequire')
      );
    }
    default:
      return false;
  }
}

/** A value whose `.constructor` is `Function` (or AsyncFunction, GeneratorFunction). */
function isFunctionValue(node: Expr, scope: Scope.Scope, depth = 0): boolean {
  const n = unwrap(node);
  if (depth > MAX_DEPTH) return false;
  switch (n.type) {
    case 'FunctionExpression':
    case 'ArrowFunctionExpression':
    case 'ClassExpression':
      return true;
    case 'Identifier': {
      if (n.name === 'Function' && isGlobalName(scope, 'Function')) return true;
      const v = findVariable(scope, n.name);
      if (v?.defs.some((d) => d.type === 'FunctionName' || d.type === 'ClassName')) return true;
      const init = aliasOf(scope, n);
      return init !== undefined && isFunctionValue(init, scope, depth + 1);
    }
    case 'MemberExpression': {
      const name = propertyName(n, scope);
      // x.constructor.constructor, Function.prototype, globalThis.Function
      if (name === 'constructor') return true;
      if (name === 'prototype') return isFunctionValue(n.object, scope, depth + 1);
      return name === 'Function' && isGlobalObject(n.object, scope);
    }
    case 'CallExpression': {
      // Object.getPrototypeOf(async function () {}) is AsyncFunction.prototype
      const callee = unwrap(n.callee);
      const arg = n.arguments[0];
      return (
        callee.type === 'MemberExpression' &&
        propertyName(callee, scope) === 'getPrototypeOf' &&
        arg !== undefined &&
        arg.type !== 'SpreadElement' &&
        isFunctionValue(arg, scope, depth + 1)
      );
    }
    default:
      return false;
  }
}

/** Written to rather than read: `globalThis[k] = v`, `delete window[k]`, `process[k]++`. */
function isWriteTarget(node: Node): boolean {
  const p = node.parent as Node | undefined;
  if (!p) return false;
  if (p.type === 'AssignmentExpression') return p.left === node;
  if (p.type === 'UpdateExpression') return true;
  return p.type === 'UnaryExpression' && p.operator === 'delete';
}

const rule = (description: string, create: Rule.RuleModule['create']): Rule.RuleModule => ({
  meta: { type: 'problem', docs: { description }, schema: [] },
  create,
});

/** `globalThis['ev' + 'al']`, `window[name]`, `Reflect.get(globalThis, name)`: a global picked by a computed name. */
const dynamicGlobalAccess = rule('Computed access to the global object', (context) => {
  const sc = context.sourceCode;
  const check = (node: Node, keyNode: Expr, scope: Scope.Scope) => {
    const key = staticString(keyNode, scope);
    if (key === undefined && isSymbol(keyNode, scope)) return; // globalThis[Symbol.for('x')]: not a name
    if (key === undefined)
      context.report({
        node,
        message: 'reads the global object with a computed key (can reach eval/Function)',
      });
    // A plain 'eval' literal is no-eval's.
    else if (DANGEROUS_GLOBALS.has(key) && !(key === 'eval' && isPlainStringLiteral(unwrap(keyNode))))
      context.report({ node, message: `reads '${key}' from the global object with a computed key` });
  };
  return {
    MemberExpression(node) {
      if (!node.computed || isWriteTarget(node)) return;
      const scope = sc.getScope(node);
      if (isGlobalObject(node.object, scope)) check(node, node.property, scope);
    },
    CallExpression(node) {
      const callee = unwrap(node.callee);
      const [target, key] = node.arguments;
      if (callee.type !== 'MemberExpression' || !target || !key) return;
      if (target.type === 'SpreadElement' || key.type === 'SpreadElement') return;
      const scope = sc.getScope(node);
      const name = propertyName(callee, scope);
      if (name !== 'get' && name !== 'getOwnPropertyDescriptor') return;
      if (!isGlobal(callee.object, 'Reflect', scope) && !isGlobal(callee.object, 'Object', scope)) return;
      if (isGlobalObject(target, scope)) check(node, key, scope);
    },
  };
});

/** `(() => {}).constructor(code)`, `Function.prototype.constructor`, `const F = Function`, `globalThis.Function(code)`. */
const functionConstructor = rule('The Function constructor under another name', (context) => {
  const sc = context.sourceCode;
  const calledWithArgs = (node: Node) => {
    const p = node.parent as Node | undefined;
    return (
      (p?.type === 'CallExpression' || p?.type === 'NewExpression') &&
      p.callee === node &&
      p.arguments.length > 0
    );
  };
  return {
    MemberExpression(node) {
      const scope = sc.getScope(node);
      const name = propertyName(node, scope);
      if (name === 'constructor') {
        const obj = unwrap(node.object);
        // `new this.constructor(x)` is the usual clone idiom.
        if (calledWithArgs(node) && obj.type !== 'ThisExpression')
          context.report({
            node,
            message: 'calls .constructor(...) with arguments (the Function constructor)',
          });
        else if (!calledWithArgs(node) && isFunctionValue(obj, scope))
          context.report({ node, message: "reads a function's .constructor (the Function constructor)" });
      } else if (name === 'Function' && isGlobalObject(node.object, scope) && !isWriteTarget(node))
        context.report({ node, message: 'reads Function from the global object' });
    },
    'Program:exit'(program) {
      // `Function` used as a value (aliased, passed, stored): no-new-func only sees direct calls.
      for (const ref of globalReferences(sc, program, 'Function')) {
        if ((ref as { isValueReference?: boolean }).isValueReference === false) continue; // a TS type
        const id = ref.identifier as Node;
        const p = id.parent as Node | undefined;
        if (!p) continue;
        if ((p.type === 'CallExpression' || p.type === 'NewExpression') && p.callee === id) continue; // no-new-func
        if (p.type === 'MemberExpression' && p.object === id) continue; // Function.prototype…, checked above
        if (p.type === 'BinaryExpression' && p.operator === 'instanceof' && p.right === id) continue;
        if (p.type === 'UnaryExpression' && p.operator === 'typeof') continue;
        context.report({
          node: id,
          message: 'uses Function as a value (the Function constructor under another name)',
        });
      }
    },
  };
});

/** `createRequire`, `module.require`, `process.mainModule.require`, `const r = require`. */
const moduleLoader = rule('Module loaders other than a plain require() call', (context) => {
  const sc = context.sourceCode;
  const report = (node: Node, what: string) =>
    context.report({ node, message: `${what} (loads arbitrary modules)` });
  return {
    ImportSpecifier(node) {
      const imported = node.imported.type === 'Identifier' ? node.imported.name : node.imported.value;
      if (imported === 'createRequire') report(node, 'imports createRequire');
    },
    Property(node) {
      // const { createRequire } = require('node:module')
      if ((node.parent as Node | undefined)?.type !== 'ObjectPattern' || node.computed) return;
      if (node.key.type === 'Identifier' && node.key.name === 'createRequire')
        report(node, 'destructures createRequire');
    },
    MemberExpression(node) {
      const scope = sc.getScope(node);
      const name = propertyName(node, scope);
      const obj = unwrap(node.object);
      if (name === 'createRequire') report(node, 'uses createRequire');
      else if (name === 'require') {
        const holder =
          (obj.type === 'Identifier' && obj.name === 'module' && isGlobalName(scope, 'module')) ||
          (obj.type === 'MemberExpression' &&
            ['main', 'mainModule'].includes(propertyName(obj, scope) ?? '')) ||
          isGlobalObject(obj, scope);
        if (holder) report(node, 'uses module.require');
      } else if (name === 'constructor' && obj.type === 'Identifier' && obj.name === 'module') {
        if (isGlobalName(scope, 'module')) report(node, 'reads module.constructor (the Module class)');
      } else if (name && ['call', 'apply', 'bind'].includes(name) && isRequireFunction(obj, scope))
        report(node, `uses require.${name}`);
    },
    'Program:exit'(program) {
      // `require` as a value: `const r = require; r(name)`, `[require][0](name)`.
      for (const ref of globalReferences(sc, program, 'require')) {
        if ((ref as { isValueReference?: boolean }).isValueReference === false) continue;
        const id = ref.identifier as Node;
        const p = id.parent as Node | undefined;
        if (!p) continue;
        if (p.type === 'CallExpression' && p.callee === id) continue;
        if (p.type === 'MemberExpression' && p.object === id) continue; // require.resolve, require.cache, .call (above)
        if (p.type === 'UnaryExpression' && p.operator === 'typeof') continue;
        if (p.type === 'BinaryExpression' && ['===', '!==', '==', '!='].includes(p.operator)) continue;
        report(id, 'uses require as a value');
      }
    },
  };
});

/** `import(name)` with a name that is not a constant. */
const dynamicImport = rule('import() of a computed module name', (context) => ({
  ImportExpression(node) {
    if (staticString(node.source, context.sourceCode.getScope(node)) === undefined)
      context.report({ node, message: 'imports a module whose name is computed at run time' });
  },
}));

/** ``import(`child_process`)``, `require('child_' + 'process')`, `createRequire(url)('node:net')`. */
const hiddenModule = rule('Network/process module named indirectly', (context) => {
  const sc = context.sourceCode;
  const check = (node: Node, source: Expr, plainCovered: boolean) => {
    const name = staticString(source, sc.getScope(node));
    // A plain string literal in require()/import() is reported by no-restricted-syntax.
    if (name === undefined || (plainCovered && isPlainStringLiteral(unwrap(source)))) return;
    if (isNetworkOrProcessModule(name))
      context.report({ node, message: `imports network/process module '${name}' under a computed spelling` });
  };
  return {
    ImportExpression(node) {
      check(node, node.source, true);
    },
    CallExpression(node) {
      const arg = node.arguments[0];
      if (!arg || arg.type === 'SpreadElement') return;
      const callee = unwrap(node.callee);
      const scope = sc.getScope(node);
      if (!isRequireFunction(callee, scope)) return;
      const plainRequire = callee.type === 'Identifier' && callee.name === 'require';
      check(node, arg, plainRequire);
    },
  };
});

/** `process.binding('spawn_wrap')`, `process['bin' + 'ding']`, `process.dlopen`. */
const processInternals = rule('Internal process APIs', (context) => {
  const sc = context.sourceCode;
  return {
    MemberExpression(node) {
      if (isWriteTarget(node)) return;
      const scope = sc.getScope(node);
      if (!isGlobal(node.object, 'process', scope) && !isProcessImport(node.object, scope)) return;
      const name = propertyName(node, scope);
      if (name === undefined) context.report({ node, message: 'reads process with a computed key' });
      else if (PROCESS_INTERNALS.has(name)) context.report({ node, message: `uses process.${name}` });
    },
  };
});
const isProcessImport = (node: Expr, scope: Scope.Scope) => {
  const n = unwrap(node);
  return n.type === 'Identifier' && boundFromModule(n, scope, moduleNamed(['process']));
};

/** `vm.runInNewContext(code)`, `new vm.Script(code)`, `compileFunction(code)`. */
const vmCode = rule('Code compiled by the vm module', (context) => {
  const sc = context.sourceCode;
  const calleeName = (callee: Expr, scope: Scope.Scope) =>
    callee.type === 'Identifier'
      ? callee.name
      : callee.type === 'MemberExpression'
        ? propertyName(callee, scope)
        : undefined;
  return {
    CallExpression(node) {
      const scope = sc.getScope(node);
      const name = calleeName(unwrap(node.callee), scope);
      if (name && VM_CALLS.has(name)) context.report({ node, message: `runs code with vm ${name}()` });
    },
    NewExpression(node) {
      const scope = sc.getScope(node);
      const callee = unwrap(node.callee);
      const name = calleeName(callee, scope);
      if (!name || !VM_CLASSES.has(name)) return;
      const holder = callee.type === 'MemberExpression' ? unwrap(callee.object) : callee;
      const fromVm =
        holder.type === 'Identifier' &&
        ((holder !== callee && holder.name === 'vm') || boundFromModule(holder, scope, isVmModule));
      if (fromVm) context.report({ node, message: `compiles code with new vm.${name}()` });
    },
  };
});

export const RULES: Record<string, Rule.RuleModule> = {
  'dynamic-global-access': dynamicGlobalAccess,
  'function-constructor': functionConstructor,
  'module-loader': moduleLoader,
  'dynamic-import': dynamicImport,
  'network-or-process-module': hiddenModule,
  'process-internals': processInternals,
  'vm-code': vmCode,
};
