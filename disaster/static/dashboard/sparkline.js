// A gauge's small chart: recent levels as a line over its four thresholds, drawn as SVG.
import { svg } from './dom.js';
import { STAGE_COLOURS } from './levels.js';

const W = 160;
const H = 44;

export function sparkline(station) {
  const readings = station.readings || [];
  const th = station.thresholds;
  const marks = [th.standby_m, th.caution_m, th.evacuation_m, th.danger_m];
  const levels = readings.map((r) => r.level_m);
  const lo = Math.min(...levels, th.standby_m) - 0.2;
  const hi = Math.max(...levels, th.danger_m) + 0.2;
  const y = (v) => (H - 2 - ((v - lo) / (hi - lo)) * (H - 4)).toFixed(1);
  const root = svg('svg', {
    class: 'spark', viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: 'img',
    'aria-label': `${station.name}: ${levels.length ? levels[levels.length - 1] : '—'} m`,
  });
  marks.forEach((m, i) => {
    root.append(svg('line', {
      x1: 0, x2: W, y1: y(m), y2: y(m), stroke: STAGE_COLOURS[i + 1], 'stroke-width': 1,
      'stroke-dasharray': '3 2', class: 'threshold',
    }));
  });
  if (readings.length >= 2) {
    const t0 = Date.parse(readings[0].t);
    const span = Math.max(1, Date.parse(readings[readings.length - 1].t) - t0);
    const points = readings.map((r) => `${(((Date.parse(r.t) - t0) / span) * (W - 4) + 2).toFixed(1)},${y(r.level_m)}`);
    root.append(svg('polyline', { points: points.join(' '), fill: 'none', stroke: '#102a43', 'stroke-width': 2, class: 'level' }));
  } else if (readings.length === 1) {
    root.append(svg('circle', { cx: W - 4, cy: y(readings[0].level_m), r: 3, fill: '#102a43' }));
  }
  return root;
}
