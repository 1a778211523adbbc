// ringwatch's dashboard: plain JavaScript, no build step. It reads the API
// only: REST for lists and periods, WebSockets for what changes live.
// Host names and everything else from the hub are put into the page as
// text (textContent), never as HTML.

const PERIODS = ['5m', '15m', '1h', '1d', '1mo'];
// How often a host page refetches its charts: about one bucket.
const REFRESH = { '5m': 3000, '15m': 9000, '1h': 36000, '1d': 60000, '1mo': 60000 };
const TOKEN_KEY = 'ringwatch-token';

const main = document.getElementById('main');
const connEl = document.getElementById('conn');
let cfg = { token_required: false, poll_interval: 1 };
let token = sessionStorage.getItem(TOKEN_KEY) || '';
let leave = []; // what the current page stops when another is shown

// ---------- small helpers ----------

function el(tag, attrs = {}, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'text') e.textContent = v;
    else if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const k of kids) if (k != null) e.append(k);
  return e;
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
function bytes(v) {
  if (v == null || !isFinite(v)) return '–';
  let i = 0;
  v = Math.abs(v);
  while (v >= 1024 && i < UNITS.length - 1) { v /= 1024; i++; }
  return (i === 0 ? v.toFixed(0) : v.toFixed(v < 10 ? 2 : 1)) + ' ' + UNITS[i];
}
const fmt = {
  '%': v => v == null ? '–' : v.toFixed(1) + ' %',
  'bytes': bytes,
  'B/s': v => v == null ? '–' : bytes(v) + '/s',
  '°C': v => v == null ? '–' : v.toFixed(1) + ' °C',
  'ms': v => v == null ? '–' : v.toFixed(v < 10 ? 1 : 0) + ' ms',
  '': v => v == null ? '–' : (Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(2)),
};

class HttpError extends Error {
  constructor(status, msg) { super(msg); this.status = status; }
}

async function api(path) {
  const r = await fetch(path, { headers: token ? { Authorization: 'Bearer ' + token } : {}, cache: 'no-store' });
  if (r.status === 401) { askToken(true); throw new HttpError(401, 'the API token was refused'); }
  if (!r.ok) {
    let msg = r.statusText;
    try { msg = (await r.json()).error || msg; } catch { /* not JSON */ }
    throw new HttpError(r.status, msg);
  }
  return r.json();
}

// ---------- live connections ----------

const sockets = new Set();
function showConn() {
  const up = [...sockets].filter(s => s.up).length;
  connEl.textContent = sockets.size === 0 ? '' : up === sockets.size ? 'live' : 'reconnecting';
  connEl.className = 'conn ' + (sockets.size === 0 ? '' : up === sockets.size ? 'live' : 'down');
}

// live opens a WebSocket on path and keeps it open: after a close it
// reconnects with back-off (0.5 s doubling to 5 s). onmsg gets each JSON
// frame; onopen runs on every (re)connection; onclose gets each close's
// code, and may stop the socket instead.
function live(path, onmsg, onopen, onclose) {
  const s = { up: false, closed: false, ws: null, timer: 0, delay: 500 };
  sockets.add(s);
  const open = () => {
    const u = new URL(path, location.href);
    u.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
    if (token) u.searchParams.set('token', token);
    const ws = new WebSocket(u);
    s.ws = ws;
    ws.onopen = () => { s.up = true; s.delay = 500; showConn(); if (onopen) onopen(); };
    ws.onmessage = e => {
      let d;
      try { d = JSON.parse(e.data); } catch { return; }
      onmsg(d);
    };
    ws.onclose = e => {
      s.up = false;
      showConn();
      if (s.closed) return;
      if (onclose) onclose(e.code);
      if (s.closed) return;
      s.timer = setTimeout(open, s.delay);
      s.delay = Math.min(s.delay * 2, 5000);
    };
  };
  open();
  showConn();
  return () => {
    s.closed = true;
    clearTimeout(s.timer);
    sockets.delete(s);
    s.ws.close();
    showConn();
  };
}

// every runs fn now and every ms until the page changes.
function every(ms, fn) {
  fn();
  const t = setInterval(fn, ms);
  leave.push(() => clearInterval(t));
}

// ---------- token ----------

const dialog = document.getElementById('token-dialog');
function askToken(refused) {
  document.getElementById('token-error').hidden = !refused;
  if (!dialog.open) dialog.showModal();
}
document.getElementById('token-form').addEventListener('submit', async e => {
  e.preventDefault();
  const t = document.getElementById('token-input').value.trim();
  const r = await fetch('/api/v1/hosts', { headers: { Authorization: 'Bearer ' + t }, cache: 'no-store' });
  if (r.status === 401) { document.getElementById('token-error').hidden = false; return; }
  token = t;
  sessionStorage.setItem(TOKEN_KEY, t);
  dialog.close();
  route();
});

// ---------- the hosts the hub knows ----------

// hosts: by host token. A record holds the hub's view (/api/v1/hosts) and
// the newest sample from all_system_info.
const hosts = new Map();
const byDisplay = new Map();
let hostsChanged = 0;

async function refreshHosts() {
  const list = await api('/api/v1/hosts');
  const seen = new Set();
  for (const h of list) {
    let r = hosts.get(h.name);
    if (!r) {
      r = { name: h.name, display: h.name, kinds: [], hubOnline: false, sample: null, ts: 0, seen: 0, interval: 0, routes: null, routesAt: 0 };
      hosts.set(h.name, r);
    }
    r.display = h.display_name || h.name;
    r.kinds = h.kinds;
    r.hubOnline = h.online;
    byDisplay.set(r.display, r);
    seen.add(h.name);
  }
  for (const [name, r] of hosts) {
    if (!seen.has(name)) { hosts.delete(name); byDisplay.delete(r.display); }
  }
  hostsChanged++;
}

// take records one host's newest system_info sample.
function take(r, sample) {
  if (!sample || typeof sample !== 'object') return;
  r.sample = sample;
  const ts = sample.timestamp || 0;
  if (ts > r.ts) {
    if (r.ts) {
      // Its poll interval: the shorter of its last two gaps, so that one
      // long gap (an outage) is not taken for a new cadence.
      const gap = Math.min(ts - r.ts, 3600);
      r.interval = Math.min(gap, r.gap || gap);
      r.gap = gap;
    }
    // Only a newer sample says the host is alive: a (re)connected socket's
    // first frame repeats what was already known.
    if (r.ts) r.seen = performance.now();
    r.ts = ts;
  }
}

// online: a host is offline when no newer sample came for two of its poll
// intervals (measured between its own samples) and a half second, or when
// the hub says so and no sample came since.
function online(r) {
  const every = Math.max(r.interval || cfg.poll_interval || 1, 1) * 1000;
  if (r.seen) return performance.now() - r.seen <= 2 * every + 500;
  return r.hubOnline;
}

function hottest(s) {
  let t = null;
  for (const x of s.sensors || []) if (typeof x.temperature === 'number' && (t == null || x.temperature > t)) t = x.temperature;
  return t;
}
function rootDisk(s) {
  const ds = Object.values(s.disks || {});
  return ds.find(d => d.path === '/') || ds[0] || null;
}

// ---------- overview ----------

const CARD_H = 140, GAP = 12, MIN_W = 250;
// STREAM_HOSTS: up to this many hosts the overview takes every sample from
// the stream relay (see overview).
const STREAM_HOSTS = 2000;

function overview() {
  const q = new URLSearchParams(location.hash.split('?')[1] || '');
  const state = { filter: q.get('q') || '', sort: q.get('sort') || 'name', cards: new Map(), list: [], dirty: true, frame: 0, first: true };
  const filter = el('input', { type: 'search', placeholder: 'Filter hosts', 'aria-label': 'Filter hosts', id: 'filter', value: state.filter });
  const sort = el('select', { 'aria-label': 'Sort', id: 'sort' },
    ...[['name', 'Name'], ['cpu', 'CPU'], ['mem', 'Memory'], ['offline', 'Offline first']].map(([v, t]) => el('option', { value: v, text: t })));
  sort.value = state.sort;
  const count = el('span', { class: 'count' });
  // After a restart the hub serves while it reads its saved state: hosts
  // appear as they load, and this says how many are still to come.
  const loading = el('span', { class: 'loading', id: 'loading', hidden: true });
  const grid = el('div', { class: 'grid', id: 'grid' });
  main.replaceChildren(el('div', { class: 'toolbar' }, filter, sort, count, loading), grid);
  let loaded = false;
  every(2000, async () => {
    if (loaded) return;
    let n = 0;
    try { n = (await api('/api/v1/stats')).pipeline?.hosts_loading || 0; } catch { return; }
    loaded = n === 0;
    loading.hidden = loaded;
    loading.textContent = loaded ? '' : `loading saved state: ${n} ${n === 1 ? 'host' : 'hosts'} to go`;
  });

  const order = () => {
    const f = state.filter.toLowerCase();
    let list = [...hosts.values()].filter(r => !f || r.display.toLowerCase().includes(f) || r.name.includes(f));
    const by = {
      name: (a, b) => a.display.localeCompare(b.display),
      cpu: (a, b) => (b.sample?.cpu_average ?? -1) - (a.sample?.cpu_average ?? -1),
      mem: (a, b) => (b.sample?.memory?.used_percent ?? -1) - (a.sample?.memory?.used_percent ?? -1),
      offline: (a, b) => (online(a) - online(b)) || a.display.localeCompare(b.display),
    }[state.sort] || ((a, b) => a.display.localeCompare(b.display));
    list.sort(by);
    state.list = list;
    count.textContent = list.length === hosts.size ? `${hosts.size} hosts` : `${list.length} of ${hosts.size} hosts`;
  };

  const card = r => {
    const c = { el: null, parts: {} };
    const p = c.parts;
    p.link = el('a', { href: '#/host/' + encodeURIComponent(r.name) });
    p.state = el('span', { class: 'state' });
    const m = name => { const v = el('b'); p[name] = v; return v; };
    p.routes = el('div', { class: 'routes' });
    c.el = el('div', { class: 'card', 'data-host': r.name },
      el('h3', {}, p.link), p.state,
      el('div', { class: 'metrics' },
        el('div', {}, el('span', { text: 'CPU ' }), m('cpu')),
        el('div', {}, el('span', { text: 'Mem ' }), m('mem')),
        el('div', {}, el('span', { text: 'Disk / ' }), m('disk')),
        el('div', {}, el('span', { text: 'Temp ' }), m('temp')),
        el('div', {}, el('span', { text: 'Net ↑ ' }), m('up')),
        el('div', {}, el('span', { text: '↓ ' }), m('down'))),
      p.routes);
    return c;
  };

  const fill = (c, r) => {
    const p = c.parts, s = r.sample || {}, on = online(r);
    const set = (e, t) => { if (e.textContent !== t) e.textContent = t; };
    set(p.link, r.display);
    set(p.state, on ? 'online' : 'offline');
    p.state.className = 'state ' + (on ? 'online' : 'offline');
    c.el.classList.toggle('offline', !on);
    c.el.dataset.ts = String(r.ts);
    set(p.cpu, fmt['%'](s.cpu_average));
    set(p.mem, fmt['%'](s.memory?.used_percent));
    const d = rootDisk(s);
    set(p.disk, d ? fmt['%'](d.used_percent) : '–');
    set(p.temp, fmt['°C'](hottest(s)));
    set(p.up, fmt['B/s'](s.network?.upload_speed));
    set(p.down, fmt['B/s'](s.network?.download_speed));
    const rt = r.routes;
    if (rt) {
      const all = Object.values(rt), ok = all.filter(x => x.status === 'healthy').length;
      set(p.routes, all.length ? `routes ${ok}/${all.length} healthy` : '');
      p.routes.className = 'routes ' + (ok === all.length ? 'ok' : 'bad');
    }
  };

  const render = () => {
    state.frame = 0;
    const t0 = performance.now();
    if (state.dirty) { order(); state.dirty = false; }
    const W = grid.clientWidth || main.clientWidth;
    const cols = Math.max(1, Math.floor((W + GAP) / (MIN_W + GAP)));
    const cw = (W - GAP * (cols - 1)) / cols;
    const rows = Math.ceil(state.list.length / cols);
    grid.style.height = Math.max(0, rows * (CARD_H + GAP) - GAP) + 'px';
    const top = grid.getBoundingClientRect().top;
    const firstRow = Math.max(0, Math.floor(-top / (CARD_H + GAP)) - 1);
    const lastRow = Math.min(rows, Math.ceil((innerHeight - top) / (CARD_H + GAP)) + 1);
    const shown = new Set();
    for (let i = firstRow * cols; i < Math.min(state.list.length, lastRow * cols); i++) {
      const r = state.list[i];
      let c = state.cards.get(r.name);
      if (!c) { c = card(r); state.cards.set(r.name, c); grid.append(c.el); }
      const x = (i % cols) * (cw + GAP), y = Math.floor(i / cols) * (CARD_H + GAP);
      c.el.style.transform = `translate(${x}px, ${y}px)`;
      c.el.style.width = cw + 'px';
      fill(c, r);
      shown.add(r.name);
    }
    for (const [name, c] of state.cards) if (!shown.has(name)) { c.el.remove(); state.cards.delete(name); }
    void grid.offsetHeight; // layout, inside the measure
    const t1 = performance.now();
    if (state.first && state.list.length > 0) { // measured once: measures are kept for the page's life
      state.first = false;
      performance.measure('overview-first-render', { start: t0, end: t1 });
    }
    fetchRoutes([...shown]);
    return t1;
  };
  const later = (reorder) => {
    if (reorder) state.dirty = true;
    if (!state.frame) state.frame = requestAnimationFrame(render);
  };

  // Routes at a glance: the latest uptime sample of each host on screen
  // that has routes, at most every 10 s per host.
  const fetchRoutes = names => {
    const now = performance.now();
    for (const n of names) {
      const r = hosts.get(n);
      if (!r || !r.kinds.includes('uptime') || now - r.routesAt < 10000) continue;
      r.routesAt = now;
      api('/api/v1/metrics/uptime?host=' + encodeURIComponent(n)).then(u => { r.routes = u?.statuses || {}; later(false); }).catch(() => {});
    }
  };

  filter.addEventListener('input', e => {
    state.filter = filter.value;
    state.dirty = true;
    const t1 = render();
    performance.measure('overview-filter', { start: e.timeStamp, end: t1 });
  });
  sort.addEventListener('change', () => { state.sort = sort.value; later(true); });
  const onScroll = () => later(false);
  addEventListener('scroll', onScroll, { passive: true });
  addEventListener('resize', onScroll);
  leave.push(() => { removeEventListener('scroll', onScroll); removeEventListener('resize', onScroll); });

  let known = -1;
  const firstHosts = refreshHosts().then(() => later(true)).catch(() => {});
  // A sample of a host the list does not have yet waits for the next list
  // (a host the hub refuses, past --max-hosts, never leaves the stream's
  // samples, so this does not ask for the list on every frame).
  const pending = new Map();
  const adopt = () => {
    for (const [key, [byName, sample]] of pending) {
      const r = byName ? hosts.get(key) : byDisplay.get(key);
      if (r) take(r, sample);
    }
    pending.clear();
    later(true);
  };
  const poll = setInterval(() => refreshHosts().then(adopt).catch(() => {}), 2000);
  leave.push(() => clearInterval(poll));
  // Offline is a matter of time passing: look again four times a second.
  every(250, () => {
    if (known !== hostsChanged) { known = hostsChanged; state.dirty = true; }
    later(state.sort === 'offline');
  });
  // Every host's latest sample at once from all_system_info (its first
  // frame; at interval=1h little follows), then each new sample as it is
  // published, from the stream relay: no tick between the hub and the
  // page, so a silent host is noticed as soon as it is silent. Past
  // STREAM_HOSTS hosts, or once the stream closes the socket because the
  // page cannot keep up (1013), all_system_info instead, at an interval
  // that keeps to about STREAM_HOSTS frames a second: it sends a reader
  // that falls behind each host's newest frame rather than closing it.
  const got = (key, byName, sample) => {
    const r = byName ? hosts.get(key) : byDisplay.get(key);
    if (r) take(r, sample);
    else if (pending.size < 10000) pending.set(key, [byName, sample]);
  };
  const settle = () => later(state.sort !== 'name');
  const onFrame = frame => {
    for (const [key, sample] of Object.entries(frame)) got(key, false, sample);
    settle();
  };
  let gone = false, stopFeed = null, stopStream = null;
  const ticks = () => {
    stopStream?.();
    stopStream = null;
    stopFeed?.();
    // About STREAM_HOSTS frames a second, whatever the fleet: 5 s for 10,000 hosts.
    const every = Math.min(10, Math.max(1, Math.ceil(hosts.size / STREAM_HOSTS)));
    stopFeed = live(`/api/v1/metrics/all_system_info?interval=${every}s`, onFrame);
  };
  firstHosts.then(() => {
    if (gone) return;
    if (hosts.size > STREAM_HOSTS) { ticks(); return; }
    stopFeed = live('/api/v1/metrics/all_system_info?interval=1h', onFrame);
    stopStream = live('/api/v1/stream?subject=ringwatch.raw.*.system_info', m => {
      got((m.subject || '').split('.')[2], true, m.data);
      settle();
    }, null, code => { if (code === 1013) ticks(); });
  });
  leave.push(() => { gone = true; stopFeed?.(); stopStream?.(); });
}

// ---------- host page ----------

const CHARTS = [
  { id: 'cpu', title: 'CPU', modes: ['cpu_average'], unit: '%', band: true },
  { id: 'cores', title: 'CPU per core', modes: ['cpu_per_core'], unit: '%' },
  { id: 'memory', title: 'Memory used', modes: ['memory_usage'], unit: 'bytes', band: true },
  { id: 'swap', title: 'Swap used', modes: ['swap_usage'], unit: 'bytes', band: true },
  { id: 'load', title: 'Load', modes: ['load_avg'], unit: '', band: true },
  { id: 'disk', title: 'Disk usage', modes: ['disk_usage'], unit: 'bytes' },
  { id: 'diskio', title: 'Disk read / write', modes: ['disks_read_speed', 'disks_write_speed'], suffix: [' read', ' write'], unit: 'B/s', band: true },
  { id: 'iops', title: 'Disk IOPS', modes: ['disks_iops'], unit: '' },
  { id: 'net', title: 'Network speed', modes: ['network_speed'], unit: 'B/s', band: true },
  { id: 'transfer', title: 'Network transfer', modes: ['network_transfer'], unit: 'bytes' },
  { id: 'ifspeed', title: 'Network speed per interface', modes: ['interfaces_speed'], unit: 'B/s' },
  { id: 'iftransfer', title: 'Network transfer per interface', modes: ['interfaces_transfer'], unit: 'bytes' },
  { id: 'temp', title: 'Temperatures', modes: ['sensor_temperature'], unit: '°C', band: true },
];
// SPAN is each period's length in seconds; its 100 buckets fill a chart.
const SPAN = { '5m': 300, '15m': 900, '1h': 3600, '1d': 86400, '1mo': 30 * 86400 };
// LABEL names a mode's single series.
const LABEL = { cpu_average: 'average', memory_usage: 'used', swap_usage: 'used' };
// LATENCY is the host page's chart of its routes' latency.
const LATENCY = { id: 'latency', title: 'Route latency', modes: ['latency'], unit: 'ms' };
const PALETTE = ['#0969da', '#cf222e', '#1a7f37', '#9a6700', '#8250df', '#bf3989', '#0a7ea4', '#6e7781', '#e16f24', '#2da44e'];

// clock writes a time axis label: the date over a month, the time of day
// otherwise, with seconds when the ticks are less than a minute apart.
function clock(t, incr) {
  const d = new Date(t * 1000);
  if (clock.long) return d.toLocaleDateString([], { month: 'short', day: 'numeric' });
  return d.toLocaleTimeString([], incr < 60 ? { hour: '2-digit', minute: '2-digit', second: '2-digit' } : { hour: '2-digit', minute: '2-digit' });
}

// points turns a mode's data into {key: {ts: value}}, nested interface
// points as "eth0 upload".
function points(data, suffix = '') {
  const out = {};
  for (const p of data) {
    for (const [k, v] of Object.entries(p)) {
      if (k === 'timestamp') continue;
      if (v && typeof v === 'object') {
        for (const [k2, v2] of Object.entries(v)) (out[`${k} ${k2}${suffix}`] ??= {})[p.timestamp] = v2;
      } else (out[k + suffix] ??= {})[p.timestamp] = v;
    }
  }
  return out;
}

function hostPage(name) {
  const q = new URLSearchParams(location.hash.split('?')[1] || '');
  let period = PERIODS.includes(q.get('period')) ? q.get('period') : '5m';
  const r = hosts.get(name) || { name, display: name, kinds: [], sample: null, ts: 0, seen: 0, interval: 0, hubOnline: true };
  const title = el('h2', { text: r.display });
  const st = el('span', { class: 'state' });
  const facts = el('span', { class: 'muted' });
  const buttons = PERIODS.map(p => el('button', { type: 'button', 'data-period': p, 'aria-pressed': String(p === period), text: p }));
  const periods = el('div', { class: 'toolbar periods', role: 'group', 'aria-label': 'Period' }, ...buttons);
  const charts = el('div', { class: 'charts' });
  const routes = el('div', { id: 'routes' });
  main.replaceChildren(el('div', { class: 'hosthead' }, el('a', { href: '#/', text: '← Overview' }), title, st, facts), periods, charts, routes);

  const plots = new Map();
  const boxes = CHARTS.map(c => {
    const body = el('div', { class: 'plot' });
    const box = el('section', { class: 'chart', id: 'chart-' + c.id, 'data-mode': c.modes.join(','), 'data-points': '0' }, el('h3', { text: c.title }), body);
    charts.append(box);
    return { c, box, body };
  });

  const latencyBody = el('div', { class: 'plot' });
  const latency = { body: latencyBody, box: el('section', { class: 'chart', id: 'chart-latency', 'data-points': '0' }, el('h3', { text: 'Route latency (healthy checks)' }), latencyBody) };

  const head = () => {
    const on = online(r);
    st.textContent = on ? 'online' : 'offline';
    st.className = 'state ' + (on ? 'online' : 'offline');
    const s = r.sample;
    if (s) facts.textContent = `up ${Math.floor((s.uptime || 0) / 86400)} d · ${(s.cpu_per_core || []).length} cores · memory ${bytes(s.memory?.total)}`;
  };

  let gen = 0;
  const fetchAll = async () => {
    const my = ++gen;
    const base = `/api/v1/metrics/system_info?host=${encodeURIComponent(name)}&period=${period}&aggregate=`;
    await Promise.all(boxes.map(async ({ c, box, body }) => {
      try {
        const stats = c.band ? ['avg', 'min', 'max'] : ['avg'];
        const got = await Promise.all(c.modes.flatMap(m => stats.map(s => api(base + m + '&stat=' + s))));
        if (my !== gen) return;
        draw(c, box, body, got, stats.length);
      } catch (e) {
        if (my === gen && e.status) body.replaceChildren(el('div', { class: 'empty error', text: e.message }));
      }
    }));
    try {
      await routeTable(my);
    } catch (e) {
      if (my === gen && e.status) routes.replaceChildren(el('p', { class: 'error', text: e.message }));
    }
  };

  const draw = (c, box, body, got, nstats) => {
    // Per mode: avg (and min, max) answers; keys are series.
    const xs = new Set(), series = [];
    c.modes.forEach((m, i) => {
      const [avg, min, max] = got.slice(i * nstats, (i + 1) * nstats).map(g => points(g.data, c.suffix?.[i] ?? ''));
      for (const p of got[i * nstats].data) xs.add(p.timestamp);
      for (const key of Object.keys(avg).sort()) series.push({ key: LABEL[key] ?? key, avg: avg[key], min: min?.[key], max: max?.[key] });
    });
    const x = [...xs].sort((a, b) => a - b);
    box.dataset.points = String(x.length);
    box.dataset.period = period;
    box.dataset.first = String(x[0] ?? '');
    box.dataset.series = String(series.length);
    if (x.length === 0 || series.length === 0) {
      plots.get(c.id)?.destroy();
      plots.delete(c.id);
      body.replaceChildren(el('div', { class: 'empty', text: 'no data in this period' }));
      return;
    }
    const data = [x], opts = [{}], bands = [];
    const f = fmt[c.unit];
    const legend = el('div', { class: 'legend' });
    series.forEach((s, i) => {
      const color = PALETTE[i % PALETTE.length];
      const swatch = el('i');
      swatch.style.background = color;
      const last = [...x].reverse().map(t => s.avg[t]).find(v => v != null);
      legend.append(el('span', {}, swatch, s.key + ' ' + f(last)));
      data.push(x.map(t => s.avg[t] ?? null));
      opts.push({ label: s.key, stroke: color, width: 1.5, value: (u, v) => f(v), points: { show: x.length < 40, size: 5 } });
      if (s.min && s.max) {
        const lo = data.length;
        data.push(x.map(t => s.min[t] ?? null), x.map(t => s.max[t] ?? null));
        opts.push({ label: s.key + ' min', stroke: 'transparent', points: { show: false }, value: (u, v) => f(v) },
          { label: s.key + ' max', stroke: 'transparent', points: { show: false }, value: (u, v) => f(v) });
        bands.push({ series: [lo + 1, lo], fill: color + '26' });
      }
    });
    box.dataset.bands = String(bands.length);
    const sig = opts.map(o => o.label).join('|') + period + x.length;
    clock.long = period === '1mo';
    let u = plots.get(c.id);
    body.querySelector('.legend')?.replaceWith(legend);
    if (u && u.sig === sig) { u.setData(data); return; }
    u?.destroy();
    body.replaceChildren();
    const axis = { stroke: getComputedStyle(document.body).color, grid: { stroke: 'rgba(128,128,128,.2)' }, ticks: { stroke: 'rgba(128,128,128,.3)' } };
    u = new uPlot({
      width: Math.max(200, body.clientWidth || 500), height: 200, series: opts, bands,
      // The whole period, however few buckets it has yet.
      scales: { x: { time: true, range: (u, lo, hi) => [hi - SPAN[period] + SPAN[period] / 100, hi + SPAN[period] / 200] } },
      axes: [{ ...axis, space: 80, values: (u, vs, ai, space, incr) => vs.map(v => clock(v, incr)) }, { ...axis, size: 84, values: (u, vs) => vs.map(v => f(v)) }],
      legend: { show: false },
      cursor: { drag: { x: false, y: false } },
    }, data, body);
    body.append(legend);
    u.sig = sig;
    plots.set(c.id, u);
  };

  // The host's routes: uptime bar, latency and certificate expiry.
  const routeTable = async my => {
    if (!r.kinds.includes('uptime')) { routes.replaceChildren(); return; }
    const base = '/api/v1/metrics/uptime?host=' + encodeURIComponent(name);
    const [per, now] = await Promise.all([api(base + '&period=' + period), api(base)]);
    if (my !== gen) return;
    // Each route's mean latency per bucket, as a chart like the others.
    const byTime = new Map();
    for (const d of per.data) {
      for (const st of d.statuses || []) {
        if (st.status !== 'healthy') continue; // a failed check's latency is not the route's
        if (!byTime.has(st.timestamp)) byTime.set(st.timestamp, { timestamp: st.timestamp });
        byTime.get(st.timestamp)[d.alias] = st.latency;
      }
    }
    draw(LATENCY, latency.box, latency.body, [{ data: [...byTime.values()] }], 1);
    routes.replaceChildren(el('h3', { text: 'Routes' }), latency.box, uptimeTable(per.data, now?.statuses || {}, false));
  };

  const resize = () => { for (const [id, u] of plots) { const b = document.querySelector(`#chart-${id} .plot`); if (b) u.setSize({ width: Math.max(200, b.clientWidth), height: 200 }); } };
  addEventListener('resize', resize);
  leave.push(() => { removeEventListener('resize', resize); for (const u of plots.values()) u.destroy(); });

  for (const b of buttons) {
    b.addEventListener('click', () => {
      period = b.dataset.period;
      for (const x of buttons) x.setAttribute('aria-pressed', String(x === b));
      history.replaceState(null, '', `#/host/${encodeURIComponent(name)}?period=${period}`);
      fetchAll();
    });
  }
  let last = 0;
  const maybe = () => { if (performance.now() - last >= REFRESH[period]) { last = performance.now(); fetchAll(); } };
  // The latest sample at once, then each one as it is published.
  leave.push(live(`/api/v1/metrics/system_info?host=${encodeURIComponent(name)}&interval=1h`, s => { take(r, s); head(); maybe(); },
    () => { last = 0; }));
  leave.push(live(`/api/v1/stream?subject=ringwatch.raw.${encodeURIComponent(name)}.system_info`, m => { take(r, m.data); head(); maybe(); }));
  every(500, head);
  every(2000, () => refreshHosts().then(() => { const h = hosts.get(name); if (h && h !== r) { r.kinds = h.kinds; r.display = h.display; title.textContent = r.display; } }).catch(() => {}));
  every(1000, maybe);
}

// ---------- uptime ----------

function uptimeTable(data, now, withHost, host) {
  const rows = data.map(d => {
    const cur = now[d.alias] || {};
    const marks = (d.statuses || []).slice(-50);
    const bar = el('div', { class: 'bar', title: 'one mark per bucket, oldest first' },
      ...Array.from({ length: 50 - marks.length }, () => el('i')),
      ...marks.map(s => el('i', { class: s.status, title: `${new Date(s.timestamp * 1000).toLocaleString()}: ${s.status}` })));
    const status = cur.status || d.current_status;
    const cls = status === 'healthy' ? 'ok' : status === 'napping' || status === 'starting' ? 'idle' : 'bad';
    const exp = cur.cert_expiry ? Math.floor((cur.cert_expiry * 1000 - Date.now()) / 86400000) + ' d' : '–';
    return el('tr', { 'data-route': d.alias },
      withHost ? el('td', {}, el('a', { href: '#/host/' + encodeURIComponent(host), text: host })) : null,
      el('td', { text: d.alias }),
      el('td', { class: cls, text: status }),
      el('td', { text: (d.uptime * 100).toFixed(2) + ' %' }),
      el('td', { text: cur.latency != null ? (cur.latency / 1e6).toFixed(1) + ' ms' : d.avg_latency.toFixed(1) + ' ms' }),
      el('td', { class: 'hide-narrow' }, bar),
      el('td', { class: 'hide-narrow', text: exp }),
      el('td', { class: 'muted', text: cur.reason || '' }));
  });
  const th = t => el('th', { text: t });
  return el('div', { class: 'scroll' }, el('table', {},
    el('thead', {}, el('tr', {}, withHost ? th('Host') : null, th('Route'), th('Status'), th('Uptime'), th('Latency'),
      el('th', { class: 'hide-narrow', text: 'History' }), el('th', { class: 'hide-narrow', text: 'Certificate' }), th('Last failure'))),
    el('tbody', {}, ...rows)));
}

function uptimePage() {
  const q = new URLSearchParams(location.hash.split('?')[1] || '');
  let period = PERIODS.includes(q.get('period')) ? q.get('period') : '1h';
  let keyword = q.get('q') || '';
  const kw = el('input', { type: 'search', placeholder: 'Filter routes (keyword, as the API matches)', 'aria-label': 'Filter routes', id: 'route-filter', value: keyword });
  const sel = el('select', { 'aria-label': 'Period', id: 'uptime-period' }, ...PERIODS.map(p => el('option', { value: p, text: p })));
  sel.value = period;
  const out = el('div', { id: 'uptime' });
  main.replaceChildren(el('div', { class: 'toolbar' }, kw, sel), out);
  let gen = 0;
  const load = async () => {
    const my = ++gen;
    await refreshHosts();
    const withRoutes = [...hosts.values()].filter(h => h.kinds.includes('uptime')).sort((a, b) => a.display.localeCompare(b.display));
    const tables = await Promise.all(withRoutes.map(async h => {
      const base = '/api/v1/metrics/uptime?host=' + encodeURIComponent(h.name);
      const [per, now] = await Promise.all([api(`${base}&period=${period}&keyword=${encodeURIComponent(keyword)}`), api(base)]);
      return { h, per, now };
    }));
    if (my !== gen) return;
    const parts = tables.filter(t => t.per.data.length > 0).map(t => [el('h3', { text: t.h.display }), uptimeTable(t.per.data, t.now?.statuses || {}, false)]).flat();
    out.replaceChildren(...(parts.length ? parts : [el('p', { class: 'muted', text: keyword ? 'No route matches.' : 'No routes: declare some in the config file (routes:).' })]));
  };
  let t = 0;
  kw.addEventListener('input', () => { keyword = kw.value; clearTimeout(t); t = setTimeout(() => load().catch(() => {}), 150); });
  sel.addEventListener('change', () => { period = sel.value; load().catch(() => {}); });
  every(5000, () => load().catch(() => {}));
}

// ---------- routing ----------

function route() {
  for (const f of leave) f();
  leave = [];
  const h = location.hash.replace(/^#/, '').split('?')[0] || '/';
  for (const a of document.querySelectorAll('[data-nav]')) a.classList.toggle('active', (h === '/uptime') === (a.dataset.nav === 'uptime'));
  if (cfg.token_required && !token) { askToken(false); return; }
  if (h.startsWith('/host/')) hostPage(decodeURIComponent(h.slice(6)));
  else if (h === '/uptime') uptimePage();
  else overview();
}

async function start() {
  cfg = await (await fetch('/ui/config.json', { cache: 'no-store' })).json();
  if (!cfg.token_required) token = '';
  addEventListener('hashchange', route);
  // uPlot is a classic deferred script; modules run after it.
  route();
}
start();
