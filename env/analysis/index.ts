// Read this first. Static analysis of the files a patch changed, before vs after, for the reward components
// "quality" and "security". It runs in the harness process at grading time, over file texts only: it never
// executes repository code and never loads the repository's own lint configs or plugins.
//
//   JS/TS  → eslint.ts   ESLint Node API in a worker thread, with our own flat config (eslint-lint.ts) and
//                        security rules for hidden spellings of eval/Function/require (eslint-rules.ts)
//   Python → python.ts   pyflakes + an ast import check (python_checks.py), bandit
//   all    → secrets.ts  secretlint's recommended preset, on the lines the patch added
//   deps   → dependencies.ts  package.json, *requirements*.txt, pyproject.toml, Pipfile, setup.cfg, setup.py
//
// Everything returned is plain JSON: it is stored with the grade and re-scored later.
import { dependencyChanges } from './dependencies.ts';
import { DEFAULT_LINT_LIMITS, ESLINT_TOOL, lintJs, isJsPath, type LintLimits } from './eslint.ts';
import { analyzePython, isPythonPath, type PythonTools } from './python.ts';
import { addedSecrets } from './secrets.ts';

export interface Finding {
  tool: string;
  /** Stable id within the tool (ESLint rule id, bandit test id, pyflakes message class, …). */
  rule: string;
  /** The path exactly as given in `ChangedFile.path`. */
  file: string;
  line: number;
  message: string;
  severity: 'low' | 'medium' | 'high';
}

/** A changed file; `null` means absent on that side (added or deleted file). */
export interface ChangedFile {
  path: string;
  before: string | null;
  after: string | null;
}

export interface FindingSides {
  /** Tools (with versions) that analysed at least one file for this list. */
  tools: string[];
  before: Finding[];
  after: Finding[];
}

export interface AnalysisSignals {
  quality: FindingSides;
  security: FindingSides;
  /** Secrets on lines the patch added (secretlint; values masked). */
  secrets: Finding[];
  /** Dependency names as `npm:<name>` / `pypi:<normalized name>` / `url:<location>` (a requirement given only
   *  as a URL or path), all manifests and sections pooled. */
  dependencies: { added: string[]; removed: string[] };
  /** Tools that failed or are missing, unparsable manifests, truncated lists. Never silently dropped. */
  errors: string[];
}

export interface AnalyzeOptions {
  /** Cap on each findings list, so signals stay small (default 200). */
  maxFindings?: number;
  /** Override the Python tool paths (default `/usr/bin/python3`, `/usr/bin/bandit`). */
  tools?: PythonTools;
  /** Caps on what ESLint lints (default 200,000 characters per file, 600,000 per call). */
  lintLimits?: Partial<LintLimits>;
}

/** Files larger than this are not linted (minified bundles, generated code): reported in `errors`. */
const MAX_FILE_CHARS = 1_000_000;

export async function analyzeChanges(
  files: ChangedFile[],
  opts: AnalyzeOptions = {},
): Promise<AnalysisSignals> {
  const max = opts.maxFindings ?? 200;
  const errors: string[] = [];
  const quality: FindingSides = { tools: [], before: [], after: [] };
  const security: FindingSides = { tools: [], before: [], after: [] };

  const sized = files.filter((f) => {
    const big = Math.max(f.before?.length ?? 0, f.after?.length ?? 0) > MAX_FILE_CHARS;
    if (big) errors.push(`${f.path}: larger than ${MAX_FILE_CHARS} characters, not analysed`);
    return !big;
  });

  // Python tools are child processes: they run while ESLint and secretlint work in this process.
  const js = sized.filter((f) => isJsPath(f.path));
  const py = sized.filter((f) => isPythonPath(f.path));
  const [pyResult, jsResult, secrets, dependencies] = await Promise.all([
    py.length > 0 ? analyzePython(py, opts.tools) : undefined,
    js.length > 0 ? lintJs(js, { ...DEFAULT_LINT_LIMITS, ...opts.lintLimits }) : undefined,
    addedSecrets(sized),
    dependencyChanges(files, opts.tools?.python),
  ]);
  if (jsResult) {
    merge(quality, jsResult.quality, ESLINT_TOOL);
    merge(security, jsResult.security, ESLINT_TOOL);
    errors.push(...jsResult.errors);
  }
  if (pyResult) {
    merge(quality, pyResult.quality, ...pyResult.qualityTools);
    merge(security, pyResult.security, ...pyResult.securityTools);
    errors.push(...pyResult.errors);
  }
  errors.push(...secrets.errors);
  errors.push(...dependencies.errors);

  return {
    quality: capSides(quality, 'quality', max, errors),
    security: capSides(security, 'security', max, errors),
    secrets: cap(secrets.findings, 'secrets', max, errors),
    dependencies: { added: dependencies.added, removed: dependencies.removed },
    errors,
  };
}

function merge(into: FindingSides, from: { before: Finding[]; after: Finding[] }, ...tools: string[]) {
  into.before.push(...from.before);
  into.after.push(...from.after);
  for (const t of tools) if (!into.tools.includes(t)) into.tools.push(t);
}

// Sorted before capping so the kept subset is deterministic and before/after stay aligned.
function cap(findings: Finding[], name: string, max: number, errors: string[]): Finding[] {
  const cmp = (x: string, y: string) => (x < y ? -1 : x > y ? 1 : 0); // not locale-dependent
  const sorted = [...findings].sort(
    (a, b) => cmp(a.file, b.file) || a.line - b.line || cmp(a.tool, b.tool) || cmp(a.rule, b.rule),
  );
  if (sorted.length > max) errors.push(`${name}: ${sorted.length} findings, kept the first ${max}`);
  // One key order for every tool, so stored JSON is uniform.
  return sorted
    .slice(0, max)
    .map(({ tool, rule, file, line, message, severity }) => ({ tool, rule, file, line, message, severity }));
}

function capSides(s: FindingSides, name: string, max: number, errors: string[]): FindingSides {
  return {
    tools: s.tools,
    before: cap(s.before, `${name}.before`, max, errors),
    after: cap(s.after, `${name}.after`, max, errors),
  };
}
