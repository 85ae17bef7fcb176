import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { reproVerdicts } from '../policies/repair/policy.ts';
import { codeBlocks, jsBlock, parseClaim, pyBlock, reproductionOf } from '../policies/repair/reproduce.ts';

describe('claims in issue reports', () => {
  it.each([
    [
      "'get-httpresponse-code', expected 'get-http-response-code'",
      { actual: "'get-httpresponse-code'", expected: "'get-http-response-code'" },
    ],
    ['expected: [ 1 ]\nactual:   []', { actual: '[]', expected: '[ 1 ]' }],
    [
      "'items 40-42/42'  <- item 42 does not exist (0-based), expected 'items 40-41/42'",
      { actual: "'items 40-42/42'", expected: "'items 40-41/42'" },
    ],
    ['[ 15, 16 ]  the last two collide', { actual: '[ 15, 16 ]' }],
    ['0 (!), expected 1', { actual: '0', expected: '1' }],
    ["Decimal('30'), expected Decimal('18')", { actual: "Decimal('30')", expected: "Decimal('18')" }],
    ["[('t', 13), ('it', 9)]", { actual: "[('t', 13), ('it', 9)]" }],
    [
      "ValueError: invalid amount expression, expected Money('8.75')",
      { actual: 'ValueError: invalid amount expression', expected: "Money('8.75')", raises: true },
    ],
  ])('%s', (comment, claim) => {
    expect(parseClaim(comment)).toEqual(claim);
  });

  it('a call the report calls right, prose, or an unreadable expectation is no claim', () => {
    expect(parseClaim("'items 0-19/42'   ok")).toBeUndefined();
    expect(parseClaim('[ 5, 6, 7 ]        fine')).toBeUndefined();
    expect(parseClaim('this looks wrong to me')).toBeUndefined();
    expect(parseClaim('')).toBeUndefined();
    // Printed output is compared as text, so any text is a claim; an expectation in prose is dropped.
    expect(parseClaim('"hello\\nworld"   <- I expected it unchanged', true)).toEqual({
      actual: '"hello\\nworld"',
    });
    expect(parseClaim('2 false   (expected 3 true)', true)).toEqual({
      actual: '2 false',
      expected: '3 true',
    });
  });

  it('finds fenced blocks with their language', () => {
    const text = 'Intro\n\n```js\nf(1); // 2\n```\n\n~~~python\n>>> f(1)\n2\n~~~\n\n```\nplain\n```\n';
    expect(codeBlocks(text)).toEqual([
      { language: 'js', code: 'f(1); // 2\n' },
      { language: 'python', code: '>>> f(1)\n2\n' },
      { language: '', code: 'plain\n' },
    ]);
  });
});

describe('blocks as the drivers run them', () => {
  it('JavaScript: imports become __import calls, claimed calls become __check calls, the rest stays', () => {
    const block = jsBlock(
      "import { a, b as c } from 'pkg';\nconst x = a(1);\nc(x); // 2, expected 3\n\nx + 1;\nconsole.log(x, 1); // 1 1\n",
      5,
    )!;
    expect(block.declared).toEqual(['a', 'c', 'x']);
    expect(block.examples.map((e) => [e.id, e.printed, e.claim])).toEqual([
      [5, false, { actual: '2', expected: '3' }],
      [6, true, { actual: '1 1' }],
    ]);
    expect(block.body).toContain('await __check(5, async () => (c(x)));');
    expect(block.body).toContain('await __check(6, async () => [x, 1]);');
    expect(block.body).toContain('const c = (await __import("pkg"))["b"];');
    expect(jsBlock('app.get((req) => {', 0)).toBeUndefined();
  });

  it('Python: doctests (with tracebacks) and commented calls, multi-line calls kept whole', () => {
    const doctest = pyBlock(
      '>>> from m import f\n>>> f(1)\nTraceback (most recent call last):\n  ...\nKeyError: 1\n>>> f(\n...   2)\n[1,\n 2]\n',
      0,
    );
    expect(doctest).toEqual([
      { code: 'from m import f' },
      { code: 'f(1)', example: { id: 0, claim: { actual: 'KeyError: 1', raises: true }, printed: false } },
      { code: 'f(\n  2)', example: { id: 1, claim: { actual: '[1,\n2]' }, printed: false } },
    ]);
    const commented = pyBlock('x = g(\n  "#", 2)  # 4, expected 5\nprint(x)\n# 4\n', 3);
    expect(commented).toEqual([
      {
        code: 'x = g(\n  "#", 2)',
        example: { id: 3, claim: { actual: '4', expected: '5' }, printed: false },
      },
      { code: '(x,)', example: { id: 4, claim: { actual: '4' }, printed: true } },
    ]);
  });
});

describe('reproduction scripts, run for real', () => {
  const run = async (files: Record<string, string>, statement: string, language: 'javascript' | 'python') => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'repogym-repro-'));
    try {
      for (const [name, text] of Object.entries(files)) {
        await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
        await writeFile(path.join(dir, name), text);
      }
      const repro = reproductionOf(statement, language)!;
      const [cmd, args] = language === 'python' ? ['python3', ['-']] : ['node', ['--input-type=module', '-']];
      const out = spawnSync(cmd, args as string[], { cwd: dir, input: repro.script, encoding: 'utf8' });
      return {
        status: out.status,
        verdicts: [...reproVerdicts(out.stdout)].map(([, v]) => v),
        stderr: out.stderr,
      };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  };

  it('JavaScript: verdicts per example, package functions in scope without an import, setup failures are other', async () => {
    const files = {
      'package.json': '{"name":"calc","type":"module","main":"index.js"}',
      'index.js':
        'export const half = (n) => Math.floor(n / 2);\nexport const boom = () => { throw new Error("x"); };\n',
    };
    const statement = [
      '```js',
      'half(5); // 2, expected 3', // reproduces
      'half(4); // 2', // the report shows a correct call: behaves as claimed, nothing expected → reproduces
      'half(7); // 99', // does not behave as reported
      "boom(); // 'ok'", // throws without the report saying so
      'console.log(JSON.stringify({ a: half(1) })); // {"a":0}',
      '```',
      '```js',
      "import { readFileSync } from 'node:fs';",
      "const data = readFileSync('missing.txt', 'utf8');",
      'half(data.length); // 1, expected 2',
      '```',
    ].join('\n');
    const { status, verdicts } = await run(files, statement, 'javascript');
    expect(verdicts).toEqual(['reproduces', 'reproduces', 'fixed', 'other', 'reproduces', 'other']);
    expect(status).toBe(1);
    const fixed = await run(
      { ...files, 'index.js': files['index.js'].replace('floor', 'ceil') },
      statement,
      'javascript',
    );
    expect(fixed.verdicts.slice(0, 1)).toEqual(['fixed']);
  });

  it("Python: doctest output compared as repr, tracebacks by exception type, a module's names in scope", async () => {
    const files = {
      'm/__init__.py': 'from .core import *\n',
      'm/core.py': '__all__ = ["get"]\n\ndef get(d, k):\n    return d[k]\n',
    };
    const statement = [
      '```python',
      '>>> get({"a": 1}, "b")',
      'Traceback (most recent call last):',
      "KeyError: 'b'",
      '>>> get({"a": [1, 2]}, "a")',
      '[1, 2]',
      '```',
    ].join('\n');
    const { status, verdicts } = await run(files, statement, 'python');
    expect(verdicts).toEqual(['reproduces', 'reproduces']);
    expect(status).toBe(1);
    const fixed = await run(
      { ...files, 'm/core.py': files['m/core.py'].replace('return d[k]', 'return d.get(k)') },
      statement,
      'python',
    );
    expect(fixed.verdicts[0]).toBe('fixed');
  });
});
