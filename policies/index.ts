export type { EpisodeContext, EpisodeResult, Policy } from './types.ts';
export { nopPolicy, oraclePolicy, replayPolicy } from './baselines.ts';
