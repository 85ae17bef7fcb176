export type { EpisodeSignals, RewardComponent, RewardValue } from './types.ts';
export { resolvedReward } from './correctness.ts';
