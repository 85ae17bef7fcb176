// Public API of env/. Read types.ts for the contract, sandbox/types.ts for the sandbox interface.
export * from './types.ts';
export {
  actionSchema,
  actionSchemas,
  actionJsonSchema,
  parseAction,
  ACTION_KINDS,
  type Action,
  type ActionKind,
} from './actions.ts';
export { CodingEnv, EnvStateError, InfraError, type CodingEnvOptions } from './coding-env.ts';
export { grade, runTaskTests, type Grade, type GradeStatus } from './grading.ts';
export { make, register, registeredIds } from './registry.ts';
export { makeVec, VectorEnv } from './vector.ts';
export { checkEnv, deterministicView } from './check.ts';
export type { Sandbox, ExecOptions, ExecResult } from './sandbox/types.ts';
export { createLocalSandbox } from './sandbox/local.ts';
