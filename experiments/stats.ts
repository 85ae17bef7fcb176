// Intervals and paired tests for the numbers a report prints. Every rate gets a 95% interval; comparisons of
// policies on the same (task, seed) pairs are paired.
import { seededRandom } from '../env/coding-env.ts';

export interface Interval {
  estimate: number;
  low: number;
  high: number;
}

export const Z95 = 1.959963984540054;

/** Wilson score interval for a proportion: sound at 0/n and n/n, where the normal approximation is not. */
export function wilson(successes: number, n: number, z = Z95): Interval {
  if (n === 0) return { estimate: NaN, low: 0, high: 1 };
  const p = successes / n;
  const denominator = 1 + (z * z) / n;
  const centre = (p + (z * z) / (2 * n)) / denominator;
  const half = (z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n))) / denominator;
  return { estimate: p, low: Math.max(0, centre - half), high: Math.min(1, centre + half) };
}

/** Percentile bootstrap interval of the mean (seeded: the same data gives the same interval). */
export function bootstrapMean(values: number[], opts: { iterations?: number; seed?: number } = {}): Interval {
  const n = values.length;
  const mean = (xs: ArrayLike<number>) => {
    let sum = 0;
    for (let i = 0; i < xs.length; i++) sum += xs[i]!;
    return sum / xs.length;
  };
  if (n === 0) return { estimate: NaN, low: NaN, high: NaN };
  const iterations = opts.iterations ?? 2000;
  const random = seededRandom(opts.seed ?? 0);
  const means = new Float64Array(iterations);
  const sample = new Float64Array(n);
  for (let b = 0; b < iterations; b++) {
    for (let i = 0; i < n; i++) sample[i] = values[Math.floor(random() * n)]!;
    means[b] = mean(sample);
  }
  means.sort();
  return {
    estimate: mean(values),
    low: means[Math.floor(0.025 * iterations)]!,
    high: means[Math.ceil(0.975 * iterations) - 1]!,
  };
}

export interface McNemar {
  /** Pairs where only A succeeded, and only B. */
  onlyA: number;
  onlyB: number;
  pValue: number;
  method: 'exact binomial' | 'chi-square, continuity-corrected';
}

/** McNemar's test on paired binary outcomes: exact below 25 discordant pairs, chi-square above. */
export function mcnemar(pairs: [boolean, boolean][]): McNemar {
  const onlyA = pairs.filter(([a, b]) => a && !b).length;
  const onlyB = pairs.filter(([a, b]) => !a && b).length;
  const n = onlyA + onlyB;
  if (n < 25) {
    // Two-sided exact binomial test with p = 1/2 on the discordant pairs.
    let tail = 0;
    let coefficient = 1;
    for (let k = 0; k <= Math.min(onlyA, onlyB); k++) {
      tail += coefficient;
      coefficient = (coefficient * (n - k)) / (k + 1);
    }
    return { onlyA, onlyB, pValue: Math.min(1, (2 * tail) / 2 ** n), method: 'exact binomial' };
  }
  // The continuity correction never makes the statistic negative; the erfc approximation may overshoot 1.
  const statistic = Math.max(0, Math.abs(onlyA - onlyB) - 1) ** 2 / n;
  const pValue = Math.min(1, chiSquare1Survival(statistic));
  return { onlyA, onlyB, pValue, method: 'chi-square, continuity-corrected' };
}

/** P(X > x) for a chi-square with 1 degree of freedom: erfc(sqrt(x/2)). */
function chiSquare1Survival(x: number): number {
  return erfc(Math.sqrt(x / 2));
}

/** Complementary error function (Numerical Recipes' erfcc, relative error < 1.2e-7). */
function erfc(x: number): number {
  const t = 1 / (1 + 0.5 * Math.abs(x));
  const y =
    t *
    Math.exp(
      -x * x -
        1.26551223 +
        t *
          (1.00002368 +
            t *
              (0.37409196 +
                t *
                  (0.09678418 +
                    t *
                      (-0.18628806 +
                        t *
                          (0.27886807 +
                            t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? y : 2 - y;
}

/**
 * Kendall's τ-b between two paired lists: agreement of their orderings, corrected for ties (many reward values
 * tie at 0 or 1). NaN when either list is constant. O(n²), fine for the episode counts of a run.
 */
export function kendallTauB(xs: number[], ys: number[]): number {
  let concordant = 0;
  let discordant = 0;
  let tiesX = 0;
  let tiesY = 0;
  for (let i = 0; i < xs.length; i++) {
    for (let j = i + 1; j < xs.length; j++) {
      const dx = Math.sign(xs[i]! - xs[j]!);
      const dy = Math.sign(ys[i]! - ys[j]!);
      if (dx === 0 && dy === 0) continue;
      if (dx === 0) tiesX++;
      else if (dy === 0) tiesY++;
      else if (dx === dy) concordant++;
      else discordant++;
    }
  }
  const denominator = Math.sqrt((concordant + discordant + tiesX) * (concordant + discordant + tiesY));
  return denominator === 0 ? NaN : (concordant - discordant) / denominator;
}

export interface PairedDifference {
  /** Mean of A − B over the pairs, with a percentile bootstrap interval. */
  difference: Interval;
  /** Two-sided p-value of the sign-flip permutation test (H0: the differences are symmetric around 0). */
  pValue: number;
  pairs: number;
}

/**
 * Paired comparison of two policies' rewards on the same (task, seed, epoch): a sign-flip permutation test,
 * which assumes nothing about the rewards' distribution (they are bounded and often tied at 0 or 1). Seeded.
 */
export function pairedPermutation(
  differences: number[],
  opts: { iterations?: number; seed?: number } = {},
): PairedDifference {
  const n = differences.length;
  const bad = differences.findIndex((d) => !Number.isFinite(d));
  if (bad >= 0)
    throw new Error(`pairedPermutation: difference ${bad} is ${differences[bad]}, not a finite number`);
  if (n === 0) return { difference: { estimate: NaN, low: NaN, high: NaN }, pValue: NaN, pairs: 0 };
  const iterations = opts.iterations ?? 10_000;
  const random = seededRandom(opts.seed ?? 0);
  const observed = Math.abs(differences.reduce((a, b) => a + b, 0));
  let atLeast = 0;
  for (let b = 0; b < iterations; b++) {
    let sum = 0;
    for (const d of differences) sum += random() < 0.5 ? d : -d;
    // A small tolerance: float sums of the same values in another order differ in the last bits.
    if (Math.abs(sum) >= observed - 1e-9) atLeast++;
  }
  return {
    difference: bootstrapMean(differences, opts),
    // (count + 1) / (iterations + 1): the observed labelling is one of the permutations, so p is never 0.
    pValue: (atLeast + 1) / (iterations + 1),
    pairs: n,
  };
}
