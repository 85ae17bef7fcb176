// Dependencies a patch added or removed. All manifests and sections of one ecosystem are pooled, so moving a
// dependency between sections (devDependencies → dependencies) or files is neither an addition nor a removal.
import path from 'node:path';
import { parse as parseToml } from 'smol-toml';
import type { ChangedFile } from './index.ts';

const NPM_SECTIONS = ['dependencies', 'devDependencies', 'peerDependencies', 'optionalDependencies'];

type Parser = (text: string) => string[];
const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

const packageJson: Parser = (text) => {
  const json: unknown = JSON.parse(text);
  if (!isRecord(json)) return [];
  return NPM_SECTIONS.flatMap((s) => {
    const section = json[s];
    return isRecord(section) ? Object.keys(section).map((n) => `npm:${n}`) : [];
  });
};

// PEP 503 normalisation, so `Foo_Bar` and `foo-bar` are one dependency.
const pypi = (name: string) => `pypi:${name.toLowerCase().replace(/[-_.]+/g, '-')}`;
/** The distribution name at the start of a PEP 508 requirement (`requests[socks]>=2; python_version>"3"`). */
const requirementName = (req: string) => /^\s*([A-Za-z0-9][A-Za-z0-9._-]*)/.exec(req)?.[1];

const requirementsTxt: Parser = (text) =>
  text
    .split('\n')
    .map((l) => l.replace(/(^|\s)#.*$/, '').trim())
    .filter((l) => l && !l.startsWith('-')) // options: -r, -e, --index-url, …
    .flatMap((l) => {
      const name = requirementName(l);
      return name ? [pypi(name)] : [];
    });

const pyprojectToml: Parser = (text) => {
  const toml = parseToml(text);
  const names: string[] = [];
  const pep508 = (list: unknown) => {
    if (Array.isArray(list))
      for (const r of list) {
        const name = typeof r === 'string' ? requirementName(r) : undefined;
        if (name) names.push(pypi(name));
      }
  };
  const poetry = (table: unknown) => {
    if (isRecord(table)) for (const n of Object.keys(table)) if (n !== 'python') names.push(pypi(n));
  };
  const project = toml.project;
  if (isRecord(project)) {
    pep508(project.dependencies);
    if (isRecord(project['optional-dependencies']))
      Object.values(project['optional-dependencies']).forEach(pep508);
  }
  if (isRecord(toml['dependency-groups'])) Object.values(toml['dependency-groups']).forEach(pep508);
  const tool = toml.tool;
  const p = isRecord(tool) ? tool.poetry : undefined;
  if (isRecord(p)) {
    poetry(p.dependencies);
    poetry(p['dev-dependencies']);
    if (isRecord(p.group)) for (const g of Object.values(p.group)) if (isRecord(g)) poetry(g.dependencies);
  }
  return names;
};

function parserFor(file: string): Parser | undefined {
  const base = path.posix.basename(file);
  if (base === 'package.json') return packageJson;
  if (base === 'pyproject.toml') return pyprojectToml;
  if (/^requirements.*\.txt$/.test(base) || /(^|\/)requirements\/[^/]+\.txt$/.test(file))
    return requirementsTxt;
  return undefined;
}

export function dependencyChanges(files: ChangedFile[]): {
  added: string[];
  removed: string[];
  errors: string[];
} {
  const before = new Set<string>();
  const after = new Set<string>();
  const errors: string[] = [];
  for (const f of files) {
    const parse = parserFor(f.path);
    if (!parse) continue;
    for (const [side, into] of [
      ['before', before],
      ['after', after],
    ] as const) {
      const text = f[side];
      if (text === null) continue;
      try {
        for (const n of parse(text)) into.add(n);
      } catch (e) {
        errors.push(
          `dependencies: ${f.path} (${side}) does not parse: ${(e as Error).message.split('\n')[0]}`,
        );
      }
    }
  }
  return {
    added: [...after].filter((n) => !before.has(n)).sort(),
    removed: [...before].filter((n) => !after.has(n)).sort(),
    errors,
  };
}
