/* Drafts in localStorage, so that a reload or a closed tab loses nothing. They are kept per user and per
 * task (two labelers sharing a browser never see each other's), and logging out removes them all
 * (session.js). */

const PREFIX = "rankwise:draft:";
const MAX_AGE_MS = 14 * 24 * 3600 * 1000;
// Set on logout: the page being left must not save its draft again (on pagehide, or by its timer).
let loggedOut = false;

function storage(fn, fallback) {
  try { return fn(); } catch (error) { return fallback; } // storage full or disabled: the page works without drafts
}

export function draftStore(userKey) {
  const key = (taskId) => `${PREFIX}${userKey}:${taskId}`;
  return {
    load(taskId) {
      return storage(() => JSON.parse(localStorage.getItem(key(taskId))) || {}, {});
    },
    save(taskId, draft) {
      if (loggedOut) return;
      storage(() => localStorage.setItem(key(taskId), JSON.stringify({ ...draft, savedAt: Date.now() })));
    },
    clear(taskId) {
      storage(() => localStorage.removeItem(key(taskId)));
    },
  };
}

function draftKeys() {
  return storage(() => Object.keys(localStorage).filter((k) => k.startsWith(PREFIX)), []);
}

/** Leases last minutes: a draft untouched for two weeks belongs to a task long gone. */
export function pruneDrafts() {
  for (const k of draftKeys()) {
    const savedAt = storage(() => (JSON.parse(localStorage.getItem(k)) || {}).savedAt, 0) || 0;
    if (Date.now() - savedAt > MAX_AGE_MS) storage(() => localStorage.removeItem(k));
  }
}

export function clearAllDrafts() {
  loggedOut = true;
  for (const k of draftKeys()) storage(() => localStorage.removeItem(k));
}
