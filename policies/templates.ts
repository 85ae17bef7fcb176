// Strategy templates (context tier 2): Markdown files with YAML front matter (`name`, `description`, `when`)
// and a body of working instructions that the LLM policy puts in its system prompt. Built-ins live in
// policies/templates/; an experiment's `templates_dir` adds to them and overrides them by name.
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { z } from 'zod';

export interface StrategyTemplate {
  /** Unique slug, e.g. `reproduce-first`. */
  name: string;
  /** One line: what the strategy does. */
  description: string;
  /** When the strategy fits: task kinds and signals. */
  when: string;
  /** The instructions, trimmed of surrounding blank lines. */
  body: string;
  /** Absolute path of the file it was read from. */
  source: string;
  /** Absolute path of the template with the same name that this one replaced (a built-in or an earlier dir). */
  overrides?: string;
}

export interface LoadTemplatesOptions {
  /** Folders of `*.md` templates, applied in order after the built-ins; a later name replaces an earlier one. */
  dirs?: string[];
  /** Include policies/templates (default true). */
  includeBuiltin?: boolean;
}

/** A template file that cannot be used; the message starts with the file (or folder) it is about. */
export class TemplateError extends Error {
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(`${displayPath(file)}: ${message}`);
    this.name = 'TemplateError';
  }
}

export const BUILTIN_TEMPLATES_DIR = fileURLToPath(new URL('./templates/', import.meta.url));

const SLUG = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;

const text = (what: string) =>
  z
    .string({ error: (issue) => (issue.input === undefined ? 'Required' : `expected ${what}`) })
    .trim()
    .min(1, 'must not be empty');

const frontMatterSchema = z.strictObject({
  name: text('a string').regex(SLUG, 'must be a lowercase slug like "reproduce-first"'),
  description: text('a string').refine((s) => !s.includes('\n'), 'must be one line'),
  when: text('a string'),
});

// An opening `---` line, the YAML (possibly empty), a closing `---` line, then the body.
const FRONT_MATTER = /^\uFEFF?---[ \t]*\r?\n(?:([\s\S]*?)\r?\n)?---[ \t]*(?:\r?\n|$)([\s\S]*)$/;

/** Parses one template file's text; `file` names it in errors. */
export function parseTemplate(source: string, file: string): StrategyTemplate {
  const match = FRONT_MATTER.exec(source);
  if (!match) {
    throw new TemplateError(
      file,
      /^\uFEFF?---[ \t]*\r?\n/.test(source)
        ? 'front matter is not closed (no `---` line after the YAML)'
        : 'missing front matter (the file must start with a `---` line, then YAML, then `---`)',
    );
  }
  let data: unknown;
  try {
    data = parseYaml(match[1] ?? '');
  } catch (err) {
    if (!(err instanceof YAMLParseError)) throw err;
    // yaml's positions count from the front matter, which starts on the file's second line.
    const pos = err.linePos ? ` (line ${err.linePos[0].line + 1}, column ${err.linePos[0].col})` : '';
    const reason = err.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
    throw new TemplateError(file, `front matter is not valid YAML${pos}: ${reason}`);
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw new TemplateError(file, 'front matter must be a YAML mapping with name, description and when');
  }
  const result = frontMatterSchema.safeParse(data);
  if (!result.success) {
    const problems = result.error.issues.map((issue) =>
      issue.code === 'unrecognized_keys'
        ? `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.join(', ')} (allowed: name, description, when)`
        : `${issue.path.join('.') || 'front matter'}: ${issue.message}`,
    );
    throw new TemplateError(file, problems.join('; '));
  }
  const body = trimBlankLines(match[2] ?? '');
  if (!body) throw new TemplateError(file, 'body: empty (write the instructions after the front matter)');
  return { ...result.data, body, source: path.resolve(file) };
}

/** Reads every `*.md` in one folder (not recursive), sorted by name; names must be unique in the folder. */
export async function loadTemplateDir(dir: string): Promise<StrategyTemplate[]> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new TemplateError(dir, 'templates folder not found');
    throw err;
  }
  const files = entries
    .filter((e) => e.isFile() && e.name.endsWith('.md'))
    .map((e) => e.name)
    .sort();
  const byName = new Map<string, StrategyTemplate>();
  for (const name of files) {
    const file = path.join(dir, name);
    const template = parseTemplate(await readFile(file, 'utf8'), file);
    const previous = byName.get(template.name);
    if (previous) {
      throw new TemplateError(
        dir,
        `duplicate template name "${template.name}" in ${path.basename(previous.source)} and ${name}`,
      );
    }
    byName.set(template.name, template);
  }
  return sortByName([...byName.values()]);
}

/**
 * The built-in templates plus those in `dirs`, sorted by name. A template whose name is already loaded
 * replaces the earlier one and records it in `overrides`.
 */
export async function loadTemplates(opts: LoadTemplatesOptions = {}): Promise<StrategyTemplate[]> {
  const dirs = [...(opts.includeBuiltin === false ? [] : [BUILTIN_TEMPLATES_DIR]), ...(opts.dirs ?? [])];
  const byName = new Map<string, StrategyTemplate>();
  for (const dir of dirs) {
    for (const template of await loadTemplateDir(dir)) {
      const previous = byName.get(template.name);
      byName.set(template.name, previous ? { ...template, overrides: previous.source } : template);
    }
  }
  return sortByName([...byName.values()]);
}

const TRIM_MARKER = '[... strategy trimmed ...]';

/**
 * The template's body, cut to at most `maxChars` characters: whole paragraphs (blocks separated by blank
 * lines) followed by a trim marker. When no paragraph boundary keeps at least half the budget, cuts at a
 * line boundary instead, and as a last resort mid-line.
 */
export function renderTemplate(t: Pick<StrategyTemplate, 'body'>, maxChars?: number): string {
  const body = t.body;
  if (maxChars === undefined) return body;
  if (!Number.isInteger(maxChars) || maxChars <= 0) {
    throw new RangeError(`maxChars must be a positive integer, got ${maxChars}`);
  }
  if (body.length <= maxChars) return body;
  const suffix = `\n\n${TRIM_MARKER}`;
  const room = maxChars - suffix.length;
  if (room <= 0) return body.slice(0, maxChars);
  const paragraphs = [...body.matchAll(/\n[ \t]*\n/g)].map((m) => m.index);
  const lines = [...body.matchAll(/\n/g)].map((m) => m.index);
  const lastWithin = (cuts: number[]) => cuts.filter((i) => i <= room).pop() ?? -1;
  let cut = lastWithin(paragraphs);
  if (cut < room / 2) cut = lastWithin(lines);
  if (cut < room / 2) cut = room;
  return body.slice(0, cut).trimEnd() + suffix;
}

function trimBlankLines(s: string): string {
  return s.replace(/^(?:[ \t]*\r?\n)+/, '').trimEnd();
}

function sortByName(templates: StrategyTemplate[]): StrategyTemplate[] {
  return templates.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Relative to the working directory when inside it (`policies/templates/x.md`), else absolute. */
function displayPath(file: string): string {
  const rel = path.relative(process.cwd(), path.resolve(file));
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : path.resolve(file);
}
