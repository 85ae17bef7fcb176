// One stored episode, readable: its outcome, then every step with its action, result, telemetry and output;
// optionally its trace as a text timeline.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { StoredStep } from './store.ts';
import { formatMs, parseTrace, timeline, traceFile } from './traces.ts';

/** A step's model call: tokens and USD, when the policy logged any (an offline policy's zeros are not). */
export function modelCost(s: Pick<StoredStep, 'input_tokens' | 'output_tokens' | 'usd'>): string | null {
  const tokens = (s.input_tokens ?? 0) + (s.output_tokens ?? 0);
  if (tokens === 0 && !s.usd) return null;
  return `${s.input_tokens ?? 0} in + ${s.output_tokens ?? 0} out tokens, $${(s.usd ?? 0).toFixed(4)}`;
}

function indent(text: string, maxLines: number): string {
  const lines = text.trimEnd().split('\n');
  const shown =
    lines.length > maxLines
      ? [...lines.slice(0, maxLines), `… ${lines.length - maxLines} more lines`]
      : lines;
  return shown.map((l) => `    | ${l}`).join('\n');
}

/** The episode's spans, one line each: start, duration, name indented by depth, exit code and error. */
function textTimeline(runDir: string, episodeId: string): string[] {
  const file = traceFile(runDir, episodeId);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    return ['', 'no trace saved for this episode'];
  }
  let rows: ReturnType<typeof timeline>;
  try {
    rows = timeline(parseTrace(text, file));
  } catch (err) {
    // The steps above are still worth reading.
    return ['', `trace unreadable: ${(err as Error).message.split('\n')[0]}`];
  }
  return [
    '',
    `timeline (${path.relative(runDir, file)}): start, duration, span`,
    ...rows.map((r) => {
      const exit = r.attributes['process.exit.code'];
      const notes = [exit === undefined ? null : `exit ${String(exit)}`, r.error ? 'error' : null].filter(
        Boolean,
      );
      const name = `${'  '.repeat(r.depth)}${r.name}${notes.length ? `  (${notes.join(', ')})` : ''}`;
      return `${formatMs(r.startMs).padStart(10)} ${formatMs(r.durationMs).padStart(10)}  ${name}`;
    }),
  ];
}

/** Renders an episode by id (or a unique id prefix) as text; `timeline` appends its trace's spans. */
export function renderTrajectory(
  runDir: string,
  episodeId: string,
  opts: { outputLines?: number; timeline?: boolean } = {},
): string {
  const db = new Database(path.join(runDir, 'runs.sqlite'), { readonly: true, fileMustExist: true });
  try {
    // A prefix match without LIKE, whose % and _ would match other episodes.
    const matches = db
      .prepare('SELECT * FROM episodes WHERE substr(id, 1, length(@prefix)) = @prefix')
      .all({ prefix: episodeId }) as Record<string, unknown>[];
    if (matches.length !== 1) {
      throw new Error(
        matches.length === 0
          ? `no episode ${episodeId} in ${runDir}`
          : `episode id prefix ${episodeId} is ambiguous`,
      );
    }
    const e = matches[0]!;
    const steps = db
      .prepare('SELECT * FROM steps WHERE episode_id = ? ORDER BY step')
      .all(e.id) as StoredStep[];
    const out = [
      `episode ${e.id}`,
      `  task ${e.task_id}  policy ${e.policy}  seed ${e.seed}  epoch ${e.epoch}`,
      `  outcome ${e.outcome} (${e.failure_class})  reward ${e.reward}  steps ${e.steps}  invalid ${e.invalid_actions}  ${(Number(e.wall_ms) / 1000).toFixed(1)}s` +
        (e.error ? `\n  error: ${e.error}` : ''),
      '',
    ];
    for (const s of steps) {
      const action = JSON.parse(s.action_json) as Record<string, unknown> | null;
      const { kind: _kind, ...args } = action ?? {};
      const shownArgs = JSON.stringify(args, (_k, v: unknown) =>
        typeof v === 'string' && v.length > 80 ? `${v.slice(0, 80)}…` : v,
      );
      const result = [
        s.error_code ? `error ${s.error_code}` : s.exit_code === null ? null : `exit ${s.exit_code}`,
        s.timed_out ? 'timed out' : null,
        s.tests_passed === null ? null : `tests ${s.tests_passed} passed, ${s.tests_failed} failing`,
        `${s.wall_ms} ms`,
        s.cpu_ms === null ? null : `cpu ${s.cpu_ms} ms`,
        s.peak_rss_kb === null ? null : `rss ${Math.round(s.peak_rss_kb / 1024)} MiB`,
        modelCost(s),
        s.diff_files ? `diff ${s.diff_files}f +${s.diff_added} -${s.diff_removed}` : null,
        s.reward ? `reward ${s.reward}` : null,
      ].filter(Boolean);
      out.push(
        `#${s.step} ${s.kind} ${shownArgs === '{}' ? '' : shownArgs}`.trimEnd(),
        `    ${result.join('  ')}`,
      );
      if (s.output.trim()) out.push(indent(s.output, opts.outputLines ?? 12));
    }
    if (opts.timeline) out.push(...textTimeline(runDir, String(e.id)));
    return out.join('\n');
  } finally {
    db.close();
  }
}
