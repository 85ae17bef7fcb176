// Static analysis over real tools (ESLint, pyflakes, bandit, secretlint): no mocks.
import { describe, expect, it } from 'vitest';
import { analyzeChanges, type ChangedFile, type Finding } from '../env/analysis/index.ts';

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
