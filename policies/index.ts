export type { EpisodeContext, EpisodeResult, Policy } from './types.ts';
export { baselinePolicy, nopPolicy, oraclePolicy, replayPolicy } from './baselines.ts';
