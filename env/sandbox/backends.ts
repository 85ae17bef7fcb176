// Picks a sandbox backend from an experiment's `sandbox` settings.
import type { Task } from '../../datasets/types.ts';
import { createDockerSandbox } from './docker.ts';
import type { IsolationMode } from './isolation.ts';
import { createLocalSandbox } from './local.ts';
import type { Sandbox } from './types.ts';

export const SANDBOX_BACKENDS = ['local', 'docker'] as const;

export interface SandboxSettings {
  backend: (typeof SANDBOX_BACKENDS)[number];
  layer: 'auto' | 'overlay' | 'worktree';
  /** Local backend only. */
  isolation: IsolationMode;
  memory_mb: number;
  pids_max: number;
  /** Docker backend only: the image (default: the registry-free base image). */
  image?: string;
}

export function sandboxFactory(settings: SandboxSettings): (task: Task) => Promise<Sandbox> {
  return (task) => {
    const common = {
      repo: task.repo,
      commit: task.base_commit,
      layer: settings.layer,
      memoryMb: settings.memory_mb,
      pidsMax: settings.pids_max,
      defaultTimeoutSec: task.timeouts.command_sec,
    };
    return settings.backend === 'docker'
      ? createDockerSandbox({ ...common, ...(settings.image ? { image: settings.image } : {}) })
      : createLocalSandbox({ ...common, isolation: settings.isolation });
  };
}
