// Modal dialogs (native <dialog>) and confirmations.

import { h, uid } from './dom.js';
import { busy, errorSlot } from './feedback.js';

/**
 * A modal dialog (native <dialog>: focus stays inside, Escape closes). `content` is a
 * node or a list; `onSubmit()` may throw an ApiError, shown inline; its result resolves
 * the promise. Cancel resolves null. Focus returns to the opener.
 */
export function dialog({ title, content, submitLabel = 'Save', danger = false, onSubmit, focus }) {
  return new Promise((resolve) => {
    const opener = document.activeElement;
    const titleId = uid('dlg-title');
    const slot = errorSlot();
    const submit = h('button', { type: 'submit', class: danger ? 'btn danger' : 'btn primary' }, submitLabel);
    const cancel = h('button', { type: 'button', class: 'btn', onclick: () => close(null) }, 'Cancel');
    const form = h('form', { method: 'post', novalidate: true },
      h('h2', { id: titleId }, title),
      h('div', { class: 'dialog-body' }, content),
      slot.el,
      h('div', { class: 'actions' }, submit, cancel));
    const dlg = h('dialog', { 'aria-labelledby': titleId, class: 'dialog' }, form);
    let done = false;
    function close(value) {
      if (done) return;
      done = true;
      dlg.close();
      dlg.remove();
      if (opener && opener.isConnected && typeof opener.focus === 'function') opener.focus();
      else document.querySelector('main h1')?.focus();
      resolve(value);
    }
    dlg.addEventListener('cancel', (e) => {
      e.preventDefault();
      close(null);
    });
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const invalid = [...form.querySelectorAll('input,select,textarea')].find((i) => !i.checkValidity());
      if (invalid) {
        slot.show({ message: `${invalid.labels?.[0]?.textContent.replace(' *', '') || 'A field'}: ${invalid.validationMessage}` });
        invalid.focus();
        return;
      }
      const result = await busy(submit, slot, async () => ({ value: await onSubmit(form) }));
      if (result) close(result.value ?? true);
    });
    document.body.append(dlg);
    dlg.showModal();
    const target = focus === 'cancel' ? cancel
      : form.querySelector('[autofocus]') || form.querySelector('input:not([readonly]),select,textarea') || cancel;
    target.focus();
  });
}

export function confirmDialog({ title, message, confirmLabel, danger = true, onConfirm }) {
  return dialog({
    title,
    content: [message].flat().map((m) => (m instanceof Node ? m : h('p', {}, m))),
    submitLabel: confirmLabel,
    danger,
    focus: 'cancel',
    onSubmit: onConfirm,
  });
}
