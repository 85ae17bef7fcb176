// Dependencies a patch added or removed. All manifests and sections of one ecosystem are pooled, so moving a
// dependency between sections (devDependencies → dependencies) or files is neither an addition nor a removal.
//
//   npm   package.json: dependencies, devDependencies, peerDependencies, optionalDependencies
//   PyPI  *requirements*.txt / .in, requirements/*.txt / .in, and any changed file one of them includes with
//         `-r` (or setup.cfg with `file:`); pyproject.toml (PEP 621, dependency groups, Poetry); Pipfile;
//         setup.cfg [options] install_requires / setup_requires / tests_require and [options.extras_require]
//         (configparser, as setuptools reads it); setup.py's literal setup(install_requires=…, extras_require=…)
//
// Names are `npm:<name>` and `pypi:<PEP 503 name>`; a requirement given only as a URL or path (`-e git+https://…`
// without #egg=) is `url:<as written>`.
import path from 'node:path';
import { parse as parseToml } from 'smol-toml';
import type { ChangedFile } from './index.ts';
import { pythonManifests, type ManifestInput } from './python.ts';

const NPM_SECTIONS = ['dependencies', 'devDependencies', 'peerDependencies', 'optionalDependencies'];

/** Names found, and paths (relative to the repository root) whose requirements it includes. */
interface Parsed {
  names: string[];
  includes: string[];
}
type Parser = (text: string, file: string) => Parsed;
const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

const packageJson: Parser = (text) => {
  const json: unknown = JSON.parse(text);
  if (!isRecord(json)) return { names: [], includes: [] };
  const names = NPM_SECTIONS.flatMap((s) => {
    const section = json[s];
    return isRecord(section) ? Object.keys(section).map((n) => `npm:${n}`) : [];
  });
  return { names, includes: [] };
};

// PEP 503 normalisation, so `Foo_Bar` and `foo-bar` are one dependency.
const pypi = (name: string) => `pypi:${name.toLowerCase().replace(/[-_.]+/g, '-')}`;
/** The distribution name at the start of a PEP 508 requirement (`requests[socks]>=2; python_version>"3"`). */
const requirementName = (req: string) => /^\s*([A-Za-z0-9][A-Za-z0-9._-]*)/.exec(req)?.[1];
/** A requirement that is a URL or a path (`git+https://…#egg=x`, `./pkg`, `file:…whl`). */
const isLocation = (req: string) =>
  /^([a-z][a-z0-9+.-]*:|\.|\/|~)/i.test(req) && !/^[A-Za-z0-9._-]+\s*@/.test(req);
const locationName = (req: string) => {
  const egg = /[#&]egg=([A-Za-z0-9][A-Za-z0-9._-]*)/.exec(req)?.[1];
  return egg ? pypi(egg) : `url:${req.split(/\s+/)[0]}`;
};
/** One requirement: PEP 508, or a location. */
const requirement = (req: string): string | undefined => {
  const r = req.trim();
  if (isLocation(r)) return locationName(r);
  const name = requirementName(r);
  return name ? pypi(name) : undefined;
};
const relativeTo = (file: string, target: string) =>
  path.posix.normalize(path.posix.join(path.posix.dirname(file), target.trim()));

const requirementsTxt: Parser = (text, file) => {
  const out: Parsed = { names: [], includes: [] };
  for (const raw of text.split('\n')) {
    const line = raw.replace(/(^|\s)#.*$/, '').trim();
    if (!line) continue;
    // -r other.txt, --requirement=other.txt, -rother.txt; -e / --editable <url or path>
    const option = /^(-r|--requirement|-e|--editable)(?:[=\s]\s*|(?<=^-[re]))(\S.*)$/.exec(line);
    if (option) {
      const [, flag, value] = option as unknown as [string, string, string];
      if (flag === '-r' || flag === '--requirement') out.includes.push(relativeTo(file, value));
      else out.names.push(locationName(value.trim()));
      continue;
    }
    if (line.startsWith('-')) continue; // other options: -c, --index-url, …
    const name = requirement(line);
    if (name) out.names.push(name);
  }
  return out;
};

const pyprojectToml: Parser = (text) => {
  const toml = parseToml(text);
  const names: string[] = [];
  const pep508 = (list: unknown) => {
    if (Array.isArray(list))
      for (const r of list) {
        const name = typeof r === 'string' ? requirement(r) : undefined;
        if (name) names.push(name);
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
  return { names, includes: [] };
};

const pipfile: Parser = (text) => {
  const toml = parseToml(text);
  const names = ['packages', 'dev-packages'].flatMap((s) => {
    const section = toml[s];
    return isRecord(section) ? Object.keys(section).map(pypi) : [];
  });
  return { names, includes: [] };
};

/** setup.cfg / setup.py requirement strings (from python_checks.py --manifests). */
const setupRequirements = (requirements: string[], file: string): Parsed => {
  const out: Parsed = { names: [], includes: [] };
  for (const r of requirements) {
    const include = /^file:\s*(.+)$/.exec(r);
    if (include) out.includes.push(...include[1]!.split(',').map((t) => relativeTo(file, t)));
    else {
      const name = requirement(r);
      if (name) out.names.push(name);
    }
  }
  return out;
};

type Kind = Parser | ManifestInput['kind'];
function kindOf(file: string): Kind | undefined {
  const base = path.posix.basename(file);
  if (base === 'package.json') return packageJson;
  if (base === 'pyproject.toml') return pyprojectToml;
  if (base === 'Pipfile') return pipfile;
  if (base === 'setup.cfg' || base === 'setup.py') return base;
  if (/requirements.*\.(txt|in)$/i.test(base) || /(^|\/)requirements\/[^/]+\.(txt|in)$/.test(file))
    return requirementsTxt;
  return undefined;
}

const SIDES = ['before', 'after'] as const;

export async function dependencyChanges(
  files: ChangedFile[],
  python?: string,
): Promise<{ added: string[]; removed: string[]; errors: string[] }> {
  const found = { before: new Set<string>(), after: new Set<string>() };
  const errors: string[] = [];
  const byPath = new Map(files.map((f) => [path.posix.normalize(f.path), f]));
  const read = new Set<ChangedFile>();
  const includes: string[] = [];
  const add = (parsed: Parsed, side: 'before' | 'after', file: string) => {
    for (const n of parsed.names) found[side].add(n);
    includes.push(...parsed.includes.filter((p) => p !== path.posix.normalize(file)));
  };
  const parseWith = (parse: Parser, f: ChangedFile) => {
    read.add(f);
    for (const side of SIDES) {
      const text = f[side];
      if (text === null) continue;
      try {
        add(parse(text, f.path), side, f.path);
      } catch (e) {
        errors.push(
          `dependencies: ${f.path} (${side}) does not parse: ${(e as Error).message.split('\n')[0]}`,
        );
      }
    }
  };

  const viaPython: { input: ManifestInput; file: ChangedFile; side: 'before' | 'after' }[] = [];
  for (const f of files) {
    const kind = kindOf(f.path);
    if (typeof kind === 'function') parseWith(kind, f);
    else if (kind) {
      read.add(f);
      for (const side of SIDES) {
        const text = f[side];
        if (text !== null)
          viaPython.push({ input: { id: String(viaPython.length), kind, text }, file: f, side });
      }
    }
  }
  if (viaPython.length > 0) {
    try {
      const results = await pythonManifests(
        viaPython.map((v) => v.input),
        python,
      );
      for (const { input, file, side } of viaPython) {
        const r = results[input.id];
        if (!r) continue;
        if (r.error) errors.push(`dependencies: ${file.path} (${side}) does not parse: ${r.error}`);
        for (const p of r.problems) errors.push(`dependencies: ${file.path} (${side}): ${p}`);
        add(setupRequirements(r.requirements, file.path), side, file.path);
      }
    } catch (e) {
      const paths = [...new Set(viaPython.map((v) => v.file.path))].join(', ');
      errors.push(`dependencies: ${paths} not read: ${(e as Error).message}`);
    }
  }
  // Requirement files that a manifest includes (`-r extra.txt`) count whatever their name, if the patch changed
  // them; an unchanged one adds nothing either way.
  for (let i = 0; i < includes.length; i++) {
    const f = byPath.get(includes[i]!);
    if (f && !read.has(f)) parseWith(requirementsTxt, f);
  }

  return {
    added: [...found.after].filter((n) => !found.before.has(n)).sort(),
    removed: [...found.before].filter((n) => !found.after.has(n)).sort(),
    errors,
  };
}
