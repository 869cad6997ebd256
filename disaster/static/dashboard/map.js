// The map: a blank MapLibre style whose every layer is drawn from our own data (the roads of
// the loaded city, areas, alerts, incidents, closures, shelters, gauges, sensors, buildings).
// No tiles, fonts or sprites are fetched from anywhere.
import { LEVEL_COLOURS, STAGE_COLOURS } from './levels.js';

const maplibregl = window.maplibregl;
const EMPTY = { type: 'FeatureCollection', features: [] };
const SOURCES = ['areas', 'weather', 'roads', 'alerts', 'closures', 'buildings', 'shelters',
  'stations', 'sensors', 'incidents', 'draft'];

//: What each source was last given, for the keyboard-less checks of a test or a curious operator.
const data = Object.fromEntries(SOURCES.map((s) => [s, EMPTY]));
let map = null;
let ready = null;

export function createMap(container) {
  maplibregl.setWorkerUrl(new URL('/dashboard/vendor/maplibre-gl-csp-worker.js', location.href).href);
  map = new maplibregl.Map({
    container,
    style: { version: 8, sources: {}, layers: [
      { id: 'background', type: 'background', paint: { 'background-color': '#d9e0e6' } }] },
    center: [139.7, 35.68], zoom: 12, pitch: 0, attributionControl: false,
    maxPitch: 70, preserveDrawingBuffer: true, // screenshots of the test run show the map
  });
  map.addControl(new maplibregl.NavigationControl({ visualizePitch: true }), 'top-left');
  ready = new Promise((resolve) => map.on('load', () => { addLayers(); resolve(map); }));
  return map;
}

export function whenReady() {
  return ready;
}

export function setData(name, collection) {
  data[name] = collection;
  if (map && map.getSource(name)) map.getSource(name).setData(collection);
}

export function sourceData(name) {
  return data[name];
}

function addLayers() {
  for (const name of SOURCES) map.addSource(name, { type: 'geojson', data: data[name] });
  const layer = (spec) => map.addLayer(spec);
  layer({ id: 'areas-line', type: 'line', source: 'areas', paint: { 'line-color': '#7b8794', 'line-width': 1, 'line-dasharray': [4, 2] } });
  layer({ id: 'weather-fill', type: 'fill', source: 'weather', paint: { 'fill-color': ['get', 'colour'], 'fill-opacity': 0.18 } });
  layer({ id: 'roads-line', type: 'line', source: 'roads', layout: { 'line-cap': 'round', 'line-join': 'round' },
    paint: { 'line-color': ['match', ['get', 'kind'], ['motorway', 'trunk', 'primary'], '#f7b267', ['secondary', 'tertiary'], '#ffffff', ['footway', 'path', 'steps', 'pedestrian'], '#b8c2cc', '#ffffff'],
      'line-width': ['interpolate', ['linear'], ['zoom'], 12, ['match', ['get', 'kind'], ['primary', 'trunk', 'motorway'], 2.5, 1], 17, ['match', ['get', 'kind'], ['primary', 'trunk', 'motorway'], 10, 5]] } });
  layer({ id: 'roads-casing', type: 'line', source: 'roads', paint: { 'line-color': '#9aa5b1', 'line-width': 0.4 } });
  layer({ id: 'alerts-fill', type: 'fill', source: 'alerts', paint: { 'fill-color': ['get', 'colour'], 'fill-opacity': ['case', ['get', 'cancelled'], 0.05, 0.28] } });
  layer({ id: 'alerts-line', type: 'line', source: 'alerts', filter: ['all', ['!', ['get', 'exercise']], ['!', ['get', 'cancelled']]], paint: { 'line-color': ['get', 'colour'], 'line-width': 3 } });
  layer({ id: 'alerts-exercise-line', type: 'line', source: 'alerts', filter: ['get', 'exercise'], paint: { 'line-color': ['get', 'colour'], 'line-width': 3, 'line-dasharray': [2, 2] } });
  layer({ id: 'closures-line', type: 'line', source: 'closures', filter: ['==', ['geometry-type'], 'LineString'], layout: { 'line-cap': 'round' }, paint: { 'line-color': '#d64545', 'line-width': 6, 'line-dasharray': [1, 1] } });
  layer({ id: 'closures-point', type: 'circle', source: 'closures', filter: ['==', ['geometry-type'], 'Point'], paint: { 'circle-color': '#d64545', 'circle-radius': 6, 'circle-stroke-color': '#fff', 'circle-stroke-width': 2 } });
  layer({ id: 'buildings-3d', type: 'fill-extrusion', source: 'buildings', layout: { visibility: 'none' },
    paint: { 'fill-extrusion-height': ['get', 'height'], 'fill-extrusion-base': 0,
      'fill-extrusion-opacity': 0.85, 'fill-extrusion-color': ['get', 'colour'] } });
  layer({ id: 'shelters-circle', type: 'circle', source: 'shelters', paint: {
    'circle-radius': ['interpolate', ['linear'], ['zoom'], 12, 5, 17, 12],
    'circle-color': ['case', ['get', 'full'], '#f0b429', ['get', 'open'], '#27ab83', '#9aa5b1'],
    'circle-stroke-color': '#ffffff', 'circle-stroke-width': 2 } });
  layer({ id: 'stations-circle', type: 'circle', source: 'stations', paint: {
    'circle-radius': 8, 'circle-color': ['get', 'colour'], 'circle-stroke-color': '#102a43', 'circle-stroke-width': 2 } });
  layer({ id: 'sensors-circle', type: 'circle', source: 'sensors', paint: {
    'circle-radius': 5, 'circle-color': ['case', ['get', 'silent'], '#ffffff', '#2186eb'],
    'circle-stroke-color': ['case', ['get', 'silent'], '#d64545', '#ffffff'], 'circle-stroke-width': ['case', ['get', 'silent'], 3, 1] } });
  layer({ id: 'incidents-halo', type: 'circle', source: 'incidents', filter: ['==', ['get', 'status'], 'open'], paint: {
    'circle-radius': 16, 'circle-color': ['get', 'colour'], 'circle-opacity': 0.25 } });
  layer({ id: 'incidents-circle', type: 'circle', source: 'incidents', paint: {
    'circle-radius': 8, 'circle-color': ['get', 'colour'], 'circle-opacity': ['case', ['==', ['get', 'status'], 'open'], 1, 0.4],
    'circle-stroke-color': '#ffffff', 'circle-stroke-width': 2 } });
  layer({ id: 'draft-fill', type: 'fill', source: 'draft', filter: ['==', ['geometry-type'], 'Polygon'], paint: { 'fill-color': '#0b3d91', 'fill-opacity': 0.15 } });
  layer({ id: 'draft-line', type: 'line', source: 'draft', paint: { 'line-color': '#0b3d91', 'line-width': 2, 'line-dasharray': [2, 1] } });
  layer({ id: 'draft-vertex', type: 'circle', source: 'draft', filter: ['==', ['geometry-type'], 'Point'], paint: { 'circle-radius': 5, 'circle-color': '#0b3d91', 'circle-stroke-color': '#fff', 'circle-stroke-width': 2 } });
}

export function mapInstance() {
  return map;
}

export function levelFill(level) {
  return LEVEL_COLOURS[level] || '#808080';
}

export function stageColour(stage) {
  return STAGE_COLOURS[stage] || STAGE_COLOURS[0];
}
