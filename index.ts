// The library's entry point: `import { make } from 'repogym'`.
export * from './env/index.ts';
export { loadDataset, loadTaskFile, findTask, type LoadOptions } from './datasets/loader.ts';
export type { Task, TestFormat, LoadResult, RowError } from './datasets/types.ts';
export { validateTask, deriveTestLists } from './datasets/validate.ts';
export * from './rewards/index.ts';
export * from './policies/index.ts';
export { runEpisode, type StepRecord, type RunEpisodeOptions } from './experiments/episode.ts';
export {
  adversarySpecSchema,
  differentialAdversary,
  llmAdversary,
  makeAdversary,
  type AdversarySpec,
} from './policies/adversary/index.ts';
export { compare, runTournament, type Candidate, type Tournament } from './experiments/compare.ts';
