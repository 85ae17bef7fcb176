import { describe, expect, it } from 'vitest';
import { parseConfig } from '../experiments/config.ts';
import { replayBandits, type MatrixTask } from '../experiments/replay.ts';

function configText(dataset = 'dataset: {name: builtin:mini}'): string {
  return [
    'name: replay',
    dataset,
    'policies:',
    '  - {name: bandit, id: lin, bandit: {kind: linucb}, arms: [logic, structure], inner: {name: repair}}',
    '  - {name: bandit, id: rnd, bandit: {kind: random}, arms: [logic, structure], inner: {name: repair}}',
    'epochs: 2',
    'order: shuffled',
  ].join('\n');
}
const config = (dataset?: string) => parseConfig(configText(dataset));

/** Half the tasks pay only on logic, half only on structure; the context says which half. */
const informative: MatrixTask[] = Array.from({ length: 40 }, (_, i) => ({
  taskId: `t${i}`,
  context: { features: i % 2 ? [1, 1, 0] : [1, 0, 1] },
  rewards: i % 2 ? { logic: 1, structure: 0 } : { logic: 0, structure: 1 },
}));

describe('experiment replay', () => {
  it('a bandit whose context names the paying arm beats random in nearly every draw', async () => {
    const r = await replayBandits(config(), informative, { draws: 40 });
    expect(r.part).toBe('all');
    expect(r.tasks).toBe(40);
    expect(r.baseline.policy).toBe('rnd');
    expect(r.baseline.reward.estimate).toBeGreaterThan(0.4);
    expect(r.baseline.reward.estimate).toBeLessThan(0.6);
    const [lin] = r.policies;
    expect(lin!.policy).toBe('lin');
    expect(lin!.gain.estimate).toBeGreaterThan(0.25);
    expect(lin!.power).toBeGreaterThan(0.9);
  });

  it('when every arm pays the same there is nothing to gain and the test never fires', async () => {
    const flat = informative.map((t, i) => ({
      ...t,
      rewards: { logic: i % 3 ? 0 : 1, structure: i % 3 ? 0 : 1 },
    }));
    const r = await replayBandits(config(), flat, { draws: 20 });
    expect(r.policies[0]!.gain.estimate).toBe(0);
    expect(r.policies[0]!.power).toBe(0);
    expect(r.policies[0]!.reward.estimate).toBeCloseTo(r.baseline.reward.estimate, 10);
  });

  it('an episode that ended before a choice counts its reward and teaches nothing', async () => {
    const early = informative.map((t) => ({
      ...t,
      context: null,
      rewards: { logic: 0.25, structure: 0.25 },
    }));
    const r = await replayBandits(config(), early, { draws: 5 });
    expect(r.policies[0]!.reward.estimate).toBeCloseTo(0.25, 10);
  });

  it('draws from one side of the config’s split, and the same inputs give the same estimate', async () => {
    const split = 'dataset: {name: builtin:mini, split: {part: test, test_fraction: 0.25, seed: 3}}';
    const withSplit = config(split);
    const train = await replayBandits(withSplit, informative, { draws: 10 });
    const test = await replayBandits(withSplit, informative, { draws: 10, part: 'test' });
    expect(train.part).toBe('train');
    expect(train.pool + test.pool).toBe(40);
    expect(test.pool).toBeGreaterThan(0);
    expect(await replayBandits(withSplit, informative, { draws: 10 })).toEqual(train);
  });

  it('rejects what it cannot replay, naming the cause', async () => {
    await expect(replayBandits(config(), informative, { tasks: 41 })).rejects.toThrow(
      /--tasks must be an integer from 1 to 40/,
    );
    const missing = informative.map((t, i) => (i === 7 ? { ...t, rewards: { logic: 1 } } : t));
    await expect(replayBandits(config(), missing)).rejects.toThrow(/no "structure" episode of t7/);
    const noRandom = parseConfig(configText().replace(/ {2}- \{name: bandit, id: rnd.*\n/, ''));
    await expect(replayBandits(noRandom, informative)).rejects.toThrow(/uniform-random/);
    await expect(replayBandits(config(), informative, { part: 'train' })).rejects.toThrow(
      /--part train needs a dataset.split/,
    );
  });
});
