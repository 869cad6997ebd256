// Drafting an alert by hand: the area (drawn, or municipality codes), hazard, level, message
// and, if it is not for everyone, the routing profiles it is for; then the preview of whom it reaches and which shelters they would be sent to (one
// about to be overwhelmed in red); then approve and issue. Level 5 needs a second operator's
// approval, which the dialog and the alert's card show as waiting.
import { api } from './api.js';
import { h } from './dom.js';
import { cancelDrawing, clearDraft, drawnPolygon, startDrawing } from './draw.js';
import { t } from './i18n.js';

const $ = (id) => document.getElementById(id);
let draft = null; // the stored draft version, once previewed
let report = () => {};

export function configureDraft(options) {
  ({ report } = options);
  $('draft-form').addEventListener('submit', (ev) => { ev.preventDefault(); preview(); });
  $('draft-issue').addEventListener('click', () => issue());
  $('draft-close').addEventListener('click', () => closeDraft());
  $('draft-level').addEventListener('change', () => suggestMessage());
  $('draft-hazard').addEventListener('change', () => suggestMessage());
  $('draft-area-name').addEventListener('input', () => suggestMessage());
  for (const id of ['draft-message-ja', 'draft-message-en']) {
    $(id).addEventListener('input', () => { $(id).dataset.edited = '1'; });
  }
  for (const input of document.querySelectorAll('#draft-form input, #draft-form select, #draft-form textarea')) {
    if (input.id !== 'draft-message-ja' && input.id !== 'draft-message-en') input.addEventListener('change', () => forget());
  }
}

export function startDraw() {
  closeDraft();
  startDrawing(() => openDraft('drawn'));
}

export function openDraft(mode) {
  forget();
  const dialog = $('draft-dialog');
  dialog.dataset.mode = mode;
  $('draft-codes-row').hidden = mode !== 'codes';
  $('draft-drawn-row').hidden = mode !== 'drawn';
  if (!$('draft-area-name').value) $('draft-area-name').value = mode === 'drawn' ? '指定地域' : '';
  suggestMessage();
  dialog.hidden = false;
  (mode === 'codes' ? $('draft-codes') : $('draft-area-name')).focus();
}

export function closeDraft() {
  $('draft-dialog').hidden = true;
  cancelDrawing();
  clearDraft();
  forget();
}

export function draftOpen() {
  return !$('draft-dialog').hidden;
}

function forget() {
  draft = null;
  $('draft-preview').replaceChildren();
  $('draft-state').textContent = '';
  $('draft-issue').disabled = true;
}

function suggestMessage() {
  const level = $('draft-level').value;
  const hazard = $('draft-hazard').value;
  const area = $('draft-area-name').value || '指定地域';
  const jaName = { 3: '高齢者等避難', 4: '避難指示', 5: '緊急安全確保' }[level] || '';
  const enName = { 3: 'Elderly and others evacuate', 4: 'Evacuate', 5: 'Emergency: secure your safety now' }[level] || '';
  const ja = $('draft-message-ja');
  const en = $('draft-message-en');
  if (!ja.dataset.edited) ja.value = `【警戒レベル${level}】${area}に${jaName}（${t(`hazard.${hazard}`)}）`;
  if (!en.dataset.edited) en.value = `[Alert level ${level}] ${enName} (${hazard}): ${area}`;
}

function body() {
  const mode = $('draft-dialog').dataset.mode;
  const out = {
    level: Number($('draft-level').value), hazard: $('draft-hazard').value,
    area_name: $('draft-area-name').value.trim() || '指定地域',
    headline: { ja: $('draft-message-ja').value.trim(), en: $('draft-message-en').value.trim() },
    exercise: $('draft-exercise').checked,
    profiles: [...document.querySelectorAll('#draft-profiles input:checked')].map((box) => box.value),
  };
  if (!out.headline.en) delete out.headline.en;
  if (mode === 'drawn') out.area = drawnPolygon();
  else out.area_codes = $('draft-codes').value.split(/[\s,、]+/).filter(Boolean);
  return out;
}

async function preview() {
  const payload = body();
  if (!payload.area && !(payload.area_codes || []).length) {
    report(t('draft_need_area'));
    return;
  }
  try {
    draft = await api('POST', '/api/v1/alerts/drafts', payload);
    const reach = await api('GET', `/api/v1/alerts/${draft.id}/preview`);
    $('draft-preview').replaceChildren(
      countBox('preview-residents', reach.residents, t('reach')),
      countBox('preview-vulnerable', reach.vulnerable, t('vulnerable')),
      shelterPlan(reach),
    );
    $('draft-state').textContent = t('state_draft');
    $('draft-issue').disabled = false;
  } catch (err) {
    report(`${t('error')}: ${err.message}`);
  }
}

function countBox(id, value, label) {
  const box = document.createElement('div');
  box.className = 'reach';
  const number = document.createElement('b');
  number.id = id;
  number.textContent = String(value);
  box.append(number, ` ${t('people')} · ${label}`);
  return box;
}

// Where the solver would send them: each shelter with its share of the residents, flagged when
// they would fill it past its capacity, and how many have no shelter to go to.
function shelterPlan(reach) {
  if (reach.shelters === null) {
    return h('p', { id: 'preview-shelters', class: 'preview-shelters muted' },
      `${t('shelters_unknown')}: ${reach.reason || t('no_city')}`);
  }
  const rows = reach.shelters.map((s) => h('li', {
    class: s.over_capacity ? 'over' : null, dataset: { shelter: s.id },
  },
  h('span', { class: 'name' }, s.name),
  ` ${s.residents} ${t('people')} · ${t('occupancy')} ${s.occupancy}/${s.capacity ?? '—'}`,
  s.over_capacity ? h('b', { class: 'flag' }, ` ${t('over_capacity')}`) : null));
  const noShelter = h('li', { id: 'preview-no-shelter', class: reach.no_shelter ? 'over' : null },
    `${t('no_shelter')}: `, h('b', {}, String(reach.no_shelter)), ` ${t('people')}`);
  return h('div', { class: 'preview-shelters' },
    h('p', { class: 'muted' }, t('shelters_sent_to')),
    h('ul', { id: 'preview-shelters' }, rows, noShelter));
}

async function issue() {
  if (!draft) return;
  try {
    let version = await api('POST', `/api/v1/alerts/${draft.id}/approve`);
    if (version.status !== 'approved') {
      $('draft-state').textContent = `${t('waiting_second')} (${t('approvals')} 1/2)`;
      $('draft-issue').disabled = true;
      return;
    }
    version = await api('POST', `/api/v1/alerts/${draft.id}/issue`);
    $('draft-state').textContent = t('state_issued');
    report(`${t('state_issued')}: ${version.area_name}`);
    draft = null;
    $('draft-dialog').hidden = true;
    clearDraft();
  } catch (err) {
    report(`${t('error')}: ${err.message}`);
  }
}
