import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadDataset } from '../datasets/loader.ts';
import { parseConfig } from '../experiments/config.ts';
import { runExperiment } from '../experiments/runner.ts';
import { pairedPermutation } from '../experiments/stats.ts';
import { readTrace } from '../experiments/traces.ts';
import { startChatServer, type ChatServer } from './chat-server.ts';
import { removeDir } from './helpers.ts';

// The flags this machine needs: no sandbox as root, no GPU, and no background traffic to a closed network.
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const SOLVED = 'ledger__round-half-up-1';
const UNSOLVED = 'ledger__low-stock-threshold-3';
const PRICES = { input: 10, output: 30 };

let out: string;
/**
 * A run where an LLM spent (a bandit over strategies driving the LLM policy against a scripted chat server),
 * next to a bandit over template repair, which logs zero usage on its steps, and nop, which logs none.
 */
let llmOut: string;
let server: ChatServer;
beforeAll(async () => {
  out = await mkdtemp(path.join(os.tmpdir(), 'repogym-report-'));
  const config = parseConfig(
    'name: report\ndataset: {name: "builtin:mini", filter: {limit: 3}}\npolicies: [{name: oracle}, {name: nop}]',
  );
  await runExperiment(config, { outDir: out });

  // The model applies round-half-up's gold patch and submits: it solves that task and fails the other.
  const gold = (await loadDataset('builtin:mini')).tasks.find((t) => t.instance_id === SOLVED)!.patch;
  server = await startChatServer(
    (request) =>
      [
        { toolCall: { name: 'apply_patch', arguments: { diff: gold } } },
        { toolCall: { name: 'submit', arguments: { message: 'Round half up.' } } },
      ][request.messages.filter((m) => m.role === 'assistant').length]!,
  );
  llmOut = await mkdtemp(path.join(os.tmpdir(), 'repogym-report-llm-'));
  await runExperiment(
    parseConfig(
      [
        'name: report-llm',
        `dataset: {name: "builtin:mini", filter: {instance_ids: [${SOLVED}, ${UNSOLVED}]}}`,
        'policies:',
        '  - name: bandit',
        '    id: llm',
        '    bandit: {kind: ucb1}',
        '    arms: [minimal-patch, reproduce-first]',
        `    inner: {base_url: "${server.url}", model: x, prices: {input_per_mtok: ${PRICES.input}, output_per_mtok: ${PRICES.output}}}`,
        '  - {name: bandit, id: repair, bandit: {kind: ucb1}, arms: [boundaries, logic], inner: {name: repair}}',
        '  - name: nop',
        'reward: {primary: swebench, variants: [partial, production]}',
        'seeds: 2',
        'budgets: {max_steps: 4}',
      ].join('\n'),
    ),
    { outDir: llmOut },
  );
});
afterAll(async () => {
  await server.close();
  await removeDir(out);
  await removeDir(llmOut);
});

/** The rows of report.md's table under `heading`, split into cells. */
function mdRows(md: string, heading: string): string[][] {
  const section = md.split(`${heading}\n`)[1]!.split(/\n#/)[0]!;
  return section
    .split('\n')
    .filter((l) => l.startsWith('| ') && !l.startsWith('| ---'))
    .slice(1)
    .map((l) => l.slice(2, -2).split(' | '));
}

it('report.md holds the summary with intervals and the paired comparison', async () => {
  const md = await readFile(path.join(out, 'report.md'), 'utf8');
  expect(md).toMatch(/\| oracle \| 3 \| 3 \(100\.0%, 95% CI 43\.9%–100\.0%\) \|/);
  expect(md).toMatch(/\| nop \| oracle \| 3 \| 0 \| 3 \| 0\.250 \| exact binomial \|/);
});

it('an offline run says no LLM cost was recorded instead of showing zeros', async () => {
  const md = await readFile(path.join(out, 'report.md'), 'utf8');
  expect(md).toContain('No LLM cost recorded');
  for (const row of mdRows(md, '## Cost and time')) {
    expect(row.slice(2, 4)).toEqual(['0', 'no LLM cost recorded']);
    expect(row[7]).toMatch(/^\d+\.\d \/ \d+\.\d$/);
  }
  expect(md).not.toContain('$0.0000');
  // One variant stored: nothing to pair it with.
  expect(md).toContain('Only the primary variant, `swebench`, is stored');
});

it('report.md: cost and time from the steps, per-task matrix, variants paired against the primary', async () => {
  const md = await readFile(path.join(llmOut, 'report.md'), 'utf8');
  // What the server billed, priced as the config says: every call's tokens reach the report.
  const input = server.requests.reduce(
    (sum, r) => sum + Math.ceil(Buffer.byteLength(JSON.stringify([r.messages, r.tools])) / 4),
    0,
  );
  const output = 50 * server.requests.length;
  const usd = (input * PRICES.input + output * PRICES.output) / 1e6;
  expect(server.requests.length).toBe(8); // 4 episodes, 2 calls each
  const cost = mdRows(md, '## Cost and time');
  expect(cost.map((r) => r[0])).toEqual(['llm', 'nop', 'repair']);
  const [llm, nop, repair] = cost as [string[], string[], string[]];
  expect(llm.slice(0, 4)).toEqual(['llm', '4', '4', `$${usd.toFixed(4)}`]);
  expect(llm[4]).toMatch(new RegExp(`^\\$${(usd / 4).toFixed(4)} \\(\\$\\d\\.\\d{4}–\\$\\d\\.\\d{4}\\)$`));
  expect(llm[5]).toBe(`${input.toLocaleString('en-US')} / ${Math.round(input / 4).toLocaleString('en-US')}`);
  expect(llm[6]).toBe(`${output} / ${output / 4}`);
  // Repair's steps carry usage 0, nop's none: neither is a measured cost.
  const db = new Database(path.join(llmOut, 'runs.sqlite'), { readonly: true });
  const logged = db
    .prepare(
      `SELECT e.policy, COUNT(s.usd) AS n, SUM(s.usd) AS usd FROM steps s JOIN episodes e ON e.id = s.episode_id
       GROUP BY e.policy ORDER BY e.policy`,
    )
    .all() as { policy: string; n: number; usd: number | null }[];
  expect(logged.slice(1)).toEqual([
    { policy: 'nop', n: 0, usd: null },
    { policy: 'repair', n: expect.any(Number), usd: 0 },
  ]);
  expect(logged[2]!.n).toBeGreaterThan(0);
  for (const row of [nop, repair]) expect(row.slice(1, 4)).toEqual(['4', '0', 'no LLM cost recorded']);
  const summary = mdRows(md, '## Summary');
  expect(summary.map((r) => [r[0], r.at(-1)])).toEqual([
    ['llm', `$${usd.toFixed(4)}`],
    ['nop', '–'],
    ['repair', '–'],
  ]);

  expect(mdRows(md, '## Per-task results')).toEqual([
    [UNSOLVED, '0/2', '0/2', '0/2', ''],
    [SOLVED, '2/2', '0/2', '0/2', '≠'],
  ]);

  // production − swebench on the same episodes, recomputed from the store.
  const values = db.prepare('SELECT episode_id, variant, value FROM rewards ORDER BY episode_id').all() as {
    episode_id: string;
    variant: string;
    value: number;
  }[];
  db.close();
  const of = (variant: string) => values.filter((v) => v.variant === variant);
  const differences = of('production').map(
    (p) => p.value - of('swebench').find((s) => s.episode_id === p.episode_id)!.value,
  );
  expect(differences).toHaveLength(12);
  expect(differences.some((d) => d !== 0)).toBe(true);
  const expected = pairedPermutation(differences);
  const pairs = mdRows(md, '### Against the primary variant (paired)');
  expect(pairs[4]).toEqual([
    'production',
    'all policies',
    '12',
    `${expected.difference.estimate.toFixed(3)} (${expected.difference.low.toFixed(3)}–${expected.difference.high.toFixed(3)})`,
    expected.pValue.toPrecision(3),
  ]);
  expect(pairs.map((r) => `${r[0]} ${r[1]}`)).toEqual([
    'partial all policies',
    'partial llm',
    'partial nop',
    'partial repair',
    'production all policies',
    'production llm',
    'production nop',
    'production repair',
  ]);
});

/** Every figure of the page holds an SVG of real size with marks in it. */
async function expectChartsDrawn(page: Page, count: number): Promise<void> {
  const figures = await page.locator('figure[data-chart]').count();
  expect(figures).toBe(count);
  for (let i = 0; i < figures; i++) {
    const figure = page.locator(`figure[data-chart="${i}"]`);
    const box = await figure.locator('svg').boundingBox();
    expect(box?.width, `chart ${i}`).toBeGreaterThan(100);
    expect(
      await figure
        .locator('svg .mark-symbol, svg .mark-line, svg .mark-rect, svg .mark-rule, svg .mark-group path')
        .count(),
      `chart ${i}`,
    ).toBeGreaterThan(0);
  }
}

/** Opens a report in headless Chromium, collecting console and page errors; the caller closes the browser. */
async function openReport(file: string) {
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(pathToFileURL(file).href);
    return { browser, page, errors };
  } catch (err) {
    await browser.close();
    throw err;
  }
}

it('report.html loads in headless Chromium without console errors, and every chart drew', async () => {
  const { browser, page, errors } = await openReport(path.join(out, 'report.html'));
  try {
    // No cost in this run: no cumulative-USD chart.
    await expectChartsDrawn(page, 4);
    expect(await page.locator('details').count()).toBe(6);
    // Each episode's timeline: one bar per span of its trace file, placed inside the drawing.
    const ids = (await readdir(path.join(out, 'traces'))).map((f) => f.replace(/\.json$/, ''));
    expect(ids).toHaveLength(6);
    const spanIds = new Set<string>();
    for (const id of ids) {
      const trace = (await readTrace(out, id))!;
      for (const span of trace.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans)))
        spanIds.add(span.spanId);
    }
    expect(await page.locator('svg.timeline').count()).toBe(6);
    const bars = page.locator('svg.timeline rect.span-bar');
    expect(await bars.count()).toBe(spanIds.size);
    const drawn = await bars.evaluateAll((rects) => rects.map((r) => r.getAttribute('data-span-id')));
    expect(new Set(drawn)).toEqual(spanIds);
    await page
      .locator('details')
      .first()
      .evaluate((d) => ((d as HTMLDetailsElement).open = true));
    const timeline = page.locator('svg.timeline').first();
    const frame = (await timeline.boundingBox())!;
    const firstBars = timeline.locator('rect.span-bar');
    for (let i = 0; i < (await firstBars.count()); i++) {
      const box = (await firstBars.nth(i).boundingBox())!;
      expect(box.width).toBeGreaterThanOrEqual(1);
      expect(box.x + box.width).toBeLessThanOrEqual(frame.x + frame.width);
    }
    // The first row is the episode's root span; hovering a row shows its attributes.
    const rootTitle = await timeline.locator('g.span-row title').first().textContent();
    expect(rootTitle).toMatch(/^episode: /);
    expect(rootTitle).toContain('repogym.task_id = ');
    expect(errors).toEqual([]);
  } finally {
    await browser.close();
  }
});

it("the LLM run's report.html draws arm choice per policy and cumulative USD, without console errors", async () => {
  const { browser, page, errors } = await openReport(path.join(llmOut, 'report.html'));
  try {
    await expectChartsDrawn(page, 5);
    // Arm choice: one row per policy, one tick per episode, coloured by the bandit's arm.
    const arms = page.locator('figure[data-chart="1"]');
    const texts = await arms.locator('svg text').allTextContents();
    expect(texts).toEqual(expect.arrayContaining(['llm', 'repair', 'nop', '(no arm)']));
    expect(texts.filter((t) => t === 'minimal-patch' || t === 'reproduce-first').length).toBeGreaterThan(0);
    expect(texts.filter((t) => t === 'boundaries' || t === 'logic').length).toBeGreaterThan(0);
    expect(await arms.locator('svg .mark-rect.role-mark path').count()).toBe(12);
    // Cumulative USD: the LLM bandit only (the others logged no usage), one point per episode.
    const spend = page.locator('figure[data-chart="4"]');
    expect(await spend.locator('figcaption').textContent()).toMatch(/^Cumulative USD/);
    expect(await spend.locator('svg .mark-line.role-mark path').count()).toBe(1);
    expect(await spend.locator('svg .mark-symbol.role-mark path').count()).toBe(4);
    expect(errors).toEqual([]);
  } finally {
    await browser.close();
  }
});
