// What the page and its service worker both use (the worker loads this with importScripts).
//
// The resident's id and token live in IndexedDB as well as in the page's localStorage: the
// worker cannot read localStorage, and it must send "safe" or "need help" from a notification
// while no page is open, so postMessage to a page would not do.
'use strict';

const CREDENTIALS_DB = 'disaster-resident';
const CREDENTIALS_STORE = 'credentials';
const CREDENTIALS_KEY = 'resident';

function openCredentialsDb() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(CREDENTIALS_DB, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(CREDENTIALS_STORE);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

// Run one request in its own transaction; resolve with its result once the transaction has
// committed, so a saved token is on disk before the page says "registered".
async function inCredentialsStore(mode, makeRequest) {
  const db = await openCredentialsDb();
  try {
    return await new Promise((resolve, reject) => {
      const transaction = db.transaction(CREDENTIALS_STORE, mode);
      const request = makeRequest(transaction.objectStore(CREDENTIALS_STORE));
      transaction.oncomplete = () => resolve(request.result);
      transaction.onerror = () => reject(transaction.error);
      transaction.onabort = () => reject(transaction.error);
    });
  } finally {
    db.close();
  }
}

function saveCredentials(credentials) {
  const record = { id: credentials.id, token: credentials.token };
  return inCredentialsStore('readwrite', (store) => store.put(record, CREDENTIALS_KEY));
}

function loadCredentials() {
  return inCredentialsStore('readonly', (store) => store.get(CREDENTIALS_KEY));
}

function clearCredentials() {
  return inCredentialsStore('readwrite', (store) => store.delete(CREDENTIALS_KEY));
}

// The server gives its VAPID key as base64url text; every browser takes bytes.
function base64UrlToBytes(text) {
  const base64 = text.replace(/-/g, '+').replace(/_/g, '/');
  const padded = base64.padEnd(Math.ceil(base64.length / 4) * 4, '=');
  return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
}

// Post an answer with the resident's token; resolves with the fetch Response.
function postAnswer(credentials, status, alertId) {
  const body = alertId ? { status, alert_id: alertId } : { status };
  return fetch(`/api/v1/subscribers/${encodeURIComponent(credentials.id)}/answers`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${credentials.token}` },
    body: JSON.stringify(body),
  });
}
