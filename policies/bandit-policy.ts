// A bandit over strategies: per episode the bandit picks a strategy (an arm), the inner policy runs with it,
// and the episode's return under the primary reward variant updates the bandit when the episode is committed
// (`BanditLearner.commit`). One BanditLearner lives for a whole run and hands out a fresh policy per episode.
import type { Task } from '../datasets/types.ts';
import type { Bandit, BanditContext, Selection } from './bandits/index.ts';
import type { EpisodeContext, EpisodeResult, Policy } from './types.ts';

/** Task features a contextual bandit sees: known before the episode starts, nothing hidden. */
export const FEATURE_NAMES = [
  'bias',
  'python',
  'javascript',
  'other_language',
  'statement_kchars_log',
  'repo_files_log',
];

export function taskFeatures(task: Task, repoFiles: number): BanditContext {
  const language = task.language.toLowerCase();
  return {
    names: FEATURE_NAMES,
    features: [
      1,
      language === 'python' ? 1 : 0,
      language === 'javascript' || language === 'typescript' ? 1 : 0,
      language === 'python' || language === 'javascript' || language === 'typescript' ? 0 : 1,
      Math.log1p(task.problem_statement.length / 1000),
      Math.log1p(repoFiles) / 10,
    ],
  };
}

/** Runs the bandit's calls one at a time: episodes run concurrently, a bandit's updates must not interleave. */
class Mutex {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(fn: () => Promise<T> | T): Promise<T> {
    const next = this.tail.then(fn, fn);
    this.tail = next.catch(() => undefined);
    return next;
  }
}

export interface BanditEvent {
  arm: string;
  context: BanditContext;
  scores: Record<string, number>;
  selectionInfo?: Record<string, unknown>;
  /** Set once the episode ended: the reward the bandit learns from at commit, or why it does not learn. */
  reward?: number;
  updated?: boolean;
  skipped?: string;
}

/** The event an ended bandit episode logged in its policy info, if it chose an arm. */
export function banditEventOf(policyInfo: unknown): BanditEvent | undefined {
  const event = (policyInfo as { event?: BanditEvent } | null | undefined)?.event;
  return event && typeof event.arm === 'string' ? event : undefined;
}

export class BanditLearner {
  private readonly mutex = new Mutex();
  constructor(
    readonly bandit: Bandit,
    private readonly contextOf: (ctx: EpisodeContext) => Promise<BanditContext> | BanditContext,
  ) {}

  select(ctx: EpisodeContext): Promise<{ context: BanditContext; selection: Selection }> {
    return this.mutex.run(async () => {
      const context = await this.contextOf(ctx);
      return { context, selection: await this.bandit.select(context) };
    });
  }

  /**
   * Learns from an ended episode's event, then hands the bandit's state to `write` (the store's commit of that
   * episode), all under the lock: a stored state holds exactly the committed episodes' updates, so a run
   * resumed after a crash neither loses nor repeats one.
   */
  commit(event: BanditEvent | undefined, write: (state: ReturnType<Bandit['state']>) => void): Promise<void> {
    return this.mutex.run(async () => {
      if (event?.updated && event.reward !== undefined) {
        await this.bandit.update(event.arm, event.reward, event.context);
      }
      write(this.bandit.state());
    });
  }

  /** A policy for one episode: picks the arm in `begin` from the task's features, runs `inner(arm)`, learns in `end`. */
  policy(name: string, inner: (strategy: string) => Policy): Policy {
    return this.episodePolicy(name, async (ctx, record) => {
      const { context, selection } = await this.select(ctx);
      record(selection, context);
      ctx.strategy = selection.arm;
      return inner(selection.arm);
    });
  }

  /**
   * A policy whose inner policy picks its moment: it calls `choose(context)` mid-episode with features of what
   * it observed (the template repair policy: after localising, before trying candidates). An episode that ends
   * before choosing teaches the bandit nothing.
   */
  deferredPolicy(
    name: string,
    inner: (choose: (context: BanditContext) => Promise<string>) => Policy,
  ): Policy {
    return this.episodePolicy(name, async (_ctx, record) =>
      inner((context) =>
        this.mutex.run(async () => {
          const selection = await this.bandit.select(context);
          record(selection, context);
          return selection.arm;
        }),
      ),
    );
  }

  private episodePolicy(
    name: string,
    start: (
      ctx: EpisodeContext,
      record: (selection: Selection, context: BanditContext) => void,
    ) => Promise<Policy>,
  ): Policy {
    let event: BanditEvent | undefined;
    let current: Policy | undefined;
    const record = (selection: Selection, context: BanditContext) => {
      event = { arm: selection.arm, context, scores: selection.scores, selectionInfo: selection.info };
    };
    return {
      name,
      begin: async (ctx) => {
        current = await start(ctx, record);
        await current.begin?.(ctx);
      },
      act: (observation, ctx) => current!.act(observation, ctx),
      usage: () => current?.usage?.() ?? { inputTokens: 0, outputTokens: 0, usd: 0 },
      end: async (result: EpisodeResult) => {
        await current?.end?.(result);
        if (!event) return;
        // An infra failure, or the experiment's budget running out, says nothing about the strategy (an
        // episode's own cap does: that strategy was too expensive).
        if (result.grade?.failureClass === 'infra') {
          event.skipped = 'infra';
          return;
        }
        if (current?.info?.().stop_reason === 'cost_cap_experiment') {
          event.skipped = 'cost_cap_experiment';
          return;
        }
        event.reward = result.return;
        event.updated = true;
      },
      info: () => ({ bandit: this.bandit.kind, arm: event?.arm, event, inner: current?.info?.() ?? null }),
    };
  }
}
