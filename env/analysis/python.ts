// Python analysis with Debian's tools (apt: pyflakes3, bandit), run under /usr/bin/python3 rather than whatever
// python3 is first on PATH. Quality: pyflakes, through python_checks.py, which also runs our ast security checks
// (tool `python-ast`: network/process imports and the spellings of eval/exec/os.system bandit does not see, rule
// ids listed in python_checks.py). Security: those, and bandit over a private temp dir holding copies of the
// sources. All only parse the code; they run with a scrubbed env, a timeout, and a cwd outside any repository.
// python_checks.py --manifests also reads setup.cfg / setup.py requirement lists for dependencies.ts.
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChangedFile, Finding } from './index.ts';

export interface PythonTools {
  /** Python with pyflakes importable (default /usr/bin/python3). */
  python?: string;
  /** The bandit executable (default /usr/bin/bandit). */
  bandit?: string;
}

export const isPythonPath = (p: string) => path.extname(p).toLowerCase() === '.py';

const CHECKS_SCRIPT = fileURLToPath(new URL('./python_checks.py', import.meta.url));
const TIMEOUT_MS = 120_000;
// Bandit's assert check (B101) fires on every pytest assertion; tests are where patches add asserts.
const BANDIT_SKIP = 'B101';

type Sides = { before: Finding[]; after: Finding[] };
interface PythonResult {
  quality: Sides;
  security: Sides;
  qualityTools: string[];
  securityTools: string[];
  errors: string[];
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  error?: string;
}

function run(cmd: string, args: string[], cwd: string, input: string): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, {
      cwd,
      env: { PATH: '/usr/bin:/bin', HOME: cwd, LANG: 'C.UTF-8', PYTHONDONTWRITEBYTECODE: '1' },
      timeout: TIMEOUT_MS,
      killSignal: 'SIGKILL',
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.stdin.on('error', () => {}); // the tool may exit before reading all of stdin
    child.on('error', (e) => resolve({ code: null, stdout, stderr, error: e.message }));
    child.on('close', (code, signal) =>
      resolve({
        code,
        stdout,
        stderr,
        ...(signal ? { error: `killed by ${signal} (timeout ${TIMEOUT_MS} ms?)` } : {}),
      }),
    );
    child.stdin.end(input);
  });
}

const tail = (s: string) => s.trim().split('\n').slice(-3).join(' | ').slice(0, 500);

interface Source {
  side: 'before' | 'after';
  file: ChangedFile;
  text: string;
  id: string;
}

export async function analyzePython(files: ChangedFile[], tools: PythonTools = {}): Promise<PythonResult> {
  const python = tools.python ?? '/usr/bin/python3';
  const bandit = tools.bandit ?? '/usr/bin/bandit';
  const sources: Source[] = files.flatMap((file, i) =>
    (['before', 'after'] as const).flatMap((side) => {
      const text = file[side];
      return text === null ? [] : [{ side, file, text, id: `${side[0]}${i}` }];
    }),
  );
  const out: PythonResult = {
    quality: { before: [], after: [] },
    security: { before: [], after: [] },
    qualityTools: [],
    securityTools: [],
    errors: [],
  };
  const dir = await mkdtemp(path.join(os.tmpdir(), 'repogym-analysis-'));
  try {
    // Independent processes, run side by side; bandit's version comes from the checks script.
    const [toolVersions, banditRan] = await Promise.all([
      runChecks(python, dir, sources, out),
      runBandit(bandit, dir, sources, out),
    ]);
    if (banditRan) out.securityTools.push(`bandit@${toolVersions.bandit ?? 'unknown'}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return out;
}

interface ChecksOutput {
  results: Record<string, { quality: RawFinding[]; security: RawFinding[]; parsed: boolean }>;
  versions: Record<string, string>;
  pyflakes_error: string | null;
}
interface RawFinding {
  rule: string;
  line: number;
  message: string;
  severity?: Finding['severity'];
}

async function runChecks(
  python: string,
  dir: string,
  sources: Source[],
  out: PythonResult,
): Promise<Record<string, string>> {
  const input = JSON.stringify({ files: sources.map((v) => ({ id: v.id, text: v.text })) });
  const r = await run(python, ['-I', CHECKS_SCRIPT], dir, input);
  let parsed: ChecksOutput;
  try {
    if (r.error || r.code !== 0) throw new Error(r.error ?? `exit ${r.code}: ${tail(r.stderr)}`);
    parsed = JSON.parse(r.stdout) as ChecksOutput;
  } catch (e) {
    out.errors.push(`pyflakes: ${python} failed: ${(e as Error).message}`);
    return {};
  }
  if (parsed.pyflakes_error)
    out.errors.push(`pyflakes: not importable by ${python}: ${parsed.pyflakes_error}`);
  else out.qualityTools.push(`pyflakes@${parsed.versions.pyflakes}`);
  out.securityTools.push(`python-ast@${parsed.versions.python}`);
  for (const v of sources) {
    const res = parsed.results[v.id];
    if (!res) continue;
    for (const f of res.quality)
      out.quality[v.side].push({
        tool: 'pyflakes',
        file: v.file.path,
        ...f,
        severity: res.parsed ? 'low' : 'high',
      });
    for (const { rule, line, message, severity } of res.security)
      out.security[v.side].push({
        tool: 'python-ast',
        rule,
        file: v.file.path,
        line,
        message,
        severity: severity ?? 'medium',
      });
  }
  return parsed.versions;
}

interface BanditOutput {
  results: {
    filename: string;
    test_id: string;
    issue_severity: string;
    issue_text: string;
    line_number: number;
  }[];
  errors: { filename: string; reason: string }[];
}

async function runBandit(
  bandit: string,
  dir: string,
  sources: Source[],
  out: PythonResult,
): Promise<boolean> {
  const byName = new Map(sources.map((v) => [`${v.id}.py`, v]));
  for (const [name, v] of byName) await writeFile(path.join(dir, name), v.text);
  // Exit 1 means "issues found"; only unparsable output is a failure.
  const r = await run(bandit, ['-q', '-f', 'json', '-s', BANDIT_SKIP, ...byName.keys()], dir, '');
  let parsed: BanditOutput;
  try {
    if (r.error) throw new Error(r.error);
    parsed = JSON.parse(r.stdout) as BanditOutput;
  } catch (e) {
    out.errors.push(`bandit: ${bandit} failed: ${(e as Error).message} ${tail(r.stderr)}`.trim());
    return false;
  }
  for (const res of parsed.results) {
    const v = byName.get(path.basename(res.filename));
    if (!v) continue;
    const severity = res.issue_severity.toLowerCase();
    out.security[v.side].push({
      tool: 'bandit',
      rule: res.test_id,
      file: v.file.path,
      line: res.line_number,
      message: res.issue_text,
      severity: severity === 'high' || severity === 'medium' ? severity : 'low',
    });
  }
  // A syntax error is already a pyflakes quality finding; any other bandit error is reported.
  for (const err of parsed.errors) {
    if (/syntax error/i.test(err.reason)) continue;
    const v = byName.get(path.basename(err.filename));
    out.errors.push(`bandit: ${v ? `${v.file.path} (${v.side})` : err.filename}: ${err.reason}`);
  }
  return true;
}

export interface ManifestInput {
  id: string;
  kind: 'setup.cfg' | 'setup.py';
  text: string;
}
export interface ManifestOutput {
  /** Requirement strings as written (PEP 508, or `file: …` in setup.cfg). */
  requirements: string[];
  /** Parts that were not read, e.g. an install_requires computed at run time. */
  problems: string[];
  /** The manifest does not parse. */
  error: string | null;
}

/** Requirement lists of setup.cfg (configparser, as setuptools reads it) and setup.py (literal setup() args). */
export async function pythonManifests(
  manifests: ManifestInput[],
  python = '/usr/bin/python3',
): Promise<Record<string, ManifestOutput>> {
  const input = JSON.stringify({ files: manifests });
  const r = await run(python, ['-I', CHECKS_SCRIPT, '--manifests'], os.tmpdir(), input);
  if (r.error || r.code !== 0)
    throw new Error(`${python} failed: ${r.error ?? `exit ${r.code}: ${tail(r.stderr)}`}`);
  return (JSON.parse(r.stdout) as { results: Record<string, ManifestOutput> }).results;
}
