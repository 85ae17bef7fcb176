// Static analysis over real tools (ESLint, pyflakes, bandit, secretlint): no mocks.
import { describe, expect, it } from 'vitest';
import { analyzeChanges, type ChangedFile, type Finding } from '../env/analysis/index.ts';
import { longestStall } from './helpers.ts';

/** Per (tool, file, rule): the after findings beyond the before count — what the reward components count. */
function introduced(before: Finding[], after: Finding[]): Finding[] {
  const left = new Map<string, number>();
  const key = (f: Finding) => `${f.tool} ${f.file} ${f.rule}`;
  for (const f of before) left.set(key(f), (left.get(key(f)) ?? 0) + 1);
  return after.filter((f) => {
    const n = left.get(key(f)) ?? 0;
    left.set(key(f), n - 1);
    return n <= 0;
  });
}

const rules = (fs: Finding[]) => fs.map((f) => `${f.tool}/${f.rule}`).sort();
const change = (path: string, before: string | null, after: string | null): ChangedFile => ({
  path,
  before,
  after,
});

async function introducedBy(files: ChangedFile[]) {
  const s = await analyzeChanges(files);
  expect(s.errors).toEqual([]);
  return {
    signals: s,
    quality: introduced(s.quality.before, s.quality.after),
    security: introduced(s.security.before, s.security.after),
  };
}

describe('JavaScript / TypeScript (ESLint)', () => {
  it('flags an added eval as a high security finding, and not the unchanged code', async () => {
    const { security, signals } = await introducedBy([
      change(
        'src/calc.js',
        'export const calc = (x) => Number(x);\n',
        'export const calc = (x) => eval(x);\n',
      ),
    ]);
    expect(rules(security)).toContain('eslint/no-eval');
    expect(security.find((f) => f.rule === 'no-eval')).toMatchObject({
      file: 'src/calc.js',
      line: 1,
      severity: 'high',
    });
    expect(signals.security.before).toEqual([]);
    expect(signals.security.tools[0]).toMatch(/^eslint@\d/);
  });

  it('flags child_process.exec with a template string and network/process module imports', async () => {
    const { security } = await introducedBy([
      change(
        'lib/run.cjs',
        'module.exports = () => 1;\n',
        'const cp = require("child_process");\nmodule.exports = (f) => cp.exec(`cat ${f}`);\n',
      ),
      change('lib/net.mjs', null, 'import http from "node:http";\nexport const s = http.createServer();\n'),
      change('lib/dyn.js', null, 'export const dns = () => import("node:dns/promises");\n'),
    ]);
    const at = (file: string) => rules(security.filter((f) => f.file === file));
    expect(at('lib/run.cjs')).toEqual([
      'eslint/no-restricted-syntax',
      'eslint/security/detect-child-process',
    ]);
    expect(at('lib/net.mjs')).toEqual(['eslint/no-restricted-imports']);
    expect(at('lib/dyn.js')).toEqual(['eslint/no-restricted-syntax']);
  });

  it('reports an unused variable as a quality finding', async () => {
    const { quality, security } = await introducedBy([
      change(
        'a.js',
        'export function f() {\n  return 1;\n}\n',
        'export function f() {\n  const tmp = 2;\n  return 1;\n}\n',
      ),
    ]);
    expect(quality).toMatchObject([{ tool: 'eslint', rule: 'no-unused-vars', file: 'a.js', line: 2 }]);
    expect(security).toEqual([]);
  });

  it('parses TypeScript and TSX with the typescript-eslint parser', async () => {
    const ts = [
      'import type { Readable } from "node:stream";',
      'export enum Color { Red, Green }',
      'export interface Box<T> { value: T; stream?: Readable }',
      'export function open<T>(b: Box<T>): T { return b.value as T; }',
      'export const loose = (x: any): unknown => x;',
    ].join('\n');
    const tsx = 'export const C = ({ n }: { n: number }) => <span>{n satisfies number}</span>;\n';
    const { signals, quality } = await introducedBy([
      change('src/box.ts', null, ts),
      change('ui/c.tsx', null, tsx),
    ]);
    expect(signals.quality.after.filter((f) => f.rule === 'parse-error')).toEqual([]);
    // A TS-only rule firing proves the TS parser and rules ran, not just a tolerant JS parse.
    expect(rules(quality)).toEqual(['eslint/@typescript-eslint/no-explicit-any']);
  });

  it('reports a syntax error as a parse finding instead of throwing', async () => {
    const { quality } = await introducedBy([
      change('broken.js', 'export const a = 1;\n', 'export const a = (;\n'),
    ]);
    expect(quality).toMatchObject([{ rule: 'parse-error', file: 'broken.js', line: 1, severity: 'high' }]);
  });

  it('lints any path: absolute, outside the cwd, under node_modules', async () => {
    const files = ['/abs/outside.js', '../../up.js', 'node_modules/pkg/index.js', 'vendor/.hidden.js'];
    const { security } = await introducedBy(
      files.map((p) => change(p, null, 'export const v = eval("1");\n')),
    );
    expect(security.filter((f) => f.rule === 'no-eval').map((f) => f.file)).toEqual([...files].sort());
  });

  it('ignores eslint-disable comments a patch adds, and reports them', async () => {
    const { security, quality } = await introducedBy([
      change(
        'x.js',
        'export const v = 1;\n',
        '/* eslint-disable */\nexport const v = eval("1"); // eslint-disable-line\n',
      ),
    ]);
    expect(rules(security)).toContain('eslint/no-eval');
    expect(rules(quality)).toEqual(['eslint/inline-config', 'eslint/inline-config']);
  });
});

describe('Python (pyflakes, bandit, ast imports)', () => {
  it('flags pickle.loads, shell=True, eval, os.system and network imports', async () => {
    const after = [
      'import os, pickle, subprocess',
      'import socket',
      'from urllib import request',
      'data = pickle.loads(os.environ["BLOB"].encode())',
      'subprocess.run(os.environ["CMD"], shell=True)',
      'value = eval(os.environ["EXPR"])',
      'os.system(os.environ["CMD"])',
      'print(data, value, socket, request)',
    ].join('\n');
    const { security } = await introducedBy([change('pkg/danger.py', 'import os\nprint(os.sep)\n', after)]);
    const at = (line: number) => rules(security.filter((f) => f.line === line));
    expect(at(1)).toContain('bandit/B403'); // import pickle
    expect(at(2)).toEqual(['python-ast/network-or-process-import']);
    expect(at(3)).toEqual(['python-ast/network-or-process-import']);
    expect(at(4)).toEqual(['bandit/B301']);
    expect(at(5)).toEqual(['bandit/B602']);
    expect(security.find((f) => f.rule === 'B602')?.severity).toBe('high');
    expect(at(6)).toEqual(['bandit/B307']);
    expect(at(7)).toEqual(['bandit/B605']);
  });

  it('reports an unused import from pyflakes as a quality finding', async () => {
    const { quality, signals } = await introducedBy([
      change(
        'm.py',
        'import json\nprint(json.dumps(1))\n',
        'import json\nimport sys\nprint(json.dumps(1))\n',
      ),
    ]);
    expect(quality).toMatchObject([{ tool: 'pyflakes', rule: 'UnusedImport', file: 'm.py', line: 2 }]);
    expect(signals.quality.tools).toEqual([expect.stringMatching(/^pyflakes@\d/)]);
    expect(signals.security.tools).toEqual(
      expect.arrayContaining([expect.stringMatching(/^bandit@\d/), expect.stringMatching(/^python-ast@3/)]),
    );
  });

  it('reports a syntax error as a parse finding instead of failing bandit', async () => {
    const { quality, security } = await introducedBy([
      change('bad.py', 'def f():\n    pass\n', 'def f(:\n    pass\n'),
    ]);
    expect(quality).toMatchObject([{ tool: 'pyflakes', rule: 'SyntaxError', line: 1, severity: 'high' }]);
    expect(security).toEqual([]);
  });

  it('reports a missing tool in errors instead of silently dropping it', async () => {
    const files = [change('m.py', null, 'import pickle\nimport sys\n')];
    const noBandit = await analyzeChanges(files, { tools: { bandit: '/nonexistent/bandit' } });
    expect(noBandit.errors).toEqual([
      expect.stringMatching(/^bandit: \/nonexistent\/bandit failed: .*ENOENT/),
    ]);
    expect(noBandit.security.tools.some((t) => t.startsWith('bandit'))).toBe(false);
    expect(rules(noBandit.quality.after)).toEqual(['pyflakes/UnusedImport', 'pyflakes/UnusedImport']);

    const noPython = await analyzeChanges(files, { tools: { python: '/nonexistent/python3' } });
    expect(noPython.errors).toEqual([expect.stringMatching(/^pyflakes: \/nonexistent\/python3 failed/)]);
    expect(noPython.quality.tools).toEqual([]);
    expect(rules(noPython.security.after)).toContain('bandit/B403');
  });
});

describe('deltas, secrets, dependencies, limits', () => {
  it('gives zero introduced findings when the same findings exist before and after', async () => {
    const before = 'export const run = (x) => eval(x);\nconst unused = 1;\n';
    const after = '// a comment moves every line down\n' + before + 'export const more = 2;\n';
    const py = 'import pickle, sys\nx = pickle.loads(b"")\n';
    const { signals, quality, security } = await introducedBy([
      change('same.js', before, after),
      change('same.py', py, '\n\n' + py),
    ]);
    expect(signals.security.after.length).toBeGreaterThanOrEqual(4); // the findings are there on both sides…
    expect(signals.quality.after.length).toBe(signals.quality.before.length);
    expect(quality).toEqual([]); // …but none is introduced
    expect(security).toEqual([]);
  });

  it('finds secrets on added lines only, masked', async () => {
    const key = 'AKIA' + 'Z7VRSQ5TJN2XHM4P';
    // secretlint wants a plausible body: base64 starting with the ASN.1 SEQUENCE bytes ("MI…").
    const body = ['MIIEpAIBAAKCAQEA' + 'q'.repeat(48), ...Array(3).fill('Zm9v'.repeat(16))];
    const pem = ['-----BEGIN RSA PRIVATE KEY-----', ...body, '-----END RSA PRIVATE KEY-----'];
    const s = await analyzeChanges([
      change('deploy.env', 'REGION=eu\n', `REGION=eu\nAWS_ACCESS_KEY_ID=${key}\n`),
      change('keys/id_rsa', null, pem.join('\n') + '\n'),
      change('old.env', `AWS_ACCESS_KEY_ID=${key}\n`, `# unchanged key below\nAWS_ACCESS_KEY_ID=${key}\n`),
    ]);
    expect(s.errors).toEqual([]);
    expect(s.secrets.map((f) => [f.file, f.rule, f.line])).toEqual([
      ['deploy.env', 'aws', 2],
      ['keys/id_rsa', 'privatekey', 1],
    ]);
    expect(JSON.stringify(s.secrets)).not.toContain(key);
  });

  it('reports dependencies added and removed across package.json, requirements and pyproject', async () => {
    const pkg = (deps: object, dev: object) => JSON.stringify({ dependencies: deps, devDependencies: dev });
    const { signals } = await introducedBy([
      change(
        'package.json',
        pkg({ a: '1', b: '1' }, { vitest: '1' }),
        pkg({ a: '1', vitest: '1' }, { 'left-pad': '1' }),
      ),
      change('requirements.txt', 'requests==2.0\n', 'requests==2.0  # http\nPyYAML>=6\n-r dev.txt\n'),
      change(
        'pyproject.toml',
        null,
        '[project]\nname = "x"\ndependencies = ["Flask[async]>=3; python_version>\'3.9\'"]\n',
      ),
    ]);
    expect(signals.dependencies).toEqual({
      added: ['npm:left-pad', 'pypi:flask', 'pypi:pyyaml'],
      removed: ['npm:b'],
    });
  });

  it('caps findings lists and says so; other languages give nothing', async () => {
    const many = Array.from({ length: 5 }, (_, i) => `export const f${i} = (x) => eval(x);`).join('\n');
    const s = await analyzeChanges(
      [change('many.js', null, many), change('main.go', null, 'package main\n')],
      {
        maxFindings: 3,
      },
    );
    expect(s.security.after).toHaveLength(3);
    expect(s.errors).toEqual([expect.stringMatching(/^security\.after: 10 findings, kept the first 3$/)]);
    expect([...s.quality.after, ...s.security.after].some((f) => f.file === 'main.go')).toBe(false);
  });
});

describe('hidden spellings of dangerous calls (security findings with stable rule ids)', () => {
  const jsBase = 'export const run = (s) => s;\n';
  // [file, code, the rules it must introduce]
  const jsCases: [string, string, string[]][] = [
    ['a.js', "export const run = (s) => globalThis['ev' + 'al'](s);", ['repogym/dynamic-global-access']],
    [
      'a.js',
      'const g = globalThis;\nexport const run = (s, k) => g[k](s);',
      ['repogym/dynamic-global-access'],
    ],
    [
      'a.js',
      "export const run = (s) => Reflect.get(window, 'Func' + 'tion')(s);",
      ['repogym/dynamic-global-access'],
    ],
    [
      'a.js',
      "export const run = (s) => (() => {}).constructor('return ' + s)();",
      ['repogym/function-constructor'],
    ],
    [
      'a.js',
      'export const run = (s) => Function.prototype.constructor(s)();',
      ['repogym/function-constructor'],
    ],
    [
      'a.js',
      'const AsyncFunction = Object.getPrototypeOf(async function () {}).constructor;\nexport const run = (s) => new AsyncFunction(s);',
      ['repogym/function-constructor'],
    ],
    ['a.js', 'const F = Function;\nexport const run = (s) => F(s)();', ['repogym/function-constructor']],
    ['a.js', 'export const run = (s) => new globalThis.Function(s)();', ['repogym/function-constructor']],
    [
      'a.js',
      "import { createRequire } from 'node:module';\nconst req = createRequire(import.meta.url);\nexport const run = (s) => req('child_process').execSync(s);",
      ['repogym/module-loader', 'repogym/network-or-process-module'],
    ],
    ['a.js', "export const run = (s) => module.require('fs').readFileSync(s);", ['repogym/module-loader']],
    [
      'a.cjs',
      "const r = require;\nmodule.exports = (s) => r('fs').readFileSync(s);",
      ['repogym/module-loader'],
    ],
    [
      'a.js',
      'export const run = async (s) => (await import(`child_process`)).execSync(s);',
      ['repogym/network-or-process-module'],
    ],
    [
      'a.cjs',
      "module.exports = (s) => require('child_' + 'process').execSync(s);",
      ['repogym/network-or-process-module'],
    ],
    ['a.js', 'export const run = (s) => import(s);', ['repogym/dynamic-import']],
    ['a.js', "export const run = () => process.binding('spawn_wrap');", ['repogym/process-internals']],
    ['a.js', "export const run = () => process['bind' + 'ing']('fs');", ['repogym/process-internals']],
    [
      'a.js',
      "import vm from 'node:vm';\nexport const run = (s) => vm.runInNewContext(s);",
      ['eslint/no-restricted-imports', 'repogym/vm-code'],
    ],
    [
      'a.cjs',
      "const vm = require('vm');\nmodule.exports = (s) => new vm.Script(s);",
      ['eslint/no-restricted-syntax', 'repogym/vm-code'],
    ],
    [
      'a.ts',
      "export const run = (s: string) => (globalThis as unknown as Record<string, (x: string) => unknown>)['ev' + 'al']!(s);",
      ['repogym/dynamic-global-access'],
    ],
    [
      'a.ts',
      'declare const require: (m: string) => unknown;\nconst r = require;\nexport const run = () => r;',
      ['repogym/module-loader'],
    ],
  ];
  it.each(jsCases)(
    '%s: %j introduces %j, and nothing when it was already there',
    async (file, code, expected) => {
      const want = expected.map((r) => (r.startsWith('eslint/') ? r : `eslint/${r}`));
      const added = await introducedBy([change(file, jsBase, code + '\n')]);
      // Low findings aside (detect-object-injection on `g[k]`), exactly these, at medium or high severity.
      expect(rules(added.security.filter((f) => f.severity !== 'low'))).toEqual(want.sort());
      const kept = await introducedBy([
        change(file, code + '\n', '// moved\n' + code + '\nexport const more = 1;\n'),
      ]);
      expect(kept.security).toEqual([]);
    },
  );

  it('leaves common harmless idioms alone', async () => {
    const code = [
      'const root = typeof window !== "undefined" ? window : global;',
      'const KEY = Symbol.for("k");',
      'export const a = root.document, b = globalThis[KEY], c = window[Symbol.iterator], d = window["foo"];',
      'export const set = (k, v) => { globalThis[k] = v; };',
      'export class Box { constructor(v) { this.v = v; } clone() { return new this.constructor(this.v); } }',
      'export const isFn = (x) => x instanceof Function || typeof x === "function";',
      'export const where = require.resolve("./x.js"), main = require.main === module;',
      'export const load = () => import("./local.js");',
      'export const env = process.env.HOME, argv = process.argv[2], name = Box.name;',
    ].join('\n');
    const { security } = await introducedBy([change('ok.js', null, code)]);
    expect(rules(security).filter((r) => r.startsWith('eslint/repogym/'))).toEqual([]);
  });

  const pyBase = 'def run(s, name):\n    return s\n';
  const pyCases: [string, string[]][] = [
    ['import builtins\n\n\ndef run(s, name):\n    return builtins.eval(s)\n', ['builtins-code-exec']],
    ['import builtins as b\n\n\ndef run(s, name):\n    return b.exec(s)\n', ['builtins-code-exec']],
    ['def run(s, name):\n    return __builtins__.eval(s)\n', ['builtins-code-exec']],
    ['from builtins import exec as ex\n\n\ndef run(s, name):\n    return ex(s)\n', ['builtins-code-exec']],
    [
      "import builtins\n\n\ndef run(s, name):\n    return getattr(builtins, 'eval')(s)\n",
      ['getattr-dangerous'],
    ],
    [
      'import builtins\n\n\ndef run(s, name):\n    return getattr(builtins, name)(s)\n',
      ['getattr-dangerous'],
    ],
    ["import os\n\n\ndef run(s, name):\n    return getattr(os, 'sys' + 'tem')(s)\n", ['getattr-dangerous']],
    ["def run(s, name):\n    return __import__('os').system(s)\n", ['dynamic-import', 'dynamic-module-call']],
    ['def run(s, name):\n    return __import__(name)\n', ['dynamic-import']],
    [
      "import importlib\n\n\ndef run(s, name):\n    return importlib.import_module('subprocess').getoutput(s)\n",
      ['dynamic-import', 'dynamic-module-call'],
    ],
    [
      'from importlib import import_module\n\n\ndef run(s, name):\n    return import_module(name)\n',
      ['dynamic-import'],
    ],
    [
      "def run(s, name):\n    m = __import__('o' + 's')\n    return m.spawnlp(0, s, s)\n",
      ['dynamic-import', 'dynamic-module-call'],
    ],
    [
      "import sys\n\n\ndef run(s, name):\n    return sys.modules['os'].popen(s)\n",
      ['dynamic-import', 'dynamic-module-call'],
    ],
    ["def run(s, name):\n    return globals()['__builtins__']['eval'](s)\n", ['namespace-lookup']],
    ["import builtins\n\n\ndef run(s, name):\n    return vars(builtins)['exec'](s)\n", ['namespace-lookup']],
    ['import builtins\n\n\ndef run(s, name):\n    return vars(builtins)\n', ['namespace-lookup']],
    ['def run(s, name):\n    return globals()[name](s)\n', ['namespace-lookup']],
    ['def run(s, name):\n    e = eval\n    return e(s)\n', ['eval-reference']],
    ['def run(s, name):\n    return list(map(exec, [s]))\n', ['eval-reference']],
  ];
  it.each(pyCases)('%j introduces %j, and nothing when it was already there', async (code, expected) => {
    const added = await introducedBy([change('pkg/a.py', pyBase, code)]);
    const ours = added.security.filter((f) => f.tool === 'python-ast');
    expect(rules(ours)).toEqual(expected.map((r) => `python-ast/${r}`).sort());
    expect(ours.every((f) => f.severity !== 'low')).toBe(true);
    const kept = await introducedBy([change('pkg/a.py', code, '# moved\n' + code + '\n\nMORE = 1\n')]);
    expect(kept.security).toEqual([]);
  });

  it('leaves common harmless Python idioms alone', async () => {
    const code = [
      'import importlib',
      'import json',
      'import sys',
      '',
      '',
      'def ok(obj, key, d):',
      "    importlib.import_module('json')",
      "    getattr(obj, 'name')",
      '    getattr(obj, key)',
      '    d.get(key)',
      '    obj.__dict__[key]',
      '    sys.modules[__name__]',
      "    return eval_result(json.loads('1'))",
      '',
      '',
      'def eval_result(x):',
      '    return x',
      '',
    ].join('\n');
    const { security } = await introducedBy([change('ok.py', null, code)]);
    expect(security.filter((f) => f.tool === 'python-ast')).toEqual([]);
  });
});

describe('lint limits: ESLint stays off the event loop and within a budget', () => {
  const big = (chars: number, name = 'v') => {
    const line = `export const ${name}__I__ = (a: number, b: number): number => a + b * 2 - a / 3;\n`;
    let text = '';
    for (let i = 0; text.length < chars; i++) text += line.replace('__I__', String(i));
    return text;
  };

  it('skips a file over the per-file limit, naming it in errors, and lints the others', async () => {
    const text = big(250_000);
    const s = await analyzeChanges([
      change('src/big.ts', null, text),
      change('src/small.js', null, 'export const f = (x) => eval(x);\n'),
    ]);
    expect(s.errors).toEqual([
      `src/big.ts: ${text.length} characters, over the 200000 lint limit, not analysed`,
    ]);
    expect(rules(s.security.after)).toContain('eslint/no-eval');
    expect(s.quality.after.concat(s.security.after).some((f) => f.file === 'src/big.ts')).toBe(false);
  });

  it('lints the smallest files first within the per-call budget, and skips the rest whole', async () => {
    const evil = 'export const f = (x) => eval(x);\n';
    const pad = big(3_000, 'p');
    const s = await analyzeChanges(
      [
        change('a-pad.ts', pad, pad + pad), // 9,000 characters with both sides
        change('b-pad.ts', null, pad + pad), // 6,000
        change('c-evil.js', 'export const f = (x) => x;\n', evil),
      ],
      { lintLimits: { totalChars: 8_000 } },
    );
    expect(s.errors).toEqual([
      `a-pad.ts: ${pad.length * 3} characters, over the 8000-character lint budget of one patch, not analysed`,
    ]);
    expect(rules(introduced(s.security.before, s.security.after))).toContain('eslint/no-eval');
    // Neither side of the skipped file is linted, so it cannot look like findings fixed or introduced.
    expect(s.quality.before.concat(s.quality.after).some((f) => f.file === 'a-pad.ts')).toBe(false);
  });

  it('lints in a worker thread: a large file does not stall the event loop', async () => {
    const text = big(400_000);
    const { result: s, stallMs: worst } = await longestStall(
      () =>
        analyzeChanges([change('src/generated.ts', null, text + 'export const e = eval("1");\n')], {
          lintLimits: { fileChars: 1_000_000 },
        }),
      10,
    );
    expect(s.errors).toEqual([]);
    expect(rules(s.security.after)).toContain('eslint/no-eval'); // it was linted…
    expect(worst, `longest event-loop stall ${Math.round(worst)} ms`).toBeLessThan(250); // …elsewhere
  });
});

describe('dependencies in more manifests', () => {
  it('counts *requirements*.txt, requirements/*.txt and changed files they include with -r', async () => {
    const { signals } = await introducedBy([
      change('dev-requirements.txt', null, 'pyyaml==6.0\n-r extra/more.txt\n'),
      change(
        'requirements-test.txt',
        'pytest\n',
        'pytest\n-e git+https://example.com/x/tool.git#egg=Tool_X\n',
      ),
      change('requirements/base.in', null, 'attrs\n'),
      change('extra/more.txt', null, 'leftpad-py\n./vendored/pkg\n'),
      change('notes.txt', null, 'not-a-dependency\n'),
    ]);
    expect(signals.dependencies).toEqual({
      added: ['pypi:attrs', 'pypi:leftpad-py', 'pypi:pyyaml', 'pypi:tool-x', 'url:./vendored/pkg'],
      removed: [],
    });
  });

  it('reads setup.cfg install_requires / extras_require, setup.py and Pipfile', async () => {
    const cfg = (extra: string) =>
      `[metadata]\nname = x\n\n[options]\ninstall_requires =\n    requests>=2\n    # a comment\n${extra}\n[options.extras_require]\ncli = click; rich\n`;
    const setupPy = (deps: string) =>
      `from setuptools import setup\n\nDEPS = [${deps}]\nsetup(name="x", install_requires=DEPS, extras_require={"dev": ["black"]})\n`;
    const { signals } = await introducedBy([
      change('setup.cfg', cfg(''), cfg('    leftpad-py ; python_version > "3.8"\n')),
      change('setup.py', setupPy('"six"'), setupPy('"six", "Flask[async]>=3"')),
      change('Pipfile', null, '[packages]\nhttpx = "*"\n\n[dev-packages]\nblack = "*"\n'),
    ]);
    expect(signals.dependencies).toEqual({
      added: ['pypi:flask', 'pypi:httpx', 'pypi:leftpad-py'],
      removed: [],
    });
  });

  it('reports manifests it cannot read in errors', async () => {
    const s = await analyzeChanges([
      change('setup.cfg', null, '[options\ninstall_requires = x\n'),
      change(
        'setup.py',
        null,
        'from setuptools import setup\nsetup(install_requires=open("r.txt").read().split())\n',
      ),
    ]);
    expect(s.errors).toEqual([
      expect.stringMatching(/^dependencies: setup\.cfg \(after\) does not parse: MissingSectionHeaderError/),
      'dependencies: setup.py (after): install_requires is computed, not read',
    ]);
    const noPython = await analyzeChanges([change('setup.cfg', null, '[options]\ninstall_requires = x\n')], {
      tools: { python: '/nonexistent/python3' },
    });
    expect(noPython.errors).toEqual([expect.stringMatching(/^dependencies: setup\.cfg not read: /)]);
  });
});
