// `repogym report <run>`: a self-contained report.html (charts rendered to inline SVG with Vega-Lite in Node:
// no script, no CDN, works offline) and a report.md with the same tables.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import Database from 'better-sqlite3';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { primaryOf } from './rescore.ts';
import { bootstrapMean, pairedPermutation } from './stats.ts';
import { runStatistics, type RunStatistics } from './summary.ts';
import { upgradeStore, type StoredEpisode, type StoredStep } from './store.ts';
import { modelCost } from './trajectory.ts';
import { tournamentGroups, winnerRows, type TournamentGroup } from './report-tournaments.ts';
import { formatMs, readTrace, timeline, type TimelineRow } from './traces.ts';
import { COMPONENT_NAMES } from '../rewards/components.ts';

type EpisodeRow = Pick<
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
  | 'reward'
  | 'steps'
  | 'wall_ms'
  | 'finished_at'
>;

/** Episodes shown in the trajectory viewer; the rest are in the store and `repogym trajectory`. */
const VIEWER_EPISODES = 200;

async function svg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  return view.toSVG();
}

const escapeHtml = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
const pct = (x: number) => (Number.isNaN(x) ? '–' : `${(100 * x).toFixed(1)}%`);

/**
 * Trailing-window mean with its 95% percentile-bootstrap interval, per episode: a bootstrap band stays within the
 * rewards' range, where mean ± 1.96·s/√n fell below 0 on a window of mostly zeros.
 */
export function movingMean(values: number[], window: number): { mean: number; low: number; high: number }[] {
  return values.map((_, i) => {
    const interval = bootstrapMean(values.slice(Math.max(0, i - window + 1), i + 1), { iterations: 500 });
    return { mean: interval.estimate, low: interval.low, high: interval.high };
  });
}

/** Episodes each point of the learning curve averages over. */
const CURVE_WINDOW = 20;

const NO_ARM = '(no arm)';
/** Episode numbers are whole: no tick at 0.4. */
const EPISODE_AXIS = { tickMinStep: 1, format: 'd' };

async function charts(
  episodes: EpisodeRow[],
  costs: Map<string, Cost | null>,
): Promise<{ title: string; svg: string }[]> {
  const graded = episodes.filter((e) => e.failure_class !== 'infra');
  const curve = [...new Set(graded.map((e) => e.policy))].flatMap((policy) => {
    const mine = graded.filter((e) => e.policy === policy);
    const smooth = movingMean(
      mine.map((e) => e.reward),
      CURVE_WINDOW,
    );
    return mine.map((e, i) => ({ policy, episode: i + 1, reward: e.reward, ...smooth[i] }));
  });
  const result: { title: string; svg: string }[] = [];
  result.push({
    title: `Learning curve: primary reward per episode (points), its ${CURVE_WINDOW}-episode moving mean (line) and that mean's 95% interval (band), per policy in the order its episodes finished`,
    svg: await svg({
      data: { values: curve },
      width: 640,
      height: 240,
      layer: [
        {
          mark: { type: 'area', opacity: 0.15 },
          encoding: {
            x: { field: 'episode', type: 'quantitative' },
            y: { field: 'low', type: 'quantitative', title: 'reward' },
            y2: { field: 'high' },
            color: { field: 'policy', type: 'nominal' },
          },
        },
        {
          mark: { type: 'point', opacity: 0.3 },
          encoding: {
            x: { field: 'episode', type: 'quantitative' },
            y: { field: 'reward', type: 'quantitative' },
            color: { field: 'policy', type: 'nominal' },
          },
        },
        {
          mark: 'line',
          encoding: {
            x: { field: 'episode', type: 'quantitative' },
            y: { field: 'mean', type: 'quantitative', title: 'reward' },
            color: { field: 'policy', type: 'nominal' },
          },
        },
      ],
    } as TopLevelSpec),
  });
  const chooser = [...new Set(graded.map((e) => e.policy))].flatMap((policy) =>
    graded
      .filter((e) => e.policy === policy)
      .map((e, i) => ({ policy, episode: i + 1, arm: e.arm ?? NO_ARM })),
  );
  result.push({
    title: `Arm choice over time: one row per policy, one tick per episode in the order its episodes finished, coloured by the arm its bandit chose; a policy without a bandit shows as ${NO_ARM}`,
    svg: await svg({
      data: { values: chooser },
      width: 640,
      height: { step: 28 },
      mark: { type: 'tick', thickness: 2 },
      encoding: {
        x: { field: 'episode', type: 'quantitative', title: "policy's episode", axis: EPISODE_AXIS },
        y: { field: 'policy', type: 'nominal' },
        color: { field: 'arm', type: 'nominal' },
      },
    } as TopLevelSpec),
  });
  result.push({
    title: 'Per-task results: share of episodes resolved',
    svg: await svg({
      data: { values: graded.map((e) => ({ task: e.task_id, policy: e.policy, resolved: e.resolved })) },
      mark: 'rect',
      encoding: {
        x: { field: 'policy', type: 'nominal' },
        y: { field: 'task', type: 'nominal' },
        color: {
          aggregate: 'mean',
          field: 'resolved',
          type: 'quantitative',
          title: 'resolved',
          scale: { domain: [0, 1] },
        },
      },
    } as TopLevelSpec),
  });
  result.push({
    title: 'Time per episode (seconds)',
    svg: await svg({
      data: { values: graded.map((e) => ({ policy: e.policy, seconds: e.wall_ms / 1000 })) },
      width: 480,
      mark: { type: 'boxplot', extent: 'min-max' },
      encoding: { x: { field: 'seconds', type: 'quantitative' }, y: { field: 'policy', type: 'nominal' } },
    } as TopLevelSpec),
  });
  // Policies that logged no usage are left out: a flat line at $0 would read as measured.
  const spending = [...new Set(episodes.map((e) => e.policy))].flatMap((policy) => {
    const mine = episodes.filter((e) => e.policy === policy);
    if (!mine.some((e) => costs.get(e.id))) return [];
    let usd = 0;
    return mine.map((e, i) => ({ policy, episode: i + 1, usd: (usd += costs.get(e.id)?.usd ?? 0) }));
  });
  if (spending.length > 0) {
    result.push({
      title:
        'Cumulative USD per policy over its episodes in the order they finished (infra failures included); policies that logged no LLM usage are not drawn',
      svg: await svg({
        data: { values: spending },
        width: 640,
        height: 240,
        mark: { type: 'line', point: true },
        encoding: {
          x: { field: 'episode', type: 'quantitative', title: "policy's episode", axis: EPISODE_AXIS },
          y: { field: 'usd', type: 'quantitative', title: 'cumulative USD' },
          color: { field: 'policy', type: 'nominal' },
        },
      } as TopLevelSpec),
    });
  }
  return result;
}

interface Cost {
  usd: number;
  inputTokens: number;
  outputTokens: number;
}

/**
 * An episode's LLM usage summed over its steps; null when no step logged any. A policy without a model may log
 * zero usage on every step (a bandit over template repair does today): those zeros are not a measurement.
 */
function episodeCost(steps: StoredStep[]): Cost | null {
  const cost = { usd: 0, inputTokens: 0, outputTokens: 0 };
  for (const s of steps) {
    cost.usd += s.usd ?? 0;
    cost.inputTokens += s.input_tokens ?? 0;
    cost.outputTokens += s.output_tokens ?? 0;
  }
  return cost.usd > 0 || cost.inputTokens > 0 || cost.outputTokens > 0 ? cost : null;
}

const usdText = (x: number) => `$${x.toFixed(4)}`;
const count = (x: number) => Math.round(x).toLocaleString('en-US');

/** Per policy: every episode (infra failures spent too), the ones that logged usage, and their costs. */
function policyCosts(episodes: EpisodeRow[], costs: Map<string, Cost | null>) {
  return [...new Set(episodes.map((e) => e.policy))].sort().map((policy) => {
    const mine = episodes.filter((e) => e.policy === policy);
    const logged = mine.flatMap((e) => costs.get(e.id) ?? []);
    const sum = (f: (c: Cost) => number) => logged.reduce((total, c) => total + f(c), 0);
    return {
      policy,
      episodes: mine.length,
      logged: logged.length,
      usd: logged.length ? { total: sum((c) => c.usd), mean: bootstrapMean(logged.map((c) => c.usd)) } : null,
      inputTokens: sum((c) => c.inputTokens),
      outputTokens: sum((c) => c.outputTokens),
      wallMs: mine.reduce((total, e) => total + e.wall_ms, 0),
    };
  });
}

const COST_HEADER = [
  'policy',
  'episodes',
  'with LLM usage',
  'USD total',
  'USD per episode (bootstrap CI)',
  'input tokens total / per episode',
  'output tokens total / per episode',
  'wall s total / per episode',
];

function costRows(costs: ReturnType<typeof policyCosts>): string[][] {
  return costs.map((c) => {
    const perEpisode = (total: number) => `${count(total)} / ${count(total / c.logged)}`;
    const wall = `${(c.wallMs / 1000).toFixed(1)} / ${(c.wallMs / 1000 / Math.max(1, c.episodes)).toFixed(1)}`;
    if (!c.usd) return [c.policy, String(c.episodes), '0', 'no LLM cost recorded', '–', '–', '–', wall];
    const m = c.usd.mean;
    return [
      c.policy,
      String(c.episodes),
      String(c.logged),
      usdText(c.usd.total),
      `${usdText(m.estimate)} (${usdText(m.low)}–${usdText(m.high)})`,
      perEpisode(c.inputTokens),
      perEpisode(c.outputTokens),
      wall,
    ];
  });
}

function summaryRows(
  stats: RunStatistics,
  episodes: EpisodeRow[],
  costs: ReturnType<typeof policyCosts>,
): string[][] {
  return stats.policies.map((p) => {
    const mine = episodes.filter((e) => e.policy === p.policy && e.failure_class !== 'infra');
    const reward = bootstrapMean(mine.map((e) => e.reward));
    const cost = costs.find((c) => c.policy === p.policy)!;
    // A policy whose every episode failed for infra has no rate to show, only its infra count.
    const graded = mine.length > 0;
    return [
      p.policy,
      String(p.episodes),
      graded
        ? `${p.resolved} (${pct(p.resolveRate.estimate)}, 95% CI ${pct(p.resolveRate.low)}–${pct(p.resolveRate.high)})`
        : '–',
      graded
        ? `${reward.estimate.toFixed(3)} (95% CI ${reward.low.toFixed(3)}–${reward.high.toFixed(3)})`
        : '–',
      String(p.infra),
      (cost.wallMs / 1000).toFixed(1),
      cost.usd ? usdText(cost.usd.total) : '–',
    ];
  });
}

const SUMMARY_HEADER = [
  'policy',
  'episodes',
  'resolved (Wilson CI)',
  'mean reward (bootstrap CI)',
  'infra',
  'total s',
  'total USD',
];
const COMPARISON_HEADER = [
  'A',
  'B',
  'pairs',
  'only A resolved',
  'only B resolved',
  'McNemar p',
  'test',
  'reward A − B (bootstrap CI)',
  'paired permutation p',
];

function comparisonRows(stats: RunStatistics): string[][] {
  return stats.comparisons.map((c) => [
    c.a,
    c.b,
    String(c.pairs),
    String(c.onlyA),
    String(c.onlyB),
    c.pValue.toPrecision(3),
    c.method,
    Number.isNaN(c.reward.difference.estimate)
      ? '–'
      : `${c.reward.difference.estimate.toFixed(3)} (${c.reward.difference.low.toFixed(3)}–${c.reward.difference.high.toFixed(3)})`,
    Number.isNaN(c.reward.pValue) ? '–' : c.reward.pValue.toPrecision(3),
  ]);
}

interface VariantRow {
  episode_id: string;
  policy: string;
  variant: string;
  value: number;
  flags_json: string;
}

function variantRows(db: Database.Database, experimentId: string): VariantRow[] {
  return db
    .prepare(
      `SELECT r.episode_id, e.policy, r.variant, r.value, r.flags_json FROM rewards r JOIN episodes e ON e.id = r.episode_id
       WHERE e.experiment_id = ? AND e.failure_class != 'infra' ORDER BY e.policy, r.variant, e.id`,
    )
    .all(experimentId) as VariantRow[];
}

/** Per policy, each stored reward variant's mean (bootstrap CI) and how many episodes carry hack flags. */
function variantTable(rows: VariantRow[]): { header: string[]; rows: string[][] } {
  const variants = [...new Set(rows.map((r) => r.variant))].sort();
  const policies = [...new Set(rows.map((r) => r.policy))];
  return {
    header: ['policy', ...variants.map((v) => `${v} (bootstrap CI)`), 'flagged episodes'],
    rows: policies.map((policy) => {
      const mine = rows.filter((r) => r.policy === policy);
      // Flags belong to the episode, not the variant: count them on one variant's rows.
      const flaggedCount = mine.filter(
        (r) =>
          r.variant === variants[0] && (JSON.parse(r.flags_json) as { flags: string[] }).flags.length > 0,
      ).length;
      return [
        policy,
        ...variants.map((v) => {
          const m = bootstrapMean(mine.filter((r) => r.variant === v).map((r) => r.value));
          return `${m.estimate.toFixed(3)} (${m.low.toFixed(3)}–${m.high.toFixed(3)})`;
        }),
        String(flaggedCount),
      ];
    }),
  };
}

const ALL_POLICIES = 'all policies';

/**
 * Each other variant against the primary on the same episodes: per-episode differences, their mean with a
 * bootstrap interval and a sign-flip permutation p; over all policies, then per policy when there are several.
 */
function variantPairs(rows: VariantRow[], primary: string): { header: string[]; rows: string[][] } {
  const byEpisode = new Map<string, { policy: string; values: Map<string, number> }>();
  for (const r of rows) {
    const entry = byEpisode.get(r.episode_id) ?? { policy: r.policy, values: new Map<string, number>() };
    entry.values.set(r.variant, r.value);
    byEpisode.set(r.episode_id, entry);
  }
  // In episode-id order, as `rewards compare` takes them: the seeded sign flips then give both the same p.
  const episodes = [...byEpisode.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([, e]) => e)
    .filter((e) => e.values.has(primary));
  const policies = [...new Set(episodes.map((e) => e.policy))].sort();
  const scopes = [ALL_POLICIES, ...(policies.length > 1 ? policies : [])];
  const variants = [...new Set(rows.map((r) => r.variant))].filter((v) => v !== primary).sort();
  return {
    header: ['variant', 'episodes of', 'pairs', `variant − ${primary} (paired bootstrap CI)`, 'sign-flip p'],
    rows: variants.flatMap((variant) =>
      scopes.map((scope) => {
        const d = pairedPermutation(
          episodes
            .filter((e) => e.values.has(variant) && (scope === ALL_POLICIES || e.policy === scope))
            .map((e) => e.values.get(variant)! - e.values.get(primary)!),
        );
        return [
          variant,
          scope,
          String(d.pairs),
          d.pairs
            ? `${d.difference.estimate.toFixed(3)} (${d.difference.low.toFixed(3)}–${d.difference.high.toFixed(3)})`
            : '–',
          d.pairs ? d.pValue.toPrecision(3) : '–',
        ];
      }),
    ),
  };
}

/** Tasks × policies: resolved of graded episodes per cell; ≠ marks a task the policies' shares differ on. */
function taskMatrix(episodes: EpisodeRow[]): { header: string[]; rows: string[][]; differing: number } {
  const graded = episodes.filter((e) => e.failure_class !== 'infra');
  const policies = [...new Set(graded.map((e) => e.policy))].sort();
  const tasks = [...new Set(graded.map((e) => e.task_id))].sort();
  const cell = new Map<string, { n: number; resolved: number }>();
  for (const e of graded) {
    const key = `${e.task_id}\u0000${e.policy}`;
    const c = cell.get(key) ?? { n: 0, resolved: 0 };
    c.n++;
    c.resolved += e.resolved;
    cell.set(key, c);
  }
  let differing = 0;
  const rows = tasks.map((task) => {
    const cells = policies.map((policy) => cell.get(`${task}\u0000${policy}`) ?? { n: 0, resolved: 0 });
    const shares = new Set(cells.filter((c) => c.n > 0).map((c) => c.resolved / c.n));
    const differs = shares.size > 1;
    if (differs) differing++;
    return [task, ...cells.map((c) => (c.n ? `${c.resolved}/${c.n}` : '–')), differs ? '≠' : ''];
  });
  return { header: ['task', ...policies, 'differ'], rows, differing };
}

const htmlTable = (header: string[], rows: string[][]) =>
  `<table><thead><tr>${header.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr></thead><tbody>${rows
    .map((r) => `<tr>${r.map((c) => `<td>${escapeHtml(c)}</td>`).join('')}</tr>`)
    .join('')}</tbody></table>`;

/** A Markdown table cell: backslashes, pipes and line breaks would break the row, raw HTML would render. */
const mdCell = (s: string) =>
  s
    .replaceAll('\\', '\\\\')
    .replaceAll('|', '\\|')
    .replace(/[\r\n]+/g, ' ')
    .replace(/[<>&]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;' })[c]!);

const mdTable = (header: string[], rows: string[][]) =>
  [
    `| ${header.map(mdCell).join(' | ')} |`,
    `| ${header.map(() => '---').join(' | ')} |`,
    ...rows.map((r) => `| ${r.map(mdCell).join(' | ')} |`),
  ].join('\n');

/** Spans drawn per episode timeline; the trace file holds them all. */
const TIMELINE_SPANS = 1000;
const ROW_PX = 16;
const LABEL_PX = 340;
const BARS_PX = 620;

function spanColor(row: TimelineRow): string {
  if (row.error) return '#d1495b';
  if (row.name.startsWith('exec ')) return '#4a7fb5';
  if (row.name.startsWith('step ')) return '#7b61c4';
  if (row.name.startsWith('grade') || row.name.startsWith('evaluate')) return '#2a9d8f';
  return '#8a8f98';
}

/**
 * An episode's trace as an SVG timeline: one row per span in tree order, labels indented by depth, bars placed
 * by start and end relative to the episode's start; hovering a row shows its attributes.
 */
function timelineSvg(rows: TimelineRow[]): string {
  const shown = rows.slice(0, TIMELINE_SPANS);
  const total = Math.max(...shown.map((r) => r.startMs + r.durationMs), 1e-3);
  const x = (ms: number) => LABEL_PX + (ms / total) * BARS_PX;
  const body = shown.map((row, i) => {
    const y = i * ROW_PX;
    const label = `${row.name} · ${formatMs(row.durationMs)}`;
    const details = Object.entries(row.attributes).map(([k, v]) => {
      const text = typeof v === 'string' ? v : JSON.stringify(v);
      return `${k} = ${text.length > 200 ? `${text.slice(0, 200)}…` : text}`;
    });
    const title = [`${row.name}: ${formatMs(row.durationMs)} from ${formatMs(row.startMs)}`, ...details].join(
      '\n',
    );
    return (
      `<g class="span-row"><title>${escapeHtml(title)}</title>` +
      `<text x="${4 + row.depth * 12}" y="${y + 12}">${escapeHtml(label.length > 52 - row.depth * 2 ? `${label.slice(0, 50 - row.depth * 2)}…` : label)}</text>` +
      `<rect class="span-bar" data-span-id="${row.spanId}" x="${x(row.startMs).toFixed(1)}" y="${y + 3}" width="${Math.max(1, (row.durationMs / total) * BARS_PX).toFixed(1)}" height="${ROW_PX - 6}" fill="${spanColor(row)}"/></g>`
    );
  });
  const height = shown.length * ROW_PX + 18;
  const axis = `<line x1="${LABEL_PX}" x2="${LABEL_PX + BARS_PX}" y1="${height - 16}" y2="${height - 16}" stroke="#999"/><text x="${LABEL_PX}" y="${height - 3}">0</text><text x="${LABEL_PX + BARS_PX}" y="${height - 3}" text-anchor="end">${escapeHtml(formatMs(total))}</text>`;
  const more = rows.length > shown.length ? `<p>First ${shown.length} of ${rows.length} spans.</p>` : '';
  return `<svg class="timeline" width="${LABEL_PX + BARS_PX + 10}" height="${height}" font-size="11" font-family="system-ui,sans-serif">${body.join('')}${axis}</svg>${more}`;
}

/** The episode's timeline, or why there is none (a run from before traces, an unreadable file). */
async function timelineHtml(runDir: string, episodeId: string): Promise<string> {
  try {
    const trace = await readTrace(runDir, episodeId);
    if (!trace) return '<p class="no-trace">No trace saved for this episode.</p>';
    return timelineSvg(timeline(trace));
  } catch (err) {
    return `<p class="no-trace">Trace unreadable: ${escapeHtml((err as Error).message.slice(0, 500))}</p>`;
  }
}

async function trajectoryViewer(
  runDir: string,
  episodes: EpisodeRow[],
  steps: Map<string, StoredStep[]>,
): Promise<string> {
  const shown = episodes.slice(0, VIEWER_EPISODES);
  const timelines = await Promise.all(shown.map((e) => timelineHtml(runDir, e.id)));
  return shown
    .map((e, index) => {
      const rows = (steps.get(e.id) ?? []).map((s) => {
        const result = s.error_code ?? (s.exit_code === null ? '' : `exit ${s.exit_code}`);
        const tests = s.tests_passed === null ? '' : `${s.tests_passed} passed, ${s.tests_failed} failing`;
        const telemetry = [
          `${s.wall_ms} ms`,
          s.cpu_ms === null ? '' : `cpu ${s.cpu_ms} ms`,
          s.peak_rss_kb === null ? '' : `${Math.round(s.peak_rss_kb / 1024)} MiB`,
          modelCost(s) ?? '',
        ]
          .filter(Boolean)
          .join(', ');
        return `<tr><td>${s.step}</td><td>${escapeHtml(s.kind)}</td><td><pre>${escapeHtml(s.action_json.slice(0, 2000))}</pre></td><td>${escapeHtml(result)}</td><td>${escapeHtml(tests)}</td><td>${escapeHtml(telemetry)}</td><td><pre>${escapeHtml(s.output.slice(0, 4000))}</pre></td></tr>`;
      });
      return `<details><summary>${escapeHtml(`${e.policy} · ${e.task_id} · seed ${e.seed} · ${e.outcome} · reward ${e.reward}`)}</summary><h4>Timeline</h4>${timelines[index]}<table><thead><tr><th>#</th><th>kind</th><th>action</th><th>result</th><th>tests</th><th>telemetry</th><th>output</th></tr></thead><tbody>${rows.join('')}</tbody></table></details>`;
    })
    .join('\n');
}

const fixed = (x: number | null) => (x === null ? 'n/a' : x.toFixed(3));

/** Each tournament as a row of cards, the winner first and outlined. */
const WINNER_HEADER = ['strategy', 'won', 'played'];

function tournamentsHtml(groups: TournamentGroup[], limit = 100): string {
  if (groups.length === 0) return '<p>No tournament in this run.</p>';
  const cards = groups.slice(0, limit).map((g) => {
    const items = g.cards.map((c) => {
      const components = COMPONENT_NAMES.filter((n) => n in c.components)
        .map((n) => `<li>${n} ${fixed(c.components[n]!)}</li>`)
        .join('');
      return `<div class="card${c.rank === 1 ? ' winner' : ''}" data-strategy="${escapeHtml(c.strategy)}">
<h4>${c.rank === 1 ? '🏆 ' : ''}${escapeHtml(c.strategy)} <small>rank ${c.rank}/${g.cards.length}</small></h4>
<p>${escapeHtml(c.outcome)} · ${g.primary} <b>${fixed(c.primary)}</b></p>
<p>diff ${c.diff.files} file(s) +${c.diff.added} −${c.diff.removed} · ${c.steps} steps · ${(c.wallMs / 1000).toFixed(1)} s${c.usd !== null ? ` · $${c.usd.toFixed(4)}` : ''}</p>
<details><summary>components</summary><ul>${components}</ul></details>
<p><code>${escapeHtml(c.episodeId)}</code></p></div>`;
    });
    return `<section class="tournament" data-task="${escapeHtml(g.task)}"><h3>${escapeHtml(g.task)} <small>seed ${g.seed}, epoch ${g.epoch}</small></h3>
<div class="cards">${items.join('\n')}</div></section>`;
  });
  const more =
    groups.length > limit ? `<p>${groups.length - limit} more tournaments are in the store.</p>` : '';
  return cards.join('\n') + more;
}

export async function writeReport(runDir: string): Promise<{ html: string; md: string; charts: number }> {
  const file = upgradeStore(runDir);
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const experiment = db
      .prepare('SELECT id, name, created_at, config_json, manifest_json FROM experiments')
      .get() as
      | { id: string; name: string; created_at: string; config_json: string; manifest_json: string }
      | undefined;
    if (!experiment) throw new Error(`${runDir} holds no experiment`);
    const episodes = db.prepare('SELECT * FROM episodes ORDER BY finished_at, id').all() as EpisodeRow[];
    const steps = new Map<string, StoredStep[]>();
    for (const s of db
      .prepare('SELECT * FROM steps ORDER BY episode_id, step')
      .iterate() as Iterable<StoredStep>) {
      if (!steps.has(s.episode_id)) steps.set(s.episode_id, []);
      steps.get(s.episode_id)!.push(s);
    }
    const costs = new Map(episodes.map((e) => [e.id, episodeCost(steps.get(e.id) ?? [])]));
    const perPolicy = policyCosts(episodes, costs);
    const anyCost = perPolicy.some((c) => c.usd);
    const costNote = anyCost
      ? 'Every episode counts, infra failures included (they spent too); per-episode means are over the episodes that logged LLM usage (tokens or USD on their steps).'
      : 'No LLM cost recorded: no step of this run logged tokens or USD. Wall time counts every episode, infra failures included.';
    const stats = runStatistics(db, experiment.id);
    const summary = summaryRows(stats, episodes, perPolicy);
    const comparisons = comparisonRows(stats);
    const drawn = await charts(episodes, costs);
    const rewardRows = variantRows(db, experiment.id);
    const variants = variantTable(rewardRows);
    const primary = primaryOf(experiment.config_json).name;
    const pairs = variantPairs(rewardRows, primary);
    const pairsNote = (code: (text: string) => string) =>
      pairs.rows.length === 0
        ? `Only the primary variant, ${code(primary)}, is stored: nothing to compare it with.`
        : `Each other variant against the primary, ${code(primary)}, on the same episodes (paired): the mean of the per-episode differences with a percentile bootstrap interval, and a sign-flip permutation test.`;
    const matrix = taskMatrix(episodes);
    const tournaments = tournamentGroups(db, experiment.id);
    const title = `repogym report: ${experiment.name}`;
    const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>body{font-family:system-ui,sans-serif;margin:2rem;max-width:1100px}table{border-collapse:collapse;margin:1rem 0}
td,th{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;vertical-align:top}pre{white-space:pre-wrap;max-width:480px;margin:0}
figure{margin:1.5rem 0}.cards{display:flex;gap:.75rem;flex-wrap:wrap}.card{border:1px solid #ccc;border-radius:6px;padding:.5rem .75rem;flex:1 1 200px}.card.winner{border:2px solid #2a7}.card h4,.card p{margin:.25rem 0}details{margin:.25rem 0}svg.timeline .span-row:hover{fill:#c60}</style></head><body>
<h1>${escapeHtml(title)}</h1>
<p>Experiment <code>${escapeHtml(experiment.id)}</code>, started ${escapeHtml(experiment.created_at)}; ${episodes.length} episodes.
Intervals are 95%: Wilson for proportions, seeded percentile bootstrap for means; infra failures are excluded from rates, not from time and cost.</p>
<h2>Summary</h2>${htmlTable(SUMMARY_HEADER, summary)}
<h2>Cost and time</h2><p>${escapeHtml(costNote)}</p>${htmlTable(COST_HEADER, costRows(perPolicy))}
<h2>Reward variants</h2><p>Every variant stored for the run (docs/rewards.md); <code>repogym rewards compare</code> ranks them against each other.</p>${htmlTable(variants.header, variants.rows)}
<h3>Against the primary variant (paired)</h3><p>${pairsNote((t) => `<code>${escapeHtml(t)}</code>`)}</p>${pairs.rows.length ? htmlTable(pairs.header, pairs.rows) : ''}
<h2>Paired comparisons</h2><p>Each pair of policies is compared on the (task, seed, epoch) episodes both ran: McNemar on resolution, a sign-flip permutation test on the primary reward.</p>${htmlTable(COMPARISON_HEADER, comparisons)}
${tournaments.length ? `<h2>Tournaments</h2><p>Strategies side by side on the same (task, seed, epoch), best first by <code>${escapeHtml(tournaments[0]!.primary)}</code> (ties: resolved, smaller diff, fewer steps).</p>${htmlTable(WINNER_HEADER, winnerRows(tournaments))}${tournamentsHtml(tournaments)}` : ''}
<h2>Charts</h2>${drawn.map((c, i) => `<figure data-chart="${i}"><figcaption>${escapeHtml(c.title)}</figcaption>${c.svg}</figure>`).join('\n')}
<h2>Trajectories</h2><p>${Math.min(episodes.length, VIEWER_EPISODES)} of ${episodes.length} episodes; every one is in <code>runs.sqlite</code> and <code>repogym trajectory</code>. Each opens with its timeline from <code>traces/&lt;episode-id&gt;.json</code> (one row per span; hover a row for its attributes).</p>
${await trajectoryViewer(runDir, episodes, steps)}
<h2>Manifest</h2><pre>${escapeHtml(JSON.stringify(JSON.parse(experiment.manifest_json), null, 2))}</pre>
</body></html>
`;
    const md = [
      `# ${title}`,
      '',
      `Experiment \`${experiment.id}\`, ${episodes.length} episodes. Intervals are 95% (Wilson for proportions, bootstrap for means); infra failures are excluded from rates, not from time and cost.`,
      '',
      '## Summary',
      '',
      mdTable(SUMMARY_HEADER, summary),
      '',
      '## Cost and time',
      '',
      costNote,
      '',
      mdTable(COST_HEADER, costRows(perPolicy)),
      '',
      '## Reward variants',
      '',
      mdTable(variants.header, variants.rows),
      '',
      '### Against the primary variant (paired)',
      '',
      pairsNote((t) => `\`${t}\``),
      ...(pairs.rows.length ? ['', mdTable(pairs.header, pairs.rows)] : []),
      '',
      '## Paired comparisons (same task, seed, epoch)',
      '',
      mdTable(COMPARISON_HEADER, comparisons),
      '',
      '## Per-task results',
      '',
      `Resolved of graded episodes, per task and policy; ≠ marks the ${matrix.differing} of ${matrix.rows.length} tasks on which the policies' shares differ.`,
      '',
      mdTable(matrix.header, matrix.rows),
      '',
      ...(tournaments.length
        ? ['## Tournaments', '', mdTable(WINNER_HEADER, winnerRows(tournaments)), '']
        : []),
      'Charts and trajectories: report.html.',
      '',
    ].join('\n');
    const files = { html: path.join(runDir, 'report.html'), md: path.join(runDir, 'report.md') };
    await writeFile(files.html, html);
    await writeFile(files.md, md);
    return { ...files, charts: drawn.length };
  } finally {
    db.close();
  }
}
