// The dashboard's entry point: login, the map and panels kept in step with the live state,
// and the keyboard shortcuts (press ? on the page for the list).
import { api, hasCsrf, setCsrf } from './api.js';
import { clickAt, finishDrawing, cancelDrawing, isDrawing } from './draw.js';
import { closeDraft, configureDraft, draftOpen, openDraft, startDraw } from './draft.js';
import * as features from './features.js';
import { language, onLanguage, savedLanguage, setLanguage, t } from './i18n.js';
import { createMap, mapInstance, setData, sourceData, whenReady } from './map.js';
import * as panels from './panels.js';
import { city, onChange, state } from './state.js';
import { connect } from './stream.js';

const $ = (id) => document.getElementById(id);
const TABS = ['alerts', 'rivers', 'sensors', 'weather', 'incidents', 'shelters'];
let me = null;
let stream = null;
let cityBounds = null;
let buildingsOn = false;

// For tests and for an operator's console: what each map source was last given, and the
// MapLibre map itself (read through its public API: getSource, querySourceFeatures, ...).
window.dashboard = {
  sourceData, state, ready: false, map: () => mapInstance(),
  project: (lon, lat) => { const p = mapInstance().project([lon, lat]); return { x: p.x, y: p.y }; },
};

function report(message) {
  const box = $('status');
  box.textContent = message;
  box.hidden = !message;
}

// --- login ---------------------------------------------------------------------------------

async function boot() {
  setLanguage(savedLanguage());
  $('lang').addEventListener('click', toggleLanguage);
  $('login-form').addEventListener('submit', login);
  $('logout').addEventListener('click', logout);
  $('help-open').addEventListener('click', () => toggleHelp());
  $('help-close').addEventListener('click', () => toggleHelp(false));
  document.addEventListener('keydown', onKey);
  setInterval(() => { $('clock').textContent = new Date().toLocaleString(language() === 'ja' ? 'ja-JP' : 'en-GB'); }, 1000);
  if (hasCsrf()) {
    try {
      me = await api('GET', '/api/v1/auth/me');
    } catch { me = null; }
  }
  if (me) start(); else showLogin();
}

function showLogin() {
  $('login').hidden = false;
  $('board').hidden = true;
  $('username').focus();
}

async function login(ev) {
  ev.preventDefault();
  $('login-error').textContent = '';
  try {
    const answer = await api('POST', '/api/v1/auth/login', { username: $('username').value, password: $('password').value });
    setCsrf(answer.csrf_token);
    me = { username: answer.username, role: answer.role };
    $('password').value = '';
    start();
  } catch (err) {
    $('login-error').textContent = `${t('login_failed')}: ${err.message}`;
  }
}

async function logout() {
  try { await api('POST', '/api/v1/auth/logout'); } catch { /* the session is gone either way */ }
  setCsrf(null);
  location.reload();
}

// --- the board -----------------------------------------------------------------------------

function start() {
  const canAct = me.role === 'operator' || me.role === 'admin';
  document.body.classList.toggle('can-act', canAct);
  document.body.dataset.role = me.role;
  $('login').hidden = true;
  $('board').hidden = false;
  $('logout').hidden = false;
  $('whoami').textContent = `${me.username} (${me.role})`;
  for (const el of document.querySelectorAll('.op-only')) el.hidden = !canAct;
  panels.configurePanels({ canAct, report, focus });
  configureDraft({ report });
  for (const tab of TABS) $(`tab-${tab}`).addEventListener('click', () => showTab(tab));
  $('draft-start').addEventListener('click', () => startDraw());
  $('draft-codes-start').addEventListener('click', () => openDraft('codes'));
  $('buildings-toggle').addEventListener('click', () => toggleBuildings());
  $('fit').addEventListener('click', () => fitCity());
  showTab('alerts');
  const map = createMap($('map'));
  map.on('click', (ev) => { clickAt(ev.lngLat); });
  map.on('moveend', () => loadBuildings());
  onChange(render);
  onLanguage(() => { for (const list of Object.keys(state)) render(list); });
  whenReady().then(async () => {
    await loadRoads();
    stream = connect(setLive);
    window.dashboard.ready = true;
    document.body.dataset.ready = 'true';
  });
}

function setLive(status) {
  const live = $('live');
  live.dataset.state = status;
  live.textContent = status === 'live' ? `● ${t('live')}` : t('offline');
}

const RENDER = {
  alerts: () => { panels.renderAlerts($('alert-list')); setData('alerts', features.alertFeatures([...state.alerts.values()])); exerciseBanner(); },
  stations: () => { panels.renderStations($('station-list')); setData('stations', features.stationFeatures([...state.stations.values()])); },
  sensors: () => { panels.renderSensors($('sensor-list')); setData('sensors', features.sensorFeatures([...state.sensors.values()])); },
  weather: () => { panels.renderWeather($('weather-list')); setData('weather', features.weatherFeatures([...state.weather.values()], [...state.areas.values()])); },
  incidents: () => { panels.renderIncidents($('incident-list')); setData('incidents', features.incidentFeatures([...state.incidents.values()])); exerciseBanner(); },
  closures: () => setData('closures', features.closureFeatures([...state.closures.values()])),
  shelters: () => { panels.renderShelters($('shelter-list')); setData('shelters', features.shelterFeatures([...state.shelters.values()])); },
  areas: () => { setData('areas', features.areaFeatures([...state.areas.values()])); RENDER.weather(); },
};

function render(list) {
  if (RENDER[list]) RENDER[list]();
  for (const tab of TABS) {
    const count = { alerts: activeAlerts(), rivers: state.stations.size, sensors: state.sensors.size, weather: state.weather.size,
      incidents: [...state.incidents.values()].filter((i) => i.status === 'open').length, shelters: state.shelters.size }[tab];
    $(`tab-${tab}`).dataset.count = String(count);
  }
}

function activeAlerts() {
  return [...state.alerts.values()].filter((a) => a.status !== 'superseded' && a.status !== 'cancelled' && a.msg_type !== 'Cancel').length;
}

function exerciseBanner() {
  const drill = [...state.alerts.values(), ...state.incidents.values()].some((x) => x.exercise && x.status !== 'superseded');
  $('exercise-banner').hidden = !drill;
}

function showTab(tab) {
  for (const name of TABS) {
    $(`tab-${name}`).setAttribute('aria-selected', String(name === tab));
    $(`panel-${name}`).hidden = name !== tab;
  }
}

async function loadRoads() {
  try {
    const roads = await api('GET', '/api/v1/roads.geojson');
    setData('roads', roads);
    if (roads.bbox) {
      cityBounds = [[roads.bbox[0], roads.bbox[1]], [roads.bbox[2], roads.bbox[3]]];
      fitCity(0);
    }
  } catch (err) {
    report(err.status === 404 ? t('no_city') : `${t('error')}: ${err.message}`);
  }
}

function fitCity(duration = 600) {
  if (cityBounds) mapInstance().fitBounds(cityBounds, { padding: 30, duration });
}

function focus(kind, item) {
  const map = mapInstance();
  if (kind === 'alert') {
    const ring = item.area.coordinates[0];
    const lons = ring.map((p) => p[0]);
    const lats = ring.map((p) => p[1]);
    map.fitBounds([[Math.min(...lons), Math.min(...lats)], [Math.max(...lons), Math.max(...lats)]], { padding: 60 });
    return;
  }
  const at = kind === 'point' ? item : kind === 'sensor' ? { lon: item.lon, lat: item.lat } : item.location;
  if (at && at.lon !== null && at.lon !== undefined) map.flyTo({ center: [at.lon, at.lat], zoom: Math.max(map.getZoom(), 15) });
}

// --- 3D buildings (pattern E): shown when the city model is loaded ---------------------------

function toggleBuildings() {
  buildingsOn = !buildingsOn;
  const map = mapInstance();
  map.setLayoutProperty('buildings-3d', 'visibility', buildingsOn ? 'visible' : 'none');
  map.easeTo({ pitch: buildingsOn ? 55 : 0 });
  $('buildings-toggle').setAttribute('aria-pressed', String(buildingsOn));
  loadBuildings();
}

let buildingsAsked = 0; // the latest viewport asked for: an older, slower answer is dropped

async function loadBuildings() {
  if (!buildingsOn || !city.hasBuildings) return;
  const asked = ++buildingsAsked;
  const b = mapInstance().getBounds();
  const bbox = [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map((v) => v.toFixed(6)).join(',');
  let layer;
  try {
    layer = features.buildingFeatures(await api('GET', `/api/v1/buildings.geojson?bbox=${bbox}`));
  } catch {
    layer = { type: 'FeatureCollection', features: [] }; // no city model: nothing
  }
  if (asked === buildingsAsked) setData('buildings', layer);
}

// --- keys ----------------------------------------------------------------------------------

function toggleLanguage() {
  setLanguage(language() === 'ja' ? 'en' : 'ja');
}

function toggleHelp(show) {
  const help = $('help-dialog');
  help.hidden = show === undefined ? !help.hidden : !show;
}

function onKey(ev) {
  const typing = ev.target.closest && ev.target.closest('input, textarea, select');
  if (ev.key === 'Escape') {
    if (cancelDrawing() || draftOpen()) closeDraft();
    toggleHelp(false);
    return;
  }
  if (ev.key === 'Enter' && isDrawing()) {
    ev.preventDefault();
    finishDrawing();
    return;
  }
  if (typing || ev.ctrlKey || ev.metaKey || ev.altKey || $('board').hidden) return;
  const canAct = document.body.classList.contains('can-act');
  const actions = {
    '?': () => toggleHelp(), l: toggleLanguage, b: toggleBuildings, f: () => fitCity(),
    d: () => canAct && startDraw(), m: () => canAct && openDraft('codes'),
  };
  TABS.forEach((tab, i) => { actions[String(i + 1)] = () => showTab(tab); });
  if (actions[ev.key]) {
    ev.preventDefault();
    actions[ev.key]();
  }
}

boot();
