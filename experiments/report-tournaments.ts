// Tournaments in a run, for the report: the candidates of one (task, seed, epoch) side by side as cards, ranked
// by the run's primary variant with `repogym compare`'s rule (rankCandidates). Two sources: a config's
// `tournament` policy (episodes labelled <tournament>/<strategy>) and `repogym compare` (each candidate's
// policy_info_json.tournament.id).
import type Database from 'better-sqlite3';
import { diffStat } from '../env/diff.ts';
import type { EpisodeSignals } from '../rewards/types.ts';
import { score, type Variant } from '../rewards/variants.ts';
import { measured, rankCandidates } from './compare.ts';
import { primaryOf } from './rescore.ts';
import type { StoredEpisode } from './store.ts';

export interface TournamentCard {
  strategy: string;
  episodeId: string;
  outcome: string;
  resolved: boolean;
  infra: boolean;
  primary: number | null;
  components: Record<string, number>;
  diff: { files: number; added: number; removed: number };
  steps: number;
  wallMs: number;
  usd: number | null;
  rank: number;
}

export interface TournamentGroup {
  key: string;
  task: string;
  seed: number;
  epoch: number;
  primary: string;
  cards: TournamentCard[];
}

type Row = Pick<
  StoredEpisode,
  | 'id'
  | 'task_id'
  | 'policy'
  | 'arm'
  | 'seed'
  | 'epoch'
  | 'outcome'
  | 'failure_class'
  | 'resolved'
  | 'steps'
  | 'wall_ms'
  | 'signals_json'
  | 'patch'
  | 'policy_info_json'
>;

export function tournamentGroups(db: Database.Database, experimentId: string): TournamentGroup[] {
  const experiment = db.prepare('SELECT config_json FROM experiments WHERE id = ?').get(experimentId) as
    { config_json: string } | undefined;
  if (!experiment) return [];
  const config = JSON.parse(experiment.config_json) as { policies?: { name: string; id?: string }[] };
  const labels = (config.policies ?? []).filter((p) => p.name === 'tournament').map((p) => p.id ?? p.name);
  // Resolved only when a tournament is there: a run without one never depends on it.
  let primary: Variant | undefined;
  const stored = db.prepare('SELECT value FROM rewards WHERE episode_id = ? AND variant = ?');
  const rows = db
    .prepare('SELECT * FROM episodes WHERE experiment_id = ? ORDER BY task_id, seed, epoch, policy')
    .all(experimentId) as Row[];
  const groups = new Map<string, TournamentGroup>();
  for (const row of rows) {
    const info = row.policy_info_json ? (JSON.parse(row.policy_info_json) as Record<string, unknown>) : {};
    const compared = (info.tournament as { id?: string } | undefined)?.id;
    const label = labels.find((l) => row.policy.startsWith(`${l}/`));
    if (!compared && !label) continue;
    const variant = (primary ??= primaryOf(experiment.config_json));
    const key = compared ?? `${label}|${row.task_id}|${row.seed}|${row.epoch}`;
    if (!groups.has(key)) {
      groups.set(key, {
        key,
        task: row.task_id,
        seed: row.seed,
        epoch: row.epoch,
        primary: variant.name,
        cards: [],
      });
    }
    const signals = row.signals_json ? (JSON.parse(row.signals_json) as EpisodeSignals) : null;
    const scored = signals ? score(variant, signals) : null;
    // An unmeasured score (a candidate nobody rated under `human`) ranks after every measured one, as in compare.
    const value =
      scored && measured(variant, scored)
        ? ((stored.get(row.id, variant.name) as { value: number } | undefined)?.value ?? null)
        : null;
    groups.get(key)!.cards.push({
      strategy: row.arm ?? (label ? row.policy.slice(label.length + 1) : row.policy),
      episodeId: row.id,
      outcome: row.outcome,
      resolved: row.resolved === 1,
      infra: row.failure_class === 'infra',
      primary: value,
      components: scored?.components ?? {},
      diff: row.patch ? diffStat(row.patch) : { files: 0, added: 0, removed: 0 },
      steps: row.steps,
      wallMs: row.wall_ms,
      usd: signals?.usage?.usd ?? null,
      rank: 0,
    });
  }
  for (const group of groups.values()) {
    const order = rankCandidates(
      group.cards.map((c) => ({
        primary: c.primary,
        resolved: c.resolved,
        infra: c.infra,
        diffLines: c.diff.added + c.diff.removed,
        steps: c.steps,
      })),
    );
    order.forEach((index, position) => (group.cards[index]!.rank = position + 1));
    group.cards.sort((a, b) => a.rank - b.rank);
  }
  return [...groups.values()];
}

/** How often each strategy won, for report.md. */
export function winnerRows(groups: TournamentGroup[]): string[][] {
  const wins = new Map<string, { won: number; played: number }>();
  for (const g of groups) {
    for (const c of g.cards) {
      const w = wins.get(c.strategy) ?? { won: 0, played: 0 };
      w.played++;
      if (c.rank === 1) w.won++;
      wins.set(c.strategy, w);
    }
  }
  return [...wins.entries()]
    .sort((a, b) => b[1].won - a[1].won || a[0].localeCompare(b[0]))
    .map(([strategy, w]) => [strategy, String(w.won), String(w.played)]);
}
