// Offline re-scoring and comparison of reward variants over a finished run. Nothing here runs a sandbox: every
// number comes from the signals each episode recorded.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import YAML from 'yaml';
import type { EpisodeSignals } from '../rewards/types.ts';
import {
  BUILTIN_VARIANTS,
  isBuiltinVariant,
  resolveVariant,
  score,
  type Variant,
} from '../rewards/variants.ts';
import { stableJson } from './config.ts';
import { lockRunDir } from './runner.ts';
import {
  bootstrapMean,
  kendallTauB,
  pairedPermutation,
  type Interval,
  type PairedDifference,
} from './stats.ts';
import { RunStore } from './store.ts';

export class RescoreError extends Error {
  override name = 'RescoreError';
}

/** The run's store; refuses a directory without one instead of creating an empty store there. */
function storeFile(runDir: string): string {
  const file = path.join(runDir, 'runs.sqlite');
  if (!existsSync(file)) throw new RescoreError(`${runDir} holds no run (no runs.sqlite)`);
  return file;
}

/** Variants the run's configs define, by name. */
function configuredVariants(store: RunStore): Map<string, Variant> {
  const found = new Map<string, Variant>();
  const rows = store.db.prepare('SELECT config_json FROM experiments').all() as { config_json: string }[];
  for (const { config_json } of rows) {
    const variants =
      (JSON.parse(config_json) as { reward?: { variants?: unknown[] } }).reward?.variants ?? [];
    for (const v of variants) if (typeof v !== 'string') found.set((v as Variant).name, resolveVariant(v));
  }
  return found;
}

/** The run's primary variant: built in, defined inline, or named among the run's variant definitions. */
export function primaryOf(configJson: string): Variant {
  const reward = (JSON.parse(configJson) as { reward?: { primary?: unknown; variants?: unknown[] } }).reward;
  const primary = reward?.primary ?? 'swebench';
  if (typeof primary === 'string' && !isBuiltinVariant(primary)) {
    const defined = (reward?.variants ?? []).find((v) => (v as { name?: unknown } | null)?.name === primary);
    if (defined) return resolveVariant(defined);
  }
  return resolveVariant(primary);
}

/** Reads variant definitions from a YAML/JSON file: a list, or `{variants: [...]}` as in a config. */
export async function readVariantsFile(file: string): Promise<Variant[]> {
  const raw: unknown = YAML.parse(await readFile(file, 'utf8'));
  const list = Array.isArray(raw) ? raw : (raw as { variants?: unknown })?.variants;
  if (!Array.isArray(list))
    throw new RescoreError(`${file}: expected a list of variants or {variants: [...]}`);
  return list.map((v, i) => {
    const name = typeof v === 'string' ? v : (v as { name?: unknown } | null)?.name;
    if (typeof name === 'string' && (typeof v === 'string' || isBuiltinVariant(name))) {
      throw new RescoreError(
        `${file}: variant ${i + 1}: "${name}" is a built-in name; define variants of your own under other names`,
      );
    }
    try {
      return resolveVariant(v);
    } catch (err) {
      const message = (err as { issues?: { path: PropertyKey[]; message: string }[] }).issues
        ?.map((issue) => `${issue.path.join('.')}: ${issue.message}`)
        .join('; ');
      throw new RescoreError(`${file}: variant ${i + 1}: ${message ?? (err as Error).message}`);
    }
  });
}

export interface RescoreSummary {
  variants: string[];
  episodes: number;
  /** Episodes without recorded signals (infra failures before grading): nothing to score. */
  skipped: number;
  /** Variant names whose earlier rows were replaced. */
  replaced: string[];
}

/**
 * Scores every episode of a run under `names` (built in, defined in the run's config, or in `extra`) and writes
 * the rows with source 'rescore', replacing earlier rows of the same variant names.
 */
export async function rescoreRun(
  runDir: string,
  names: string[],
  extra: Variant[] = [],
  opts: { replace?: boolean } = {},
): Promise<RescoreSummary> {
  const file = storeFile(runDir);
  const release = await lockRunDir(runDir);
  const store = new RunStore(file);
  try {
    const known = new Map([
      ...Object.entries(BUILTIN_VARIANTS),
      ...configuredVariants(store),
      ...extra.map((v) => [v.name, v] as const),
    ]);
    const variants = names.map((name) => {
      const variant = known.get(name);
      if (!variant)
        throw new RescoreError(`unknown variant "${name}" (known: ${[...known.keys()].join(', ')})`);
      return variant;
    });
    const stored = store.db.prepare('SELECT DISTINCT variant, variant_json FROM rewards').all() as {
      variant: string;
      variant_json: string;
    }[];
    const existing = new Set(stored.map((r) => r.variant));
    // Rows under one name mean one definition: a changed definition under an old name would silently rewrite
    // what a run (and, for its primary, the learner's reward) meant.
    for (const variant of variants) {
      const differs = stored.some(
        (r) => r.variant === variant.name && stableJson(JSON.parse(r.variant_json)) !== stableJson(variant),
      );
      if (differs && !opts.replace) {
        throw new RescoreError(
          `variant "${variant.name}" is stored with another definition; re-score under a new name, or pass --replace`,
        );
      }
    }
    const episodes = store.db.prepare('SELECT id, signals_json FROM episodes').all() as {
      id: string;
      signals_json: string | null;
    }[];
    let scored = 0;
    store.db.transaction(() => {
      for (const episode of episodes) {
        if (!episode.signals_json) continue;
        const signals = JSON.parse(episode.signals_json) as EpisodeSignals;
        store.recordScores(
          episode.id,
          variants.map((v) => ({ definition: v, score: score(v, signals) })),
          'rescore',
        );
        scored++;
      }
    })();
    return {
      variants: names,
      episodes: scored,
      skipped: episodes.length - scored,
      replaced: names.filter((n) => existing.has(n)),
    };
  } finally {
    store.close();
    await release();
  }
}

interface RewardRow {
  episode_id: string;
  variant: string;
  value: number;
  flags_json: string;
  task_id: string;
  policy: string;
  arm: string | null;
  seed: number;
  epoch: number;
}

export interface VariantComparison {
  variants: string[];
  episodes: number;
  means: Record<string, Interval>;
  /**
   * Each other variant minus the reference on the same episodes (paired): the mean difference with a bootstrap
   * interval and a sign-flip permutation p. The reference is the run's primary when it is compared, else the
   * first variant.
   */
  paired: { reference: string; differences: Record<string, PairedDifference> };
  /** τ-b between variants' values over the same episodes. */
  episodeTau: Record<string, Record<string, number>>;
  /** Per policy (or bandit arm), the mean under each variant, and τ-b between variants' rankings of them. */
  groups: {
    by: 'policy' | 'arm';
    means: Record<string, Record<string, number>>;
    tau: Record<string, Record<string, number>>;
  };
  /** Episodes with the largest spread between variants. */
  disagreements: {
    episode: string;
    task: string;
    policy: string;
    seed: number;
    epoch: number;
    values: Record<string, number>;
    flags: string[];
    spread: number;
  }[];
}

export function compareVariants(
  runDir: string,
  opts: { variants?: string[]; top?: number } = {},
): VariantComparison {
  const top = opts.top ?? 10;
  if (!Number.isInteger(top) || top < 0)
    throw new RescoreError(`--top must be an integer ≥ 0 (got ${opts.top})`);
  const duplicate = opts.variants?.find((v, i) => opts.variants!.indexOf(v) !== i);
  if (duplicate) throw new RescoreError(`variant "${duplicate}" is listed twice`);
  const store = new RunStore(storeFile(runDir));
  try {
    const rows = store.db
      .prepare(
        `SELECT r.episode_id, r.variant, r.value, r.flags_json, e.task_id, e.policy, e.arm, e.seed, e.epoch
         FROM rewards r JOIN episodes e ON e.id = r.episode_id WHERE e.failure_class != 'infra'`,
      )
      .all() as RewardRow[];
    const present = [...new Set(rows.map((r) => r.variant))].sort();
    const variants = opts.variants ?? present;
    const missing = variants.filter((v) => !present.includes(v));
    if (missing.length) {
      throw new RescoreError(
        `no scores for ${missing.join(', ')} in ${runDir} (scored: ${present.join(', ') || 'none'}); run \`repogym rewards rescore\` first`,
      );
    }
    if (variants.length < 2)
      throw new RescoreError(`compare needs at least 2 variants (scored: ${present.join(', ') || 'none'})`);
    const byEpisode = new Map<string, { row: RewardRow; values: Record<string, number> }>();
    for (const row of rows) {
      if (!variants.includes(row.variant)) continue;
      const entry = byEpisode.get(row.episode_id) ?? { row, values: {} };
      entry.values[row.variant] = row.value;
      byEpisode.set(row.episode_id, entry);
    }
    // Only episodes scored under every compared variant: the comparison is paired.
    const episodes = [...byEpisode.values()].filter((e) => variants.every((v) => v in e.values));
    episodes.sort((a, b) => a.row.episode_id.localeCompare(b.row.episode_id));
    const column = (v: string) => episodes.map((e) => e.values[v]!);
    const means = Object.fromEntries(variants.map((v) => [v, bootstrapMean(column(v))]));
    const primaries = new Set(
      (store.db.prepare('SELECT config_json FROM experiments').all() as { config_json: string }[]).map(
        (e) => primaryOf(e.config_json).name,
      ),
    );
    const [primary] = primaries.size === 1 ? primaries : [];
    const reference = primary !== undefined && variants.includes(primary) ? primary : variants[0]!;
    const differences = Object.fromEntries(
      variants
        .filter((v) => v !== reference)
        .map((v) => [v, pairedPermutation(episodes.map((e) => e.values[v]! - e.values[reference]!))]),
    );
    const matrix = (score: (a: string, b: string) => number) =>
      Object.fromEntries(variants.map((a) => [a, Object.fromEntries(variants.map((b) => [b, score(a, b)]))]));
    const episodeTau = matrix((a, b) => kendallTauB(column(a), column(b)));

    const by = episodes.some((e) => e.row.arm !== null) ? 'arm' : 'policy';
    const groupOf = (e: (typeof episodes)[number]) => (by === 'arm' ? (e.row.arm ?? '(none)') : e.row.policy);
    const groupNames = [...new Set(episodes.map(groupOf))].sort();
    const groupMeans: Record<string, Record<string, number>> = {};
    for (const g of groupNames) {
      const members = episodes.filter((e) => groupOf(e) === g);
      groupMeans[g] = Object.fromEntries(
        variants.map((v) => [v, members.reduce((sum, e) => sum + e.values[v]!, 0) / members.length]),
      );
    }
    const groupColumn = (v: string) => groupNames.map((g) => groupMeans[g]![v]!);
    const groupTau = matrix((a, b) => kendallTauB(groupColumn(a), groupColumn(b)));

    const disagreements = episodes
      .map((e) => {
        const values = variants.map((v) => e.values[v]!);
        return {
          episode: e.row.episode_id,
          task: e.row.task_id,
          policy: e.row.policy,
          seed: e.row.seed,
          epoch: e.row.epoch,
          values: e.values,
          flags: (JSON.parse(e.row.flags_json) as { flags: string[] }).flags,
          spread: Math.max(...values) - Math.min(...values),
        };
      })
      .filter((d) => d.spread > 0)
      .sort((a, b) => b.spread - a.spread || a.episode.localeCompare(b.episode))
      .slice(0, top);
    return {
      variants,
      episodes: episodes.length,
      means,
      paired: { reference, differences },
      episodeTau,
      groups: { by, means: groupMeans, tau: groupTau },
      disagreements,
    };
  } finally {
    store.close();
  }
}

const fmt = (x: number) => (Number.isNaN(x) ? '  n/a' : x.toFixed(3).padStart(6));
const signed = (i: Interval) =>
  Number.isNaN(i.estimate)
    ? 'n/a'
    : `${i.estimate >= 0 ? '+' : ''}${i.estimate.toFixed(3)} [${i.low.toFixed(3)}, ${i.high.toFixed(3)}]`;

export function formatComparison(c: VariantComparison): string {
  const width = Math.max(8, ...c.variants.map((v) => v.length));
  const pad = (s: string) => s.padEnd(width);
  const ref = c.paired.reference;
  const pairedWidth = 30;
  const lines = [
    `${c.episodes} episodes scored under every variant`,
    '',
    `${pad('variant')}   mean  ${'95% CI (bootstrap)'.padEnd(18)}  ${`− ${ref}, paired [95% CI]`.padEnd(pairedWidth)}  sign-flip p`,
  ];
  for (const v of c.variants) {
    const m = c.means[v]!;
    const d = c.paired.differences[v];
    const ci = `[${m.low.toFixed(3)}, ${m.high.toFixed(3)}]`;
    const paired = d
      ? `${signed(d.difference).padEnd(pairedWidth)}  ${Number.isNaN(d.pValue) ? 'n/a' : d.pValue.toPrecision(3)}`
      : '(reference)';
    lines.push(`${pad(v)} ${fmt(m.estimate)}  ${ci.padEnd(18)}  ${paired}`);
  }
  lines.push(
    `Paired: each variant minus ${ref} on the same ${c.episodes} episodes (percentile bootstrap of the mean difference; sign-flip permutation test).`,
  );
  const table = (title: string, tau: Record<string, Record<string, number>>) => {
    lines.push('', title, `${pad('')} ${c.variants.map((v) => v.slice(0, 10).padStart(10)).join(' ')}`);
    for (const a of c.variants)
      lines.push(`${pad(a)} ${c.variants.map((b) => fmt(tau[a]![b]!).padStart(10)).join(' ')}`);
  };
  table("Kendall's τ-b between variants over episodes", c.episodeTau);
  const groups = Object.keys(c.groups.means);
  lines.push('', `Mean per ${c.groups.by}`);
  for (const g of groups) {
    lines.push(
      `${g.padEnd(width)} ${c.variants.map((v) => `${v}=${c.groups.means[g]![v]!.toFixed(3)}`).join('  ')}`,
    );
  }
  if (groups.length >= 2)
    table(
      `Kendall's τ-b between variants' rankings of the ${c.groups.by === 'arm' ? 'arms' : 'policies'} (${groups.length})`,
      c.groups.tau,
    );
  lines.push('', 'Episodes where the variants disagree most');
  if (c.disagreements.length === 0) lines.push('  none: every variant gives every episode the same value');
  for (const d of c.disagreements) {
    const values = c.variants.map((v) => `${v}=${d.values[v]!.toFixed(3)}`).join(' ');
    const flags = d.flags.length ? `  flags: ${d.flags.join(',')}` : '';
    lines.push(`  ${d.episode.slice(0, 8)} ${d.task} ${d.policy} seed ${d.seed}: ${values}${flags}`);
  }
  return lines.join('\n');
}
