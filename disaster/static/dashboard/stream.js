// The live stream: opened first, then the whole picture is loaded once it is connected, with
// events arriving meanwhile applied after it, so nothing that changes in between is lost. On a
// reconnect (the browser retries by itself) the picture is loaded again.
import { api } from './api.js';
import { applyEvent, loadSnapshot } from './state.js';

const TYPES = ['alert', 'delivery', 'incident', 'station', 'sensor', 'weather', 'closure', 'shelter'];

export function connect(onStatus) {
  const source = new EventSource('/api/v1/dashboard/stream');
  let buffered = null; // events held back while a snapshot loads
  source.addEventListener('open', async () => {
    buffered = [];
    try {
      loadSnapshot(await api('GET', '/api/v1/dashboard/state'));
      onStatus('live');
    } catch (err) {
      onStatus('offline', err);
    }
    const held = buffered;
    buffered = null;
    for (const [type, data] of held) applyEvent(type, data);
  });
  source.addEventListener('error', () => onStatus(source.readyState === EventSource.CLOSED ? 'closed' : 'offline'));
  for (const type of TYPES) {
    source.addEventListener(type, (ev) => {
      const data = JSON.parse(ev.data);
      if (buffered) buffered.push([type, data]);
      else applyEvent(type, data);
    });
  }
  return source;
}
