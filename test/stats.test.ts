import { describe, expect, it } from 'vitest';
import { bootstrapMean, mcnemar, pairedPermutation, wilson } from '../experiments/stats.ts';
import { movingMean } from '../experiments/report.ts';

describe('wilson', () => {
  it.each([
    [0, 10, 0, 0.2775],
    [10, 10, 0.7225, 1],
    [5, 10, 0.2366, 0.7634],
    [81, 263, 0.2553, 0.3662],
  ])('%i/%i → [%f, %f]', (k, n, low, high) => {
    const w = wilson(k, n);
    expect(w.estimate).toBeCloseTo(k / n, 10);
    expect(w.low).toBeCloseTo(low, 3);
    expect(w.high).toBeCloseTo(high, 3);
  });
});

describe('mcnemar', () => {
  it('exact for few discordant pairs', () => {
    const pairs: [boolean, boolean][] = [...Array(10).fill([true, false]), ...Array(5).fill([true, true])];
    const m = mcnemar(pairs);
    expect(m).toMatchObject({ onlyA: 10, onlyB: 0, method: 'exact binomial' });
    expect(m.pValue).toBeCloseTo(0.001953, 5);
    expect(
      mcnemar([
        [true, false],
        [false, true],
      ]).pValue,
    ).toBe(1);
  });

  it('chi-square with continuity correction for many', () => {
    const pairs: [boolean, boolean][] = [...Array(30).fill([true, false]), ...Array(10).fill([false, true])];
    const m = mcnemar(pairs);
    expect(m.method).toBe('chi-square, continuity-corrected');
    // (|30-10|-1)^2/40 = 9.025 → p = 0.002663
    expect(m.pValue).toBeCloseTo(0.002663, 4);
  });
});

describe('bootstrapMean', () => {
  it('is reproducible and brackets the mean', () => {
    const values = Array.from({ length: 200 }, (_, i) => (i % 4 === 0 ? 1 : 0));
    const a = bootstrapMean(values, { seed: 3 });
    expect(bootstrapMean(values, { seed: 3 })).toEqual(a);
    expect(a.estimate).toBe(0.25);
    expect(a.low).toBeLessThan(0.25);
    expect(a.high).toBeGreaterThan(0.25);
    // the normal-theory half width is 1.96 * sqrt(.25*.75/200) ≈ 0.06
    expect(a.high - a.low).toBeGreaterThan(0.09);
    expect(a.high - a.low).toBeLessThan(0.15);
  });
});

describe('pairedPermutation', () => {
  it('finds a consistent improvement significant and a null difference not', () => {
    const better = pairedPermutation(Array.from({ length: 30 }, (_, i) => (i % 5 === 0 ? -0.1 : 0.4)));
    expect(better.difference.estimate).toBeCloseTo(0.3, 6);
    expect(better.difference.low).toBeGreaterThan(0);
    expect(better.pValue).toBeLessThan(0.001);
    const noise = pairedPermutation(Array.from({ length: 30 }, (_, i) => (i % 2 === 0 ? 0.5 : -0.5)));
    expect(noise.pValue).toBeGreaterThan(0.5);
    expect(noise.difference.low).toBeLessThan(0);
    expect(noise.difference.high).toBeGreaterThan(0);
  });

  it('matches the exact sign-flip distribution on a small case, and is seeded', () => {
    // Differences 1, 2, 3: of the 8 sign patterns, |sum| ≥ 6 for (+,+,+) and (−,−,−): exact p = 2/8.
    const result = pairedPermutation([1, 2, 3], { iterations: 40_000, seed: 7 });
    expect(result.pValue).toBeCloseTo(0.25, 1);
    expect(pairedPermutation([1, 2, 3], { seed: 7 })).toEqual(pairedPermutation([1, 2, 3], { seed: 7 }));
  });

  it('says nothing about zero pairs and gives p = 1 when every difference is 0', () => {
    expect(pairedPermutation([]).pairs).toBe(0);
    expect(Number.isNaN(pairedPermutation([]).pValue)).toBe(true);
    expect(pairedPermutation([0, 0, 0, 0]).pValue).toBe(1);
  });
});

describe("the learning curve's moving mean", () => {
  it('has a band inside the rewards’ range on a window of mostly zeros (a normal interval fell below 0)', () => {
    const points = movingMean([0, 0, 0, 0, 1, 0, 0, 0], 5);
    expect(points.map((p) => p.mean)).toEqual([0, 0, 0, 0, 0.2, 0.2, 0.2, 0.2]);
    for (const p of points) {
      expect(p.low).toBeGreaterThanOrEqual(0);
      expect(p.high).toBeLessThanOrEqual(1);
      expect(p.low).toBeLessThanOrEqual(p.mean);
      expect(p.high).toBeGreaterThanOrEqual(p.mean);
    }
    expect(points[4]!.high).toBeGreaterThan(0.2);
  });
});
