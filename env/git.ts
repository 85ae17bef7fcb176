// git as a subprocess with the user's config neutralised, so results do not depend on whose machine it is.
import { execFile } from 'node:child_process';

export const FIXED_IDENTITY = {
  GIT_AUTHOR_NAME: 'repogym',
  GIT_AUTHOR_EMAIL: 'repogym@localhost',
  GIT_COMMITTER_NAME: 'repogym',
  GIT_COMMITTER_EMAIL: 'repogym@localhost',
  GIT_AUTHOR_DATE: '2024-01-01T00:00:00Z',
  GIT_COMMITTER_DATE: '2024-01-01T00:00:00Z',
};

export interface GitOptions {
  cwd: string;
  env?: Record<string, string>;
  input?: string;
}

export class GitError extends Error {
  constructor(
    readonly args: string[],
    readonly stderr: string,
    readonly code: number | null,
  ) {
    super(`git ${args.join(' ')} failed (${code}): ${stderr.trim()}`);
    this.name = 'GitError';
  }
}

const NEUTRAL_CONFIG = [
  ...['-c', 'core.hooksPath=/dev/null', '-c', 'commit.gpgsign=false', '-c', 'init.defaultBranch=main'],
  ...['-c', 'core.autocrlf=false', '-c', 'core.eol=lf', '-c', 'core.fileMode=true', '-c', 'gc.auto=0'],
];

/** The caller's environment without GIT_* variables: an inherited GIT_DIR or GIT_INDEX_FILE would redirect us. */
function inheritedEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('GIT_')));
}

export function git(args: string[], opts: GitOptions): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      'git',
      [...NEUTRAL_CONFIG, ...args],
      {
        cwd: opts.cwd,
        env: {
          ...inheritedEnv(),
          GIT_CONFIG_GLOBAL: '/dev/null',
          GIT_CONFIG_NOSYSTEM: '1',
          GIT_TERMINAL_PROMPT: '0',
          ...opts.env,
        },
        maxBuffer: 256 * 1024 * 1024,
        encoding: 'utf8',
      },
      (err, stdout, stderr) => {
        if (err)
          reject(new GitError(args, stderr || err.message, typeof err.code === 'number' ? err.code : null));
        else resolve(stdout);
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}
