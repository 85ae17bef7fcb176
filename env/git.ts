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
  /** gitSequence: an argv prefix its shell runs under (nsenter into a rootless overlay's namespaces). */
  runUnder?: string[];
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

const NEUTRAL_CONFIG: Record<string, string> = {
  'core.hooksPath': '/dev/null',
  'commit.gpgsign': 'false',
  'init.defaultBranch': 'main',
  'core.autocrlf': 'false',
  'core.eol': 'lf',
  'core.fileMode': 'true',
  'gc.auto': '0',
  // Git reads these from $XDG_CONFIG_HOME/git/ even without a global config: the host's, not the repo's.
  'core.excludesFile': '/dev/null',
  'core.attributesFile': '/dev/null',
};

/** The same config as `-c` flags would give, but in the environment: it reaches every git a shell script runs. */
const NEUTRAL_CONFIG_ENV = Object.fromEntries([
  ['GIT_CONFIG_COUNT', String(Object.keys(NEUTRAL_CONFIG).length)],
  ...Object.entries(NEUTRAL_CONFIG).flatMap(([key, value], i) => [
    [`GIT_CONFIG_KEY_${i}`, key],
    [`GIT_CONFIG_VALUE_${i}`, value],
  ]),
]);

/** The caller's environment without GIT_* variables: an inherited GIT_DIR or GIT_INDEX_FILE would redirect us. */
function inheritedEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('GIT_')));
}

export function git(args: string[], opts: GitOptions): Promise<string> {
  return run('git', args, args, opts);
}

/**
 * Several git commands in one `sh`, stopping at the first that fails; resolves with the last one's stdout.
 * One spawn from this (large) process instead of one per command: spawning from Node is the expensive part.
 */
export function gitSequence(commands: string[][], opts: GitOptions): Promise<string> {
  const quote = (arg: string) => `'${arg.replaceAll("'", `'\\''`)}'`;
  const script = commands
    .map((args, i) => `git ${args.map(quote).join(' ')}${i < commands.length - 1 ? ' >/dev/null' : ''}`)
    .join(' && ');
  const [file, ...argv] = [...(opts.runUnder ?? []), 'sh', '-c', script];
  return run(
    file!,
    argv,
    commands.flatMap((args, i) => (i ? ['&& git', ...args] : args)),
    opts,
  );
}

function run(file: string, argv: string[], shownArgs: string[], opts: GitOptions): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      file,
      argv,
      {
        cwd: opts.cwd,
        env: {
          ...inheritedEnv(),
          GIT_CONFIG_GLOBAL: '/dev/null',
          GIT_CONFIG_NOSYSTEM: '1',
          GIT_TERMINAL_PROMPT: '0',
          ...NEUTRAL_CONFIG_ENV,
          ...opts.env,
        },
        maxBuffer: 256 * 1024 * 1024,
        encoding: 'utf8',
      },
      (err, stdout, stderr) => {
        if (err)
          reject(
            new GitError(shownArgs, stderr || err.message, typeof err.code === 'number' ? err.code : null),
          );
        else resolve(stdout);
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}
