#!/usr/bin/env node
// Opens an azir HTML incident report (`azir report`, `azir demo`) in Debian's headless Chromium
// through playwright-core and checks that it is inert, offline and usable:
//
//   node tests/browser/report-check.mjs --report PATH --findings N --screenshot PATH
//        [--expect-topology] [--expect-text TEXT]... [--min-charts 5] [--timeout SECONDS]
//        [--chromium /usr/bin/chromium]
//
// --expect-topology: the case has network configuration, so svg[data-chart="topology"] must be
// there. --expect-text: more hostile strings that must read as text, like the WAF payload
// <script>alert("x")</script> that is always checked.
//
// Each check prints `ok - ...` or `not ok - ...: reason`; notes start with `# `. Exit 0 when every
// check passes, 1 when one fails (or the run times out), 2 on bad usage.
//
// The DOM contract it tests (issue 9): a CSP <meta> in <head> allowing inline code only by sha256
// hash; <body data-findings="N">; each finding a <details class="finding" data-finding
// data-level="..."> whose <summary> reveals a <table class="events" data-table>; charts as
// <svg data-chart="NAME">; sortable tables (<th> click sets aria-sort) and filters
// (<input type="search" class="filter" data-filter-for="TABLE_ID"> sets `hidden` on rows).
//
// playwright-core is resolved from $AZIR_PLAYWRIGHT_CORE (the package's folder, as
// scripts/browser-test installs it outside the clone), else from node_modules beside this file.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const USAGE =
  'usage: node tests/browser/report-check.mjs --report PATH --findings N --screenshot PATH\n' +
  '       [--expect-topology] [--expect-text TEXT]... [--min-charts 5] [--timeout SECONDS] [--chromium PATH]';
const LEVELS = ['critical', 'high', 'medium', 'low', 'informational'];
const XSS = '<script>alert("x")</script>';
const NO_MATCH = 'zq-no-such-row-7f3a9c';
const SHOT_MAX_PX = 16_000;
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  // Containers often have a small /dev/shm; Debian's launcher only adds this when it can tell.
  '--disable-dev-shm-usage',
];

function parseArgs(argv) {
  const a = { expectText: [], minCharts: 5, timeout: 60, chromium: process.env.AZIR_CHROMIUM || '/usr/bin/chromium', expectTopology: false };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = () => {
      if (i + 1 >= argv.length) usage(`${k} needs a value`);
      return argv[++i];
    };
    if (k === '--report') a.report = v();
    else if (k === '--findings') a.findings = v();
    else if (k === '--screenshot') a.screenshot = v();
    else if (k === '--min-charts') a.minCharts = Number(v());
    else if (k === '--timeout') a.timeout = Number(v());
    else if (k === '--chromium') a.chromium = v();
    else if (k === '--expect-topology') a.expectTopology = true;
    else if (k === '--expect-text') a.expectText.push(v());
    else if (k === '-h' || k === '--help') {
      console.log(USAGE);
      process.exit(0);
    } else usage(`unknown argument ${k}`);
  }
  if (!a.report || a.findings === undefined || !a.screenshot) usage('--report, --findings and --screenshot are required');
  if (!/^\d+$/.test(a.findings)) usage(`--findings must be a whole number, not ${JSON.stringify(a.findings)}`);
  a.findings = Number(a.findings);
  if (!(a.timeout > 0) || !(a.minCharts >= 0)) usage('--timeout and --min-charts must be numbers');
  return a;
}
function usage(msg) {
  console.error(`report-check: ${msg}\n${USAGE}`);
  process.exit(2);
}

const args = parseArgs(process.argv.slice(2));
let passed = 0;
let failed = 0;
function result(good, what, why) {
  if (good) passed++;
  else failed++;
  console.log(good ? `ok - ${what}` : `not ok - ${what}${why ? `: ${why}` : ''}`);
  return good;
}
const note = (s) => console.log(`# ${s}`);
const short = (s, n = 200) => (s.length > n ? `${s.slice(0, n)}…` : s);
// Runs one check; an exception (a locator timeout, a closed page) fails it with its message.
async function check(what, fn) {
  try {
    const r = await fn();
    return result(r.ok, r.what ?? what, r.why);
  } catch (e) {
    return result(false, what, short(String(e?.message ?? e).split('\n')[0], 300));
  }
}

const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'azir-report-check-'));
const removeProfile = () => fs.rmSync(userDataDir, { recursive: true, force: true, maxRetries: 3 });
// A hung browser must fail the run, not hang CI. Playwright kills the browser it launched when
// this process exits.
const watchdog = setTimeout(() => {
  result(false, `the whole check finishes within ${args.timeout} s`, 'timed out (hung browser or page?)');
  removeProfile();
  process.exit(1);
}, args.timeout * 1000);

async function loadPlaywright() {
  const dir = process.env.AZIR_PLAYWRIGHT_CORE;
  if (dir) return import(pathToFileURL(path.join(dir, 'index.mjs')).href);
  return import('playwright-core');
}

let context;
try {
  await main();
} catch (e) {
  result(false, 'the check ran to its end', short(String(e?.stack ?? e), 600));
} finally {
  if (context) await Promise.race([context.close().catch(() => {}), new Promise((r) => setTimeout(r, 5000))]);
  removeProfile();
  clearTimeout(watchdog);
}
console.log(`# ${passed + failed} checks: ${passed} ok, ${failed} not ok`);
process.exit(failed ? 1 : 0);

async function main() {
  if (!fs.existsSync(args.report)) {
    result(false, `the report ${args.report} exists`, 'no such file');
    return;
  }
  const reportPath = fs.realpathSync(path.resolve(args.report));
  const size = fs.statSync(reportPath).size;
  const reportUrl = pathToFileURL(reportPath).href;
  note(`report ${reportPath} (${(size / 1024).toFixed(1)} KiB), expecting ${args.findings} findings`);

  const { chromium } = await loadPlaywright();
  const t0 = Date.now();
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: args.chromium,
    headless: true,
    args: CHROMIUM_ARGS,
    timeout: 30_000,
    viewport: { width: 1280, height: 900 },
    serviceWorkers: 'block',
    acceptDownloads: false,
  });
  context.setDefaultTimeout(10_000);
  note(`${args.chromium} ${context.browser()?.version() ?? ''} started in ${Date.now() - t0} ms`);

  const page = context.pages()[0] ?? (await context.newPage());
  const consoleErrors = [];
  const pageErrors = [];
  const requests = [];
  const dialogs = [];
  const popups = [];
  const isOwnFile = (u) => {
    if (!u.startsWith('file:')) return false;
    try {
      return fileURLToPath(u.split('#')[0]) === reportPath;
    } catch {
      return false;
    }
  };
  const allowedRequest = (u) => isOwnFile(u) || u.startsWith('data:');
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    const loc = m.location();
    consoleErrors.push(`${short(m.text())}${loc?.url ? ` (${loc.url.split('/').pop()}:${loc.lineNumber})` : ''}`);
  });
  page.on('pageerror', (e) => pageErrors.push(short(String(e?.message ?? e))));
  page.on('crash', () => pageErrors.push('the page crashed'));
  page.on('dialog', async (d) => {
    dialogs.push(`${d.type()}(${JSON.stringify(short(d.message(), 80))})`);
    await d.dismiss().catch(() => {});
  });
  page.on('websocket', (ws) => requests.push(`websocket ${ws.url()}`));
  let allRequests = 0;
  context.on('request', (r) => {
    allRequests++;
    if (!allowedRequest(r.url())) requests.push(`${r.resourceType()} ${short(r.url(), 120)}`);
  });
  context.on('page', (p) => popups.push(p.url() || 'a new window'));
  // Nothing leaves the machine even if the report asks: every request but the report itself
  // (and data: URLs) is aborted, after the `request` event above has recorded it.
  await context.route('**/*', (route) =>
    allowedRequest(route.request().url()) ? route.continue() : route.abort('blockedbyclient'),
  );
  // CSP violations also reach the console as errors; this names the directive and what it blocked.
  await context.addInitScript(() => {
    window.__azirCspViolations = [];
    document.addEventListener('securitypolicyviolation', (e) =>
      window.__azirCspViolations.push(`${e.effectiveDirective} blocked ${e.blockedURI || 'inline code'}` +
        (e.lineNumber ? ` at line ${e.lineNumber}` : '')),
    );
  });

  await check('the report opens as a file:// URL', async () => {
    await page.goto(reportUrl, { waitUntil: 'load', timeout: 20_000 });
    await page.waitForTimeout(300); // late errors, deferred scripts
    return { ok: true, what: `the report opens as a file:// URL (load in ${Date.now() - t0} ms since launch)` };
  });

  // ---- the Content-Security-Policy <meta> ----
  const csp = await page.evaluate(() => {
    const metas = [...document.querySelectorAll('meta[http-equiv]')].filter(
      (m) => m.httpEquiv.toLowerCase() === 'content-security-policy',
    );
    const m = metas[0];
    if (!m) return null;
    const before = [...document.querySelectorAll('script, style, link, img, svg, iframe, object, embed, base')]
      .filter((e) => m.compareDocumentPosition(e) & Node.DOCUMENT_POSITION_PRECEDING)
      .map((e) => e.tagName.toLowerCase());
    return { content: m.content, inHead: m.parentElement === document.head, before };
  });
  const policy = parseCsp(csp?.content ?? '');
  await check('a Content-Security-Policy <meta> in <head> allows inline code only by sha256 hash and no network source', async () => {
    if (!csp) return { ok: false, why: 'no <meta http-equiv="Content-Security-Policy">' };
    const problems = [];
    if (!csp.inHead) problems.push('the <meta> is not a child of <head>');
    if (csp.before.length) problems.push(`<${csp.before.join('>, <')}> come before it (not covered)`);
    if (!policy.has('default-src')) problems.push('no default-src');
    for (const [dir, sources] of policy) {
      for (const s of sources) {
        const q = s.toLowerCase();
        if (q === "'unsafe-inline'" || q === "'unsafe-eval'" || q === "'unsafe-hashes'" || q === "'wasm-unsafe-eval'")
          problems.push(`${dir} ${s}`);
        else if (!q.startsWith("'") && q !== 'data:') problems.push(`${dir} allows ${s}`);
      }
    }
    for (const dir of ['script-src', 'style-src']) {
      const eff = policy.get(dir) ?? policy.get('default-src') ?? [];
      if (eff.some((s) => s.startsWith("'nonce-"))) problems.push(`${dir} uses a nonce, not a hash`);
    }
    return { ok: problems.length === 0, why: `${problems.join('; ')} (policy: ${short(csp.content, 300)})` };
  });

  // ---- findings ----
  const f = await page.evaluate((levels) => {
    const els = [...document.querySelectorAll('[data-finding]')];
    const bad = els.filter(
      (e) =>
        !(e.tagName === 'DETAILS' && e.classList.contains('finding') && e.querySelector(':scope > summary') &&
          levels.includes(e.dataset.level)),
    );
    const perLevel = {};
    for (const e of els) perLevel[e.dataset.level] = (perLevel[e.dataset.level] ?? 0) + 1;
    return {
      attr: document.body.getAttribute('data-findings'),
      n: els.length,
      bad: bad.slice(0, 3).map((e) => `<${e.tagName.toLowerCase()} class="${e.className}" data-level="${e.dataset.level}">`),
      nBad: bad.length,
      perLevel,
    };
  }, LEVELS);
  await check(`body[data-findings] equals --findings ${args.findings}`, async () => {
    if (f.attr === null) return { ok: false, why: '<body> has no data-findings attribute' };
    if (!/^\d+$/.test(f.attr)) return { ok: false, why: `data-findings is ${JSON.stringify(f.attr)}, not a count` };
    return { ok: Number(f.attr) === args.findings, why: `data-findings="${f.attr}", the case has ${args.findings}` };
  });
  await check(`the page holds as many [data-finding] elements as body[data-findings], more than 0`, async () => ({
    ok: f.n > 0 && f.attr !== null && f.n === Number(f.attr),
    what: `the page holds ${f.n} [data-finding] elements, as many as body[data-findings], more than 0 (${Object.entries(f.perLevel).map(([k, v]) => `${k} ${v}`).join(', ')})`,
    why: `body[data-findings]=${JSON.stringify(f.attr)}`,
  }));
  await check('every finding is a <details class="finding"> with a <summary> and a known data-level', async () => ({
    ok: f.nBad === 0,
    why: `${f.nBad} are not, e.g. ${f.bad.join(' ')}`,
  }));

  // ---- charts ----
  const charts = await page.$$eval('svg[data-chart]', (els) => els.map((e) => e.dataset.chart));
  await check(`at least ${args.minCharts} svg[data-chart] charts`, async () => ({
    ok: charts.length >= args.minCharts,
    what: `at least ${args.minCharts} svg[data-chart] charts (${charts.length}: ${charts.join(', ')})`,
    why: `found ${charts.length}: ${charts.join(', ') || 'none'}`,
  }));
  if (args.expectTopology)
    await check('the network topology diagram svg[data-chart="topology"] is present', async () => ({
      ok: charts.includes('topology'),
      why: 'the case has network configuration but the report has no topology chart',
    }));

  // ---- a click on the first finding reveals its events ----
  await check('a click on the first finding\'s <summary> opens it and shows its events', async () => {
    const first = page.locator('[data-finding]').first();
    if ((await first.count()) === 0) return { ok: false, why: 'no finding' };
    const summary = first.locator(':scope > summary');
    if (await first.evaluate((d) => d.open)) {
      note('the first finding is open before any click; closing it first');
      await summary.click();
    }
    await summary.click();
    const open = await first.evaluate((d) => d.open);
    if (!open) return { ok: false, why: 'the <details> is still closed after the click' };
    const rows = first.locator('table.events tbody tr');
    const n = await rows.count();
    if (n === 0) return { ok: false, why: 'no table.events tbody tr inside the first finding' };
    let visible = 0;
    for (let i = 0; i < Math.min(n, 50); i++) if (await rows.nth(i).isVisible()) visible++;
    const title = short((await summary.innerText()).replace(/\s+/g, ' ').trim(), 80);
    return {
      ok: visible > 0,
      what: `a click on the first finding's <summary> ("${title}") opens it and shows its events (${visible} of ${n} rows visible)`,
      why: `${n} event rows, none visible`,
    };
  });

  await check(`a full-page screenshot is written to ${args.screenshot}`, async () => {
    fs.mkdirSync(path.dirname(path.resolve(args.screenshot)), { recursive: true });
    // A whole long report (hundreds of thousands of px) takes Chromium most of a minute to capture
    // and blocks the page meanwhile: the capture stops at SHOT_MAX_PX.
    const { w, h } = await page.evaluate(() => ({
      w: document.documentElement.scrollWidth,
      h: document.documentElement.scrollHeight,
    }));
    const clip = { x: 0, y: 0, width: Math.min(w, 2000), height: Math.min(h, SHOT_MAX_PX) };
    await page.screenshot({ path: args.screenshot, fullPage: true, clip, timeout: 20_000 });
    const bytes = fs.statSync(args.screenshot).size;
    return {
      ok: bytes > 0,
      what: `a full-page screenshot is written to ${args.screenshot} (${clip.width}×${clip.height} px${h > clip.height ? ` of a ${h} px page` : ''}, ${(bytes / 1024).toFixed(0)} KiB)`,
      why: 'the file is empty',
    };
  });

  // ---- filters ----
  const filters = await page.evaluate(() =>
    [...document.querySelectorAll('input[data-filter-for]')].map((i) => {
      const t = document.getElementById(i.dataset.filterFor);
      return {
        target: i.dataset.filterFor,
        isSearch: i.type === 'search' && i.classList.contains('filter'),
        tableOk: !!t && t.tagName === 'TABLE' && t.hasAttribute('data-table'),
        rows: t ? t.querySelectorAll('tbody tr').length : 0,
        visible: i.checkVisibility(),
      };
    }),
  );
  await check('at least one filter <input type="search" class="filter" data-filter-for>, each naming a table[data-table]', async () => {
    const bad = filters.filter((x) => !x.isSearch || !x.tableOk);
    return {
      ok: filters.length > 0 && bad.length === 0,
      what: `${filters.length} filter inputs, each an <input type="search" class="filter"> naming a table[data-table]`,
      why: filters.length === 0 ? 'no input[data-filter-for]' : `not so: ${bad.map((x) => `#${x.target}`).join(', ')}`,
    };
  });
  let fi = filters.findIndex((x) => x.tableOk && x.rows > 0 && x.visible);
  if (fi < 0) fi = filters.findIndex((x) => x.tableOk && x.rows > 0);
  if (fi >= 0) {
    const target = filters[fi].target;
    const input = page.locator('input[data-filter-for]').nth(fi);
    // Open the <details> around the input and its table if they are closed.
    await input.evaluate((i) => {
      for (const start of [i, document.getElementById(i.dataset.filterFor)])
        for (let e = start; e; e = e.parentElement) if (e.tagName === 'DETAILS') e.open = true;
    });
    const hiddenState = () =>
      page.evaluate((id) => [...document.getElementById(id).querySelectorAll('tbody tr')].map((r) => r.hidden), target);
    const before = await hiddenState();
    const waitRows = (fn, arg) =>
      page
        .waitForFunction(fn, { id: target, ...arg }, { timeout: 3000, polling: 50 })
        .then(() => true)
        .catch(() => false);
    const clear = async () => {
      await input.click();
      await input.press('ControlOrMeta+a');
      await input.press('Backspace');
      await input.fill('');
    };
    await check(`typing a string that matches nothing into the filter of #${target} hides all its rows`, async () => {
      await input.click();
      await input.fill('');
      await input.pressSequentially(NO_MATCH, { delay: 5 });
      const ok = await waitRows(
        ({ id }) => [...document.getElementById(id).querySelectorAll('tbody tr')].every((r) => r.hidden),
      );
      const visibleLeft = (await hiddenState()).filter((h) => !h).length;
      return {
        ok,
        what: `typing a string that matches nothing into the filter of #${target} hides all its ${before.length} rows`,
        why: `${visibleLeft} of ${before.length} rows still without the hidden attribute`,
      };
    });
    await check(`clearing the filter of #${target} restores its rows`, async () => {
      await clear();
      const ok = await waitRows(
        ({ id, want }) =>
          [...document.getElementById(id).querySelectorAll('tbody tr')].every((r, i) => r.hidden === want[i]),
        { want: before },
      );
      const now = await hiddenState();
      return {
        ok,
        why: `${now.filter((h) => h).length} rows hidden after clearing, ${before.filter((h) => h).length} before filtering`,
      };
    });
    // A filter that hides everything whatever is typed would pass the two checks above.
    const firstShown = before.findIndex((h) => !h);
    if (firstShown >= 0) {
      const words = (
        await page.evaluate(({ id, i }) => document.getElementById(id).querySelectorAll('tbody tr')[i].innerText, {
          id: target,
          i: firstShown,
        })
      )
        .split(/\s+/)
        .filter((w) => w.length >= 3 && w.length <= 40)
        .sort((a, b) => b.length - a.length);
      if (words.length) {
        await check(`filtering #${target} by a word of one of its rows keeps that row`, async () => {
          await input.click();
          await input.fill('');
          await input.pressSequentially(words[0], { delay: 2 });
          const ok = await waitRows(
            ({ id, i }) => {
              const rows = document.getElementById(id).querySelectorAll('tbody tr');
              return !rows[i].hidden;
            },
            { i: firstShown },
          );
          const shown = (await hiddenState()).filter((h) => !h).length;
          await clear();
          return {
            ok,
            what: `filtering #${target} by "${short(words[0], 40)}" keeps the row that holds it (${shown} of ${before.length} rows shown)`,
            why: `typing "${words[0]}" hid the row that contains it`,
          };
        });
      }
    }
  } else {
    result(false, 'a filter can be tried', 'no filter input names a table with rows');
  }

  // ---- sorting ----
  const sortable = await page.evaluate(() => {
    // checkVisibility: false inside a closed <details> (content-visibility: hidden) too.
    const tables = [...document.querySelectorAll('table[data-table]')];
    const usable = tables.filter(
      (t) => t.checkVisibility() && t.querySelectorAll('thead th').length > 0 && t.tBodies[0]?.rows.length >= 2,
    );
    if (!usable.length) return null;
    // The visible table with the most rows.
    const t = usable.reduce((a, b) => (b.tBodies[0].rows.length > a.tBodies[0].rows.length ? b : a));
    const ths = [...t.querySelectorAll('thead th')];
    const rows = [...t.tBodies[0].rows].filter((r) => !r.hidden);
    // The column with the most distinct values, so that a reversal is visible.
    let best = 0;
    let bestDistinct = -1;
    ths.forEach((_, c) => {
      const d = new Set(rows.map((r) => r.cells[c]?.textContent.trim() ?? '')).size;
      if (d > bestDistinct) [best, bestDistinct] = [c, d];
    });
    return {
      index: tables.indexOf(t),
      id: t.id,
      col: best,
      header: ths[best].textContent.trim(),
      distinct: bestDistinct === rows.length,
      rows: rows.length,
    };
  });
  if (sortable) {
    await check(`clicking a header of table #${sortable.id} sorts it (aria-sort toggles, rows reorder)`, async () => {
      const table = page.locator('table[data-table]').nth(sortable.index);
      const th = table.locator('thead th').nth(sortable.col);
      const column = () =>
        table.evaluate(
          (t, c) => [...t.tBodies[0].rows].filter((r) => !r.hidden).map((r) => r.cells[c]?.textContent.trim() ?? ''),
          sortable.col,
        );
      const start = await column();
      // After a click: aria-sort changes (up to 3 s, for a report that sorts asynchronously),
      // then two animation frames for the rows to follow.
      const clickAndSettle = async () => {
        const before = await th.getAttribute('aria-sort');
        await th.click();
        await th
          .evaluate(
            (e, b) =>
              new Promise((resolve) => {
                const t0 = performance.now();
                const tick = () =>
                  e.getAttribute('aria-sort') !== b || performance.now() - t0 > 3000
                    ? requestAnimationFrame(() => requestAnimationFrame(resolve))
                    : setTimeout(tick, 25);
                tick();
              }),
            before,
          )
          .catch(() => {});
        return th.getAttribute('aria-sort');
      };
      const s1 = await clickAndSettle();
      const c1 = await column();
      const s2 = await clickAndSettle();
      const c2 = await column();
      const dirs = ['ascending', 'descending'];
      const what = `clicking header "${short(sortable.header, 30)}" of table #${sortable.id} sorts it (aria-sort ${s1} then ${s2}; ${sortable.rows} rows)`;
      if (!dirs.includes(s1) || !dirs.includes(s2) || s1 === s2)
        return { ok: false, what, why: `aria-sort was ${JSON.stringify(s1)} after one click and ${JSON.stringify(s2)} after two` };
      const reversed = JSON.stringify(c2) === JSON.stringify([...c1].reverse());
      const moved = JSON.stringify(c1) !== JSON.stringify(start) || JSON.stringify(c2) !== JSON.stringify(start);
      if (sortable.distinct && !reversed)
        return { ok: false, what, why: `the column's distinct values after the second click are not the first click's reversed (${short(c1.slice(0, 4).join(' | '), 80)} … vs ${short(c2.slice(0, 4).join(' | '), 80)} …)` };
      if (sortable.distinct && !moved) return { ok: false, what, why: 'the rows did not move' };
      return { ok: true, what: `${what}${sortable.distinct ? '' : ' (column has repeated values: reversal not checked)'}` };
    });
  } else {
    result(false, 'a sortable table can be tried', 'no visible table[data-table] with a header and 2 rows or more');
  }

  // ---- hostile content stays text ----
  await page.evaluate(() => document.querySelectorAll('details').forEach((d) => (d.open = true)));
  await page.waitForTimeout(200);
  const bodyText = await page.evaluate(() => document.body.innerText);
  const html = fs.readFileSync(reportPath, 'utf8');
  const escHtml = (t) => t.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
  const expected = [['the WAF payload', XSS], ...args.expectText.map((t) => ['the text', t])];
  for (const [label, want] of expected) {
    await check(`${label} ${want} shows as text (all <details> opened)`, async () => {
      if (bodyText.includes(want)) return { ok: true };
      const dom = await page.evaluate((x) => document.body.textContent.includes(x), want);
      const why = dom
        ? 'the text is in the DOM but not rendered (hidden by CSS?)'
        : html.includes(escHtml(want)) || html.includes(escHtml(want).replace(/&quot;/g, '&#34;'))
          ? 'an escaped form is in the file but does not read as this text (double-escaped, or inside a <script>/<textarea>?)'
          : /[<>]/.test(want) && html.includes(want)
            ? 'it is in the file unescaped: it was parsed as markup'
            : want === XSS && /%3Cscript%3E/i.test(html)
              ? 'it is nowhere in the report, only a URL-encoded %3Cscript%3E (no section shows the events that carry it?)'
              : 'it is nowhere in the report (no section shows the events that carry it?)';
      return { ok: false, why };
    });
  }
  await check('no script other than the report\'s own hashed inline code (no src, no inline handlers, no javascript: URLs)', async () => {
    const s = await page.evaluate(() => {
      const scripts = [...document.scripts].map((e) => ({ src: e.getAttribute('src'), text: e.textContent, type: e.type }));
      const handlers = [];
      const jsUrls = [];
      for (const e of document.querySelectorAll('*')) {
        for (const a of e.attributes) {
          if (/^on/i.test(a.name)) handlers.push(`<${e.tagName.toLowerCase()} ${a.name}>`);
          if (/^\s*javascript:/i.test(a.value) && /^(href|src|action|formaction|xlink:href|data)$/i.test(a.name))
            jsUrls.push(`<${e.tagName.toLowerCase()} ${a.name}>`);
        }
      }
      return { scripts, handlers: handlers.slice(0, 5), nHandlers: handlers.length, jsUrls: jsUrls.slice(0, 5) };
    });
    const hashes = new Set(policy.get('script-src') ?? policy.get('default-src') ?? []);
    const problems = [];
    s.scripts.forEach((sc, i) => {
      if (sc.src !== null) problems.push(`script ${i + 1} has src=${JSON.stringify(short(sc.src, 60))}`);
      else if (!/^(|text\/javascript|module|application\/json|application\/ld\+json)$/i.test(sc.type)) return;
      else if (/json/i.test(sc.type)) return; // data blocks do not run
      else {
        const h = `'sha256-${crypto.createHash('sha256').update(sc.text, 'utf8').digest('base64')}'`;
        if (!hashes.has(h)) problems.push(`script ${i + 1} (${JSON.stringify(short(sc.text.trim(), 40))}) is not one the CSP allows by hash`);
      }
    });
    if (s.nHandlers) problems.push(`${s.nHandlers} inline event-handler attributes: ${s.handlers.join(' ')}`);
    if (s.jsUrls.length) problems.push(`javascript: URLs: ${s.jsUrls.join(' ')}`);
    return {
      ok: problems.length === 0,
      what: `no script other than the report's own hashed inline code (${s.scripts.length} <script>; no src, no inline handlers, no javascript: URLs)`,
      why: problems.join('; '),
    };
  });

  // ---- what happened during the whole visit ----
  await page.waitForTimeout(200);
  const violations = await page.evaluate(() => window.__azirCspViolations ?? []).catch(() => []);
  const list = (xs) => `${xs.length}: ${xs.slice(0, 5).join(' | ')}${xs.length > 5 ? ' …' : ''}`;
  result(dialogs.length === 0, 'no dialog opened (alert/confirm/prompt)', list(dialogs));
  result(consoleErrors.length === 0, 'no console errors (CSP violations included)', list(consoleErrors));
  result(violations.length === 0, 'no Content-Security-Policy violations', list(violations));
  result(pageErrors.length === 0, 'no uncaught page errors', list(pageErrors));
  result(
    requests.length === 0,
    `no network request other than the report's own file (data: URLs aside; ${allRequests} requests seen)`,
    list(requests),
  );
  result(popups.length === 0, 'no new window opened', list(popups));
}

// Content-Security-Policy text → Map(directive → [sources]), first occurrence wins as in browsers.
function parseCsp(text) {
  const m = new Map();
  for (const part of text.split(';')) {
    const [dir, ...sources] = part.trim().split(/\s+/);
    if (dir && !m.has(dir.toLowerCase())) m.set(dir.toLowerCase(), sources.filter(Boolean));
  }
  return m;
}
