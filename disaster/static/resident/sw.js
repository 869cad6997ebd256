// The resident page's service worker: keeps the page working offline, shows pushed alerts, and
// sends "safe" or "need help" straight from a notification.
'use strict';

// The server replaces this with a hash of all the page's files, so any change to the page
// changes these bytes: the browser then installs the new worker, which caches the new shell.
const SHELL_VERSION = '__SHELL_VERSION__';
const CACHE = `resident-shell-${SHELL_VERSION}`;
const SHELL = [
  './', 'i18n.js', 'shared.js', 'app.js', 'style.css', 'manifest.webmanifest',
  'icon.svg', 'icon-192.png', 'icon-512.png', 'badge.png',
  'level-1.png', 'level-2.png', 'level-3.png', 'level-4.png', 'level-5.png',
];
// From level 4 (避難指示) the notification stays on screen until the resident acts on it.
const STICKY_FROM_LEVEL = 4;

const scriptUrls = self.trustedTypes
  ? trustedTypes.createPolicy('resident', { createScriptURL: (url) => onlyShared(url) })
  : { createScriptURL: (url) => onlyShared(url) };

function onlyShared(url) {
  if (url !== 'shared.js') throw new TypeError(`unexpected script ${url}`);
  return url;
}

importScripts(scriptUrls.createScriptURL('shared.js'));

// What the worker itself says; the alert's own texts come composed by the server.
const WORKER_TEXTS = {
  en: {
    safe: 'I am safe', need_help: 'I need help', sent: 'Your answer was sent',
    not_sent: 'Your answer was NOT sent', open_page: 'Open the page and press again.',
    alert: 'Disaster alert',
  },
  ja: {
    safe: '無事です', need_help: '助けが必要', sent: '回答を送信しました',
    not_sent: '回答を送信できませんでした', open_page: 'ページを開いて、もう一度押してください。',
    alert: '防災アラート',
  },
  'ja-easy': {
    safe: '大丈夫（だいじょうぶ）', need_help: '助（たす）けて', sent: '送（おく）りました',
    not_sent: '送（おく）れません でした',
    open_page: 'ページを 開（ひら）いて、もう 一度（いちど） 押（お）して ください。',
    alert: '防災（ぼうさい）の お知（し）らせ',
  },
};

// The payload's language is a tag (ja-JP, ja-JP-x-easy, en-US) or a plain code.
function textsFor(language = '') {
  if (language.includes('easy')) return WORKER_TEXTS['ja-easy'];
  return language.startsWith('en') ? WORKER_TEXTS.en : WORKER_TEXTS.ja;
}

// --- the app shell, for offline -----------------------------------------------------------

self.addEventListener('install', (event) => {
  // A new shell takes over at once: a fix to the page must not wait for every tab to close.
  const install = caches.open(CACHE).then((cache) => cache.addAll(SHELL));
  event.waitUntil(install.then(() => self.skipWaiting()));
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    const names = await caches.keys();
    const old = names.filter((name) => name.startsWith('resident-shell-') && name !== CACHE);
    await Promise.all(old.map((name) => caches.delete(name)));
    await self.clients.claim(); // the first visit works offline without a reload
  })());
});

// Only the shell comes from the cache; the API always goes to the network, so an alert or a
// route is never an old copy (the page keeps its own last copy for when it is offline).
self.addEventListener('fetch', (event) => {
  const { request } = event;
  const url = new URL(request.url);
  const scope = new URL(self.registration.scope);
  const isShell = url.origin === scope.origin && url.pathname.startsWith(scope.pathname);
  if (request.method === 'GET' && isShell) event.respondWith(fromShell(request));
});

async function fromShell(request) {
  const cache = await caches.open(CACHE);
  const cached = await cache.match(request, { ignoreSearch: true });
  if (cached) return cached;
  try {
    return await fetch(request);
  } catch (err) {
    const page = request.mode === 'navigate' ? await cache.match('./') : undefined;
    if (page) return page;
    throw err;
  }
}

// --- push ---------------------------------------------------------------------------------

function readPayload(data) {
  if (!data) return {};
  try {
    return data.json();
  } catch {
    return { body: data.text() };
  }
}

self.addEventListener('push', (event) => {
  event.waitUntil(showAlert(readPayload(event.data)));
});

async function showAlert(message) {
  const level = Number(message.level) || 0;
  const texts = textsFor(message.language);
  const alertId = message.alert_id || null;
  const options = {
    body: message.body || '',
    // The tag is the alert id: a resend of the same alert replaces the notification.
    tag: message.tag || alertId || undefined,
    data: { alert_id: alertId, level, url: message.url || null, language: message.language },
    lang: message.language || '',
    icon: level >= 1 && level <= 5 ? `level-${level}.png` : 'icon-192.png',
    badge: 'badge.png',
    requireInteraction: level >= STICKY_FROM_LEVEL,
    vibrate: level >= STICKY_FROM_LEVEL ? [500, 200, 500, 200, 500] : [200],
    timestamp: Date.now(),
    actions: alertId
      ? [{ action: 'safe', title: texts.safe }, { action: 'need_help', title: texts.need_help }]
      : [],
  };
  await self.registration.showNotification(message.title || texts.alert, options);
  // An open page shows the new alert without being reloaded.
  for (const client of await self.clients.matchAll({ type: 'window' })) {
    client.postMessage({ type: 'alert', alert_id: alertId });
  }
}

self.addEventListener('notificationclick', (event) => {
  const { notification, action } = event;
  const data = notification.data || {};
  notification.close();
  if (action === 'safe' || action === 'need_help') {
    event.waitUntil(answerFromNotification(action, data));
  } else {
    event.waitUntil(openPage(data.alert_id));
  }
});

// Send the answer with the credentials the page left in IndexedDB, and say whether it
// arrived: someone who pressed "need help" must not believe HQ knows when it does not.
async function answerFromNotification(status, data) {
  const texts = textsFor(data.language);
  let sent = false;
  try {
    const credentials = await loadCredentials();
    sent = Boolean(credentials) && (await postAnswer(credentials, status, data.alert_id)).ok;
  } catch {
    sent = false;
  }
  await self.registration.showNotification(sent ? texts.sent : texts.not_sent, {
    body: sent ? texts[status] : texts.open_page,
    tag: `answer-${data.alert_id || 'none'}`,
    data: { alert_id: data.alert_id || null, language: data.language },
    icon: 'icon-192.png',
    badge: 'badge.png',
    requireInteraction: !sent,
  });
  // Needing help, or not heard: the page has the route and the buttons to try again.
  if (status === 'need_help' || !sent) await openPage(data.alert_id);
}

// Focus an open page and tell it which alert, or open the page at that alert.
async function openPage(alertId) {
  const scope = self.registration.scope;
  const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
  const open = windows.find((client) => client.url.startsWith(scope));
  if (open) {
    open.postMessage({ type: 'show-alert', alert_id: alertId || null });
    // Focus is allowed only while handling a click; the page has the alert either way.
    return open.focus().catch(() => open);
  }
  const hash = alertId ? `#alert=${encodeURIComponent(alertId)}` : '';
  return self.clients.openWindow(new URL(`./${hash}`, scope).href);
}

// The push service replaced the subscription (it expired or was revoked): hand the server the
// new one, or alerts would silently stop.
self.addEventListener('pushsubscriptionchange', (event) => {
  event.waitUntil((async () => {
    const credentials = await loadCredentials();
    if (!credentials) return;
    let subscription = event.newSubscription;
    if (!subscription) {
      const { applicationServerKey } = await (await fetch('/api/v1/push/key')).json();
      subscription = await self.registration.pushManager.subscribe({
        userVisibleOnly: true, applicationServerKey: base64UrlToBytes(applicationServerKey),
      });
    }
    await fetch(`/api/v1/subscribers/${encodeURIComponent(credentials.id)}/push`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${credentials.token}` },
      body: JSON.stringify(subscription.toJSON()),
    });
  })());
});
