// azir report: sortable and filterable tables, expand/collapse, print.
// Reads only azir's own attributes (data-v, data-type, data-filter-for) and compares text;
// nothing from the page is ever parsed as HTML or evaluated.
(function () {
  'use strict';
  var each = function (list, fn) { Array.prototype.forEach.call(list, fn); };

  function key(td, num) {
    if (!td) { return num ? -Infinity : ''; }
    var v = td.getAttribute('data-v');
    var s = v !== null ? v : td.textContent;
    if (num) {
      var x = parseFloat(s);
      return isNaN(x) ? -Infinity : x;
    }
    return s.toLowerCase();
  }

  each(document.querySelectorAll('table[data-table]'), function (table) {
    if (!table.tHead || !table.tBodies.length) { return; }
    var heads = table.tHead.rows[0].cells;
    each(heads, function (th, idx) {
      th.tabIndex = 0;
      th.setAttribute('aria-sort', 'none');
      th.classList.add('sortable');
      var sort = function () {
        var asc = th.getAttribute('aria-sort') !== 'ascending';
        each(heads, function (o) { o.setAttribute('aria-sort', 'none'); });
        th.setAttribute('aria-sort', asc ? 'ascending' : 'descending');
        var num = th.getAttribute('data-type') === 'num';
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = key(a.cells[idx], num);
          var y = key(b.cells[idx], num);
          return (x < y ? -1 : x > y ? 1 : 0) * (asc ? 1 : -1);
        });
        rows.forEach(function (r) { body.appendChild(r); });
      };
      th.addEventListener('click', sort);
      th.addEventListener('keydown', function (e) {
        if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); sort(); }
      });
    });
  });

  each(document.querySelectorAll('input[data-filter-for]'), function (input) {
    var table = document.getElementById(input.getAttribute('data-filter-for'));
    if (!table || !table.tBodies.length) { return; }
    input.addEventListener('input', function () {
      var q = input.value.toLowerCase();
      each(table.tBodies[0].rows, function (r) {
        r.hidden = q !== '' && r.textContent.toLowerCase().indexOf(q) < 0;
      });
    });
  });

  var findings = document.querySelectorAll('details.finding');
  var setAll = function (open) { each(findings, function (d) { d.open = open; }); };
  var ex = document.getElementById('expand-all');
  var co = document.getElementById('collapse-all');
  if (ex) { ex.addEventListener('click', function () { setAll(true); }); }
  if (co) { co.addEventListener('click', function () { setAll(false); }); }

  each(document.querySelectorAll('button[data-level-filter]'), function (b) {
    b.addEventListener('click', function () {
      var level = b.getAttribute('data-level-filter');
      var on = b.getAttribute('aria-pressed') !== 'true';
      each(document.querySelectorAll('button[data-level-filter]'), function (o) { o.setAttribute('aria-pressed', 'false'); });
      b.setAttribute('aria-pressed', on ? 'true' : 'false');
      each(findings, function (d) { d.hidden = on && d.getAttribute('data-level') !== level; });
    });
  });

  // A link to a finding (#f-3) opens it.
  var openTarget = function () {
    var el = location.hash.length > 1 ? document.getElementById(location.hash.slice(1)) : null;
    if (el && el.tagName === 'DETAILS') { el.open = true; }
  };
  window.addEventListener('hashchange', openTarget);
  openTarget();

  // Print everything, then restore.
  var printed = [];
  window.addEventListener('beforeprint', function () {
    printed = [];
    each(document.querySelectorAll('details'), function (d) { if (!d.open) { printed.push(d); d.open = true; } });
  });
  window.addEventListener('afterprint', function () { printed.forEach(function (d) { d.open = false; }); });
})();
