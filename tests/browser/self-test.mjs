#!/usr/bin/env node
// Proves report-check.mjs can fail: builds a small report that follows the DOM contract, and
// variants that break it one way each, runs report-check on every one, and checks that the good
// one passes and each bad one fails on the checks it should.
//
//   node tests/browser/self-test.mjs [--keep DIR]     (DIR: keep the fixtures there)
//
// Prints `ok - ...` / `not ok - ...` per fixture; exit 1 when any fixture was judged wrongly.
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const keep = process.argv[2] === '--keep' ? process.argv[3] : null;
const dir = keep ?? fs.mkdtempSync(path.join(os.tmpdir(), 'azir-report-selftest-'));
fs.mkdirSync(dir, { recursive: true });

const sha = (s) => `'sha256-${crypto.createHash('sha256').update(s, 'utf8').digest('base64')}'`;
const esc = (s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const PAYLOAD = '/search?q=<script>alert("x")</script>';

const STYLE = 'body{font:14px sans-serif} details.finding{border:1px solid #888;margin:4px} td,th{padding:2px 6px}';
const SCRIPT = `
for (const i of document.querySelectorAll('input.filter[data-filter-for]'))
  i.addEventListener('input', () => {
    const q = i.value.toLowerCase();
    for (const r of document.getElementById(i.dataset.filterFor).tBodies[0].rows)
      r.hidden = FILTER;
  });
for (const th of document.querySelectorAll('table[data-table] thead th'))
  th.addEventListener('click', () => {
    const t = th.closest('table'), c = th.cellIndex;
    const dir = th.getAttribute('aria-sort') === 'ascending' ? 'descending' : 'ascending';
    for (const h of t.querySelectorAll('thead th')) h.removeAttribute('aria-sort');
    th.setAttribute('aria-sort', dir);
    SORT
  });
EXTRA`;
const GOOD_FILTER = "q !== '' && !r.textContent.toLowerCase().includes(q)";
const GOOD_SORT = `const rows = [...t.tBodies[0].rows];
    rows.sort((a, b) => a.cells[c].textContent.localeCompare(b.cells[c].textContent) * (dir === 'ascending' ? 1 : -1));
    for (const r of rows) t.tBodies[0].appendChild(r);`;

function report(o = {}) {
  const script = SCRIPT.replace('FILTER', o.filter ?? GOOD_FILTER).replace('SORT', o.sort ?? GOOD_SORT).replace('EXTRA', o.extra ?? '');
  const csp = o.csp ?? `default-src 'none'; img-src data:; style-src ${sha(STYLE)}; script-src ${sha(o.hashOf ?? script)}`;
  const uri = o.rawPayload ? PAYLOAD : esc(PAYLOAD);
  const chart = (n) => `<svg class="chart" data-chart="${n}" width="120" height="30"><rect width="${20 + n.length * 4}" height="20" fill="#58c"/><text x="2" y="28">${n}</text></svg>`;
  const finding = (level, title, rows) =>
    `<details class="finding" data-finding data-level="${level}"><summary>${title}</summary>
<table class="events" data-table id="ev-${level}"><thead><tr><th>Time</th><th>Event</th></tr></thead><tbody>
${rows.map(([t, e]) => `<tr><td>${t}</td><td>${e}</td></tr>`).join('\n')}
</tbody></table></details>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
${o.noCsp ? '' : `<meta http-equiv="Content-Security-Policy" content="${csp}">`}
<title>azir report fixture</title>
<style>${STYLE}</style></head>
<body${o.noCount ? '' : ' data-findings="2"'}>
<h1>Incident report (fixture)</h1>
${['events-per-hour', 'signin-failures-ip', 'signin-failures-country', 'top-talkers', 'outbound-bytes', 'nsg-changes', 'topology'].map(chart).join('\n')}
${o.body ?? ''}
${finding('critical', 'WAF blocked script injection', [['2026-03-12T10:02:00Z', `GET ${uri}`]])}
${finding('high', 'Password spray', [['2026-03-12T09:00:00Z', 'megan failed'], ['2026-03-12T09:01:00Z', 'adele failed']])}
<h2>Timeline</h2>
<input type="search" class="filter" data-filter-for="timeline" placeholder="filter">
<table data-table id="timeline"><thead><tr><th>Time</th><th>Source</th><th>Message</th></tr></thead><tbody>
<tr><td>2026-03-12T09:00:00Z</td><td>signin</td><td>megan failed from 203.0.113.77</td></tr>
<tr><td>2026-03-12T11:30:00Z</td><td>activity</td><td>securityRules/write on nsg-web</td></tr>
<tr><td>2026-03-12T10:02:00Z</td><td>waf</td><td>blocked GET ${uri}</td></tr>
<tr><td>2026-03-12T12:45:00Z</td><td>flows</td><td>10.0.1.4 to 198.51.100.9 4.2 GB out</td></tr>
</tbody></table>
<script>${script}</script>
</body></html>
`;
}

// name → [report options, extra report-check arguments, checks (substrings) that must say `not ok`]
const cases = {
  good: [{}, [], []],
  'external-img (blocked by the CSP)': [{ body: '<img src="http://example.invalid/x.png" alt="">' }, [], ['no console errors', 'no Content-Security-Policy violations']],
  'external-img (a CSP that lets it through)': [
    { body: '<img src="http://example.invalid/x.png" alt="">', csp: null, cspLoose: true },
    [],
    ['a Content-Security-Policy <meta>', 'no network request'],
  ],
  'alert in the report\'s own script': [{ extra: 'alert("x");' }, [], ['no dialog opened']],
  'payload not escaped (CSP blocks it)': [{ rawPayload: true }, [], ['shows as text', 'no script other than', 'no console errors']],
  'payload not escaped, no CSP (it runs)': [{ rawPayload: true, noCsp: true }, [], ['no dialog opened', 'a Content-Security-Policy <meta>']],
  'console.error from the report\'s script': [{ extra: 'console.error("boom");' }, [], ['no console errors']],
  'uncaught exception': [{ extra: 'null.x;' }, [], ['no uncaught page errors']],
  'no data-findings on <body>': [{ noCount: true }, [], ['body[data-findings] equals']],
  'finding count differs from the case': [{}, ['--findings', '3'], ['body[data-findings] equals']],
  'wrong script hash (nothing runs)': [{ hashOf: 'other' }, [], ['no console errors', 'hides all its', 'sorts it', 'no script other than']],
  'filter that hides every row': [{ filter: "q !== ''" }, [], ['keeps the row']],
  'header click that does not sort': [{ sort: '' }, [], ['sorts it']],
};

function run(file, extra) {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [path.join(here, 'report-check.mjs'), '--report', file, '--findings', '2',
      '--screenshot', file.replace(/\.html$/, '.png'), '--expect-topology', '--timeout', '45', ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (out += d));
    p.on('close', (code) => resolve({ code, out }));
  });
}

let bad = 0;
const entries = Object.entries(cases);
const results = new Array(entries.length);
let next = 0;
// Two or three browsers at a time keep this under ~20 s on two cores.
await Promise.all(
  Array.from({ length: 3 }, async () => {
    while (next < entries.length) {
      const i = next++;
      const [name, [opts, extra, mustFail]] = entries[i];
      if (opts.cspLoose) opts.csp = `default-src 'none'; img-src http:; style-src ${sha(STYLE)}; script-src SCRIPTHASH`;
      let html = report(opts);
      if (opts.cspLoose) html = html.replace('SCRIPTHASH', sha(html.match(/<script>([\s\S]*)<\/script>/)[1]));
      const file = path.join(dir, `${String(i).padStart(2, '0')}-${name.replace(/[^a-z0-9]+/gi, '-').replace(/-$/, '')}.html`);
      fs.writeFileSync(file, html);
      results[i] = { name, mustFail, file, ...(await run(file, extra)) };
    }
  }),
);
for (const { name, mustFail, file, code, out } of results) {
  const notOk = out.split('\n').filter((l) => l.startsWith('not ok - '));
  const missing = mustFail.filter((m) => !notOk.some((l) => l.includes(m)));
  const good = mustFail.length === 0 ? code === 0 && notOk.length === 0 : code === 1 && missing.length === 0;
  if (!good) bad++;
  const why = mustFail.length === 0 ? `exit ${code}` : `exit ${code}; expected to fail: ${missing.join(', ') || 'all did'}`;
  console.log(`${good ? 'ok' : 'not ok'} - fixture "${name}" ${mustFail.length ? 'fails' : 'passes'}${good ? ` (${notOk.length} not ok)` : `: ${why}`}`);
  if (!good || process.env.AZIR_SELFTEST_VERBOSE) console.log(out.replace(/^/gm, '#   ').trimEnd() + `\n#   (${file})`);
}
if (!keep) fs.rmSync(dir, { recursive: true, force: true });
console.log(`# self-test: ${results.length - bad} fixtures judged right, ${bad} wrong`);
process.exit(bad ? 1 : 0);
