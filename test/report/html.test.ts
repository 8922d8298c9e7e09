/**
 * HTML reporter: escaping of untrusted keys, every finding row present, nothing loaded from the network, size
 * bounds; and, when Debian's chromium is installed (/usr/bin/chromium), the page rendered in headless Chromium
 * through playwright-core: charts and rows visible, filters working, a screenshot in the test output folder.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batchRisk, labelChart, renderHtml } from '../../src/report/html.js';
import { escapeHtml } from '../../src/report/xml.js';
import { FINDING_KINDS, type LabelReport } from '../../src/types.js';
import { CTX, NASTY_KEYS, bigReport, dataset, finding, keptFindings, miss, report, sampleReport } from './sample-report.js';

const CHROMIUM = '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
/** Where the browser test leaves its page and screenshot for people (and CI artifacts) to look at. */
export const OUTPUT_DIR = join(tmpdir(), 'nanscan-test-output');

const count = (s: string, re: RegExp): number => [...s.matchAll(re)].length;

describe('renderHtml', () => {
  const r = sampleReport();
  const html = renderHtml(r, CTX);

  it('escapes keys, paths and messages: an HTML key stays text', () => {
    expect(html).not.toContain('<img');
    expect(html).toContain('key &lt;img src=x onerror=alert(1)&gt;, index 2');
    expect(html).toContain('key a&amp;b&quot;c&#39;d&lt;e&gt;, index 3');
    expect(count(html, /<script\b/g)).toBe(1);
    const evil = renderHtml(report([dataset('</script><script>alert(1)</script>', [
      finding('nan', { key: '"><svg onload=alert(1)>', message: '<b>bold</b> & </style>' }),
    ])]), CTX);
    expect(count(evil, /<script\b/g)).toBe(1);
    expect(count(evil, /<\/style>/g)).toBe(1);
    expect(evil).not.toContain('<svg onload');
    expect(evil).toContain('&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(evil).toContain('&lt;b&gt;bold&lt;/b&gt; &amp; &lt;/style&gt;');
  });

  it('shows control characters in keys as visible escapes', () => {
    expect(html).toContain('key a\\u0000b, index 0');
    expect(html).toContain('key k\\uD800z, index 5');
    expect(html).not.toMatch(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]/);
  });

  it('has a row for every kept finding, and one "… and N more" row per capped kind', () => {
    for (const { f } of keptFindings(r)) {
      expect(html).toContain(`<td>${escapeHtml(f.message)}</td>`);
    }
    expect(count(html, /<tr class="[ew]" data-k="/g)).toBe(keptFindings(r).length);
    expect(count(html, /<tr class="[ew] more" data-k="nan">/g)).toBe(1);
    expect(html).toContain('… and 15 more (25 in all;');
  });

  it('is self-contained: no URL, no external resource, and a CSP that allows only its own inline code', () => {
    expect(html).not.toMatch(/https?:|url\(|@import/i);
    expect(html).not.toMatch(/<[^>]*\s(src|href|srcset|action|poster)=/i);
    const csp = /<meta http-equiv="Content-Security-Policy" content="([^"]+)">/.exec(html)![1]!.replaceAll('&#39;', "'");
    const script = /<script>([\s\S]*)<\/script>/.exec(html)![1]!;
    const style = /<style>([\s\S]*)<\/style>/.exec(html)![1]!;
    const hash = (t: string): string => `'sha256-${createHash('sha256').update(t).digest('base64')}'`;
    expect(csp).toContain(`script-src ${hash(script)}`);
    expect(csp).toContain(`style-src ${hash(style)}`);
    expect(csp).toContain("default-src 'none'");
    // CSP blocks style attributes; colours come from classes.
    expect(html).not.toMatch(/\sstyle="/);
  });

  it('works without JavaScript: the filter bar starts hidden and no row does', () => {
    expect(html).toContain('<form id="filters" class="filters" hidden>');
    expect(count(html, /<tr [^>]*hidden/g)).toBe(count(html, /<tr class="empty" hidden>/g));
  });

  it('summarises datasets, records, errors, warnings and the exit code', () => {
    const card = (label: string): string => /<div class="v">([^<]*)<\/div><div class="l">([^<]*)<\/div>/g.exec(
      html.slice(html.indexOf(`<div class="l">${label}`) - 60))?.[1] ?? '';
    expect(card('datasets')).toBe('5');
    expect(card('records')).toBe('1,176');
    expect(card('errors')).toBe(String(r.summary.errors));
    expect(card('warnings')).toBe(String(r.summary.warnings));
    expect(html).toContain('<div class="l">exit code (--fail-on error)</div>');
    expect(html).toContain('<code>README.md</code>: not a dataset');
    const empty = renderHtml(report([]), CTX);
    expect(empty).toContain('<title>nanscan report: no problems</title>');
    expect(empty).not.toContain('id="filters"');
  });

  it('draws a bar per class, marks missing and out-of-range labels, and bins thousands of classes', () => {
    const l = r.datasets[0]!.labels!;
    const svg = labelChart(l);
    expect(count(svg, /<rect class="bar"/g)).toBe(6);
    expect(count(svg, /<rect class="miss"/g)).toBe(2); // labels 3 and 4 have no record
    const h5 = labelChart(r.datasets[2]!.labels!);
    expect(count(h5, /<rect class="bar bad"/g)).toBe(1); // label -1
    expect(h5).toContain('<title>label -1: 1 records (1%), out of range</title>');
    const many: LabelReport = {
      histogram: Object.fromEntries(Array.from({ length: 5000 }, (_, k) => [String(k), k === 77 ? 0 : 10])),
      records: 50000, numClasses: 5000, numClassesSource: 'inferred', batchSize: 64,
    };
    const binned = labelChart(many);
    expect(count(binned, /<rect class="bar"/g)).toBeLessThanOrEqual(120);
    expect(count(binned, /<rect class="miss"/g)).toBe(1);
    // A single wild label must not make the chart draw two billion classes.
    const wild = labelChart({ histogram: { '0': 5, '2147483646': 1 }, records: 6, numClasses: 2147483647, numClassesSource: 'inferred', batchSize: 64 });
    expect(count(wild, /<rect class="bar/g)).toBe(2);
  });

  it('charts the share of batches without each label, worst first, with the threshold and the verdicts', () => {
    const risk = batchRisk(r.datasets[0]!.labels!);
    const rows = [...risk.matchAll(/<text class="tick" x="144" y="\d+" text-anchor="end">([^<]*)<\/text>/g)].map((m) => m[1]);
    expect(rows).toEqual(['label 3', 'label 4', 'label 5', 'label 2', 'label 0', 'label 1']);
    expect(risk).toContain('<title>15 of 15 storage-order batches lack label 3 (100%)</title>');
    expect(risk).toContain('<line class="thr"');
    expect(risk).toContain('blocked by labels 3, 4, 5');
    expect(risk).toContain('80% of 15 full batches hold a single label');
    expect(risk).toContain('stored sorted by label');
    expect(html).toContain('<h3>Batch risk</h3>');
    // No analysis in the report (older JSON): no section; nothing missing anywhere: a sentence, no chart.
    expect(batchRisk(r.datasets[1]!.labels!)).toBe('');
    const fine = batchRisk({ ...r.datasets[1]!.labels!, missingInBatches: { '0': miss(0, 0, 3), '1': miss(0, 0, 3) } });
    expect(fine).toContain('Every label is in every batch');
    expect(fine).not.toContain('<svg');
  });

  it('warns that an interrupted scan covers part of the input', () => {
    expect(html).not.toContain('class="banner');
    const partial = renderHtml({ ...r, complete: false }, CTX);
    expect(partial).toContain('<p class="banner e" role="alert">The scan was interrupted');
  });

  it('stays small: 500 findings of every kind (capped per kind) render in well under 10 KB a kind', () => {
    const counted = renderHtml(bigReport(1, 500, 20, FINDING_KINDS), CTX);
    expect(counted.length).toBeLessThan(6_000 * FINDING_KINDS.length);
    const kept = renderHtml(bigReport(1, 500, 500, FINDING_KINDS), CTX);
    expect(kept.length).toBeLessThan(10_000 * FINDING_KINDS.length);
    expect(count(kept, /<tr class="[ew]" data-k="nan">/g)).toBe(50);
    expect(kept).toContain('… and 450 more (500 in all;');
    expect(count(renderHtml(bigReport(1, 500, 500, FINDING_KINDS), CTX, { maxRowsPerKind: 500 }), /<tr class="[ew]" data-k="nan">/g)).toBe(500);
  });

  it('is deterministic', () => {
    expect(renderHtml(sampleReport(), CTX)).toBe(html);
  });
});

// Not skipped when Chromium is missing: .ci/run installs Debian's chromium, and a silent skip would hide that
// the page was never rendered.
describe('HTML report in headless Chromium', () => {
  let browser: Browser | undefined;
  const r = sampleReport();
  const file = join(OUTPUT_DIR, 'html-report.html');
  const url = pathToFileURL(file).href;

  beforeAll(async () => {
    if (!hasChromium) throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install chromium), as .ci/run does.`);
    mkdirSync(OUTPUT_DIR, { recursive: true });
    writeFileSync(file, renderHtml(r, CTX));
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
        '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
  });

  it('renders the charts and every row, filters by kind and dataset, and loads nothing else', async () => {
    const page = await browser!.newPage({ viewport: { width: 1200, height: 900 } });
    const requests: string[] = [];
    const problems: string[] = [];
    page.on('request', (req) => requests.push(req.url()));
    page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') problems.push(m.text()); });
    page.on('pageerror', (e) => problems.push(String(e)));
    page.on('dialog', (d) => { problems.push(`dialog: ${d.message()}`); void d.dismiss(); });
    await page.goto(url);

    const chart = page.locator('svg.chart.labels').first();
    const box = await chart.boundingBox();
    expect(box!.width).toBeGreaterThan(300);
    expect(box!.height).toBeGreaterThan(60);
    const bars = chart.locator('rect.bar');
    expect(await bars.count()).toBe(6);
    const h0 = (await bars.nth(0).boundingBox())!.height;
    const h2 = (await bars.nth(2).boundingBox())!.height;
    expect(h0).toBeGreaterThan(h2); // 400 records against 249
    expect(h2).toBeGreaterThan(50);

    const visibleRows = (): Promise<number> => page.locator('tr[data-k]:visible').count();
    const allRows = keptFindings(r).length + 1;
    expect(await page.locator('#filters').isVisible()).toBe(true);
    expect(await visibleRows()).toBe(allRows);
    expect(await page.locator('#f-count').textContent()).toBe(`Showing ${allRows} of ${allRows} rows`);

    await page.selectOption('#f-kind', 'nan');
    expect(await visibleRows()).toBe(11); // 10 examples and the "… and 15 more" row
    await page.selectOption('#f-dataset', '2');
    expect(await visibleRows()).toBe(0);
    expect(await page.locator('#d2 tr.empty').isVisible()).toBe(true);
    expect(await page.locator('#d0').isVisible()).toBe(false);
    await page.selectOption('#f-kind', '');
    expect(await visibleRows()).toBe(4);
    await page.selectOption('#f-dataset', '');
    await page.selectOption('#f-sev', 'w');
    expect(await visibleRows()).toBe(keptFindings(r).filter(({ f }) => f.severity === 'warning').length);
    await page.selectOption('#f-sev', '');

    // The key that is an HTML tag renders as text.
    expect(await page.locator('td', { hasText: NASTY_KEYS.xss }).count()).toBe(2);
    expect(await page.locator('img').count()).toBe(0);

    await page.screenshot({ path: join(OUTPUT_DIR, 'html-report.png'), fullPage: true });
    await page.close();
    expect(problems).toEqual([]);
    expect(requests).toEqual([url]);
  }, 60_000);

  it('shows every row, and no filter bar, with JavaScript disabled', async () => {
    const context = await browser!.newContext({ javaScriptEnabled: false });
    const page = await context.newPage();
    await page.goto(url);
    expect(await page.locator('tr[data-k]:visible').count()).toBe(keptFindings(r).length + 1);
    expect(await page.locator('#filters').isVisible()).toBe(false);
    expect(await page.locator('svg.chart.labels rect.bar').first().isVisible()).toBe(true);
    await context.close();
  }, 60_000);
});
