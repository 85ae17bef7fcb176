import { describe, expect, it } from 'vitest';
import { pythonMutants } from '../datasets/synth/mutate.ts';

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
