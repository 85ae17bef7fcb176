// ESLint Node API with our own flat config. `overrideConfigFile: true` keeps ESLint from looking for (and
// executing) any config file; `noInlineConfig` keeps a patch from switching rules off with comments. Runs in the
// worker thread of eslint.ts (in the harness process only if that worker cannot start): linting is synchronous,
// and parsing a large file with typescript-eslint takes seconds. One ESLint instance per thread: loading the
// parsers and plugins is the slow part.
import path from 'node:path';
import js from '@eslint/js';
import { ESLint, type Linter } from 'eslint';
import security from 'eslint-plugin-security';
import globals from 'globals';
import tseslint from 'typescript-eslint';
import { CODE_MODULES, NETWORK_OR_PROCESS_MODULES, RULES } from './eslint-rules.ts';
import { JS_EXTENSIONS, TS_EXTENSIONS } from './eslint.ts';
import type { Finding } from './index.ts';

const TS_FILES = TS_EXTENSIONS.map((e) => `**/*${e}`);
const ALL_FILES = JS_EXTENSIONS.map((e) => `**/*${e}`);

const MODULE_MESSAGE = 'imports a network/process module';
const CODE_MODULE_MESSAGE = 'imports a module that compiles and runs code';
// `node:dns/promises` too; the slash is escaped because a bare `/` would end esquery's regex literal.
const moduleRegex = (list: string[]) => `/^(node:)?(${list.join('|')})(\\u002F.*)?$/`;
const netRegex = moduleRegex(NETWORK_OR_PROCESS_MODULES);
const codeRegex = moduleRegex(CODE_MODULES);

/** Our own rules, as the in-config plugin `repogym` (see eslint-rules.ts). */
const repogym = { meta: { name: 'repogym' }, rules: RULES };

const SECURITY_RULES: Linter.RulesRecord = {
  ...(security.configs.recommended.rules as Linter.RulesRecord),
  'no-eval': 'error',
  'no-implied-eval': 'error',
  'no-new-func': 'error',
  // ESM imports; require() and import() are matched by the syntax selectors below.
  'no-restricted-imports': [
    'error',
    {
      patterns: [
        { regex: netRegex.slice(1, -1), message: MODULE_MESSAGE },
        { regex: codeRegex.slice(1, -1), message: CODE_MODULE_MESSAGE },
      ],
    },
  ],
  'no-restricted-syntax': [
    'error',
    {
      selector: `CallExpression[callee.name='require'][arguments.0.value=${netRegex}]`,
      message: MODULE_MESSAGE,
    },
    { selector: `ImportExpression[source.value=${netRegex}]`, message: MODULE_MESSAGE },
    {
      selector: `CallExpression[callee.name='require'][arguments.0.value=${codeRegex}]`,
      message: CODE_MODULE_MESSAGE,
    },
    { selector: `ImportExpression[source.value=${codeRegex}]`, message: CODE_MODULE_MESSAGE },
  ],
  ...Object.fromEntries(Object.keys(RULES).map((r) => [`repogym/${r}`, 'error'])),
};

/** Severity of a security rule; anything not listed is medium. */
const SECURITY_SEVERITY: Record<string, Finding['severity']> = {
  'no-eval': 'high',
  'no-implied-eval': 'high',
  'no-new-func': 'high',
  'security/detect-eval-with-expression': 'high',
  'security/detect-child-process': 'high',
  'security/detect-non-literal-require': 'high',
  'security/detect-bidi-characters': 'high',
  'security/detect-object-injection': 'low',
  'security/detect-possible-timing-attacks': 'low',
  'repogym/dynamic-global-access': 'high',
  'repogym/function-constructor': 'high',
  'repogym/module-loader': 'high',
  'repogym/dynamic-import': 'high',
  'repogym/network-or-process-module': 'medium',
  'repogym/process-internals': 'high',
  'repogym/vm-code': 'high',
};

const config: Linter.Config[] = [
  {
    files: ALL_FILES,
    languageOptions: {
      ecmaVersion: 'latest',
      sourceType: 'module',
      // Both environments, so that undefined-global noise does not dominate.
      globals: { ...globals.node, ...globals.browser },
      parserOptions: { ecmaFeatures: { jsx: true } },
    },
    linterOptions: { noInlineConfig: true, reportUnusedDisableDirectives: 'off' },
  },
  { files: ['**/*.cjs'], languageOptions: { sourceType: 'commonjs' } },
  { files: ALL_FILES, ...js.configs.recommended },
  ...(tseslint.configs.recommended as Linter.Config[]).map((c) => ({ ...c, files: TS_FILES })),
  { files: ALL_FILES, plugins: { security, repogym }, rules: SECURITY_RULES },
];

// Files are linted under a virtual root that never exists: ESLint ignores paths outside its cwd and under
// node_modules/, so each file is linted as `<root>/<basename>` (rules do not depend on the directory).
const VIRTUAL_ROOT = path.resolve('/repogym-analysis-virtual-root');
let instance: ESLint | undefined;
const eslint = () =>
  (instance ??= new ESLint({
    cwd: VIRTUAL_ROOT,
    overrideConfigFile: true,
    overrideConfig: config,
    ignore: false,
  }));

export interface LintResult {
  quality: Finding[];
  security: Finding[];
}

export async function lintText(file: string, text: string): Promise<LintResult> {
  const filePath = path.join(VIRTUAL_ROOT, path.basename(file));
  const [result] = await eslint().lintText(text, { filePath, warnIgnored: true });
  const out: LintResult = { quality: [], security: [] };
  for (const m of result?.messages ?? []) {
    const base = { tool: 'eslint', file, line: m.line ?? 1, message: m.message };
    if (m.fatal) out.quality.push({ ...base, rule: 'parse-error', severity: 'high' });
    else if (m.ruleId === null) {
      // Without a rule: an inline directive that noInlineConfig disabled (a patch trying to silence ESLint),
      // or "file ignored", which our config should make impossible.
      if (m.message.startsWith('File ignored')) throw new Error(m.message);
      out.quality.push({ ...base, rule: 'inline-config', severity: 'low' });
    } else if (m.ruleId in SECURITY_RULES)
      out.security.push({ ...base, rule: m.ruleId, severity: SECURITY_SEVERITY[m.ruleId] ?? 'medium' });
    else out.quality.push({ ...base, rule: m.ruleId, severity: 'low' });
  }
  return out;
}
