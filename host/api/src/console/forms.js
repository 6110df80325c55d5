// Form fields: labelled inputs, link names validated as one types, selects.

import { h, uid } from './dom.js';
import { LINK_MAX } from './model.js';

/** A labelled field: `control` gets an id, hint and error are tied by aria-describedby. */
export function field(label, control, { hint, required } = {}) {
  const id = control.id || uid('f');
  control.id = id;
  const hintEl = hint ? h('p', { class: 'hint', id: `${id}-hint` }, hint) : null;
  const errEl = h('p', { class: 'field-error', id: `${id}-err`, 'aria-live': 'polite' });
  control.setAttribute('aria-describedby', [hintEl && hintEl.id, errEl.id].filter(Boolean).join(' '));
  if (required) control.required = true;
  const wrap = h('div', { class: 'field' },
    h('label', { for: id }, label, required ? h('span', { class: 'req', 'aria-hidden': 'true' }, ' *') : null),
    control, hintEl, errEl);
  wrap.setError = (msg) => {
    errEl.textContent = msg || '';
    if (msg) control.setAttribute('aria-invalid', 'true');
    else control.removeAttribute('aria-invalid');
  };
  return wrap;
}

/** Why `value` is not a link name (services, connections, dynamic keys), or ''. */
function linkNameProblem(value, { dashes = false } = {}) {
  if (!value) return 'Required.';
  if (value.length > LINK_MAX) return `At most ${LINK_MAX} characters (this has ${value.length}).`;
  if (!/^[a-z]/.test(value)) return 'Must start with a lower-case letter (a–z).';
  const allowed = dashes ? /[a-z0-9_-]/ : /[a-z0-9_]/;
  const bad = [...new Set([...value].filter((c) => !allowed.test(c)))];
  if (bad.length) {
    const shown = bad.map((c) => (c === ' ' ? 'space' : `“${c}”`)).join(', ');
    return `Only lower-case letters, digits and _${dashes ? ' or -' : ''} after the first letter; not ${shown}.`;
  }
  return '';
}

/** A link name suggested from a display name: "Acme CRM (prod)" → "acme_crm_prod". */
export function suggestLink(display, { dashes = false } = {}) {
  let s = display.toLowerCase().normalize('NFKD').replace(/[\u0300-\u036f]/g, '');
  s = s.replace(dashes ? /[^a-z0-9_-]+/g : /[^a-z0-9_]+/g, '_').replace(/^[^a-z]+/, '').replace(/_+$/, '');
  return s.slice(0, LINK_MAX).replace(/_+$/, '');
}

/**
 * A link-name input validated as one types; `taken(value)` names a clash or is falsy.
 * Follows `source` (a display-name input) until edited by hand.
 */
export function linkNameField(label, { value = '', readonly, source, taken, dashes, hint } = {}) {
  const input = h('input', {
    type: 'text', name: 'link_name', autocomplete: 'off', spellcheck: 'false', maxlength: 80,
    value, readonly, autocapitalize: 'none',
  });
  const wrap = field(label, input, {
    required: !readonly,
    hint: readonly ? 'The link name never changes.'
      : hint || `A lower-case letter, then lower-case letters, digits or _${dashes ? ' or -' : ''}; at most ${LINK_MAX}.`,
  });
  let touched = !!value;
  const check = () => {
    const problem = linkNameProblem(input.value, { dashes }) || (taken && taken(input.value)) || '';
    wrap.setError(input.value || touched ? problem : '');
    return problem;
  };
  input.addEventListener('input', () => {
    touched = true;
    check();
  });
  if (source && !readonly) {
    source.addEventListener('input', () => {
      if (input.dataset.edited) return;
      input.value = suggestLink(source.value, { dashes });
      check();
    });
    input.addEventListener('input', () => {
      input.dataset.edited = '1';
    });
  }
  wrap.input = input;
  wrap.check = () => {
    touched = true;
    return check();
  };
  return wrap;
}

export function textField(label, { name, value = '', required, hint, maxlength = 50, readonly, type = 'text', placeholder } = {}) {
  const input = h('input', { type, name, value, maxlength, readonly, placeholder, autocomplete: 'off' });
  const wrap = field(label, input, { hint, required });
  wrap.input = input;
  return wrap;
}

export function selectField(label, options, { name, value, hint, disabled } = {}) {
  const select = h('select', { name, disabled },
    options.map(([v, text, opts = {}]) => h('option', { value: v, disabled: opts.disabled }, text)));
  if (value !== undefined) select.value = value;
  const wrap = field(label, select, { hint });
  wrap.input = select;
  return wrap;
}
