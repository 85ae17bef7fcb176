// Strategy templates: the built-ins, user folders that add and override, front-matter errors, order, trimming.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ACTION_KINDS } from '../env/actions.ts';
import {
  BUILTIN_TEMPLATES_DIR,
  loadTemplateDir,
  loadTemplates,
  parseTemplate,
  renderTemplate,
  TemplateError,
} from '../policies/templates.ts';

const REQUIRED = [
  'explore-then-plan',
  'localize-from-stack-trace',
  'minimal-patch',
  'reproduce-first',
  'test-driven',
];

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

/** A fresh folder holding the given files. */
async function folder(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'templates-'));
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) await writeFile(path.join(dir, name), text);
  return dir;
}

const template = (fields: Record<string, string>, body = 'Do the thing, then run_tests and submit.') =>
  `---\n${Object.entries(fields)
    .map(([k, v]) => `${k}: ${v}`)
    .join('\n')}\n---\n\n${body}\n`;

const valid = (name: string, body?: string) =>
  template({ name, description: `the ${name} strategy`, when: 'always' }, body);

describe('built-in templates', () => {
  it('load, with the required strategies and well-formed fields', async () => {
    const templates = await loadTemplates();
    const names = templates.map((t) => t.name);
    expect(templates.length).toBeGreaterThanOrEqual(5);
    expect(names).toEqual(expect.arrayContaining(REQUIRED));
    expect(new Set(names).size).toBe(names.length);
    for (const t of templates) {
      expect(t.source).toBe(path.join(BUILTIN_TEMPLATES_DIR, `${t.name}.md`));
      expect(t.overrides).toBeUndefined();
      expect(t.description).not.toContain('\n');
      expect(t.when.length).toBeGreaterThan(10);
    }
  });

  it('tell the agent to test, evaluate and submit or escalate, and warn against hacks', async () => {
    for (const t of await loadTemplates()) {
      for (const action of ['run_tests', 'submit', 'evaluate', 'escalate']) {
        expect(t.body, `${t.name} mentions ${action}`).toContain(action);
      }
      expect(t.body, `${t.name} warns against test edits`).toMatch(/never edit/i);
      expect(t.body, `${t.name} says hacks score 0`).toContain('scores 0');
      const words = t.body.split(/\s+/).length;
      expect(words, `${t.name} length`).toBeGreaterThanOrEqual(150);
      expect(words, `${t.name} length`).toBeLessThanOrEqual(350);
    }
  });

  it('name only real actions in `action{...}` calls', async () => {
    for (const t of await loadTemplates()) {
      for (const [, action] of t.body.matchAll(/`([a-z_]+)\{/g)) {
        expect(ACTION_KINDS, `${t.name}: ${action}`).toContain(action);
      }
    }
  });

  it('can be left out', async () => {
    expect(await loadTemplates({ includeBuiltin: false })).toEqual([]);
  });
});

describe('user folders', () => {
  it('add a template and override a built-in, recording what was replaced', async () => {
    const dir = await folder({
      'extra.md': valid('bisect-regression'),
      'mine.md': valid('minimal-patch', 'My own minimal patch: run_tests, then submit.'),
      'notes.txt': 'not a template',
    });
    const builtins = await loadTemplates();
    const templates = await loadTemplates({ dirs: [dir] });
    expect(templates.map((t) => t.name)).toEqual(
      [...builtins.map((t) => t.name), 'bisect-regression'].sort(),
    );

    const added = templates.find((t) => t.name === 'bisect-regression')!;
    expect(added).toMatchObject({
      source: path.join(dir, 'extra.md'),
      description: 'the bisect-regression strategy',
    });
    expect(added.overrides).toBeUndefined();

    const overridden = templates.find((t) => t.name === 'minimal-patch')!;
    expect(overridden.body).toBe('My own minimal patch: run_tests, then submit.');
    expect(overridden.source).toBe(path.join(dir, 'mine.md'));
    expect(overridden.overrides).toBe(path.join(BUILTIN_TEMPLATES_DIR, 'minimal-patch.md'));
    expect(templates.filter((t) => t.overrides).map((t) => t.name)).toEqual(['minimal-patch']);
  });

  it('apply in order: a later folder overrides an earlier one', async () => {
    const first = await folder({ 'a.md': valid('shared', 'first: run_tests, submit') });
    const second = await folder({ 'b.md': valid('shared', 'second: run_tests, submit') });
    const [t] = await loadTemplates({ dirs: [first, second], includeBuiltin: false });
    expect(t).toMatchObject({
      body: 'second: run_tests, submit',
      source: path.join(second, 'b.md'),
      overrides: path.join(first, 'a.md'),
    });
  });

  it('must exist and must not repeat a name', async () => {
    const missing = path.join(os.tmpdir(), 'no-such-templates-dir');
    await expect(loadTemplates({ dirs: [missing] })).rejects.toThrow(
      `${missing}: templates folder not found`,
    );

    const dir = await folder({ 'a.md': valid('twice'), 'b.md': valid('twice') });
    await expect(loadTemplateDir(dir)).rejects.toThrow(
      `${dir}: duplicate template name "twice" in a.md and b.md`,
    );
  });

  it('ignore subfolders', async () => {
    const dir = await folder({ 'a.md': valid('top') });
    await mkdir(path.join(dir, 'nested'));
    await writeFile(path.join(dir, 'nested', 'b.md'), valid('nested'));
    expect((await loadTemplateDir(dir)).map((t) => t.name)).toEqual(['top']);
  });
});

describe('front matter errors name the file and the field', () => {
  const file = 'policies/templates/x.md';
  const cases: [string, string, string][] = [
    ['a missing field', template({ name: 'x', description: 'd' }), `${file}: when: Required`],
    [
      'a wrong type',
      template({ name: 'x', description: '42', when: 'w' }),
      `${file}: description: expected a string`,
    ],
    [
      'an empty field',
      template({ name: 'x', description: 'd', when: '""' }),
      `${file}: when: must not be empty`,
    ],
    [
      'a bad slug',
      template({ name: 'Reproduce First', description: 'd', when: 'w' }),
      `${file}: name: must be a lowercase slug`,
    ],
    [
      'an unknown field',
      template({ name: 'x', description: 'd', when: 'w', whn: 'w' }),
      `${file}: unknown field whn`,
    ],
    ['no front matter', '# just markdown\n\nrun_tests, submit', `${file}: missing front matter`],
    ['an unclosed block', '---\nname: x\n\nbody', `${file}: front matter is not closed`],
    ['a list, not a mapping', '---\n- a\n---\nbody', `${file}: front matter must be a YAML mapping`],
    ['bad YAML', '---\nname: [x\n---\nbody', `${file}: front matter is not valid YAML (line 2`],
    ['an empty body', template({ name: 'x', description: 'd', when: 'w' }, '\n  \n'), `${file}: body: empty`],
  ];
  it.each(cases)('%s', (_, text, message) => {
    expect(() => parseTemplate(text, file)).toThrow(TemplateError);
    expect(() => parseTemplate(text, file)).toThrow(message);
  });

  it('when loading a folder, with the file path', async () => {
    const dir = await folder({ 'good.md': valid('good'), 'bad.md': template({ name: 'bad', when: 'w' }) });
    const error = await loadTemplates({ dirs: [dir] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TemplateError);
    expect((error as TemplateError).file).toBe(path.join(dir, 'bad.md'));
    expect((error as Error).message).toBe(`${path.join(dir, 'bad.md')}: description: Required`);
  });

  it('accepts a BOM, CRLF line ends and an empty line after the front matter', () => {
    const text = '\uFEFF---\r\nname: crlf\r\ndescription: d\r\nwhen: w\r\n---\r\n\r\nLine one.\r\n';
    expect(parseTemplate(text, file)).toMatchObject({ name: 'crlf', body: 'Line one.' });
  });
});

describe('order', () => {
  it('is by name, whatever the file names and folder order', async () => {
    const a = await folder({ '1.md': valid('zeta'), '2.md': valid('alpha') });
    const b = await folder({ '0.md': valid('mu') });
    const one = await loadTemplates({ dirs: [a, b] });
    const two = await loadTemplates({ dirs: [b, a] });
    const names = one.map((t) => t.name);
    expect(names).toEqual([...names].sort());
    expect(two.map((t) => t.name)).toEqual(names);
    expect(await loadTemplates({ dirs: [a, b] })).toEqual(one);
  });
});

describe('renderTemplate', () => {
  // One line each, so every line boundary is also a paragraph boundary.
  const paragraphs = [
    'First paragraph, the intro.',
    '1. Step one. 2. Step two.',
    '3. Step three, longer.',
    'Never.',
  ];
  const t = { body: paragraphs.join('\n\n') };
  const MARKER = '\n\n[... strategy trimmed ...]';

  it('returns the whole body when it fits or no budget is given', () => {
    expect(renderTemplate(t)).toBe(t.body);
    expect(renderTemplate(t, t.body.length)).toBe(t.body);
  });

  it('cuts on a paragraph boundary within the budget, with a marker', () => {
    for (let budget = paragraphs[0]!.length + MARKER.length; budget < t.body.length; budget++) {
      const out = renderTemplate(t, budget);
      expect(out.length).toBeLessThanOrEqual(budget);
      expect(out.endsWith(MARKER)).toBe(true);
      const kept = out.slice(0, -MARKER.length);
      const count = kept.split('\n\n').length;
      expect(kept).toBe(paragraphs.slice(0, count).join('\n\n'));
      // Nothing more would have fitted.
      expect(paragraphs.slice(0, count + 1).join('\n\n').length + MARKER.length).toBeGreaterThan(budget);
    }
    expect(renderTemplate(t, 83)).toBe(`${paragraphs.slice(0, 2).join('\n\n')}${MARKER}`);
  });

  it('falls back to a line boundary when whole paragraphs keep less than half, then to a hard cut', () => {
    const list = Array.from({ length: 6 }, (_, i) => `${i + 1}. ${'step '.repeat(4)}`.trimEnd());
    const body = `Intro.\n\n${list.join('\n')}\n\nNever.`;
    const out = renderTemplate({ body }, 100);
    expect(out).toBe(`Intro.\n\n${list.slice(0, 2).join('\n')}${MARKER}`);

    const long = { body: `${'a'.repeat(30)}\n${'b'.repeat(30)}\n${'c'.repeat(30)}\n\nlast` };
    expect(renderTemplate(long, 90)).toBe(`${'a'.repeat(30)}\n${'b'.repeat(30)}${MARKER}`);
    const oneLine = { body: 'x'.repeat(200) };
    expect(renderTemplate(oneLine, 100)).toBe(`${'x'.repeat(100 - MARKER.length)}${MARKER}`);
    expect(renderTemplate(oneLine, 10)).toBe('x'.repeat(10));
  });

  it('trims the built-ins to budget', async () => {
    for (const builtin of await loadTemplates()) {
      const out = renderTemplate(builtin, 800);
      expect(out.length).toBeLessThanOrEqual(800);
      expect(out.endsWith(MARKER)).toBe(true);
      expect(builtin.body.startsWith(out.slice(0, -MARKER.length))).toBe(true);
    }
  });

  it('rejects a budget that is not a positive integer', () => {
    expect(() => renderTemplate(t, 0)).toThrow(RangeError);
    expect(() => renderTemplate(t, 1.5)).toThrow(RangeError);
  });
});
