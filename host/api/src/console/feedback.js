// Feedback: inline form errors, the toast, and busy buttons.

import { add, h } from './dom.js';

/** An inline error area for one form; `show(err)` fills it, `clear()` hides it. */
export function errorSlot() {
  const el = h('div', { class: 'form-error', role: 'alert', hidden: true });
  const slot = {
    el,
    /** `api` for an answer of the API, `client` for a check made here. */
    kind: null,
    show(err) {
      slot.kind = err.code ? 'api' : 'client';
      el.replaceChildren();
      add(el,
        h('span', { class: 'form-error-title' }, err.code ? 'Not done: ' : 'Check: '),
        h('span', { class: 'form-error-message' }, err.message || String(err)),
        err.code ? h('code', { class: 'form-error-code' }, err.code) : null);
      el.hidden = false;
    },
    clear() {
      slot.kind = null;
      el.hidden = true;
      el.replaceChildren();
    },
    /** Clears a client-side message as soon as the form is edited. */
    watch(form) {
      form.addEventListener('input', () => {
        if (slot.kind === 'client') slot.clear();
      });
    },
  };
  return slot;
}

let toastTimer;
export function toast(message) {
  const el = document.getElementById('toast');
  el.textContent = message;
  el.classList.add('visible');
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => el.classList.remove('visible'), 4000);
}

/** Runs `action` with `button` disabled and marked busy; errors go to `slot`. */
export async function busy(button, slot, action) {
  slot?.clear();
  const buttons = button ? [button] : [];
  for (const b of buttons) {
    b.disabled = true;
    b.setAttribute('aria-busy', 'true');
  }
  try {
    return await action();
  } catch (err) {
    if (slot) slot.show(err);
    else toast(err.message);
    return undefined;
  } finally {
    for (const b of buttons) {
      b.disabled = false;
      b.removeAttribute('aria-busy');
    }
  }
}
