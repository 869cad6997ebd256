// The picture as GeoJSON for the map's sources: one pure function per source, each feature
// carrying the colour and flags its layer draws with.
import { levelColour, STAGE_COLOURS } from './levels.js';

const INCIDENT_COLOURS = {
  fire: '#e12d39', collapse: '#8d6e63', flooding: '#2186eb', landslide: '#a0522d',
  blocked_road: '#f0b429', people_trapped: '#ff6f00', other: '#616e7c',
};

const fc = (features) => ({ type: 'FeatureCollection', features });
const point = (lon, lat) => ({ type: 'Point', coordinates: [lon, lat] });

export function alertFeatures(alerts) {
  return fc(alerts.filter((a) => a.status !== 'superseded' && a.status !== 'cancelled').map((a) => ({
    type: 'Feature', geometry: a.area,
    properties: { id: a.id, level: a.level, colour: levelColour(a.level), exercise: Boolean(a.exercise),
      cancelled: a.msg_type === 'Cancel' || a.status === 'cancelled', status: a.status },
  })));
}

export function incidentFeatures(incidents) {
  return fc(incidents.map((i) => ({
    type: 'Feature', geometry: point(i.location.lon, i.location.lat),
    properties: { id: i.id, kind: i.kind, severity: i.severity, status: i.status,
      colour: INCIDENT_COLOURS[i.kind] || INCIDENT_COLOURS.other, exercise: Boolean(i.exercise) },
  })));
}

export function closureFeatures(closures) {
  return fc(closures.filter((c) => c.active).map((c) => ({
    type: 'Feature', geometry: c.geometry, properties: { id: c.id, reason: c.reason },
  })));
}

export function shelterFeatures(shelters) {
  return fc(shelters.map((s) => ({
    type: 'Feature', geometry: point(s.location.lon, s.location.lat),
    properties: { id: s.id, open: s.open, full: s.capacity !== null && s.occupancy >= s.capacity && s.open },
  })));
}

export function stationFeatures(stations) {
  return fc(stations.filter((s) => s.location).map((s) => ({
    type: 'Feature', geometry: point(s.location.lon, s.location.lat),
    properties: { id: s.id, stage: s.stage, colour: STAGE_COLOURS[s.stage] || STAGE_COLOURS[0] },
  })));
}

export function sensorFeatures(sensors) {
  return fc(sensors.filter((s) => s.lat !== null && s.lon !== null).map((s) => ({
    type: 'Feature', geometry: point(s.lon, s.lat), properties: { id: s.id, silent: s.silent },
  })));
}

export function areaFeatures(areas) {
  return fc(areas.map((a) => ({ type: 'Feature', geometry: a.geometry, properties: { code: a.code, name: a.name } })));
}

// JMA area codes are the municipality's JIS code followed by two digits (e.g. 1310100).
export function weatherFeatures(reports, areas) {
  const worst = new Map();
  for (const report of reports) {
    for (const item of report.items || []) {
      if (!item.alert_level || /解除/.test(item.status)) continue;
      for (const area of item.areas || []) {
        if (!area.code) continue;
        const match = areas.find((a) => area.code.startsWith(a.code) || a.code.startsWith(area.code));
        if (match) worst.set(match.code, Math.max(worst.get(match.code) || 0, item.alert_level));
      }
    }
  }
  return fc(areas.filter((a) => worst.has(a.code)).map((a) => ({
    type: 'Feature', geometry: a.geometry, properties: { code: a.code, colour: levelColour(worst.get(a.code)) },
  })));
}

// Buildings (GET /api/v1/buildings.geojson): coloured by damage first, else expected depth.
export function buildingFeatures(collection) {
  return fc((collection.features || []).map((f) => {
    const p = f.properties || {};
    return { type: 'Feature', geometry: f.geometry,
      properties: { id: p.id, height: Number(p.height_m) || 3 * (p.storeys || 1), colour: buildingColour(p),
        depth_m: p.depth_m ?? null, damage: p.damage ?? null, refuge: Boolean(p.refuge) } };
  }));
}

function buildingColour(p) {
  if (p.damage === 'fire') return '#e12d39';
  if (p.damage === 'collapse') return '#7c5e10';
  const depth = p.depth_m;
  if (depth === null || depth === undefined || depth <= 0) return p.refuge ? '#9fb3c8' : '#cbd2d9';
  if (depth < 0.5) return '#f7e98e';
  if (depth < 3) return '#ffb4a2';
  if (depth < 5) return '#f08080';
  return '#c13584';
}
