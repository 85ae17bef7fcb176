import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parseConfig } from '../experiments/config.ts';
import { runExperiment } from '../experiments/runner.ts';
import { readTrace } from '../experiments/traces.ts';
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

let out: string;
beforeAll(async () => {
  out = await mkdtemp(path.join(os.tmpdir(), 'repogym-report-'));
  const config = parseConfig(
    'name: report\ndataset: {name: "builtin:mini", filter: {limit: 3}}\npolicies: [{name: oracle}, {name: nop}]',
  );
  await runExperiment(config, { outDir: out });
});
afterAll(() => removeDir(out));

it('report.md holds the summary with intervals and the paired comparison', async () => {
  const md = await readFile(path.join(out, 'report.md'), 'utf8');
  expect(md).toMatch(/\| oracle \| 3 \| 3 \(100\.0%, 95% CI 43\.9%–100\.0%\) \|/);
  expect(md).toMatch(/\| nop \| oracle \| 3 \| 0 \| 3 \| 0\.250 \| exact binomial \|/);
});

it('report.html loads in headless Chromium without console errors, and every chart drew', async () => {
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(pathToFileURL(path.join(out, 'report.html')).href);
    const figures = await page.locator('figure[data-chart]').count();
    expect(figures).toBe(4);
    for (let i = 0; i < figures; i++) {
      const figure = page.locator(`figure[data-chart="${i}"]`);
      // Drawn = an SVG with a real size and marks in it.
      const box = await figure.locator('svg').boundingBox();
      expect(box?.width, `chart ${i}`).toBeGreaterThan(100);
      expect(
        await figure
          .locator('svg .mark-symbol, svg .mark-line, svg .mark-rect, svg .mark-rule, svg .mark-group path')
          .count(),
        `chart ${i}`,
      ).toBeGreaterThan(0);
    }
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
