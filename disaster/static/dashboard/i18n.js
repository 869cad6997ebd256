// Japanese (the default) and English labels. `t(key)` looks a label up in the current
// language; elements with data-t get their text from it whenever the language changes.

const TEXTS = {
  ja: {
    title: '災害対策本部', login_title: 'ログイン', username: 'ユーザー名', password: 'パスワード',
    login: 'ログイン', logout: 'ログアウト', help: '? ショートカット', lang_other: 'English',
    login_failed: 'ログインできませんでした', live: 'ライブ', offline: '接続が切れています（再接続中）',
    connecting: '接続中…',
    tab_alerts: '警報・避難情報', tab_rivers: '河川', tab_sensors: 'センサー', tab_weather: '気象',
    tab_incidents: '災害事案', tab_shelters: '避難所',
    draft_start: '範囲を描いて発令', draft_codes: '市町村コードで発令', buildings: '3D建物',
    fit: '全体表示',
    drawing_hint: 'クリックで頂点を追加 · Enterで確定 · Escで中止',
    draft_title: '避難情報の作成', area_drawn: '描いた範囲', area_codes: '市町村コード',
    area_name: '地域名', hazard: '災害種別', level: '警戒レベル', message_ja: '本文（日本語）',
    message_en: '本文（英語）', exercise: '訓練', preview: '対象者を確認', issue: '承認して発令',
    close: '閉じる', approve: '承認', cancel_alert: '取消', all_clear: '解除', confirm: '確認：もう一度',
    reach: '対象者', vulnerable: 'うち要配慮者', people: '人',
    shelters_sent_to: '避難先（経路計算による）', over_capacity: '定員超過',
    no_shelter: '避難先なし', shelters_unknown: '避難先を計算できません',
    waiting_second: '2人目の承認待ち', approvals: '承認',
    state_draft: '下書き', state_approved: '承認済み', state_issued: '発令中',
    state_superseded: '更新済み', state_cancelled: '取消・解除',
    targeted: '対象', delivered: '配信済', failed: '失敗', pending: '配信待ち', answered: '応答',
    unanswered_list: '未応答の要配慮者', no_unanswered: '未応答の要配慮者はいません',
    open: '開設', closed: '閉鎖', occupancy: '収容', capacity: '定員', save: '保存',
    open_shelter: '開設する', close_shelter: '閉鎖する', silent: '無応答',
    trend: '傾向', per_hour: 'm/時', no_data: 'データなし', resolved: '解決済',
    exercise_badge: '訓練', version: '版',
    profiles: '対象者の限定（選ばなければ全員）', 'profile.slow_walk': '避難に時間のかかる方（高齢・乳幼児連れ・視覚）',
    'profile.wheelchair': '車いすの方', 'profile.walk': '徒歩で避難できる方', profiles_only: '対象者',
    shortcuts: 'キーボードショートカット',
    key_help: 'このヘルプ', key_draw: '範囲を描いて発令', key_codes: '市町村コードで発令',
    key_finish: '描画を確定', key_escape: '描画・画面を閉じる', key_tabs: 'パネル切替',
    key_lang: '日本語/English', key_buildings: '3D建物の表示', key_fit: '全体表示',
    no_city: '地図データ（道路網）が未読込です', error: 'エラー', draft_need_area: '範囲を描くか市町村コードを入れてください',
    'hazard.flood': '洪水', 'hazard.landslide': '土砂災害', 'hazard.earthquake': '地震',
    'hazard.tsunami': '津波', 'hazard.fire': '火災', 'hazard.storm_surge': '高潮',
    'hazard.other': 'その他',
    'level.1': '早期注意情報', 'level.2': '注意報', 'level.3': '高齢者等避難',
    'level.4': '避難指示', 'level.5': '緊急安全確保',
    'stage.0': '平常', 'stage.1': '水防団待機水位', 'stage.2': '氾濫注意水位',
    'stage.3': '避難判断水位', 'stage.4': '氾濫危険水位',
    'kind.fire': '火災', 'kind.collapse': '倒壊', 'kind.flooding': '浸水',
    'kind.landslide': '土砂崩れ', 'kind.blocked_road': '道路閉塞',
    'kind.people_trapped': '要救助者', 'kind.other': 'その他',
    'severity.low': '低', 'severity.medium': '中', 'severity.high': '高', 'severity.critical': '重大',
  },
  en: {
    title: 'Disaster HQ', login_title: 'Log in', username: 'Username', password: 'Password',
    login: 'Log in', logout: 'Log out', help: '? Shortcuts', lang_other: '日本語',
    login_failed: 'Could not log in', live: 'Live', offline: 'Disconnected (reconnecting)',
    connecting: 'Connecting…',
    tab_alerts: 'Alerts', tab_rivers: 'Rivers', tab_sensors: 'Sensors', tab_weather: 'Weather',
    tab_incidents: 'Incidents', tab_shelters: 'Shelters',
    draft_start: 'Draw area & alert', draft_codes: 'Alert by area codes', buildings: '3D buildings',
    fit: 'Fit city',
    drawing_hint: 'Click to add a vertex · Enter to finish · Esc to cancel',
    draft_title: 'New alert', area_drawn: 'Drawn area', area_codes: 'Municipality codes',
    area_name: 'Area name', hazard: 'Hazard', level: 'Alert level', message_ja: 'Message (Japanese)',
    message_en: 'Message (English)', exercise: 'Exercise', preview: 'Preview reach',
    issue: 'Approve & issue', close: 'Close', approve: 'Approve', cancel_alert: 'Cancel',
    all_clear: 'All clear', confirm: 'Confirm: click again',
    reach: 'Reaches', vulnerable: 'vulnerable', people: 'people',
    shelters_sent_to: 'Shelters they would be sent to', over_capacity: 'OVER CAPACITY',
    no_shelter: 'No shelter', shelters_unknown: 'Shelters cannot be worked out',
    waiting_second: 'Waiting for a second operator', approvals: 'approvals',
    state_draft: 'Draft', state_approved: 'Approved', state_issued: 'Issued',
    state_superseded: 'Superseded', state_cancelled: 'Cancelled / all clear',
    targeted: 'targeted', delivered: 'delivered', failed: 'failed', pending: 'pending',
    answered: 'answered', unanswered_list: 'Vulnerable residents not answered',
    no_unanswered: 'No vulnerable resident is unanswered',
    open: 'Open', closed: 'Closed', occupancy: 'Occupancy', capacity: 'Capacity', save: 'Save',
    open_shelter: 'Open', close_shelter: 'Close', silent: 'SILENT',
    trend: 'Trend', per_hour: 'm/h', no_data: 'No data', resolved: 'Resolved',
    exercise_badge: 'EXERCISE', version: 'v',
    profiles: 'Only for (none ticked: everyone)', 'profile.slow_walk': 'Need time to evacuate (elderly, infants, low vision)',
    'profile.wheelchair': 'Wheelchair users', 'profile.walk': 'Walk unaided', profiles_only: 'Only for',
    shortcuts: 'Keyboard shortcuts',
    key_help: 'This help', key_draw: 'Draw an area and alert', key_codes: 'Alert by area codes',
    key_finish: 'Finish drawing', key_escape: 'Cancel drawing / close', key_tabs: 'Switch panel',
    key_lang: '日本語/English', key_buildings: 'Toggle 3D buildings', key_fit: 'Fit the city',
    no_city: 'No road network loaded', error: 'Error', draft_need_area: 'Draw an area or give municipality codes',
    'hazard.flood': 'Flood', 'hazard.landslide': 'Landslide', 'hazard.earthquake': 'Earthquake',
    'hazard.tsunami': 'Tsunami', 'hazard.fire': 'Fire', 'hazard.storm_surge': 'Storm surge',
    'hazard.other': 'Other',
    'level.1': 'Early warning', 'level.2': 'Advisory', 'level.3': 'Elderly evacuate',
    'level.4': 'Evacuate', 'level.5': 'Emergency',
    'stage.0': 'Normal', 'stage.1': 'Standby', 'stage.2': 'Caution',
    'stage.3': 'Evacuation judgement', 'stage.4': 'Danger',
    'kind.fire': 'Fire', 'kind.collapse': 'Collapse', 'kind.flooding': 'Flooding',
    'kind.landslide': 'Landslide', 'kind.blocked_road': 'Blocked road',
    'kind.people_trapped': 'People trapped', 'kind.other': 'Other',
    'severity.low': 'low', 'severity.medium': 'medium', 'severity.high': 'high',
    'severity.critical': 'critical',
  },
};

let current = 'ja';
const listeners = [];

export function t(key) {
  return TEXTS[current][key] ?? TEXTS.ja[key] ?? key;
}

export function language() {
  return current;
}

export function setLanguage(lang) {
  current = TEXTS[lang] ? lang : 'ja';
  document.documentElement.lang = current;
  try { localStorage.setItem('dashboard.lang', current); } catch { /* private mode */ }
  for (const el of document.querySelectorAll('[data-t]')) el.textContent = t(el.dataset.t);
  for (const fn of listeners) fn(current);
}

export function onLanguage(fn) {
  listeners.push(fn);
}

export function savedLanguage() {
  try { return localStorage.getItem('dashboard.lang') || 'ja'; } catch { return 'ja'; }
}

export const LANGUAGES = Object.keys(TEXTS);
export { TEXTS };
