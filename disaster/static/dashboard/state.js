// The picture the dashboard shows: every entity by id, filled by the first load and then
// replaced one at a time by the stream's events (each carries the entity's whole state).

const KEYS = {
  alerts: (a) => a.id, stations: (s) => s.id, sensors: (s) => s.id, weather: (w) => w.series,
  incidents: (i) => i.id, closures: (c) => c.id, shelters: (s) => s.id, areas: (a) => a.code,
};
//: stream event type → the list it updates
export const EVENT_LISTS = {
  alert: 'alerts', station: 'stations', sensor: 'sensors', weather: 'weather',
  incident: 'incidents', closure: 'closures', shelter: 'shelters',
};

export const state = Object.fromEntries(Object.keys(KEYS).map((k) => [k, new Map()]));
export const progress = new Map(); // alert id → delivery progress
export const city = { hasBuildings: false }; // the 3D city model is loaded (pattern E)
const listeners = [];

export function onChange(fn) {
  listeners.push(fn);
}

function changed(list) {
  for (const fn of listeners) fn(list);
}

export function loadSnapshot(snap) {
  for (const [list, key] of Object.entries(KEYS)) {
    state[list].clear();
    for (const item of snap[list] || []) if (item) state[list].set(key(item), item);
  }
  city.hasBuildings = Boolean(snap.has_buildings);
  progress.clear();
  for (const alert of snap.alerts || []) if (alert && alert.progress) progress.set(alert.id, alert.progress);
  for (const list of Object.keys(KEYS)) changed(list);
}

export function applyEvent(type, data) {
  if (type === 'delivery') {
    progress.set(data.alert_id, data);
    changed('alerts');
    return;
  }
  const list = EVENT_LISTS[type];
  if (!list) return;
  state[list].set(KEYS[list](data), data);
  if (type === 'alert' && data.progress) progress.set(data.id, data.progress);
  changed(list);
}
