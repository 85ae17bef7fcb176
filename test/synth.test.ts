import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadDataset } from '../datasets/loader.ts';
import { pythonMutants } from '../datasets/synth/mutate.ts';
import { synthesize } from '../datasets/synth/synthesize.ts';
import { validateTask } from '../datasets/validate.ts';
import { makeRepo, removeDir } from './helpers.ts';

const SOURCE = [
  '"""Prices."""',
  '',
  'def total(prices, discount=0):',
  '    # sum first, then discount',
  '    if not prices:',
  '        return 0',
  '    subtotal = sum(prices)',
  '    return subtotal - discount if subtotal > discount and discount >= 0 else subtotal',
  '',
].join('\n');

describe('Python mutations through ast', () => {
  it('changes one token span per mutant, keeps comments and formatting, and every mutant parses', async () => {
    const mutants = await pythonMutants(SOURCE);
    expect(new Set(mutants.map((m) => m.kind))).toEqual(
      new Set(['flip_comparison', 'swap_operator', 'swap_boolean', 'off_by_one', 'drop_negation']),
    );
    for (const m of mutants) {
      const before = SOURCE.split('\n');
      const after = m.source.split('\n');
      expect(after).toHaveLength(before.length);
      const changed = after.map((line, i) => (line === before[i] ? -1 : i + 1)).filter((i) => i > 0);
      expect(changed, m.id).toEqual([m.line]);
      expect(m.source).toContain('# sum first, then discount');
    }
    expect(mutants.find((m) => m.description === '`>` became `>=`')?.line).toBe(8);
    expect(mutants.find((m) => m.kind === 'drop_negation')?.source).toContain('    if prices:');
  });

  it('is deterministic, with stable ids, and reports invalid Python clearly', async () => {
    const [a, b] = [await pythonMutants(SOURCE), await pythonMutants(SOURCE)];
    expect(a.map((m) => m.id)).toEqual(b.map((m) => m.id));
    expect(new Set(a.map((m) => m.id)).size).toBe(a.length);
    await expect(pythonMutants('def broken(:\n')).rejects.toThrow(/not valid Python: .*line 1/);
  });

  it('handles non-ASCII text before a mutated token (ast columns are utf-8 bytes)', async () => {
    const mutants = await pythonMutants('label = "prix € 5"; n = 3 + 4\n');
    expect(mutants.map((m) => m.source)).toContain('label = "prix € 5"; n = 3 - 4\n');
  });
});

describe('synthesize', () => {
  it('turns mutants of a repository that is not ours into tasks that validate (oracle resolves, nop does not)', async () => {
    // A small unittest-style project, unlike the built-in ones: a class, properties, an exception path.
    const repo = await makeRepo({
      'shelf/__init__.py': 'from shelf.stock import Shelf\n',
      'shelf/stock.py': [
        'class Shelf:',
        '    def __init__(self, capacity):',
        '        if capacity <= 0:',
        '            raise ValueError("capacity must be positive")',
        '        self.capacity = capacity',
        '        self.items = []',
        '',
        '    @property',
        '    def free(self):',
        '        return self.capacity - len(self.items)',
        '',
        '    def put(self, item):',
        '        if not self.free > 0:',
        '            raise OverflowError("shelf is full")',
        '        self.items.append(item)',
        '        return len(self.items)',
        '',
      ].join('\n'),
      'tests/test_stock.py': [
        'import unittest',
        'from shelf import Shelf',
        '',
        'class ShelfTest(unittest.TestCase):',
        '    def test_free_space(self):',
        '        s = Shelf(2)',
        '        s.put("a")',
        '        self.assertEqual(s.free, 1)',
        '',
        '    def test_full(self):',
        '        s = Shelf(1)',
        '        s.put("a")',
        '        with self.assertRaises(OverflowError):',
        '            s.put("b")',
        '',
        '    def test_bad_capacity(self):',
        '        with self.assertRaises(ValueError):',
        '            Shelf(0)',
        '',
      ].join('\n'),
    });
    try {
      const opts = {
        repo: repo.dir,
        testCmd: 'python3 -m pytest -rA -p no:cacheprovider',
        testFormat: 'pytest' as const,
        seed: 7,
        maxTasks: 3,
      };
      const first = await synthesize(opts);
      expect(first.rows.length).toBe(3);
      const again = await synthesize(opts);
      expect(again.rows.map((r) => [r.instance_id, r.base_commit])).toEqual(
        first.rows.map((r) => [r.instance_id, r.base_commit]),
      );
      const file = path.join(repo.dir, 'synth.jsonl');
      await writeFile(file, first.rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
      const loaded = await loadDataset(file);
      expect(loaded.errors).toEqual([]);
      for (const task of loaded.tasks) {
        expect(task.FAIL_TO_PASS.length, task.instance_id).toBeGreaterThan(0);
        expect(task.PASS_TO_PASS.length, task.instance_id).toBeGreaterThan(0);
        const validation = await validateTask(task, 0);
        expect(validation.problems, task.instance_id).toEqual([]);
      }
    } finally {
      await removeDir(repo.dir);
    }
  });
});

it('refuses a folder inside another repository (its refs would land in the enclosing one)', async () => {
  const repo = await makeRepo({
    'pkg/mod.py': 'x = 1 + 2\n',
    'tests/test_mod.py': 'def test_x():\n    assert True\n',
  });
  try {
    const opts = { testCmd: 'python3 -m pytest -rA', testFormat: 'pytest' as const, seed: 0, maxTasks: 1 };
    await expect(synthesize({ ...opts, repo: path.join(repo.dir, 'pkg') })).rejects.toThrow(
      /is not the top of a git repository/,
    );
  } finally {
    await removeDir(repo.dir);
  }
});
