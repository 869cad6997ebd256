// Drawing an alert's area: click to add a vertex, Enter to finish (three at least), Esc to
// cancel. The shape is shown on the map's `draft` source as it grows.
import { mapInstance, setData } from './map.js';

let vertices = null; // null: not drawing
let finished = null;
let onDone = null;

export function isDrawing() {
  return vertices !== null;
}

export function drawnPolygon() {
  return finished;
}

export function startDrawing(done) {
  vertices = [];
  finished = null;
  onDone = done;
  const map = mapInstance();
  map.getCanvas().style.cursor = 'crosshair';
  map.doubleClickZoom.disable();
  document.body.classList.add('drawing');
  show();
}

export function clickAt(lngLat) {
  if (vertices === null) return false;
  vertices.push([round(lngLat.lng), round(lngLat.lat)]);
  show();
  return true;
}

export function finishDrawing() {
  if (vertices === null || vertices.length < 3) return false;
  finished = { type: 'Polygon', coordinates: [[...vertices, vertices[0]]] };
  stop();
  setData('draft', { type: 'FeatureCollection', features: [{ type: 'Feature', geometry: finished, properties: {} }] });
  if (onDone) onDone(finished);
  return true;
}

export function cancelDrawing() {
  const was = vertices !== null;
  stop();
  clearDraft();
  return was;
}

export function clearDraft() {
  finished = null;
  setData('draft', { type: 'FeatureCollection', features: [] });
}

function stop() {
  vertices = null;
  const map = mapInstance();
  map.getCanvas().style.cursor = '';
  map.doubleClickZoom.enable();
  document.body.classList.remove('drawing');
}

function round(v) {
  return Math.round(v * 1e6) / 1e6;
}

function show() {
  const features = vertices.map((v) => ({ type: 'Feature', geometry: { type: 'Point', coordinates: v }, properties: {} }));
  if (vertices.length >= 2) {
    const ring = vertices.length >= 3 ? [...vertices, vertices[0]] : vertices;
    features.push({ type: 'Feature', geometry: { type: 'LineString', coordinates: ring }, properties: {} });
  }
  setData('draft', { type: 'FeatureCollection', features });
}
