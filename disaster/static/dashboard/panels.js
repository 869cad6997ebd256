// The side panels: alerts with their delivery, gauges with their charts, sensors, weather,
// incidents and shelters. Lists are rebuilt from the state when it changes; operators get the
// buttons that act (the API checks the role again whatever the page shows).
import { api } from './api.js';
import { h, timeText } from './dom.js';
import { t } from './i18n.js';
import { LEVEL_COLOURS, LEVEL_TEXT_COLOURS, STAGE_COLOURS } from './levels.js';
import { sparkline } from './sparkline.js';
import { progress, state } from './state.js';

let canAct = false;
let report = () => {};
let focus = () => {};

export function configurePanels(options) {
  ({ canAct, report, focus } = options);
}

const byNewest = (key) => (a, b) => String(b[key]).localeCompare(String(a[key]));

function exerciseBadge(item) {
  return item.exercise ? h('span', { class: 'badge exercise' }, `${t('exercise_badge')} EXERCISE`) : null;
}

function levelBadge(level) {
  const badge = h('span', { class: `level level-${level}` }, `${level} ${t(`level.${level}`)}`);
  badge.style.background = LEVEL_COLOURS[level];
  badge.style.color = LEVEL_TEXT_COLOURS[level];
  return badge;
}

function alertState(a) {
  if (a.msg_type === 'Cancel') return 'cancelled';
  return a.status;
}

// --- alerts ------------------------------------------------------------------------------

export function renderAlerts(list) {
  const alerts = [...state.alerts.values()].filter((a) => a.status !== 'superseded' && a.status !== 'cancelled')
    .sort(byNewest('issued_at'));
  list.replaceChildren(...alerts.map(alertCard));
}

function alertCard(a) {
  const st = alertState(a);
  const p = progress.get(a.id);
  const card = h('li', { class: `card alert state-${st}${a.exercise ? ' exercise' : ''}`, id: `alert-${a.id}`, dataset: { id: a.id, state: st } },
    h('div', { class: 'row' }, levelBadge(a.level), exerciseBadge(a),
      h('span', { class: 'state' }, t(`state_${st}`)),
      h('span', { class: 'muted' }, `${t('version')}${a.version} · ${timeText(a.issued_at)}`)),
    h('div', { class: 'row title' }, h('strong', {}, a.area_name), ' · ', t(`hazard.${a.hazard}`)),
    h('div', { class: 'headline' }, a.headline.ja || Object.values(a.headline)[0]));
  if ((a.profiles || []).length) {
    card.append(h('div', { class: 'profiles muted' }, `${t('profiles_only')}: ${a.profiles.map((x) => t(`profile.${x}`)).join(' · ')}`));
  }
  if (a.status === 'draft' || a.status === 'approved') {
    card.append(h('div', { class: 'approvals' }, `${t('approvals')} ${a.approved_by.length}/${a.approvals_needed}`,
      a.status === 'draft' && a.approved_by.length > 0 ? ` · ${t('waiting_second')}` : ''));
  }
  if (p && (a.status === 'issued' || st === 'cancelled')) card.append(progressRow(p));
  if (canAct) card.append(alertActions(a, st));
  card.addEventListener('click', (ev) => { if (!ev.target.closest('button')) focus('alert', a); });
  return card;
}

function progressRow(p) {
  const cell = (key, value) => h('span', { class: `count ${key}`, dataset: { count: key } }, h('b', {}, String(value)), ` ${t(key)}`);
  return h('div', { class: 'progress' }, cell('targeted', p.targeted), cell('delivered', p.delivered),
    cell('failed', p.failed), cell('pending', p.pending), cell('answered', p.answered),
    p.vulnerable_unanswered ? h('span', { class: 'count warn' }, `⚠ ${p.vulnerable_unanswered} ${t('unanswered_list')}`) : null);
}

function alertActions(a, st) {
  const box = h('div', { class: 'actions op-only' });
  const act = (label, cls, fn) => box.append(h('button', { type: 'button', class: cls, onclick: fn }, t(label)));
  if (a.status === 'draft') act('approve', 'approve', () => run(() => api('POST', `/api/v1/alerts/${a.id}/approve`)));
  if (a.status === 'approved') act('issue', 'issue', () => run(() => api('POST', `/api/v1/alerts/${a.id}/issue`)));
  if (a.status === 'issued' && st !== 'cancelled') {
    confirmButton(box, 'cancel_alert', 'cancel', () => api('POST', `/api/v1/alerts/${a.id}/cancel`, { all_clear: false }));
    confirmButton(box, 'all_clear', 'all-clear', () => api('POST', `/api/v1/alerts/${a.id}/cancel`, { all_clear: true }));
  }
  if (a.status === 'issued') act('unanswered_list', 'unanswered', (ev) => showUnanswered(a, ev.target.closest('li')));
  return box;
}

// Taking an alert back asks for a second click (within five seconds), never a modal.
function confirmButton(box, label, cls, fn) {
  const button = h('button', { type: 'button', class: cls }, t(label));
  let armed = null;
  button.addEventListener('click', () => {
    if (!armed) {
      button.textContent = t('confirm');
      button.classList.add('armed');
      armed = setTimeout(() => { armed = null; button.textContent = t(label); button.classList.remove('armed'); }, 5000);
      return;
    }
    clearTimeout(armed);
    armed = null;
    run(fn);
  });
  box.append(button);
}

async function showUnanswered(a, card) {
  const answers = await run(() => api('GET', `/api/v1/alerts/${a.id}/answers`));
  if (!answers) return;
  const vulnerable = answers.not_answered.filter((u) => u.vulnerable);
  const list = h('ul', { class: 'unanswered-list' }, vulnerable.length
    ? vulnerable.map((u) => h('li', { dataset: { id: u.subscriber_id } }, `${u.subscriber_id.slice(0, 8)} · ${u.needs.join(', ')}`,
      u.home ? h('button', { type: 'button', class: 'link', onclick: () => focus('point', u.home) }, '⌖') : null))
    : [h('li', {}, t('no_unanswered'))]);
  card.querySelector('.unanswered-list')?.remove();
  card.append(list);
}

async function run(fn) {
  try {
    return await fn();
  } catch (err) {
    report(`${t('error')}: ${err.message}`);
    return null;
  }
}

// --- rivers and sensors ------------------------------------------------------------------

export function renderStations(list) {
  const stations = [...state.stations.values()].sort((a, b) => b.stage - a.stage || a.name.localeCompare(b.name));
  list.replaceChildren(...stations.map((s) => {
    const last = s.readings.length ? s.readings[s.readings.length - 1].level_m : null;
    const trend = s.trend_m_per_h;
    const arrow = trend === null ? '' : trend > 0.05 ? '↑' : trend < -0.05 ? '↓' : '→';
    const stage = h('span', { class: `stage stage-${s.stage}` }, t(`stage.${s.stage}`));
    stage.style.borderColor = STAGE_COLOURS[s.stage];
    return h('li', { class: `card station stage-${s.stage}`, dataset: { id: s.id }, onclick: () => focus('station', s) },
      h('div', { class: 'row' }, h('strong', {}, s.name), stage),
      h('div', { class: 'row' }, h('span', { class: 'big' }, last === null ? t('no_data') : `${last.toFixed(2)} m`),
        trend === null ? null : h('span', { class: 'trend' }, `${arrow} ${trend >= 0 ? '+' : ''}${trend.toFixed(2)} ${t('per_hour')}`),
        h('span', { class: 'muted' }, timeText(s.last_observed_at))),
      sparkline(s));
  }));
}

export function renderSensors(list) {
  const sensors = [...state.sensors.values()].sort((a, b) => Number(b.silent) - Number(a.silent) || a.id.localeCompare(b.id));
  list.replaceChildren(...sensors.map((s) => h('li', { class: `card sensor${s.silent ? ' silent' : ''}`, dataset: { id: s.id, silent: String(s.silent) }, onclick: () => focus('sensor', s) },
    h('div', { class: 'row' }, h('strong', {}, s.id), s.silent ? h('span', { class: 'badge silent' }, `${t('silent')}`) : null,
      h('span', { class: 'muted' }, timeText(s.last_seen_at))),
    h('div', { class: 'row' }, Object.entries(s.readings).map(([kind, r]) => h('span', { class: `reading severity-${r.severity}` }, `${kind} ${r.value}`))))));
}

// --- weather, incidents, shelters -------------------------------------------------------

export function renderWeather(list) {
  const reports = [...state.weather.values()].sort(byNewest('reported_at'));
  list.replaceChildren(...reports.map((w) => h('li', { class: `card weather${w.mode !== 'actual' ? ' exercise' : ''}`, dataset: { id: w.series } },
    h('div', { class: 'row' }, h('strong', {}, w.title), w.mode !== 'actual' ? h('span', { class: 'badge exercise' }, `${t('exercise_badge')} ${w.mode}`) : null,
      h('span', { class: 'muted' }, timeText(w.reported_at))),
    h('ul', { class: 'items' }, (w.items || []).map((item) => h('li', {},
      item.alert_level ? levelBadge(item.alert_level) : null, ` ${item.kind_name} (${item.status}) `,
      h('span', { class: 'muted' }, (item.areas || []).map((a) => a.description).join('、'))))))));
}

export function renderIncidents(list) {
  const incidents = [...state.incidents.values()].sort((a, b) => (a.status === 'open' ? 0 : 1) - (b.status === 'open' ? 0 : 1) || byNewest('last_reported_at')(a, b));
  list.replaceChildren(...incidents.map((i) => h('li', { class: `card incident status-${i.status} severity-${i.severity}${i.exercise ? ' exercise' : ''}`, id: `incident-${i.id}`, dataset: { id: i.id }, onclick: () => focus('incident', i) },
    h('div', { class: 'row' }, h('strong', {}, t(`kind.${i.kind}`)), exerciseBadge(i), h('span', { class: `sev sev-${i.severity}` }, t(`severity.${i.severity}`)),
      i.status !== 'open' ? h('span', { class: 'badge' }, t('resolved')) : null,
      h('span', { class: 'muted' }, `×${i.report_count} · ${timeText(i.last_reported_at)}`)),
    i.description ? h('div', {}, i.description) : null)));
}

export function renderShelters(list) {
  const shelters = [...state.shelters.values()].sort((a, b) => Number(b.open) - Number(a.open) || a.name.localeCompare(b.name));
  list.replaceChildren(...shelters.map(shelterCard));
}

function shelterCard(s) {
  const cap = s.capacity ?? '—';
  const ratio = s.capacity ? Math.min(1, s.occupancy / s.capacity) : 0;
  const bar = h('div', { class: 'bar' }, h('div', { class: 'fill' }));
  bar.firstChild.style.width = `${Math.round(ratio * 100)}%`;
  const card = h('li', { class: `card shelter ${s.open ? 'open' : 'closed'}`, id: `shelter-${s.id}`, dataset: { id: s.id, open: String(s.open) } },
    h('div', { class: 'row' }, h('strong', { class: 'name', onclick: () => focus('shelter', s) }, s.name),
      h('span', { class: `badge ${s.open ? 'ok' : 'off'}` }, t(s.open ? 'open' : 'closed'))),
    h('div', { class: 'row' }, `${t('occupancy')} ${s.occupancy} / ${t('capacity')} ${cap}`), bar);
  if (canAct) {
    const occupancy = h('input', { type: 'number', min: 0, value: s.occupancy, class: 'occupancy', 'aria-label': t('occupancy') });
    card.append(h('div', { class: 'actions op-only' },
      h('button', { type: 'button', class: 'toggle-open', onclick: () => run(() => api('PATCH', `/api/v1/shelters/${s.id}`, { open: !s.open, occupancy: s.occupancy })) },
        t(s.open ? 'close_shelter' : 'open_shelter')),
      occupancy,
      h('button', { type: 'button', class: 'save-occupancy', onclick: () => run(() => api('PATCH', `/api/v1/shelters/${s.id}`, { open: s.open, occupancy: Number(occupancy.value) || 0 })) }, t('save'))));
  }
  return card;
}
