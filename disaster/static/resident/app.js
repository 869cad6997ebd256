// The resident page: register, receive alerts, see one's own way to a shelter, and answer
// "safe / evacuating / need help".
//
// Plain scripts with no framework and no build step: what is served is what runs, so the page
// stays small on a weak signal and anyone can audit it. Text reaches the page only through
// textContent, never innerHTML: the Content-Security-Policy enforces Trusted Types, so a markup
// sink would throw rather than run an alert's text as code.
'use strict';

const API = '/api/v1';
const STORAGE_KEY = 'disaster.resident'; // {id, token}: the server shows the token only once
// The resident's record, last inbox and route, shown when offline.
const ME_KEY = 'disaster.me';
const INBOX_KEY = 'disaster.inbox';
const ROUTE_KEY = 'disaster.route';
const ROUTE_FROM_LEVEL = 3; // from level 3 residents are told to move (notify/compose.py)
const ROUTE_HAZARDS = new Set([
  'flood', 'landslide', 'storm_surge', 'earthquake', 'tsunami', 'fire', 'inland_flood', 'volcano',
]);
const SHARE_HOURS = [1, 3, 6, 12, 24];
const DEFAULT_SHARE_HOURS = 3;
// How long the push service may take to subscribe before the resident is told it has not.
const PUSH_TIMEOUT_MS = 10000;

const $ = (id) => document.getElementById(id);
const state = { lang: 'en', creds: null, me: null, alerts: [], selected: null };

// The one script URL this page ever hands the browser is its own service worker.
const scriptUrls = self.trustedTypes
  ? trustedTypes.createPolicy('resident', { createScriptURL: onlyWorker })
  : { createScriptURL: onlyWorker };

function onlyWorker(url) {
  if (url !== 'sw.js') throw new TypeError(`unexpected script ${url}`);
  return url;
}

// --- texts --------------------------------------------------------------------------------

function t(key, values = {}) {
  const text = TEXTS[state.lang][key] ?? TEXTS.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(values[name] ?? ''));
}

function browserLanguage() {
  for (const tag of navigator.languages || [navigator.language || '']) {
    if (tag.toLowerCase().startsWith('ja')) return 'ja';
    if (tag.toLowerCase().startsWith('en')) return 'en';
  }
  return 'en';
}

function setLanguage(lang) {
  state.lang = TEXTS[lang] ? lang : 'en';
  document.documentElement.lang = HTML_LANG[state.lang];
  document.title = t('app_title');
  $('language').value = state.lang;
  for (const element of document.querySelectorAll('[data-t]')) {
    element.textContent = t(element.dataset.t);
  }
  fillHourChoices();
}

function fillHourChoices() {
  const select = $('current-hours');
  const chosen = select.value || String(DEFAULT_SHARE_HOURS);
  const label = (n) => (n === 1 ? t('hour') : t('hours', { n }));
  // defaultSelected, so that resetting the form returns to the default, not the first choice.
  const option = (n) => new Option(label(n), n, n === DEFAULT_SHARE_HOURS, String(n) === chosen);
  select.replaceChildren(...SHARE_HOURS.map(option));
}

function announce(text) {
  $('status').textContent = text;
}

function formatTime(iso) {
  const options = { dateStyle: 'short', timeStyle: 'short' };
  return new Intl.DateTimeFormat(INTL_LOCALE[state.lang], options).format(new Date(iso));
}

function formatDistance(metres) {
  return metres < 1000 ? `${Math.round(metres)} m` : `${(metres / 1000).toFixed(1)} km`;
}

// --- the API ------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, reason) {
    super(reason);
    this.status = status; // 0: no answer at all (offline)
  }
}

async function api(method, path, { body, auth = false } = {}) {
  const headers = {};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (auth) headers.Authorization = `Bearer ${state.creds.token}`;
  let response;
  try {
    response = await fetch(API + path, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, t('network_error'));
  }
  if (response.status === 204) return null;
  const data = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, data?.reason || response.statusText);
  return data;
}

const mine = (suffix = '') => `/subscribers/${encodeURIComponent(state.creds.id)}${suffix}`;

// --- the form: register, or change one's registration --------------------------------------

class FormError extends Error {}

function parseLatLon(text) {
  const trimmed = text.trim();
  if (!trimmed) return null;
  const parts = trimmed.split(/[\s,、，]+/).map(Number);
  const [lat, lon] = parts;
  const valid = parts.length === 2 && Math.abs(lat) <= 90 && Math.abs(lon) <= 180;
  if (!valid || !Number.isFinite(lat) || !Number.isFinite(lon)) throw new FormError('bad_latlon');
  return { lat, lon };
}

const formatLatLon = (point) => (point ? `${point.lat}, ${point.lon}` : '');

function currentPosition() {
  return new Promise((resolve, reject) => {
    if (!navigator.geolocation) {
      reject(new FormError('location_failed'));
      return;
    }
    navigator.geolocation.getCurrentPosition(
      // Five decimals is about a metre: enough to target, no need to send more.
      (position) => resolve({
        lat: Number(position.coords.latitude.toFixed(5)),
        lon: Number(position.coords.longitude.toFixed(5)),
      }),
      (err) => reject(new FormError(err.code === 1 ? 'location_denied' : 'location_failed')),
      { enableHighAccuracy: true, timeout: 20000, maximumAge: 60000 },
    );
  });
}

async function fillFromLocation(event) {
  const input = $(event.currentTarget.dataset.target);
  announce(t('locating'));
  try {
    input.value = formatLatLon(await currentPosition());
    announce(t('location_set'));
  } catch (err) {
    announce('');
    showFormError(err);
  }
}

async function formBody() {
  const home = parseLatLon($('home').value);
  const work = parseLatLon($('work').value);
  let current = null;
  if ($('share-current').checked) {
    const minutes = Number($('current-hours').value) * 60;
    current = { ...(await currentPosition()), expires_in_min: minutes };
  }
  if (!home && !work && !current) throw new FormError('need_place');
  return {
    // null removes a place when changing a registration; a new one simply has none.
    locations: { home, work, current },
    language: $('language').value,
    needs: [...document.querySelectorAll('input[name=needs]:checked')].map((box) => box.value),
    drills: $('drills').checked,
  };
}

function fillForm(me) {
  $('home').value = formatLatLon(me.locations.home);
  $('work').value = formatLatLon(me.locations.work);
  const current = me.locations.current;
  $('share-current').checked = Boolean(current);
  if (current) {
    const hours = current.expires_in_min / 60;
    $('current-hours').value = SHARE_HOURS.find((n) => n >= hours) ?? 24;
  }
  for (const box of document.querySelectorAll('input[name=needs]')) {
    box.checked = me.needs.includes(box.value);
  }
  $('drills').checked = me.drills;
  $('language').value = me.language;
}

function showFormError(err) {
  const known = err instanceof FormError;
  $('form-error').textContent = known ? t(err.message) : err?.message || '';
}

async function onSubmit(event) {
  event.preventDefault();
  showFormError(null);
  const button = $('submit');
  button.disabled = true;
  button.textContent = t('sending');
  try {
    const body = await formBody();
    await (state.creds ? saveChanges(body) : register(body));
  } catch (err) {
    showFormError(err);
  } finally {
    button.disabled = false;
    button.textContent = t(button.dataset.t);
  }
}

async function register(body) {
  const created = await api('POST', '/subscribers', { body });
  state.creds = { id: created.id, token: created.token };
  localStorage.setItem(STORAGE_KEY, JSON.stringify(state.creds));
  // Without IndexedDB (some private modes) only the notification buttons cannot answer.
  await saveCredentials(state.creds).catch((err) => console.warn('credentials not kept:', err));
  delete created.token;
  remember(created);
  await showResident();
  announce(t('registered'));
  await enablePush();
}

// A current location still ticked is taken again, so sharing restarts from where one is now.
async function saveChanges(body) {
  remember(await api('PATCH', mine(), { body, auth: true }));
  setLanguage(state.me.language);
  announce(t('saved'));
  toggleSettings(false);
  await refreshInbox();
}

// --- views --------------------------------------------------------------------------------

function showRegistration() {
  $('resident').hidden = true;
  $('register').hidden = false;
  $('danger-zone').hidden = true;
  $('intro').hidden = false;
  $('push-status').hidden = true;
  $('enable-push').hidden = true;
  $('form').reset();
  setFormMode('register_title', 'register');
  $('language').value = state.lang;
}

function setFormMode(titleKey, submitKey) {
  $('form-title').dataset.t = titleKey;
  $('submit').dataset.t = submitKey;
  $('form-title').textContent = t(titleKey);
  $('submit').textContent = t(submitKey);
}

// Show the resident's view: their record (fresh from the server when it answers), alerts,
// the answer buttons. An unknown id or a refused token means the record is gone: forget it.
async function showResident() {
  try {
    remember(await api('GET', mine(), { auth: true }));
  } catch (err) {
    if (err.status === 401 || err.status === 404) {
      await forget();
      showRegistration();
      announce(t('forgotten'));
      return;
    }
    state.me = JSON.parse(localStorage.getItem(ME_KEY) || 'null'); // offline: the last copy
  }
  if (state.me) {
    setLanguage(state.me.language);
    fillForm(state.me);
  }
  $('resident').hidden = false;
  $('register').hidden = true;
  $('intro').hidden = true;
  $('danger-zone').hidden = false;
  setFormMode('settings_title', 'save');
  await Promise.all([refreshInbox(), showPushState()]);
}

function remember(me) {
  state.me = me;
  localStorage.setItem(ME_KEY, JSON.stringify(me));
}

function toggleSettings(open) {
  const button = $('open-settings');
  const show = open ?? button.getAttribute('aria-expanded') !== 'true';
  button.setAttribute('aria-expanded', String(show));
  $('register').hidden = !show;
  if (show) $('form-title').focus();
}

// --- alerts -------------------------------------------------------------------------------

// Keep only what the page shows: the inbox also holds each alert's area polygon.
const summary = (alert) => ({
  id: alert.id, level: alert.level, hazard: alert.hazard, area_name: alert.area_name,
  headline: alert.headline, issued_at: alert.issued_at, exercise: alert.exercise,
});

async function refreshInbox() {
  try {
    const inbox = await api('GET', mine('/inbox'), { auth: true });
    state.alerts = inbox.map((delivery) => summary(delivery.alert));
    localStorage.setItem(INBOX_KEY, JSON.stringify(state.alerts));
    $('offline').hidden = true;
  } catch (err) {
    if (err.status !== 0) throw err;
    state.alerts = JSON.parse(localStorage.getItem(INBOX_KEY) || '[]');
    $('offline').hidden = false;
  }
  renderInbox();
  selectAlert(alertIdFromHash() ?? state.selected?.id ?? state.alerts[0]?.id);
}

function headlineOf(alert) {
  const lines = alert.headline || {};
  return lines[state.lang] || lines.ja || Object.values(lines)[0] || '';
}

function alertLabel(alert) {
  const hazard = t(`hazard.${alert.hazard}`);
  const level = `${t('level', { n: alert.level })} ${t(`level.${alert.level}`)}`;
  return `${level} · ${hazard} · ${alert.area_name}`;
}

function renderInbox() {
  $('inbox-empty').hidden = state.alerts.length > 0;
  $('alerts').replaceChildren(...state.alerts.map(alertItem));
}

// One alert: the level's colour and number first, so it reads at a glance.
function alertItem(alert) {
  const item = document.createElement('li');
  item.className = `alert level-${alert.level}`;
  item.id = `alert-${alert.id}`;
  item.dataset.alertId = alert.id;
  markSelected(item);
  const head = element('div', 'alert-head');
  head.append(
    element('span', 'level-number', t('level', { n: alert.level })),
    element('span', 'level-name', t(`level.${alert.level}`)),
  );
  if (alert.exercise) head.append(element('span', 'drill', t('drill')));
  const time = element('time', 'issued', formatTime(alert.issued_at));
  time.dateTime = alert.issued_at;
  const choose = element('button', 'choose', t('this_alert'));
  choose.type = 'button';
  choose.addEventListener('click', () => {
    selectAlert(alert.id);
    $('answer-title').focus();
  });
  item.append(
    head,
    element('p', 'alert-where', `${t(`hazard.${alert.hazard}`)} · ${alert.area_name}`),
    element('p', 'alert-headline', headlineOf(alert)),
    time,
    choose,
  );
  return item;
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

// aria-current must say "true": an empty value means false to assistive technology.
function markSelected(item) {
  if (item.dataset.alertId === state.selected?.id) item.setAttribute('aria-current', 'true');
  else item.removeAttribute('aria-current');
}

function alertIdFromHash() {
  const match = /^#alert=([\w-]+)$/.exec(location.hash);
  return match ? match[1] : null;
}

function selectAlert(alertId) {
  state.selected = state.alerts.find((alert) => alert.id === alertId) ?? null;
  for (const item of $('alerts').children) markSelected(item);
  renderAnswerAbout();
  showRoute();
}

function renderAnswerAbout() {
  const alert = state.selected;
  const banner = $('current-alert');
  banner.hidden = !alert;
  banner.className = alert ? `current-alert level-${alert.level}` : 'current-alert';
  banner.textContent = alert ? alertLabel(alert) : '';
  $('answer-about').textContent = alert
    ? t('answer_about', { alert: alertLabel(alert) })
    : t('answer_general');
}

// --- answers ------------------------------------------------------------------------------

async function onAnswer(event) {
  const button = event.currentTarget;
  const status = button.dataset.status;
  for (const other of document.querySelectorAll('.answer')) other.disabled = true;
  try {
    const response = await postAnswer(state.creds, status, state.selected?.id);
    if (!response.ok) throw new ApiError(response.status, response.statusText);
    for (const other of document.querySelectorAll('.answer')) {
      other.setAttribute('aria-pressed', String(other === button));
    }
    const time = new Intl.DateTimeFormat(INTL_LOCALE[state.lang], { timeStyle: 'short' });
    const sent = { status: t(status), time: time.format(new Date()) };
    $('answer-status').textContent = t('answer_sent', sent);
  } catch (err) {
    // A resident who believes HQ knows they need help must be told that it does not.
    const reason = err instanceof ApiError ? err.message : t('network_error');
    $('answer-status').textContent = t('answer_failed', { reason });
  } finally {
    for (const other of document.querySelectorAll('.answer')) other.disabled = false;
  }
}

// --- the resident's own route -------------------------------------------------------------

// The routing profile for the resident's needs, the most limiting first (as the server's
// disaster.domain.resident.profile_for): a car is never suggested in an evacuation.
function profileFor(needs) {
  if (needs.includes('wheelchair')) return 'wheelchair';
  if (needs.some((need) => ['slow_walker', 'infant', 'sight'].includes(need))) return 'slow_walk';
  return 'walk';
}

// Where the resident is: a current location still shared, else home, else work.
function origin(me) {
  const { current, home, work } = me.locations;
  const expires = me.current_expires_at ? new Date(me.current_expires_at) : null;
  const stillShared = current && (!expires || expires > new Date());
  if (stillShared) return { point: current, from: 'route_from_current' };
  if (home) return { point: home, from: 'route_from_home' };
  return work ? { point: work, from: 'route_from_work' } : null;
}

// The route query: a notification's link (#route?from=…&profile=…&hazard=…) names it;
// otherwise the selected alert of level 3 or more, from where the resident is.
function routeQuery() {
  if (location.hash.startsWith('#route?')) {
    const params = new URLSearchParams(location.hash.slice('#route?'.length));
    return { params, from: null };
  }
  const alert = state.selected;
  const start = state.me && origin(state.me);
  if (!alert || alert.level < ROUTE_FROM_LEVEL || !ROUTE_HAZARDS.has(alert.hazard) || !start) {
    return null;
  }
  const params = new URLSearchParams({
    from: `${start.point.lat},${start.point.lon}`,
    profile: profileFor(state.me.needs),
    hazard: alert.hazard,
  });
  return { params, from: start.from };
}

async function showRoute() {
  const query = routeQuery();
  $('route').hidden = !query;
  if (!query) return;
  let answer;
  try {
    answer = await api('GET', `/route?${query.params}`);
    localStorage.setItem(ROUTE_KEY, JSON.stringify({ query: String(query.params), answer }));
  } catch (err) {
    const saved = JSON.parse(localStorage.getItem(ROUTE_KEY) || 'null');
    answer = err.status === 0 && saved?.query === String(query.params) ? saved.answer : null;
  }
  renderRoute(answer, query.from);
}

function renderRoute(answer, from) {
  const map = $('route-map');
  map.hidden = true;
  $('route-from').textContent = from ? t(from) : '';
  if (!answer) {
    $('route-text').textContent = t('route_unavailable');
    return;
  }
  if (answer.reason || !answer.shelter_name) {
    $('route-text').textContent = t('no_route', { reason: answer.reason || '' });
    return;
  }
  $('route-text').textContent = t('route_to', {
    profile: t(`profile.${answer.profile}`),
    shelter: answer.shelter_name,
    distance: formatDistance(answer.distance_m),
    minutes: Math.ceil(answer.minutes),
  });
  // A geo: link opens the phone's own map app at the shelter; this page loads no map tiles.
  const end = answer.waypoints?.coordinates?.at(-1);
  if (end) {
    const [lon, lat] = end;
    map.href = `geo:${lat},${lon}?q=${lat},${lon}(${encodeURIComponent(answer.shelter_name)})`;
    map.hidden = false;
  }
}

// --- notifications ------------------------------------------------------------------------

function withTimeout(promise, ms, what) {
  let timer;
  const late = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer in ${ms / 1000} s`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

function showPush(pushState, text) {
  const status = $('push-status');
  status.dataset.state = pushState;
  status.textContent = text;
  status.hidden = false;
  $('enable-push').hidden = pushState === 'on' || pushState === 'unsupported';
}

const pushSupported = () => 'serviceWorker' in navigator && 'PushManager' in self
  && 'Notification' in self;

// On a later visit, say whether notifications are on without asking for anything.
async function showPushState() {
  if (!pushSupported()) return showPush('unsupported', t('push_unsupported'));
  if (Notification.permission === 'denied') return showPush('denied', t('push_denied'));
  const registration = await navigator.serviceWorker.getRegistration();
  const subscription = await registration?.pushManager.getSubscription();
  if (subscription && Notification.permission === 'granted') return showPush('on', t('push_on'));
  $('enable-push').hidden = false;
  return null;
}

// Subscribe this browser to Web Push with the server's key and hand the subscription to the
// server. Any failure is said plainly: the resident must know alerts will not pop up.
async function enablePush() {
  if (!pushSupported()) return showPush('unsupported', t('push_unsupported'));
  try {
    const permission = await Notification.requestPermission();
    if (permission === 'denied') return showPush('denied', t('push_denied'));
    if (permission !== 'granted') {
      $('enable-push').hidden = false; // the prompt was dismissed: the button asks again
      return null;
    }
    const ready = navigator.serviceWorker.ready;
    const registration = await withTimeout(ready, PUSH_TIMEOUT_MS, 'service worker');
    // An unreachable push service makes subscribe() hang, not fail: the resident is told after
    // the timeout, and should the service answer later the subscription still reaches the
    // server and the message is corrected.
    return await withTimeout(subscribePush(registration), PUSH_TIMEOUT_MS, 'push service');
  } catch (err) {
    console.warn('push subscription failed:', err);
    return showPush('failed', t('push_failed', { reason: err.message || err.name }));
  }
}

async function subscribePush(registration) {
  const { applicationServerKey } = await api('GET', '/push/key');
  const subscription = await registration.pushManager.subscribe({
    userVisibleOnly: true, applicationServerKey: base64UrlToBytes(applicationServerKey),
  });
  await api('POST', mine('/push'), { body: subscription.toJSON(), auth: true });
  return showPush('on', t('push_on'));
}

async function registerWorker() {
  if (!('serviceWorker' in navigator)) return;
  try {
    await navigator.serviceWorker.register(scriptUrls.createScriptURL('sw.js'), { scope: './' });
  } catch (err) {
    console.warn('service worker not registered:', err); // the page works without it, online
  }
}

// The worker tells open pages about a new alert, and which alert a tapped notification was.
function onWorkerMessage(event) {
  const message = event.data || {};
  if (!state.creds) return;
  if (message.type === 'alert') refreshInbox();
  if (message.type === 'show-alert' && message.alert_id) {
    history.replaceState(null, '', `#alert=${message.alert_id}`);
    refreshInbox();
  }
}

// --- erasure ------------------------------------------------------------------------------

async function onDeleteConfirmed() {
  $('confirm-delete').close();
  try {
    await api('DELETE', mine(), { auth: true });
  } catch (err) {
    if (err.status !== 404 && err.status !== 401) {
      announce(err.message);
      return;
    }
  }
  await forget();
  showRegistration();
  announce(t('deleted'));
  $('form-title').focus();
}

// Remove everything this device keeps about the resident, and stop its notifications.
async function forget() {
  state.creds = null;
  state.me = null;
  state.alerts = [];
  state.selected = null;
  for (const key of [STORAGE_KEY, ME_KEY, INBOX_KEY, ROUTE_KEY]) localStorage.removeItem(key);
  await clearCredentials().catch(() => {});
  const registration = await navigator.serviceWorker?.getRegistration();
  const subscription = await registration?.pushManager?.getSubscription();
  await subscription?.unsubscribe().catch(() => {});
}

// --- start --------------------------------------------------------------------------------

function bindEvents() {
  $('form').addEventListener('submit', onSubmit);
  $('language').addEventListener('change', (event) => {
    if (!state.creds) setLanguage(event.target.value); // registered: changes when saved
  });
  for (const button of document.querySelectorAll('.locate')) {
    button.addEventListener('click', fillFromLocation);
  }
  for (const button of document.querySelectorAll('.answer')) {
    button.addEventListener('click', onAnswer);
  }
  $('refresh').addEventListener('click', () => refreshInbox());
  $('open-settings').addEventListener('click', () => toggleSettings());
  $('enable-push').addEventListener('click', () => enablePush());
  $('delete').addEventListener('click', () => $('confirm-delete').showModal());
  $('delete-no').addEventListener('click', () => $('confirm-delete').close());
  $('delete-yes').addEventListener('click', onDeleteConfirmed);
  window.addEventListener('hashchange', () => {
    if (state.creds) selectAlert(alertIdFromHash() ?? state.selected?.id);
  });
  window.addEventListener('online', () => state.creds && refreshInbox());
  navigator.serviceWorker?.addEventListener('message', onWorkerMessage);
}

async function start() {
  bindEvents();
  setLanguage(browserLanguage());
  registerWorker();
  state.creds = JSON.parse(localStorage.getItem(STORAGE_KEY) || 'null');
  if (!state.creds) {
    showRegistration();
    return;
  }
  // The worker answers from notifications with these: keep its copy in step with the page's.
  await saveCredentials(state.creds).catch(() => {});
  await showResident();
}

start();
