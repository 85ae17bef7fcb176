// JavaScript/TypeScript analysis with the ESLint Node API and our own flat config. `overrideConfigFile: true`
// keeps ESLint from looking for (and executing) any config file; `noInlineConfig` keeps a patch from switching
// rules off with comments. One ESLint instance per process: loading the parsers and plugins is the slow part.
import path from 'node:path';
import js from '@eslint/js';
import { ESLint, type Linter } from 'eslint';
import security from 'eslint-plugin-security';
import globals from 'globals';
import tseslint from 'typescript-eslint';
import type { ChangedFile, Finding } from './index.ts';

export const ESLINT_TOOL = `eslint@${ESLint.version}`;

const TS_EXT = ['.ts', '.tsx', '.mts', '.cts'];
const JS_EXT = ['.js', '.mjs', '.cjs', '.jsx', ...TS_EXT];
const TS_FILES = TS_EXT.map((e) => `**/*${e}`);
const ALL_FILES = JS_EXT.map((e) => `**/*${e}`);

export const isJsPath = (p: string) => JS_EXT.includes(path.extname(p).toLowerCase());

/** Modules that give code a network or a process; importing one is a security finding. */
const NETWORK_OR_PROCESS_MODULES = [
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
const MODULE_MESSAGE = 'imports a network/process module';
// `node:dns/promises` too; the slash is escaped because a bare `/` would end esquery's regex literal.
const moduleRegex = `/^(node:)?(${NETWORK_OR_PROCESS_MODULES.join('|')})(\\u002F.*)?$/`;

const SECURITY_RULES: Linter.RulesRecord = {
  ...(security.configs.recommended.rules as Linter.RulesRecord),
  'no-eval': 'error',
  'no-implied-eval': 'error',
  'no-new-func': 'error',
  // ESM imports; require() and import() are matched by the syntax selectors below.
  'no-restricted-imports': [
    'error',
    {
      patterns: [{ regex: moduleRegex.slice(1, -1), message: MODULE_MESSAGE }],
    },
  ],
  'no-restricted-syntax': [
    'error',
    {
      selector: `CallExpression[callee.name='require'][arguments.0.value=${moduleRegex}]`,
      message: MODULE_MESSAGE,
    },
    { selector: `ImportExpression[source.value=${moduleRegex}]`, message: MODULE_MESSAGE },
  ],
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
  { files: ALL_FILES, plugins: { security }, rules: SECURITY_RULES },
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

type Sides = { before: Finding[]; after: Finding[] };

export async function lintJs(
  files: ChangedFile[],
): Promise<{ quality: Sides; security: Sides; errors: string[] }> {
  const quality: Sides = { before: [], after: [] };
  const sec: Sides = { before: [], after: [] };
  const errors: string[] = [];
  for (const f of files) {
    const cache = new Map<string, { quality: Finding[]; security: Finding[] }>();
    for (const side of ['before', 'after'] as const) {
      const text = f[side];
      if (text === null) continue;
      let r = cache.get(text);
      if (!r) {
        try {
          r = await lintOne(f.path, text);
        } catch (e) {
          errors.push(`eslint: ${f.path} (${side}): ${(e as Error).message}`);
          continue;
        }
        cache.set(text, r);
      }
      quality[side].push(...r.quality);
      sec[side].push(...r.security);
    }
  }
  return { quality, security: sec, errors };
}

async function lintOne(file: string, text: string): Promise<{ quality: Finding[]; security: Finding[] }> {
  const filePath = path.join(VIRTUAL_ROOT, path.basename(file));
  const [result] = await eslint().lintText(text, { filePath, warnIgnored: true });
  const out = { quality: [] as Finding[], security: [] as Finding[] };
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
