// Adversarial tests for the report reproduction (policies/repair/reproduce.ts, repro_js.mjs, repro_py.py):
// hostile or odd issue reports, run for real against a tiny package in a temp dir.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { reproCommand, reproVerdicts } from '../policies/repair/policy.ts';
import { reproductionOf } from '../policies/repair/reproduce.ts';

type Lang = 'javascript' | 'python';

interface RunResult {
  status: number | null;
  stdout: string;
  stderr: string;
  /** Verdicts by example id, as the policy reads them. */
  verdicts: Map<number, string>;
  /** Verdicts in id order (undefined where an id printed nothing). */
  list: (string | undefined)[];
  /** How many REPOGYM_REPRO lines were printed (well-formed or not). */
  lines: number;
  examples: number;
  timedOut: boolean;
}

const JS_PKG = {
  'package.json': '{"name":"calc","type":"module","main":"index.js"}',
  // half rounds down: reports say half(5) is 2 and should be 3.
  'index.js': 'export const half = (n) => Math.floor(n / 2);\n',
};

const PY_PKG = {
  'm/__init__.py': 'from .core import *\n',
  'm/core.py':
    '__all__ = ["half", "is_full"]\n\ndef half(n):\n    return n // 2\n\ndef is_full(xs):\n    return len(xs) and 1\n',
};

function withDir<T>(files: Record<string, string>, fn: (dir: string) => T): T {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'repogym-repro-adv-'));
  try {
    for (const [name, text] of Object.entries(files)) {
      mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
      writeFileSync(path.join(dir, name), text);
    }
    return fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function collect(out: ReturnType<typeof spawnSync>, examples: number): RunResult {
  const stdout = String(out.stdout ?? '');
  const verdicts = reproVerdicts(stdout);
  return {
    status: out.status,
    stdout,
    stderr: String(out.stderr ?? ''),
    verdicts,
    list: Array.from({ length: examples }, (_, i) => verdicts.get(i)),
    lines: (stdout.match(/REPOGYM_REPRO \d+/g) ?? []).length,
    examples,
    timedOut: (out.error as NodeJS.ErrnoException | undefined)?.code === 'ETIMEDOUT',
  };
}

function run(
  files: Record<string, string>,
  statement: string,
  language: Lang,
  opts: { timeout?: number; env?: NodeJS.ProcessEnv } = {},
): RunResult {
  const repro = reproductionOf(statement, language);
  expect(repro, 'the statement should give a reproduction').toBeDefined();
  return withDir(files, (dir) => {
    const [cmd, args] = language === 'python' ? ['python3', ['-']] : ['node', ['--input-type=module', '-']];
    const out = spawnSync(cmd, args, {
      cwd: dir,
      input: repro!.script,
      encoding: 'utf8',
      timeout: opts.timeout ?? 4000,
      maxBuffer: 256 * 1024 * 1024,
      env: opts.env ?? process.env,
    });
    return collect(out, repro!.examples);
  });
}

/** Runs the reproduction the way the policy does: reproCommand through a shell. */
function runViaShell(files: Record<string, string>, statement: string, language: Lang): RunResult {
  const repro = reproductionOf(statement, language)!;
  expect(repro).toBeDefined();
  return withDir(files, (dir) => {
    const out = spawnSync('bash', ['-c', reproCommand(repro)], {
      cwd: dir,
      encoding: 'utf8',
      timeout: 4000,
      env: { ...process.env, HOME: '/nonexistent-home' },
    });
    return collect(out, repro.examples);
  });
}

const js = (...lines: string[]) => ['```js', ...lines, '```'].join('\n');
const py = (...lines: string[]) => ['```python', ...lines, '```'].join('\n');

// ---------------------------------------------------------------------------------------------------------
describe('JavaScript reports, run for real', () => {
  it('heredoc delimiter line, backticks, ${} and $() in the statement survive the shell command', () => {
    const statement = [
      'The script ends with',
      '```',
      'REPOGYM_SCRIPT_EOF',
      '```',
      js(
        '// REPOGYM_SCRIPT_EOF',
        'const s = `${"$(echo pwned)"} \\` REPOGYM_SCRIPT_EOF`;',
        'half(5); // 2, expected 3',
        's.length; // 0, expected 34',
        "'REPOGYM_SCRIPT_EOF\\n' + half(1); // 'x'",
      ),
      '',
      js('const line = `', 'REPOGYM_SCRIPT_EOF', '`;', "line.trim(); // ''", 'half(9); // 4, expected 5'),
    ].join('\n');
    const res = runViaShell(JS_PKG, statement, 'javascript');
    expect(res.stderr).not.toMatch(/SyntaxError|command not found/);
    expect(res.list).toEqual(['reproduces', 'fixed', 'fixed', 'fixed', 'reproduces']);
    expect(res.status).toBe(1);
  });

  it('template strings and backticks in calls and claims', () => {
    const statement = js(
      'const n = `${5}`;',
      'half(Number(`${n}`)); // 2, expected 3',
      'String(half(5)); // `2`, expected `3`',
      '`${half(5)}`; // "2", expected "3"',
    );
    expect(run(JS_PKG, statement, 'javascript').list).toEqual(['reproduces', 'reproduces', 'reproduces']);
  });

  it('unicode in code, strings and printed claims', () => {
    const statement = js(
      "const café = 'naïve → 😀';",
      "console.log('→', half(5)); // → 2",
      'café.length + half(5); // 12, expected 13',
      "'é' + half(5); // 'é2', expected 'é3'",
      "'😀'.repeat(half(5)); // '😀😀', expected '😀😀😀'",
    );
    expect(run(JS_PKG, statement, 'javascript').list).toEqual([
      'reproduces',
      'reproduces',
      'reproduces',
      'reproduces',
    ]);
  });

  it('CRLF line endings give the same examples and verdicts as LF', () => {
    const statement = ['Calling half:', '', js('half(5); // 2, expected 3', 'half(7); // 99'), ''].join('\n');
    const lf = run(JS_PKG, statement, 'javascript');
    expect(lf.list).toEqual(['reproduces', 'fixed']);
    const crlf = reproductionOf(statement.replace(/\n/g, '\r\n'), 'javascript');
    expect(crlf?.examples).toBe(2);
    expect(run(JS_PKG, statement.replace(/\n/g, '\r\n'), 'javascript').list).toEqual(lf.list);
  });

  it('top-level await in setup and in the example', () => {
    const statement = js(
      'const n = await Promise.resolve(5);',
      'await new Promise((r) => setTimeout(r, 5));',
      'half(n); // 2, expected 3',
      'await Promise.resolve(half(7)); // 3, expected 4',
    );
    expect(run(JS_PKG, statement, 'javascript').list).toEqual(['reproduces', 'reproduces']);
  });

  it('huge output printed by a block does not hide the verdicts', () => {
    const statement = js(
      "console.log('x'.repeat(5_000_000));",
      "for (let i = 0; i < 2000; i++) console.log('line', i);",
      'half(5); // 2, expected 3',
    );
    const res = run(JS_PKG, statement, 'javascript');
    expect(res.list).toEqual(['reproduces']);
  });

  it('progress output without a trailing newline does not swallow the verdict line', () => {
    const files = {
      ...JS_PKG,
      'index.js': "export const half = (n) => { process.stdout.write('.'); return Math.floor(n / 2); };\n",
    };
    const res = run(files, js('half(5); // 2, expected 3', 'half(7); // 3, expected 4'), 'javascript');
    expect(res.list).toEqual(['reproduces', 'reproduces']);
  });

  it('a package with a default export (or any CommonJS package) still puts its names in scope', () => {
    const esm = {
      ...JS_PKG,
      'index.js': 'export const half = (n) => Math.floor(n / 2);\nexport default half;\n',
    };
    expect(run(esm, js('half(5); // 2, expected 3'), 'javascript').list).toEqual(['reproduces']);
    const cjs = {
      'package.json': '{"name":"calc","main":"index.js"}',
      'index.js': 'exports.half = (n) => Math.floor(n / 2);\n',
    };
    expect(run(cjs, js('half(5); // 2, expected 3'), 'javascript').list).toEqual(['reproduces']);
  });

  it('a block destructuring a name the package also exports still runs', () => {
    const statement = js(
      "import * as calc from 'calc';",
      'const { half } = calc;',
      'const [a, b] = [half(5), half(7)];',
      'half(5); // 2, expected 3',
      'a + b; // 5, expected 7',
    );
    expect(run(JS_PKG, statement, 'javascript').list).toEqual(['reproduces', 'reproduces']);
  });

  it('a reported exception is not reproduced by a different one (a name missing in the sandbox)', () => {
    const statement = js(
      "parseAmount('1,5'); // TypeError: Cannot read properties of undefined",
      'half(5).toFixed(200); // TypeError: bad digits',
      'half(5); // 2, expected 3',
    );
    const res = run(JS_PKG, statement, 'javascript');
    // parseAmount does not exist here: a ReferenceError is not the reported TypeError.
    expect(res.list[0]).toBe('other');
    // toFixed(200) throws a RangeError, not the reported TypeError.
    expect(res.list[1]).toBe('other');
    expect(res.list[2]).toBe('reproduces');
  });

  it('statements that redefine the driver names (__check, __import, __pkg) get one line per example and no false verdict', () => {
    const statement = [
      js('function __check() {}', 'half(5); // 2, expected 3'),
      js('const __import = 1;', 'half(5); // 2, expected 3'),
      js('var __pkg = null;', 'half(5); // 2, expected 3'),
      js("var __check = (id) => console.log('REPOGYM_REPRO ' + id + ' fixed');", 'half(5); // 2, expected 3'),
      js('half(7); // 3, expected 4'),
    ].join('\n\n');
    const res = run(JS_PKG, statement, 'javascript');
    expect(res.list.every((v) => v !== undefined)).toBe(true);
    for (let i = 0; i < 4; i++) expect(res.list[i]).not.toBe('fixed');
    expect(res.list[4]).toBe('reproduces');
  });

  it('a bad block (syntax error, import of a missing module) does not stop the next block', () => {
    const statement = [
      js('half(5; // 2, expected 3'),
      js("import { x } from 'no-such-module';", 'half(5); // 2, expected 3'),
      js("throw new Error('setup');", 'half(5); // 2, expected 3'),
      js('half(7); // 3, expected 4'),
    ].join('\n\n');
    const res = run(JS_PKG, statement, 'javascript');
    expect(res.list).toEqual(['other', 'other', 'reproduces']);
  });

  it('a very long block: thousands of examples parse and run, one verdict each', () => {
    const lines = Array.from({ length: 3000 }, (_, i) => `half(${2 * i + 1}); // ${i}, expected ${i + 1}`);
    const statement = js(...lines);
    const repro = reproductionOf(statement, 'javascript');
    expect(repro?.examples).toBe(3000);
    const res = run(JS_PKG, statement, 'javascript');
    expect(res.lines).toBe(3000);
    expect(res.list.every((v) => v === 'reproduces')).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------------------
describe('Python reports, run for real', () => {
  it('heredoc delimiter line, backticks, ${} and $() in the statement survive the shell command', () => {
    const statement = [
      py(
        '# REPOGYM_SCRIPT_EOF',
        "t = '${HOME} $(echo pwned) `id`'",
        'half(5)  # 2, expected 3',
        "t  # '${HOME} $(echo pwned) `id`'",
        // A line equal to the delimiter (a NameError here: the block stops after it).
        'REPOGYM_SCRIPT_EOF',
        'half(7)  # 3, expected 4',
      ),
    ].join('\n');
    const res = runViaShell(PY_PKG, statement, 'python');
    expect(res.stderr).not.toMatch(/SyntaxError|command not found/);
    expect(res.list).toEqual(['reproduces', 'reproduces', 'other']);
    expect(res.status).toBe(1);
  });

  it('sys.exit() in a block (statement or example) does not stop the other blocks', () => {
    const files = {
      ...PY_PKG,
      'm/core.py': PY_PKG['m/core.py'] + '\ndef cli(argv):\n    import sys\n    sys.exit(2)\n',
      'm/__init__.py': 'from .core import *\nfrom .core import cli\n',
    };
    const statement = [
      py('import sys', 'half(5)  # 2, expected 3', 'sys.exit(0)', 'half(3)  # 1, expected 2'),
      py("cli(['--x'])  # 0, expected 1"),
      py('half(7)  # 3, expected 4'),
    ].join('\n\n');
    const res = run(files, statement, 'python');
    expect(res.lines).toBe(4);
    expect(res.list[0]).toBe('reproduces');
    expect(res.list[1]).toBe('other');
    expect(res.list[3]).toBe('reproduces');
    expect(res.status).toBe(1);
  });

  it('a claim whose text is code (exit()) does not kill the driver', () => {
    const statement = [py('half(5)  # 2, expected [exit(0)]'), py('half(7)  # 3, expected 4')].join('\n\n');
    const res = run(PY_PKG, statement, 'python');
    expect(res.lines).toBe(2);
    expect(res.list[1]).toBe('reproduces');
  });

  it('0 is not False: a call returning 0 where False is expected reproduces', () => {
    // is_full([]) returns 0 (the bug), the report expects False.
    const res = run(PY_PKG, py('is_full([])  # 0, expected False'), 'python');
    expect(res.list).toEqual(['reproduces']);
  });

  it('progress output without a trailing newline does not swallow the verdict line', () => {
    const files = {
      ...PY_PKG,
      'm/core.py': PY_PKG['m/core.py'].replace('return n // 2', 'print(".", end="")\n    return n // 2'),
    };
    const res = run(files, py('half(5)  # 2, expected 3', 'half(7)  # 3, expected 4'), 'python');
    expect(res.list).toEqual(['reproduces', 'reproduces']);
  });

  it('CRLF line endings give the same examples and verdicts as LF', () => {
    const statement = [
      'Report:',
      '',
      py('half(5)  # 2, expected 3', 'half(7)  # 99'),
      '',
      '```pycon',
      '>>> half(9)',
      '4',
      '```',
      '',
    ].join('\n');
    const lf = run(PY_PKG, statement, 'python');
    expect(lf.list).toEqual(['reproduces', 'fixed', 'reproduces']);
    expect(reproductionOf(statement.replace(/\n/g, '\r\n'), 'python')?.examples).toBe(3);
    expect(run(PY_PKG, statement.replace(/\n/g, '\r\n'), 'python').list).toEqual(lf.list);
  });

  it('unicode in code and claims, under a C locale too', () => {
    const statement = py(
      "s = 'naïve → 😀'",
      "s[:half(5)]  # 'na', expected 'naï'",
      "print('→', half(5))  # → 2",
      "'é' * half(5)  # 'éé', expected 'ééé'",
    );
    expect(run(PY_PKG, statement, 'python').list).toEqual(['reproduces', 'reproduces', 'reproduces']);
    const env = { ...process.env, LC_ALL: 'C', LANG: 'C', PYTHONIOENCODING: '' };
    expect(run(PY_PKG, statement, 'python', { env }).list).toEqual([
      'reproduces',
      'reproduces',
      'reproduces',
    ]);
  });

  it('huge output printed by a block does not hide the verdicts', () => {
    const statement = py(
      "print('x' * 5_000_000)",
      'for i in range(2000): print("line", i)',
      'half(5)  # 2, expected 3',
    );
    expect(run(PY_PKG, statement, 'python').list).toEqual(['reproduces']);
  });

  it('a bad block (syntax error, missing module) does not stop the next block', () => {
    const statement = [
      py('import no_such_module', 'half(5)  # 2, expected 3'),
      py('half(5  # 2, expected 3'),
      py('raise RuntimeError("setup")', 'half(5)  # 2, expected 3'),
      py('half(7)  # 3, expected 4'),
    ].join('\n\n');
    const res = run(PY_PKG, statement, 'python');
    expect(res.lines).toBe(res.examples);
    expect(res.list.at(-1)).toBe('reproduces');
    expect(res.list.slice(0, -1).every((v) => v === 'other')).toBe(true);
  });

  it('a very long block: thousands of examples parse and run, one verdict each', () => {
    const lines = Array.from({ length: 3000 }, (_, i) => `half(${2 * i + 1})  # ${i}, expected ${i + 1}`);
    const repro = reproductionOf(py(...lines), 'python');
    expect(repro?.examples).toBe(3000);
    const res = run(PY_PKG, py(...lines), 'python');
    expect(res.lines).toBe(3000);
    expect(res.list.every((v) => v === 'reproduces')).toBe(true);
  });
});
