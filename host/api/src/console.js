// Switchboard console: one ES module, no framework, no network but this host's API.
// The admin token lives in sessionStorage (never in a URL) and is sent as
// `Authorization: Bearer` on every call. Pages are addressed by the URL's hash
// (#/connections, #/functions/hello, ...). Every value from the API is put on the page
// as text (textContent), never as HTML.

const TOKEN_KEY = 'switchboard.token';
const THEME_KEY = 'switchboard.theme';
const LINK_MAX = 50;

const STATUS_LABELS = {
  not_connected: 'Not connected',
  connected: 'Connected',
  revoked: 'Revoked',
  needs_reconnect: 'Needs reconnect',
};
const AUTH_LABELS = {
  api_key: 'API key',
  basic: 'Basic',
  oauth1: 'OAuth 1',
  oauth2: 'OAuth 2',
  aws_sigv4: 'AWS Signature v4',
};
/** Auth types this console can create and connect (OAuth arrives later). */
const AVAILABLE_AUTH = ['api_key', 'basic', 'aws_sigv4'];
const AWS_NAME = /^[a-z0-9-]{1,64}$/;
const PARAM_TYPES = [
  ['query', 'Query string'],
  ['form', 'Form data'],
  ['header', 'Header'],
];

// ---------------------------------------------------------------- DOM helpers

/** Builds an element: attributes (`on…` are listeners, `value` set last) and children. */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  let value;
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'value') value = v;
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  add(el, children);
  if (value !== undefined) el.value = value;
  return el;
}

function add(el, ...children) {
  for (const c of children.flat(Infinity)) {
    if (c == null || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

let uidCounter = 0;
const uid = (prefix) => `${prefix}-${++uidCounter}`;

function time(iso) {
  if (!iso) return h('span', { class: 'muted' }, '—');
  const d = new Date(iso);
  return h('time', { datetime: iso, title: iso }, Number.isNaN(d.getTime()) ? iso : d.toLocaleString());
}

function badge(status) {
  return h('span', { class: `badge badge-${status}` }, STATUS_LABELS[status] || status);
}

/** Category names of the catalogue are snake_case (`developer_tools`); a few are acronyms. */
const CATEGORY_WORDS = { ai: 'AI', crm: 'CRM', hr: 'HR', ecommerce: 'E-commerce' };
const UNCATEGORISED = 'Uncategorised';

/** Services are grouped by category case-insensitively: "CRM" and "crm" are one group. */
const categoryKey = (category) => (category ? category.trim().toLowerCase() : '');

function categoryLabel(category) {
  if (!category) return UNCATEGORISED;
  const key = categoryKey(category);
  if (CATEGORY_WORDS[key]) return CATEGORY_WORDS[key];
  if (!/^[a-z0-9_]+$/.test(category)) return category; // typed by someone: as typed
  const words = category.split('_').filter(Boolean).map((w) => CATEGORY_WORDS[w] || w);
  const text = words.join(' ');
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function kindBadge(kind) {
  return h('span', { class: `badge badge-kind badge-${kind === 'default' ? 'default' : 'custom'}` },
    kind === 'default' ? 'Default' : 'Custom');
}

const isOAuth = (type) => type === 'oauth1' || type === 'oauth2';

/** A default OAuth service that cannot be connected yet: the operator has set no client. */
const needsClient = (s) => s.kind === 'default' && isOAuth(s.auth.type) && !s.client_secret_set;

/** Only web links become links (a `javascript:` value would be text). */
const webUrl = (u) => (typeof u === 'string' && /^https?:\/\//i.test(u) ? u : null);

function bytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

const enc = encodeURIComponent;

// ---------------------------------------------------------------- theme

function preferredTheme() {
  const saved = localStorage.getItem(THEME_KEY);
  if (saved === 'dark' || saved === 'light') return saved;
  return matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
}

function applyTheme(theme) {
  document.documentElement.dataset.theme = theme;
  for (const b of document.querySelectorAll('[data-theme-toggle]')) {
    b.setAttribute('aria-pressed', String(theme === 'dark'));
    b.querySelector('.label').textContent = theme === 'dark' ? 'Dark mode: on' : 'Dark mode: off';
  }
}

applyTheme(preferredTheme());

// ---------------------------------------------------------------- API

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

const token = () => sessionStorage.getItem(TOKEN_KEY);

/**
 * Calls the API. `json` is sent as a JSON body, `body` as is (with `contentType`).
 * Answers the parsed JSON (or null for 204); with `full`, `{data, headers, status}`.
 * Errors are `ApiError`s carrying the API's `{"error": {code, message}}`.
 */
async function api(method, path, { json, body, contentType, full, tokenOverride } = {}) {
  const headers = { Authorization: `Bearer ${tokenOverride ?? token() ?? ''}` };
  if (json !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(json);
  } else if (contentType) {
    headers['Content-Type'] = contentType;
  }
  let res;
  try {
    res = await fetch(`/api/v1${path}`, { method, headers, body, cache: 'no-store' });
  } catch (e) {
    throw new ApiError(0, 'network', `The host did not answer (${e.message}). Is it running?`);
  }
  const text = await res.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = text;
    }
  }
  if (!res.ok) {
    const err = data && typeof data === 'object' ? data.error : null;
    const error = new ApiError(
      res.status,
      err?.code || `http_${res.status}`,
      err?.message || (typeof data === 'string' && data) || res.statusText,
    );
    if (res.status === 401 && tokenOverride === undefined) signOut(error.message);
    throw error;
  }
  return full ? { data, text, headers: res.headers, status: res.status } : data;
}

// ---------------------------------------------------------------- feedback

/** An inline error area for one form; `show(err)` fills it, `clear()` hides it. */
function errorSlot() {
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
function toast(message) {
  const el = document.getElementById('toast');
  el.textContent = message;
  el.classList.add('visible');
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => el.classList.remove('visible'), 4000);
}

/** Runs `action` with `button` disabled and marked busy; errors go to `slot`. */
async function busy(button, slot, action) {
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

// ---------------------------------------------------------------- form fields

/** A labelled field: `control` gets an id, hint and error are tied by aria-describedby. */
function field(label, control, { hint, required } = {}) {
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
function suggestLink(display, { dashes = false } = {}) {
  let s = display.toLowerCase().normalize('NFKD').replace(/[\u0300-\u036f]/g, '');
  s = s.replace(dashes ? /[^a-z0-9_-]+/g : /[^a-z0-9_]+/g, '_').replace(/^[^a-z]+/, '').replace(/_+$/, '');
  return s.slice(0, LINK_MAX).replace(/_+$/, '');
}

/**
 * A link-name input validated as one types; `taken(value)` names a clash or is falsy.
 * Follows `source` (a display-name input) until edited by hand.
 */
function linkNameField(label, { value = '', readonly, source, taken, dashes, hint } = {}) {
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

function textField(label, { name, value = '', required, hint, maxlength = 50, readonly, type = 'text', placeholder } = {}) {
  const input = h('input', { type, name, value, maxlength, readonly, placeholder, autocomplete: 'off' });
  const wrap = field(label, input, { hint, required });
  wrap.input = input;
  return wrap;
}

function selectField(label, options, { name, value, hint, disabled } = {}) {
  const select = h('select', { name, disabled },
    options.map(([v, text, opts = {}]) => h('option', { value: v, disabled: opts.disabled }, text)));
  if (value !== undefined) select.value = value;
  const wrap = field(label, select, { hint });
  wrap.input = select;
  return wrap;
}

// ---------------------------------------------------------------- dialogs

/**
 * A modal dialog (native <dialog>: focus stays inside, Escape closes). `content` is a
 * node or a list; `onSubmit()` may throw an ApiError, shown inline; its result resolves
 * the promise. Cancel resolves null. Focus returns to the opener.
 */
function dialog({ title, content, submitLabel = 'Save', danger = false, onSubmit, focus }) {
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

function confirmDialog({ title, message, confirmLabel, danger = true, onConfirm }) {
  return dialog({
    title,
    content: [message].flat().map((m) => (m instanceof Node ? m : h('p', {}, m))),
    submitLabel: confirmLabel,
    danger,
    focus: 'cancel',
    onSubmit: onConfirm,
  });
}

/** Asks for a connection's credentials (password inputs) and connects it. */
async function connectDialog(conn) {
  if (!conn.service.auth_type) {
    toast(`The service of ${conn.link_name} was deleted: it cannot be connected.`);
    return null;
  }
  let service;
  try {
    service = await api('GET', `/services/${enc(conn.service.link_name)}`);
  } catch (err) {
    toast(err.message);
    return null;
  }
  const auth = service.auth;
  const secret = (label, name, hint, first) => {
    const input = h('input', { type: 'password', name, autocomplete: 'off', spellcheck: 'false', autofocus: first, required: true });
    return field(label, input, { hint, required: true });
  };
  let content;
  if (isOAuth(auth.type)) return oauthConnect(conn, service);
  if (!AVAILABLE_AUTH.includes(auth.type)) {
    toast(`${AUTH_LABELS[auth.type] || auth.type} connections are connected with the CLI for now.`);
    return null;
  }
  if (auth.type === 'aws_sigv4') {
    const id = h('input', { type: 'text', name: 'access_key_id', autocomplete: 'off', spellcheck: 'false', autofocus: true, required: true, maxlength: 128 });
    const token = h('input', { type: 'password', name: 'session_token', autocomplete: 'off', spellcheck: 'false', maxlength: 8192 });
    content = [
      h('p', {}, `AWS credentials for ${service.display_name} (${auth.service}, ${auth.region}). Sealed on the host; requests are signed there.`),
      field('Access key id', id, { required: true }),
      secret('Secret access key', 'secret_access_key', null, false),
      field('Session token', token, { hint: 'Only for temporary credentials.' }),
    ];
  } else if (auth.type === 'api_key') {
    content = [
      h('p', {}, `Enter the values ${service.display_name} gave you. They are sealed on the host and never shown again.`),
      auth.params.map((p, i) => secret(p.display_name, `value:${p.name}`,
        `Sent as ${PARAM_TYPES.find(([t]) => t === p.param_type)?.[1].toLowerCase() ?? p.param_type} parameter “${p.name}”.`, i === 0)),
    ];
  } else {
    const user = h('input', { type: 'text', name: 'username', autocomplete: 'off', spellcheck: 'false', autofocus: true, required: true });
    content = [
      h('p', {}, `Sent to ${service.display_name} as Authorization: Basic. Sealed on the host, never shown again.`),
      field('Username', user, { required: true, hint: 'No “:” in a username.' }),
      secret('Password', 'password', null, false),
    ];
  }
  const verb = conn.status === 'not_connected' ? 'Connect' : 'Reconnect';
  return dialog({
    title: `${verb} ${conn.display_name}`,
    content,
    submitLabel: verb,
    onSubmit: async (form) => {
      const data = new FormData(form);
      let body;
      if (auth.type === 'api_key') {
        body = { values: {} };
        for (const p of auth.params) body.values[p.name] = data.get(`value:${p.name}`);
      } else if (auth.type === 'aws_sigv4') {
        body = { access_key_id: data.get('access_key_id').trim(), secret_access_key: data.get('secret_access_key') };
        if (data.get('session_token')) body.session_token = data.get('session_token');
      } else {
        body = { username: data.get('username'), password: data.get('password') };
      }
      const view = await api('POST', `/connections/${enc(conn.link_name)}/connect`, { json: body });
      toast(`${view.display_name} is connected.`);
      return view;
    },
  });
}

/**
 * OAuth 2 and OAuth 1.0a: the host answers an `authorize_url` (its own /oauth/start) for
 * the authorization-code grant and OAuth 1, where the browser goes to sign in at the
 * provider; client credentials connect at once. A default service without its OAuth
 * client is refused by the API (`client_not_configured`), shown in the dialog.
 */
function oauthConnect(conn, service) {
  const interactive = service.auth.type === 'oauth1' || service.auth.grant_type !== 'client_credentials';
  const verb = conn.status === 'not_connected' ? 'Connect' : 'Reconnect';
  return dialog({
    title: `${verb} ${conn.display_name}`,
    content: [
      h('p', {}, interactive
        ? `You will sign in at ${service.display_name} and allow access; the provider then sends this browser back to the host, which finishes the connection. Come back to this page afterwards.`
        : `The host asks ${service.display_name} for a token now (client credentials).`),
      needsClient(service) ? h('div', { class: 'callout warn' },
        `${service.display_name} has no OAuth client yet: set its client id and secret on its page (Services, ${service.display_name}) first.`) : null,
    ],
    submitLabel: interactive ? 'Continue to sign in' : verb,
    onSubmit: async () => {
      const view = await api('POST', `/connections/${enc(conn.link_name)}/connect`, { json: {} });
      if (view.authorize_url) {
        window.location.assign(view.authorize_url);
      } else {
        toast(`${view.display_name} is connected.`);
      }
      return view;
    },
  });
}

async function revokeConnection(conn) {
  return confirmDialog({
    title: `Revoke ${conn.display_name}?`,
    message: ['The stored credentials are erased. The connection and its grants are kept; connect it again to use it.'],
    confirmLabel: 'Revoke',
    onConfirm: async () => {
      const view = await api('POST', `/connections/${enc(conn.link_name)}/revoke`);
      toast(`${conn.display_name} is revoked.`);
      return view;
    },
  });
}

async function deleteConnection(conn) {
  return confirmDialog({
    title: `Delete ${conn.display_name}?`,
    message: [`The connection ${conn.link_name}, its credentials, its grants and its activity are deleted. Functions that use it will get “unknown-connection”.`],
    confirmLabel: 'Delete',
    onConfirm: async () => {
      await api('DELETE', `/connections/${enc(conn.link_name)}`);
      toast(`${conn.display_name} is deleted.`);
      return true;
    },
  });
}

async function editConnection(conn) {
  let service = null;
  if (conn.service.auth_type) {
    try {
      service = await api('GET', `/services/${enc(conn.service.link_name)}`);
    } catch {
      service = null;
    }
  }
  const name = textField('Connection name', { name: 'display_name', value: conn.display_name, required: true });
  const params = (service?.dynamic_params || []).map((p) =>
    textField(p.display_name, {
      name: `param:${p.key}`, value: conn.params[p.key] ?? '', required: true, maxlength: 200,
      hint: p.pattern ? `{${p.key}}; must match ${p.pattern}` : `{${p.key}}`,
    }));
  return dialog({
    title: `Edit ${conn.display_name}`,
    content: [
      name,
      params.length ? h('div', { class: 'callout warn' }, 'Changing a parameter value changes where the credentials go, so it revokes the connection: connect it again afterwards.') : null,
      params,
    ],
    onSubmit: async (form) => {
      const data = new FormData(form);
      const body = { display_name: data.get('display_name') };
      const values = {};
      let changed = false;
      for (const p of service?.dynamic_params || []) {
        values[p.key] = data.get(`param:${p.key}`);
        if (values[p.key] !== (conn.params[p.key] ?? '')) changed = true;
      }
      if (changed) body.params = values;
      const view = await api('PATCH', `/connections/${enc(conn.link_name)}`, { json: body });
      toast(changed && view.status === 'revoked' ? `Saved; ${view.display_name} was revoked: connect it again.` : 'Saved.');
      return view;
    },
  });
}

// ---------------------------------------------------------------- shell

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  renderSignIn(message);
}

function themeToggle() {
  const b = h('button', {
    type: 'button', class: 'theme-toggle', 'data-theme-toggle': '',
    onclick: () => {
      const next = document.documentElement.dataset.theme === 'dark' ? 'light' : 'dark';
      localStorage.setItem(THEME_KEY, next);
      applyTheme(next);
    },
  }, h('span', { class: 'theme-icon', 'aria-hidden': 'true' }), h('span', { class: 'label' }, 'Dark mode'));
  return b;
}

function renderSignIn(message) {
  const app = document.getElementById('app');
  const slot = errorSlot();
  const input = h('input', { type: 'password', name: 'token', autocomplete: 'off', spellcheck: 'false', required: true });
  const submit = h('button', { type: 'submit', class: 'btn primary' }, 'Sign in');
  // method=post: were the script to fail, the browser would never put the token in a URL.
  const form = h('form', { class: 'signin card', method: 'post', novalidate: true },
    h('h1', { tabindex: '-1' }, 'Switchboard'),
    h('p', {}, 'Sign in with the admin token: the ', h('code', {}, 'admin-token'), ' file in the host\'s data folder. It is kept in this tab only (session storage).'),
    field('Admin token', input, { required: true }),
    slot.el,
    h('div', { class: 'actions' }, submit));
  if (message) slot.show({ message });
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const value = input.value.trim();
    if (!value) {
      slot.show({ message: 'Paste the admin token.' });
      input.focus();
      return;
    }
    const ok = await busy(submit, slot, async () => {
      await api('GET', '/status', { tokenOverride: value });
      return true;
    });
    if (ok) {
      sessionStorage.setItem(TOKEN_KEY, value);
      renderShell();
    } else {
      input.select();
      input.focus();
    }
  });
  app.replaceChildren(h('div', { class: 'signin-wrap' }, form, h('div', { class: 'signin-foot' }, themeToggle())));
  applyTheme(document.documentElement.dataset.theme);
  document.title = 'Sign in · Switchboard';
  input.focus();
}

const NAV = [
  ['#/connections', 'Connections', /^\/connections/],
  ['#/services', 'Services', /^\/services/],
  ['#/functions', 'Functions', /^\/functions/],
];

function renderShell() {
  const app = document.getElementById('app');
  const skip = h('a', {
    class: 'skip', href: '#main',
    onclick: (e) => {
      e.preventDefault();
      document.getElementById('main').focus();
    },
  }, 'Skip to content');
  const nav = h('nav', { class: 'sidebar', 'aria-label': 'Main' }, h('div', { class: 'sidebar-inner' },
    h('div', { class: 'brand' }, h('span', { class: 'brand-mark', 'aria-hidden': 'true' }), 'Switchboard'),
    h('ul', { class: 'nav' }, NAV.map(([href, label]) => h('li', {}, h('a', { href }, label)))),
    h('div', { class: 'sidebar-foot' },
      themeToggle(),
      h('button', { type: 'button', class: 'btn link', onclick: () => signOut('Signed out.') }, 'Sign out'))));
  const main = h('main', { id: 'main', tabindex: '-1' });
  app.replaceChildren(skip, h('div', { class: 'shell' }, nav, main));
  applyTheme(document.documentElement.dataset.theme);
  render();
}

// ---------------------------------------------------------------- router

const ROUTES = [
  [/^\/connections$/, pageConnections],
  [/^\/connections\/new$/, pageNewConnection],
  [/^\/connections\/([^/]+)$/, pageConnection],
  [/^\/services$/, pageServices],
  [/^\/services\/new$/, (main) => pageServiceForm(main, null)],
  [/^\/services\/([^/]+)\/edit$/, (main, link) => pageServiceForm(main, link)],
  [/^\/services\/([^/]+)$/, pageService],
  [/^\/functions$/, pageFunctions],
  [/^\/functions\/([^/]+)$/, pageFunction],
];

let renderGeneration = 0;

function go(hash) {
  if (location.hash === hash) render();
  else location.hash = hash;
}

async function render() {
  const main = document.getElementById('main');
  if (!main || !token()) return;
  const raw = location.hash.startsWith('#/') ? location.hash.slice(1) : '/connections';
  const [path, q] = raw.split('?');
  const query = new URLSearchParams(q || '');
  for (const a of document.querySelectorAll('.nav a')) {
    const active = NAV.find(([href]) => href === a.getAttribute('href'))[2].test(path);
    if (active) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const generation = ++renderGeneration;
  const page = h('div', { class: 'page' });
  const route = ROUTES.map(([re, fn]) => [path.match(re), fn]).find(([m]) => m);
  main.setAttribute('aria-busy', 'true');
  try {
    if (!route) {
      add(page, h('h1', { tabindex: '-1' }, 'Not found'), h('p', {}, 'No such page. ', h('a', { href: '#/connections' }, 'Go to connections.')));
    } else {
      const [match, fn] = route;
      await fn(page, ...match.slice(1).map(decodeURIComponent), query);
    }
  } catch (err) {
    if (err.status === 401) return;
    page.replaceChildren(
      h('h1', { tabindex: '-1' }, err.status === 404 ? 'Not found' : 'Something went wrong'),
      h('div', { class: 'form-error', role: 'alert' }, err.message, err.code ? h('code', { class: 'form-error-code' }, err.code) : null),
      h('p', {}, h('a', { href: '#/connections' }, 'Back to connections')));
  }
  if (generation !== renderGeneration) return;
  main.removeAttribute('aria-busy');
  main.replaceChildren(page);
  const h1 = page.querySelector('h1');
  document.title = `${h1 ? h1.textContent : 'Console'} · Switchboard`;
  if (h1 && !document.querySelector('dialog[open]')) h1.focus({ preventScroll: true });
  window.scrollTo(0, 0);
}

window.addEventListener('hashchange', render);

function header(title, ...actions) {
  return h('header', { class: 'page-head' },
    h('div', { class: 'page-title' }, title),
    actions.length ? h('div', { class: 'page-actions' }, actions) : null);
}

const linkButton = (href, label, cls = 'btn') => h('a', { href, class: cls }, label);

function searchBox(label, onInput) {
  const input = h('input', { type: 'search', placeholder: label, 'aria-label': label, autocomplete: 'off', class: 'search' });
  input.addEventListener('input', () => onInput(input.value.trim().toLowerCase()));
  return input;
}

// ---------------------------------------------------------------- connections

function connectionActions(conn, { onChange, compact = true } = {}) {
  const can = !!conn.service.auth_type;
  const acts = [];
  const run = (fn) => async (e) => {
    const result = await fn(conn);
    if (result) onChange(result, e);
  };
  acts.push(h('button', { type: 'button', class: 'btn small', onclick: run(editConnection) }, 'Edit'));
  if (can) {
    acts.push(h('button', { type: 'button', class: 'btn small', onclick: run(connectDialog) },
      conn.status === 'not_connected' ? 'Connect' : 'Reconnect'));
  }
  if (conn.status === 'connected' || conn.status === 'needs_reconnect') {
    acts.push(h('button', { type: 'button', class: 'btn small', onclick: run(revokeConnection) }, 'Revoke'));
  }
  acts.push(h('button', { type: 'button', class: 'btn small danger-text', onclick: run(deleteConnection) }, 'Delete'));
  return h('div', { class: compact ? 'row-actions' : 'page-actions', role: 'group', 'aria-label': `Actions for ${conn.display_name}` }, acts);
}

async function pageConnections(page) {
  const { connections } = await api('GET', '/connections');
  const list = h('ul', { class: 'rows', 'aria-label': 'My connections' });
  const empty = h('p', { class: 'empty', hidden: true }, 'No connection matches.');
  const draw = (filter = '') => {
    const shown = connections.filter((c) => !filter
      || [c.display_name, c.link_name, c.service.display_name, c.service.link_name, c.status]
        .some((s) => s.toLowerCase().includes(filter)));
    empty.hidden = shown.length > 0 || connections.length === 0;
    list.replaceChildren(...shown.map((c) => h('li', { class: 'row', 'data-link': c.link_name },
      h('div', { class: 'row-main' },
        h('a', { href: `#/connections/${enc(c.link_name)}`, class: 'row-title' }, c.display_name),
        h('div', { class: 'row-sub' },
          h('code', {}, c.link_name), ' · ',
          c.service.display_name || h('span', { class: 'muted' }, `${c.service.link_name} (deleted)`),
          c.granted_to.length ? ` · used by ${c.granted_to.join(', ')}` : '')),
      badge(c.status),
      connectionActions(c, { onChange: () => render() }))));
  };
  draw();
  add(page,
    header(h('h1', { tabindex: '-1' }, 'My connections'),
      linkButton('#/connections/new', 'Create connection', 'btn primary')),
    connections.length === 0
      ? h('div', { class: 'empty-state card' },
        h('h2', {}, 'No connections yet'),
        h('p', {}, 'A connection is one account of a service: the host keeps its credentials and adds them to the requests of the functions you grant it to.'),
        linkButton('#/connections/new', 'Create your first connection', 'btn primary'))
      : [h('div', { class: 'toolbar' }, searchBox('Search connections', draw), h('span', { class: 'muted' }, `${connections.length} connection${connections.length === 1 ? '' : 's'}`)), list, empty]);
}

function definitionList(rows) {
  return h('dl', { class: 'details' }, rows.filter(Boolean).map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const area = h('textarea', { class: 'offscreen', readonly: true });
    area.value = text;
    document.body.append(area);
    area.select();
    const ok = document.execCommand('copy');
    area.remove();
    return ok;
  }
}

async function pageConnection(page, link) {
  const [conn, activity] = await Promise.all([
    api('GET', `/connections/${enc(link)}`),
    api('GET', `/connections/${enc(link)}/activity?limit=20`),
  ]);
  const after = (result) => {
    if (result === true) go('#/connections');
    else render();
  };
  const copy = h('button', {
    type: 'button', class: 'btn small',
    onclick: async () => {
      const ok = await copyText(conn.snippet);
      copy.textContent = ok ? 'Copied' : 'Copy failed';
      toast(ok ? 'The snippet is on the clipboard.' : 'Select the snippet and copy it by hand.');
      setTimeout(() => { copy.textContent = 'Copy'; }, 2000);
    },
  }, 'Copy');
  add(page,
    h('p', { class: 'crumbs' }, h('a', { href: '#/connections' }, 'My connections'), ' / Connection summary'),
    header(h('div', {}, h('h1', { tabindex: '-1' }, conn.display_name), ' ', badge(conn.status)),
      connectionActions(conn, { onChange: after, compact: false })),
    conn.status === 'not_connected' ? h('div', { class: 'callout' }, 'Not connected yet: give its credentials with Connect.') : null,
    conn.status === 'revoked' ? h('div', { class: 'callout warn' }, `Revoked${conn.status_reason ? `: ${conn.status_reason}` : ''}. Functions get “needs-reconnect” until it is connected again.`) : null,
    h('div', { class: 'grid' },
      h('section', { class: 'card', 'aria-labelledby': 'sum-details' },
        h('h2', { id: 'sum-details' }, 'Details'),
        definitionList([
          ['Link name', h('code', {}, conn.link_name)],
          ['Service', conn.service.auth_type
            ? h('a', { href: `#/services/${enc(conn.service.link_name)}` }, conn.service.display_name)
            : h('span', {}, h('code', {}, conn.service.link_name), ' (deleted)')],
          ['Authentication', AUTH_LABELS[conn.service.auth_type] || '—'],
          ['Status', badge(conn.status)],
          ['Status reason', conn.status_reason || h('span', { class: 'muted' }, '—')],
          ['Credentials set', conn.credentials.length ? conn.credentials.map((c) => h('code', { class: 'tag' }, c)) : h('span', { class: 'muted' }, 'none')],
          ['Parameters', Object.keys(conn.params).length
            ? h('ul', { class: 'plain' }, Object.entries(conn.params).map(([k, v]) => h('li', {}, h('code', {}, `{${k}}`), ' = ', v)))
            : h('span', { class: 'muted' }, 'none')],
          ['API origins', conn.api_origins.length
            ? h('ul', { class: 'plain' }, conn.api_origins.map((o) => h('li', {}, h('code', {}, o))))
            : h('span', { class: 'muted' }, 'none')],
          ['Granted to', conn.granted_to.length
            ? h('ul', { class: 'plain' }, conn.granted_to.map((f) => h('li', {}, h('a', { href: `#/functions/${enc(f)}` }, f))))
            : h('span', { class: 'muted' }, 'no function yet (grant it on a function\'s page)')],
          ['Created', [time(conn.created_at), ` by ${conn.created_by}`]],
          ['Updated', time(conn.updated_at)],
          ['Connected', time(conn.connected_at)],
          ['Revoked', time(conn.revoked_at)],
        ])),
      h('section', { class: 'card', 'aria-labelledby': 'sum-snippet' },
        h('div', { class: 'card-head' }, h('h2', { id: 'sum-snippet' }, 'Use it in a function'), copy),
        h('p', { class: 'muted' }, 'Paste into a function (Rust, switchboard-sdk). The host adds the credentials; the function never sees them.'),
        h('pre', { class: 'code', tabindex: '0', 'aria-label': 'SDK snippet' }, h('code', { class: 'snippet' }, conn.snippet)))),
    h('section', { class: 'card', 'aria-labelledby': 'sum-activity' },
      h('h2', { id: 'sum-activity' }, 'Recent activity'),
      activityTable(activity.activity.slice().reverse(), { showConnection: false })));
}

function activityTable(records, { showConnection }) {
  if (!records.length) return h('p', { class: 'muted' }, 'No use yet.');
  return h('div', { class: 'table-wrap' }, h('table', {},
    h('thead', {}, h('tr', {}, ['Time', showConnection ? 'Connection' : 'Function', 'Request', 'Status', 'Outcome', 'Duration'].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, records.map((r) => h('tr', {},
      h('td', {}, time(r.time)),
      h('td', {}, showConnection ? h('a', { href: `#/connections/${enc(r.connection)}` }, r.connection) : h('a', { href: `#/functions/${enc(r.function)}` }, r.function)),
      h('td', {}, h('code', {}, `${r.method} ${r.origin}${r.path}`)),
      h('td', {}, r.status ?? '—'),
      h('td', {}, h('span', { class: r.outcome === 'ok' ? 'ok' : 'bad' }, r.outcome)),
      h('td', {}, `${Number(r.duration_ms).toFixed(1)} ms`))))));
}

// ---------------------------------------------------------------- service form

/**
 * The service fields (create, the Custom service tab, edit). `existing` is a service
 * view when editing: link name and auth type are read-only, API-key parameters can be
 * edited but not removed. `read()` returns the definition, or throws with what to fix.
 */
function serviceFields(existing, { categories = [], onDynamicChange } = {}) {
  const def = existing || {
    link_name: '', display_name: '', auth: { type: 'api_key', params: [] },
    dynamic_params: [], api_origins: [], category: null, description: null,
  };
  const editing = !!existing;
  const name = textField('Service name', { name: 'service_display_name', value: def.display_name, required: true, hint: 'Up to 50 characters.' });
  const link = linkNameField('Service link name', { value: def.link_name, readonly: editing, source: name.input });
  const authOptions = Object.entries(AUTH_LABELS).map(([v, l]) =>
    [v, AVAILABLE_AUTH.includes(v) ? l : `${l} (${v === 'oauth2' ? 'with the CLI or API for now' : 'coming later'})`, { disabled: !AVAILABLE_AUTH.includes(v) && v !== def.auth.type }]);
  const auth = selectField('Authentication type', authOptions, {
    name: 'auth_type', value: def.auth.type, disabled: editing,
    hint: editing ? 'The authentication type never changes.' : 'As the API\'s documentation says.',
  });

  // API-key parameters: param type, actual parameter, display name.
  const paramRows = h('div', { class: 'rows-edit' });
  const paramHead = h('div', { class: 'row-edit head', 'aria-hidden': 'true' },
    h('span', {}, 'Param type'), h('span', {}, 'Actual parameter'), h('span', {}, 'Parameter display name'), h('span', {}));
  const addParamRow = (p = { name: '', display_name: '', param_type: 'header' }, locked = false) => {
    const n = paramRows.children.length + 1;
    const row = h('div', { class: 'row-edit', 'data-locked': locked ? '1' : null },
      h('select', { 'aria-label': `Param type ${n}`, 'data-k': 'param_type', value: p.param_type }, PARAM_TYPES.map(([v, l]) => h('option', { value: v }, l))),
      h('input', { type: 'text', 'aria-label': `Actual parameter ${n}`, 'data-k': 'name', value: p.name, readonly: locked, placeholder: 'api_key', autocomplete: 'off', spellcheck: 'false', maxlength: 100 }),
      h('input', { type: 'text', 'aria-label': `Parameter display name ${n}`, 'data-k': 'display_name', value: p.display_name, placeholder: 'API key', autocomplete: 'off', maxlength: 50 }),
      locked
        ? h('span', { class: 'lock', title: 'A saved parameter is never removed' }, 'saved')
        : h('button', {
          type: 'button', class: 'btn small icon', 'aria-label': `Remove parameter ${n}`,
          onclick: () => {
            row.remove();
            paramRows.querySelector('input:not([readonly]), select')?.focus();
          },
        }, '✕'));
    const select = row.querySelector('select');
    select.value = p.param_type;
    paramRows.append(row);
    return row;
  };
  if (def.auth.type === 'api_key') for (const p of def.auth.params) addParamRow(p, editing);
  if (!paramRows.children.length) addParamRow();
  const apiKeyBox = h('fieldset', { class: 'sub' },
    h('legend', {}, 'API key parameters'),
    h('p', { class: 'hint' }, 'Each value is asked for when connecting and sent under the actual parameter’s name.', editing ? ' Parameters can be added and edited, never removed.' : ''),
    paramHead, paramRows,
    h('button', {
      type: 'button', class: 'btn small',
      onclick: () => addParamRow().querySelector('input').focus(),
    }, '+ Add parameter'));
  const basicBox = h('div', { class: 'callout' }, 'Basic: connecting asks for a username and a password, sent as Authorization: Basic. Nothing to configure here.');
  const awsService = textField('AWS service', { name: 'aws_service', value: def.auth.service || '', required: true, maxlength: 64, placeholder: 's3', hint: 'The service requests are signed for: s3, sqs, execute-api…' });
  const awsRegion = textField('AWS region', { name: 'aws_region', value: def.auth.region || '', required: true, maxlength: 64, placeholder: 'us-east-1', hint: 'Lower-case letters, digits and -.' });
  const awsBox = h('fieldset', { class: 'sub' },
    h('legend', {}, 'AWS Signature Version 4'),
    h('p', { class: 'hint' }, 'Connecting asks for an access key id, a secret access key and, for temporary credentials, a session token. Every request is signed by the host. Leave the API origins empty to use AWS\'s endpoint for the service and region.'),
    h('div', { class: 'two' }, awsService, awsRegion));
  const showAuth = () => {
    apiKeyBox.hidden = auth.input.value !== 'api_key';
    basicBox.hidden = auth.input.value !== 'basic';
    awsBox.hidden = auth.input.value !== 'aws_sigv4';
    originsField.querySelector('.req').hidden = auth.input.value === 'aws_sigv4';
  };
  auth.input.addEventListener('change', showAuth);

  // Dynamic parameters.
  const dynRows = h('div', { class: 'rows-edit' });
  const addDynRow = (p = { key: '', display_name: '', pattern: '' }) => {
    const n = dynRows.children.length + 1;
    const row = h('div', { class: 'row-edit' },
      h('input', { type: 'text', 'aria-label': `Parameter key ${n}`, 'data-k': 'key', value: p.key, placeholder: 'domain', autocomplete: 'off', spellcheck: 'false', maxlength: 50 }),
      h('input', { type: 'text', 'aria-label': `Dynamic parameter display name ${n}`, 'data-k': 'display_name', value: p.display_name, placeholder: 'Your domain', autocomplete: 'off', maxlength: 50 }),
      h('input', { type: 'text', 'aria-label': `Pattern ${n} (optional)`, 'data-k': 'pattern', value: p.pattern || '', placeholder: '[a-z0-9-]{1,40}', autocomplete: 'off', spellcheck: 'false' }),
      h('button', {
        type: 'button', class: 'btn small icon', 'aria-label': `Remove dynamic parameter ${n}`,
        onclick: () => {
          row.remove();
          onDynamicChange?.();
        },
      }, '✕'));
    dynRows.append(row);
    return row;
  };
  for (const p of def.dynamic_params) addDynRow(p);
  dynRows.addEventListener('input', () => onDynamicChange?.());
  const dynBox = h('fieldset', { class: 'sub' },
    h('legend', {}, 'Dynamic parameters'),
    h('p', { class: 'hint' }, 'Values each connection gives, used as {key} in API origins and in the URLs functions call (a domain, an account id).'),
    h('div', { class: 'row-edit head', 'aria-hidden': 'true' }, h('span', {}, 'Key'), h('span', {}, 'Display name'), h('span', {}, 'Pattern (optional)'), h('span', {})),
    dynRows,
    h('button', {
      type: 'button', class: 'btn small',
      onclick: () => {
        addDynRow().querySelector('input').focus();
        onDynamicChange?.();
      },
    }, '+ Add dynamic parameter'));

  const origins = h('textarea', { name: 'api_origins', rows: 3, spellcheck: 'false', placeholder: 'https://api.example.com', value: def.api_origins.join('\n') });
  const originsField = field('API origins', origins, { required: true, hint: 'One per line: https://host[:port], may hold {key} placeholders. Credentials are sent to these origins and nowhere else.' });
  const listId = uid('cats');
  const category = textField('Category', { name: 'category', value: def.category || '', hint: 'Groups services on the Pick your service tab.' });
  category.input.setAttribute('list', listId);
  category.append(h('datalist', { id: listId }, categories.map((c) => h('option', { value: c }))));
  const description = h('textarea', { name: 'description', rows: 2, maxlength: 1000, value: def.description || '' });

  showAuth();
  const element = h('div', { class: 'service-fields' },
    h('div', { class: 'two' }, name, link),
    auth, apiKeyBox, basicBox, awsBox, dynBox, originsField,
    h('div', { class: 'two' }, category, field('Description', description)));

  const rowsOf = (box) => [...box.children].map((row) => {
    const o = {};
    for (const i of row.querySelectorAll('[data-k]')) o[i.dataset.k] = i.value.trim();
    return o;
  });

  return {
    element,
    focus: () => name.input.focus(),
    dynamicParams: () => rowsOf(dynRows).filter((p) => p.key),
    read() {
      const problems = [];
      name.setError('');
      if (!name.input.value.trim()) {
        name.setError('Required.');
        problems.push([name.input, 'Service name: required.']);
      }
      const linkProblem = editing ? '' : link.check();
      if (linkProblem) problems.push([link.input, `Service link name: ${linkProblem}`]);
      const type = auth.input.value;
      let authDef = { type };
      if (type === 'api_key') {
        const params = rowsOf(paramRows).filter((p) => p.name || p.display_name);
        if (!params.length) problems.push([paramRows.querySelector('input'), 'API key parameters: add at least one.']);
        params.forEach((p, i) => {
          if (!p.name || !p.display_name) problems.push([paramRows.children[i]?.querySelector('input'), `API key parameter ${i + 1}: give both the actual parameter and its display name.`]);
        });
        authDef = { type, params };
      } else if (type === 'aws_sigv4') {
        for (const f of [awsService, awsRegion]) {
          const v = f.input.value.trim();
          const problem = AWS_NAME.test(v) ? '' : (v ? '1 to 64 lower-case letters, digits and -.' : 'Required.');
          f.setError(problem);
          if (problem) problems.push([f.input, `${f.querySelector('label').firstChild.textContent}: ${problem}`]);
        }
        authDef = { type, service: awsService.input.value.trim(), region: awsRegion.input.value.trim() };
      } else if (!AVAILABLE_AUTH.includes(type)) {
        authDef = def.auth; // kept as it is (edited with the CLI until the console supports it)
      }
      const dyn = rowsOf(dynRows).filter((p) => p.key || p.display_name || p.pattern).map((p) => ({
        key: p.key, display_name: p.display_name, ...(p.pattern ? { pattern: p.pattern } : {}),
      }));
      const originList = origins.value.split('\n').map((s) => s.trim()).filter(Boolean);
      originsField.setError('');
      if (!originList.length && type !== 'aws_sigv4') {
        originsField.setError('At least one origin.');
        problems.push([origins, 'API origins: at least one, like https://api.example.com.']);
      }
      if (problems.length) {
        const err = new Error(problems.map(([, m]) => m).join(' '));
        err.focus = problems[0][0];
        throw err;
      }
      return {
        link_name: link.input.value,
        display_name: name.input.value.trim(),
        auth: authDef,
        dynamic_params: dyn,
        api_origins: originList,
        category: category.input.value.trim() || null,
        description: description.value.trim() || null,
      };
    },
  };
}

// ---------------------------------------------------------------- service browser

/**
 * Default and custom services grouped by category, with a search box, a category filter
 * and (`kindFilter`) a Default/Custom filter. Cards are built once and filtered by
 * hiding them, so typing stays fast with the whole catalogue. With `onPick` the cards
 * are toggle buttons (`aria-pressed`), otherwise links to the service's page.
 */
function serviceBrowser(services, { onPick, selected = null, kindFilter = false, headingLevel = 'h3' } = {}) {
  const groups = new Map();
  for (const s of services) {
    const key = categoryKey(s.category);
    if (!groups.has(key)) groups.set(key, { label: categoryLabel(s.category), list: [] });
    groups.get(key).list.push(s);
  }
  const ordered = [...groups.entries()].sort(([a, ga], [b, gb]) =>
    (a === '') - (b === '') || ga.label.localeCompare(gb.label));
  const cards = [];
  const sections = ordered.map(([key, g]) => {
    g.list.sort((a, b) => a.display_name.localeCompare(b.display_name) || a.link_name.localeCompare(b.link_name));
    const count = h('span', { class: 'group-count' });
    const items = g.list.map((s) => {
      const auth = AUTH_LABELS[s.auth.type] || s.auth.type;
      const meta = onPick
        ? [auth, needsClient(s) ? 'OAuth client not set' : null]
        : [auth, `${s.connections} connection${s.connections === 1 ? '' : 's'}`];
      const body = [
        h('span', { class: 'service-top' }, h('span', { class: 'service-name' }, s.display_name), kindBadge(s.kind)),
        h('span', { class: 'service-meta' }, meta.filter(Boolean).join(' · ')),
        s.description ? h('span', { class: 'service-desc' }, s.description) : null,
      ];
      const el = onPick
        ? h('button', {
          type: 'button', class: 'service-card', 'data-service': s.link_name,
          'aria-pressed': String(selected?.link_name === s.link_name),
          onclick: () => {
            setSelected(s.link_name);
            onPick(s);
          },
        }, body)
        : h('a', { class: 'service-card', href: `#/services/${enc(s.link_name)}`, 'data-service': s.link_name }, body);
      const text = [s.display_name, s.link_name, s.category || '', g.label, s.description || '', auth]
        .join('\n').toLowerCase();
      const card = { s, el, text, key };
      cards.push(card);
      return card;
    });
    const section = h('section', { class: 'service-group', 'data-category': key || null },
      h(headingLevel, {}, g.label, ' ', count),
      h('div', { class: 'cards' }, items.map((c) => c.el)));
    return { key, section, items, count };
  });

  // Filters.
  const search = h('input', {
    type: 'search', placeholder: 'Search services', 'aria-label': 'Search services', autocomplete: 'off',
    spellcheck: 'false', class: 'search',
  });
  const category = h('select', { name: 'category_filter', class: 'filter-select' },
    h('option', { value: '*' }, `All categories (${services.length})`),
    ordered.map(([key, g]) => h('option', { value: key }, `${g.label} (${g.list.length})`)));
  const categoryField = h('div', { class: 'filter' }, h('label', { for: category.id = uid('cat') }, 'Filter by category'), category);
  let kind = 'all';
  const kinds = { all: services.length, default: 0, custom: 0 };
  for (const s of services) kinds[s.kind === 'default' ? 'default' : 'custom'] += 1;
  const kindName = uid('kind');
  const kindBox = kindFilter ? h('fieldset', { class: 'kind-filter' },
    h('legend', {}, 'Kind'),
    [['all', 'All'], ['default', 'Default'], ['custom', 'Custom']].map(([v, label]) => h('label', { class: 'seg' },
      h('input', {
        type: 'radio', name: kindName, value: v, checked: v === 'all',
        onchange: () => {
          kind = v;
          apply();
        },
      }),
      h('span', {}, `${label} (${kinds[v]})`)))) : null;
  const status = h('p', { class: 'muted browser-status', 'aria-live': 'polite' });

  function apply() {
    const words = search.value.trim().toLowerCase().split(/\s+/).filter(Boolean);
    const cat = category.value;
    let shown = 0;
    for (const g of sections) {
      let inGroup = 0;
      const groupOn = cat === '*' || cat === g.key;
      for (const c of g.items) {
        const on = groupOn
          && (kind === 'all' || (kind === 'default') === (c.s.kind === 'default'))
          && words.every((w) => c.text.includes(w));
        c.el.hidden = !on;
        if (on) inGroup += 1;
      }
      g.section.hidden = inGroup === 0;
      g.count.textContent = `(${inGroup})`;
      shown += inGroup;
    }
    status.textContent = shown === services.length
      ? `${services.length} service${services.length === 1 ? '' : 's'}`
      : shown ? `${shown} of ${services.length} services match.` : 'No service matches.';
  }
  search.addEventListener('input', apply);
  category.addEventListener('change', apply);

  function setSelected(link) {
    for (const c of cards) c.el.setAttribute('aria-pressed', String(c.s.link_name === link));
  }

  const list = h('div', { class: onPick ? 'service-groups service-scroll' : 'service-groups' }, sections.map((g) => g.section));
  if (onPick) {
    list.tabIndex = -1; // scrolls with the keyboard once focused; its buttons are reachable with Tab
    list.setAttribute('role', 'region');
    list.setAttribute('aria-label', 'Services');
  }
  apply();
  return {
    element: h('div', { class: 'service-browser' },
      h('div', { class: 'toolbar filters' }, search, categoryField, kindBox),
      status, list),
    search,
    /** Scrolls the selected card into the list's view (once the page is shown). */
    reveal(link) {
      const c = cards.find((x) => x.s.link_name === link);
      if (c && onPick) list.scrollTop = Math.max(0, c.el.offsetTop - 8); // the list is the cards' offsetParent
    },
  };
}

// ---------------------------------------------------------------- create connection

async function pageNewConnection(page, query) {
  const [{ services }, { connections }] = await Promise.all([api('GET', '/services'), api('GET', '/connections')]);
  const takenConn = (v) => (connections.some((c) => c.link_name === v) ? 'Another connection has this link name.' : '');
  const categories = [...new Set(services.map((s) => s.category).filter(Boolean))].sort();
  let selected = services.find((s) => s.link_name === query.get('service')) || null;
  let createdService = null; // the custom service made by an earlier attempt, if its connection failed

  // Tabs (ARIA tabs pattern: arrows move between tabs).
  const tabs = [['pick', 'Pick your service'], ['custom', 'Custom service']];
  let current = services.length === 0 && !selected ? 'custom' : 'pick'; // the catalogue is never empty
  const tabButtons = {};
  const panels = {};
  const tablist = h('div', { role: 'tablist', 'aria-label': 'Service source', class: 'tabs' });
  for (const [id, label] of tabs) {
    tabButtons[id] = h('button', {
      type: 'button', role: 'tab', id: `tab-${id}`, 'aria-controls': `panel-${id}`,
      onclick: () => selectTab(id),
      onkeydown: (e) => {
        if (e.key === 'ArrowRight' || e.key === 'ArrowLeft') {
          const other = id === 'pick' ? 'custom' : 'pick';
          selectTab(other);
          tabButtons[other].focus();
          e.preventDefault();
        }
      },
    }, label);
    tablist.append(tabButtons[id]);
  }

  // Pick your service: default and custom services by category.
  const browser = serviceBrowser(services, {
    selected,
    onPick: (s) => {
      selected = s;
      drawParams();
      details.querySelector('input').focus();
    },
  });
  panels.pick = h('div', { role: 'tabpanel', id: 'panel-pick', 'aria-labelledby': 'tab-pick', class: 'panel' },
    services.length ? browser.element
      : h('p', { class: 'muted' }, 'No services yet. Describe one on the Custom service tab.'));
  if (selected) setTimeout(() => browser.reveal(selected.link_name), 0);

  // Custom service.
  const custom = serviceFields(null, { categories, onDynamicChange: () => drawParams() });
  panels.custom = h('div', { role: 'tabpanel', id: 'panel-custom', 'aria-labelledby': 'tab-custom', class: 'panel' },
    h('fieldset', {}, h('legend', {}, 'Service details'), custom.element));

  // Connection details.
  const connName = textField('Connection name', { name: 'display_name', required: true, hint: 'Up to 50 characters.' });
  const connLink = linkNameField('Link name', { source: connName.input, taken: takenConn, hint: 'What functions pass to invoke_url. A lower-case letter, then lower-case letters, digits or _; at most 50.' });
  const paramsBox = h('div', { class: 'params-box' });
  const paramValues = {};
  const dynamicOf = () => (current === 'pick' ? selected?.dynamic_params || [] : custom.dynamicParams());
  function drawParams() {
    for (const i of paramsBox.querySelectorAll('input')) paramValues[i.dataset.key] = i.value;
    const params = dynamicOf();
    paramsBox.replaceChildren(...params.map((p) => {
      const f = textField(p.display_name || p.key, {
        name: `param:${p.key}`, value: paramValues[p.key] || '', required: true, maxlength: 200,
        hint: p.pattern ? `{${p.key}}; must match ${p.pattern}` : `Fills {${p.key}}.`,
      });
      f.input.dataset.key = p.key;
      return f;
    }));
    chosen.replaceChildren();
    add(chosen, current === 'pick'
      ? (selected ? ['Service: ', h('strong', {}, selected.display_name), ` (${AUTH_LABELS[selected.auth.type]}) `, kindBadge(selected.kind)] : 'Pick a service above.')
      : 'Service: the custom service described above.');
    clientNote.hidden = !(current === 'pick' && selected && needsClient(selected));
    if (!clientNote.hidden) {
      clientNote.replaceChildren(`${selected.display_name} has no OAuth client yet: the connection can be created, but connecting it needs the client id and secret of your app at ${selected.display_name}, set on `,
        h('a', { href: `#/services/${enc(selected.link_name)}` }, `${selected.display_name}’s service page`), '.');
    }
  }
  const chosen = h('p', { class: 'chosen', 'aria-live': 'polite' });
  const clientNote = h('div', { class: 'callout warn', hidden: true });
  const slot = errorSlot();
  const submit = h('button', { type: 'submit', class: 'btn primary' }, 'Create and connect');
  const details = h('fieldset', {},
    h('legend', {}, 'Connection details'),
    chosen,
    clientNote,
    h('div', { class: 'two' }, connName, connLink),
    paramsBox);
  const form = h('form', { class: 'card create-form', method: 'post', novalidate: true },
    tablist, panels.pick, panels.custom, details, slot.el,
    h('div', { class: 'actions' }, submit, linkButton('#/connections', 'Cancel')));
  slot.watch(form);

  function selectTab(id) {
    current = id;
    for (const [t] of tabs) {
      tabButtons[t].setAttribute('aria-selected', String(t === id));
      tabButtons[t].tabIndex = t === id ? 0 : -1;
      panels[t].hidden = t !== id;
    }
    slot.clear();
    drawParams();
  }
  selectTab(current);

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    slot.clear();
    let definition = null;
    try {
      if (current === 'pick' && !selected) throw Object.assign(new Error('Pick a service, or describe one on the Custom service tab.'), { focus: browser.search.isConnected ? browser.search : tabButtons.custom });
      if (current === 'custom' && !createdService) definition = custom.read();
      const problems = [];
      if (!connName.input.value.trim()) {
        connName.setError('Required.');
        problems.push([connName.input, 'Connection name: required.']);
      } else connName.setError('');
      const linkProblem = connLink.check();
      if (linkProblem) problems.push([connLink.input, `Link name: ${linkProblem}`]);
      if (problems.length) throw Object.assign(new Error(problems.map(([, m]) => m).join(' ')), { focus: problems[0][0] });
    } catch (err) {
      slot.show(err);
      err.focus?.focus();
      return;
    }
    const view = await busy(submit, slot, async () => {
      let service = current === 'pick' ? selected : createdService;
      if (!service) {
        service = await api('POST', '/services', { json: definition });
        createdService = service;
        services.push(service);
      }
      const params = {};
      for (const i of paramsBox.querySelectorAll('input')) params[i.dataset.key] = i.value;
      return api('POST', '/connections', {
        json: { link_name: connLink.input.value, display_name: connName.input.value.trim(), service: service.link_name, params },
      });
    });
    if (!view) {
      if (createdService && current === 'custom') {
        slot.el.append(h('p', {}, `The service ${createdService.display_name} was created; fix the connection details and try again (the service is not created twice).`));
      }
      return;
    }
    await connectDialog(view);
    go(`#/connections/${enc(view.link_name)}`);
  });

  add(page,
    h('p', { class: 'crumbs' }, h('a', { href: '#/connections' }, 'My connections'), ' / Create connection'),
    header(h('h1', { tabindex: '-1' }, 'Create connection')),
    form);
}

// ---------------------------------------------------------------- services

async function pageServices(page) {
  const { services } = await api('GET', '/services');
  const defaults = services.filter((s) => s.kind === 'default').length;
  const browser = serviceBrowser(services, { kindFilter: true, headingLevel: 'h2' });
  add(page,
    header(h('h1', { tabindex: '-1' }, 'Services'), linkButton('#/services/new', 'Create service', 'btn primary')),
    h('p', { class: 'muted' },
      `${defaults} default service${defaults === 1 ? '' : 's'} (the built-in catalogue, read-only) and ${services.length - defaults} custom: `,
      'an API’s auth type, its fields and the origins its credentials may go to.'),
    services.length
      ? browser.element
      : h('div', { class: 'empty-state card' }, h('h2', {}, 'No services yet'),
        h('p', {}, 'Describe an API once; then connect as many accounts as you need.'),
        linkButton('#/services/new', 'Create service', 'btn primary')));
}

/** Rows of the service's authentication settings (no secret is ever in a view). */
function authRows(service) {
  const a = service.auth;
  const url = (u) => (u ? h('code', { class: 'url' }, u) : h('span', { class: 'muted' }, '—'));
  if (a.type === 'aws_sigv4') return [['AWS service', h('code', {}, a.service)], ['AWS region', h('code', {}, a.region)]];
  if (a.type === 'api_key') {
    return [['Parameters', h('ul', { class: 'plain' }, a.params.map((p) =>
      h('li', {}, h('code', {}, p.name), ` — ${p.display_name} (${PARAM_TYPES.find(([t]) => t === p.param_type)?.[1] ?? p.param_type})`)))]];
  }
  if (a.type === 'oauth2') {
    return [
      ['Grant type', a.grant_type === 'client_credentials' ? 'Client credentials' : 'Authorization code'],
      a.grant_type !== 'client_credentials' ? ['Authorize URL', url(a.authorize_url)] : null,
      ['Token URL', url(a.access_token_url)],
      ['Scopes', a.scopes?.length ? h('span', { class: 'tags' }, a.scopes.map((sc) => h('code', { class: 'tag' }, sc))) : h('span', { class: 'muted' }, 'none')],
    ];
  }
  if (a.type === 'oauth1') {
    return [
      ['Request token URL', url(a.request_token_url)],
      ['Authorize URL', url(a.authorize_url)],
      ['Access token URL', url(a.access_token_url)],
      ['Signature', `${a.signature_method || 'HMAC-SHA1'}, parameters in the ${a.param_type || 'header'}`],
    ];
  }
  return [];
}

/**
 * The OAuth client card of a default OAuth service: whether the operator's client is
 * set, and a form to set it (`PUT /services/{link}/client`; the secret in a password
 * input, never shown again). Custom services keep their client in their definition.
 */
function oauthClientCard(service) {
  const oauth1 = service.auth.type === 'oauth1';
  const idLabel = oauth1 ? 'Consumer key' : 'Client id';
  const secretLabel = oauth1 ? 'Consumer secret' : 'Client secret';
  const currentId = oauth1 ? service.auth.consumer_key : service.auth.client_id;
  const set = !!service.client_secret_set && !!currentId;
  const statusLine = h('p', { class: 'client-status' },
    h('span', { class: set ? 'badge badge-connected' : 'badge badge-needs_reconnect' }, set ? 'Client set' : 'No client yet'),
    ' ',
    set ? [`${idLabel} `, h('code', {}, currentId)] : `Connections of ${service.display_name} cannot be connected until it is set.`);
  if (service.kind !== 'default') {
    return h('section', { class: 'card', 'aria-labelledby': 'svc-client' },
      h('h2', { id: 'svc-client' }, 'OAuth client'),
      h('p', { class: 'client-status' },
        h('span', { class: service.client_secret_set ? 'badge badge-connected' : 'badge badge-needs_reconnect' },
          service.client_secret_set ? 'Secret set' : 'No secret yet'),
        ' ', currentId ? [`${idLabel} `, h('code', {}, currentId)] : null),
      h('p', { class: 'muted' }, 'A custom service’s client is part of its definition: change it with the CLI or the API.'));
  }
  const slot = errorSlot();
  const id = textField(idLabel, { name: 'client_id', value: currentId || '', required: true, maxlength: 500 });
  id.input.spellcheck = false;
  const secret = h('input', { type: 'password', name: 'client_secret', autocomplete: 'new-password', spellcheck: 'false', required: true, maxlength: 8192 });
  const n = service.connections || 0;
  const secretField = field(secretLabel, secret, {
    required: true,
    hint: `Sealed on the host and never shown again.${set ? ' Give it again to replace the client.' : ''}`,
  });
  const submit = h('button', { type: 'submit', class: 'btn primary' }, set ? 'Replace client' : 'Set client');
  const callback = `${location.origin}/oauth/callback`;
  const form = h('form', { method: 'post', novalidate: true, class: 'client-form' },
    h('p', { class: 'muted' },
      `Register an app with ${service.display_name} and give its ${idLabel.toLowerCase()} and ${secretLabel.toLowerCase()} here. Its redirect (callback) URI is `,
      h('code', {}, callback), ' (with ', h('code', {}, '--public-url'), ', that URL followed by ', h('code', {}, '/oauth/callback'), ').'),
    id, secretField,
    set && n ? h('div', { class: 'callout warn' }, `A different client revokes the ${n} connection${n === 1 ? '' : 's'} of ${service.display_name}: their tokens belong to the old client.`) : null,
    slot.el,
    h('div', { class: 'actions' }, submit));
  slot.watch(form);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    slot.clear();
    const problems = [];
    for (const [f, input, label] of [[id, id.input, idLabel], [secretField, secret, secretLabel]]) {
      const bad = !input.value.trim();
      f.setError(bad ? 'Required.' : '');
      if (bad) problems.push([input, `${label}: required.`]);
    }
    if (problems.length) {
      slot.show({ message: problems.map(([, m]) => m).join(' ') });
      problems[0][0].focus();
      return;
    }
    const view = await busy(submit, slot, () => api('PUT', `/services/${enc(service.link_name)}/client`, {
      json: { client_id: id.input.value.trim(), client_secret: secret.value },
    }));
    if (view) {
      secret.value = '';
      const revoked = view.revoked_connections || [];
      toast(`${service.display_name}: OAuth client set.${revoked.length ? ` Revoked: ${revoked.join(', ')}.` : ''}`);
      render();
    }
  });
  return h('section', { class: 'card', 'aria-labelledby': 'svc-client' },
    h('h2', { id: 'svc-client' }, 'OAuth client'), statusLine, form);
}

async function pageService(page, link) {
  const [service, { connections }] = await Promise.all([api('GET', `/services/${enc(link)}`), api('GET', '/connections')]);
  const mine = connections.filter((c) => c.service.link_name === service.link_name);
  const isDefault = service.kind === 'default';
  const del = isDefault ? null : h('button', {
    type: 'button', class: 'btn danger-text',
    onclick: async () => {
      const done = await confirmDialog({
        title: `Delete ${service.display_name}?`,
        message: [mine.length
          ? `Its ${mine.length} connection${mine.length === 1 ? '' : 's'} (${mine.map((c) => c.link_name).join(', ')}) will be kept but revoked, and can no longer be connected.`
          : 'No connection uses it.'],
        confirmLabel: 'Delete service',
        onConfirm: () => api('DELETE', `/services/${enc(service.link_name)}`),
      });
      if (done) {
        toast(`${service.display_name} is deleted${done.revoked_connections?.length ? `; revoked ${done.revoked_connections.join(', ')}` : ''}.`);
        go('#/services');
      }
    },
  }, 'Delete');
  const a = service.auth;
  const docs = webUrl(service.docs_url);
  const actions = [linkButton(`#/connections/new?service=${enc(service.link_name)}`, 'Create connection', 'btn primary')];
  if (!isDefault) actions.push(linkButton(`#/services/${enc(service.link_name)}/edit`, 'Edit'), del);
  add(page,
    h('p', { class: 'crumbs' }, h('a', { href: '#/services' }, 'Services'), ' / Service'),
    header(h('div', {}, h('h1', { tabindex: '-1' }, service.display_name), ' ', kindBadge(service.kind)), ...actions),
    isDefault ? h('div', { class: 'callout', role: 'note' },
      h('strong', {}, 'Default service, read-only. '),
      `It comes with the host’s built-in catalogue and cannot be edited or deleted; to change it, create a custom service with another link name (`,
      h('code', {}, `switchboard service show ${service.link_name}`), ' prints its definition).') : null,
    h('div', { class: 'grid' },
      h('section', { class: 'card', 'aria-labelledby': 'svc-details' },
        h('h2', { id: 'svc-details' }, 'Service details'),
        definitionList([
          ['Link name', h('code', {}, service.link_name)],
          ['Kind', isDefault ? 'Default (built-in catalogue)' : 'Custom'],
          ['Authentication', AUTH_LABELS[a.type] || a.type],
          ...authRows(service),
          ['Dynamic parameters', service.dynamic_params.length
            ? h('ul', { class: 'plain' }, service.dynamic_params.map((p) => h('li', {}, h('code', {}, `{${p.key}}`), ` — ${p.display_name}`, p.pattern ? [' ', h('code', {}, p.pattern)] : '')))
            : h('span', { class: 'muted' }, 'none')],
          ['API origins', service.api_origins.length
            ? h('ul', { class: 'plain' }, service.api_origins.map((o) => h('li', {}, h('code', {}, o))))
            : h('span', { class: 'muted' }, a.type === 'aws_sigv4' ? 'AWS\'s endpoint for the service and region' : 'none')],
          ['Category', service.category ? categoryLabel(service.category) : h('span', { class: 'muted' }, '—')],
          ['Description', service.description || h('span', { class: 'muted' }, '—')],
          docs ? ['Documentation', h('a', { href: docs, target: '_blank', rel: 'noopener noreferrer', class: 'docs-link' },
            `${service.display_name} documentation`, h('span', { class: 'visually-hidden' }, ' (opens in a new tab)'),
            h('span', { class: 'docs-host', 'aria-hidden': 'true' }, ` ${new URL(docs).host} ↗`))] : null,
          isDefault ? ['Updated', time(service.updated_at)] : ['Created', [time(service.created_at), ` by ${service.created_by}`]],
          isDefault ? null : ['Updated', time(service.updated_at)],
        ])),
      h('div', { class: 'stack' },
        isOAuth(a.type) ? oauthClientCard(service) : null,
        h('section', { class: 'card', 'aria-labelledby': 'svc-conns' },
          h('h2', { id: 'svc-conns' }, `Connections (${mine.length})`),
          mine.length
            ? h('ul', { class: 'plain list' }, mine.map((c) => h('li', {}, h('a', { href: `#/connections/${enc(c.link_name)}` }, c.display_name), ' ', badge(c.status))))
            : h('p', { class: 'muted' }, 'None yet.')))));
}

async function pageServiceForm(page, link) {
  const [existing, { services }] = await Promise.all([
    link ? api('GET', `/services/${enc(link)}`) : null,
    api('GET', '/services'),
  ]);
  if (existing?.kind === 'default') {
    add(page,
      h('p', { class: 'crumbs' }, h('a', { href: '#/services' }, 'Services'), ' / ', h('a', { href: `#/services/${enc(existing.link_name)}` }, existing.display_name), ' / Edit'),
      header(h('h1', { tabindex: '-1' }, `${existing.display_name} is read-only`)),
      h('div', { class: 'callout' }, 'Default services come with the host and cannot be edited. To change one, create a custom service with another link name.'),
      h('p', {}, linkButton('#/services/new', 'Create service', 'btn primary'), ' ', linkButton(`#/services/${enc(existing.link_name)}`, `Back to ${existing.display_name}`)));
    return;
  }
  const categories = [...new Set(services.map((s) => s.category).filter(Boolean))].sort();
  const fields = serviceFields(existing, { categories });
  const slot = errorSlot();
  const n = existing?.connections || 0;
  const submit = h('button', { type: 'submit', class: 'btn primary' },
    existing ? (n ? `Save and revoke ${n} connection${n === 1 ? '' : 's'}` : 'Save') : 'Create service');
  const form = h('form', { class: 'card', method: 'post', novalidate: true },
    existing ? h('div', { class: 'callout warn', role: 'note' },
      h('strong', {}, 'Editing revokes connections. '),
      `Saving any change revokes every connection of this service (${n} now): their credentials are erased and they must be connected again. The link name and the authentication type never change; API-key parameters can be added or edited, not removed.`) : null,
    fields.element, slot.el,
    h('div', { class: 'actions' }, submit, linkButton(existing ? `#/services/${enc(existing.link_name)}` : '#/services', 'Cancel')));
  slot.watch(form);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    let def;
    try {
      def = fields.read();
    } catch (err) {
      slot.show(err);
      err.focus?.focus();
      return;
    }
    const view = await busy(submit, slot, () => (existing
      ? api('PUT', `/services/${enc(existing.link_name)}`, { json: def })
      : api('POST', '/services', { json: def })));
    if (view) {
      const revoked = view.revoked_connections || [];
      toast(existing ? `Saved.${revoked.length ? ` Revoked: ${revoked.join(', ')}.` : ''}` : `${view.display_name} is created.`);
      go(`#/services/${enc(view.link_name)}`);
    }
  });
  add(page,
    h('p', { class: 'crumbs' }, h('a', { href: '#/services' }, 'Services'), existing ? [' / ', h('a', { href: `#/services/${enc(existing.link_name)}` }, existing.display_name)] : '', existing ? ' / Edit' : ' / Create'),
    header(h('h1', { tabindex: '-1' }, existing ? `Edit ${existing.display_name}` : 'Create service')),
    form);
}

// ---------------------------------------------------------------- functions

/** The deploy form: name (unless fixed), the .wasm (file input and drop zone), limits. */
function deployForm({ fixedName, onDeployed, current }) {
  const slot = errorSlot();
  const nameField = fixedName ? null : linkNameField('Function name', { dashes: true, hint: 'A lower-case letter, then lower-case letters, digits, _ or -; at most 50.' });
  const file = h('input', { type: 'file', name: 'wasm', accept: '.wasm,application/wasm', class: 'file-input' });
  const chosen = h('span', { class: 'file-chosen', 'aria-live': 'polite' });
  const fileField = field('Component (.wasm)', file, { hint: 'A WebAssembly component built for wasm32-wasip2; at most 32 MiB.' });
  // The drop zone wraps the (labelled, keyboard-reachable) file input.
  const zone = h('div', { class: 'dropzone' });
  file.replaceWith(zone);
  add(zone, [h('span', { class: 'dropzone-text' }, 'Drop a .wasm component here, or choose one:'), file, chosen]);
  const showFile = () => {
    const f = file.files[0];
    chosen.textContent = f ? `Chosen: ${f.name} (${bytes(f.size)})` : '';
    if (f && nameField && !nameField.input.value) {
      nameField.input.value = suggestLink(f.name.replace(/\.wasm$/i, ''), { dashes: true });
      nameField.check();
    }
  };
  file.addEventListener('change', showFile);
  for (const ev of ['dragenter', 'dragover']) {
    zone.addEventListener(ev, (e) => {
      e.preventDefault();
      zone.classList.add('over');
    });
  }
  for (const ev of ['dragleave', 'drop']) zone.addEventListener(ev, () => zone.classList.remove('over'));
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    if (e.dataTransfer?.files?.length) {
      file.files = e.dataTransfer.files;
      showFile();
    }
  });
  const lim = current?.limits || {};
  const num = (label, name, value, placeholder, hint) => {
    const f = textField(label, { name, type: 'number', value: value ?? '', placeholder, hint, maxlength: 7 });
    f.input.min = name === 'max_requests' ? '0' : '1';
    f.input.inputMode = 'numeric';
    return f;
  };
  const memory = num('Memory (MiB)', 'memory_mib', lim.memory_mib, '64', 'Per linear memory.');
  const timeout = num('Timeout (ms)', 'timeout_ms', lim.timeout_ms, '10000', 'Wall clock, host calls included.');
  const maxReq = num('Max requests', 'max_requests', lim.max_requests, '32', 'Outbound requests per call.');
  const hosts = h('textarea', { name: 'allow_host', rows: 2, spellcheck: 'false', placeholder: 'https://api.example.com', value: (current?.allowed_hosts || []).join('\n') });
  const submit = h('button', { type: 'submit', class: 'btn primary' }, fixedName ? 'Deploy new version' : 'Deploy');
  const form = h('form', { class: 'deploy', method: 'post', novalidate: true },
    nameField, fileField,
    h('details', { class: 'limits', open: fixedName ? null : null },
      h('summary', {}, 'Limits and allowed hosts'),
      h('div', { class: 'three' }, memory, timeout, maxReq),
      field('Allowed hosts', hosts, { hint: 'One origin per line, reachable by invoke_url without a connection. Connections bring their own API origins.' })),
    slot.el,
    h('div', { class: 'actions' }, submit));
  slot.watch(form);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    slot.clear();
    const name = fixedName || nameField.input.value;
    const problems = [];
    const nameProblem = nameField ? nameField.check() : '';
    if (nameProblem) problems.push([nameField.input, `Function name: ${nameProblem}`]);
    if (!file.files[0]) problems.push([file, 'Choose or drop a .wasm file.']);
    if (problems.length) {
      slot.show({ message: problems.map(([, m]) => m).join(' ') });
      problems[0][0].focus();
      return;
    }
    const q = new URLSearchParams();
    for (const f of [memory, timeout, maxReq]) if (f.input.value !== '') q.append(f.input.name, f.input.value);
    for (const o of hosts.value.split('\n').map((s) => s.trim()).filter(Boolean)) q.append('allow_host', o);
    const qs = q.toString();
    const view = await busy(submit, slot, () => api('POST', `/functions/${enc(name)}/versions${qs ? `?${qs}` : ''}`, {
      body: file.files[0], contentType: 'application/wasm',
    }));
    if (view) {
      toast(`${view.name}: version ${view.current_version} deployed.`);
      onDeployed(view);
    }
  });
  return form;
}

async function pageFunctions(page) {
  const { functions } = await api('GET', '/functions');
  add(page,
    header(h('h1', { tabindex: '-1' }, 'Functions')),
    h('div', { class: 'grid wide-first' },
      h('section', { class: 'card', 'aria-labelledby': 'fn-list' },
        h('h2', { id: 'fn-list' }, 'Deployed functions'),
        functions.length
          ? h('div', { class: 'table-wrap' }, h('table', {},
            h('thead', {}, h('tr', {}, ['Name', 'Current', 'Latest', 'Updated'].map((t) => h('th', { scope: 'col' }, t)))),
            h('tbody', {}, functions.map((f) => h('tr', {},
              h('td', {}, h('a', { href: `#/functions/${enc(f.name)}` }, f.name)),
              h('td', {}, `v${f.current_version}`),
              h('td', {}, `v${f.latest_version}`),
              h('td', {}, time(f.updated_at)))))))
          : h('p', { class: 'muted' }, 'None yet: deploy one.')),
      h('section', { class: 'card', 'aria-labelledby': 'fn-deploy' },
        h('h2', { id: 'fn-deploy' }, 'Deploy a function'),
        deployForm({ onDeployed: (v) => go(`#/functions/${enc(v.name)}`) }))));
}

async function pageFunction(page, name) {
  const [fn, { connections }] = await Promise.all([api('GET', `/functions/${enc(name)}`), api('GET', '/connections')]);
  const current = fn.versions.find((v) => v.current) || fn.versions[fn.versions.length - 1];
  const grants = fn.grants || [];
  const byLink = new Map(connections.map((c) => [c.link_name, c]));

  // Invoke.
  const input = h('textarea', { name: 'input', rows: 6, spellcheck: 'false', class: 'mono', value: '{}' });
  const invokeSlot = errorSlot();
  const meta = h('p', { class: 'muted', 'aria-live': 'polite' });
  const output = h('pre', { class: 'code output', tabindex: '0', 'aria-label': 'Output', hidden: true }, h('code', {}));
  const invokeBtn = h('button', { type: 'submit', class: 'btn primary' }, 'Invoke');
  const inputField = field('Input (JSON)', input, { hint: 'Ctrl+Enter invokes. An empty input is {}.' });
  const invokeForm = h('form', { method: 'post', novalidate: true, class: 'invoke' },
    inputField, invokeSlot.el, h('div', { class: 'actions' }, invokeBtn), meta, output);
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      invokeForm.requestSubmit();
    }
  });
  input.addEventListener('input', () => inputField.setError(''));
  invokeForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    invokeSlot.clear();
    const text = input.value.trim() || '{}';
    try {
      JSON.parse(text);
    } catch (err) {
      const message = `The input is not valid JSON: ${err.message}`;
      inputField.setError(message);
      invokeSlot.show({ message });
      input.focus();
      return;
    }
    const started = performance.now();
    const res = await busy(invokeBtn, invokeSlot, () => api('POST', `/functions/${enc(name)}/invoke`, { body: text, contentType: 'application/json', full: true }));
    if (!res) {
      output.hidden = true;
      meta.textContent = '';
      return;
    }
    const us = Number(res.headers.get('x-switchboard-duration-us'));
    meta.textContent = `Invocation #${res.headers.get('x-switchboard-invocation')} · version ${res.headers.get('x-switchboard-version')} · ${(us / 1000).toFixed(1)} ms in the function, ${(performance.now() - started).toFixed(0)} ms round trip`;
    output.firstChild.textContent = typeof res.data === 'object' ? JSON.stringify(res.data, null, 2) : res.text;
    output.hidden = false;
    refreshLogs();
    refreshActivity();
  });

  // Versions.
  const versions = h('div', { class: 'table-wrap' }, h('table', {},
    h('thead', {}, h('tr', {}, ['Version', 'Deployed', 'Size', 'Limits', 'SHA-256', ''].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, fn.versions.slice().reverse().map((v) => h('tr', { class: v.current ? 'current' : null },
      h('td', {}, `v${v.version}`, v.current ? [' ', h('span', { class: 'badge badge-connected' }, 'current')] : ''),
      h('td', {}, time(v.deployed_at)),
      h('td', {}, bytes(v.size_bytes)),
      h('td', {}, `${v.limits.memory_mib} MiB · ${v.limits.timeout_ms} ms · ${v.limits.max_requests} req`),
      h('td', {}, h('code', { title: v.sha256 }, v.sha256.slice(0, 12))),
      h('td', {}, v.current ? null : h('button', {
        type: 'button', class: 'btn small',
        onclick: () => confirmDialog({
          title: `Roll back ${name} to version ${v.version}?`,
          message: [`Version ${v.version} becomes current; version ${current.version} stays stored.`],
          confirmLabel: `Make v${v.version} current`,
          danger: false,
          onConfirm: () => api('POST', `/functions/${enc(name)}/rollback`, { json: { version: v.version } }),
        }).then((done) => {
          if (done) {
            toast(`${name}: version ${v.version} is current.`);
            render();
          }
        }),
      }, v.version < current.version ? 'Roll back' : 'Make current')))))));

  // Grants.
  const grantSlot = errorSlot();
  const available = connections.filter((c) => !grants.includes(c.link_name));
  const pick = h('select', { name: 'connection' },
    available.length ? available.map((c) => h('option', { value: c.link_name }, `${c.display_name} (${c.link_name}) — ${STATUS_LABELS[c.status]}`))
      : h('option', { value: '' }, 'No other connection'));
  const grantBtn = h('button', { type: 'submit', class: 'btn', disabled: !available.length }, 'Grant');
  const grantForm = h('form', { method: 'post', novalidate: true, class: 'inline-form' },
    field('Connection', pick), grantBtn);
  grantForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (!pick.value) return;
    const done = await busy(grantBtn, grantSlot, () => api('POST', `/functions/${enc(name)}/grants`, { json: { connection: pick.value } }));
    if (done) {
      toast(`${name} may use ${done.connection}.`);
      render();
    }
  });
  const grantList = grants.length
    ? h('ul', { class: 'rows compact', 'aria-label': 'Granted connections' }, grants.map((g) => {
      const c = byLink.get(g);
      return h('li', { class: 'row' },
        h('div', { class: 'row-main' },
          h('a', { href: `#/connections/${enc(g)}`, class: 'row-title' }, c ? c.display_name : g),
          h('div', { class: 'row-sub' }, h('code', {}, g))),
        c ? badge(c.status) : null,
        h('button', {
          type: 'button', class: 'btn small danger-text', 'aria-label': `Revoke grant of ${g}`,
          onclick: async (e) => {
            const ok = await busy(e.currentTarget, grantSlot, () => api('DELETE', `/functions/${enc(name)}/grants/${enc(g)}`));
            if (ok !== undefined) {
              toast(`${name} may no longer use ${g}.`);
              render();
            }
          },
        }, 'Revoke grant'));
    }))
    : h('p', { class: 'muted' }, 'No connection granted: invoke_url with a connection answers “not-granted”.');

  // Logs and activity.
  const logsBox = h('div', {});
  async function refreshLogs() {
    try {
      const { lines } = await api('GET', `/functions/${enc(name)}/logs?limit=50`);
      logsBox.replaceChildren(lines.length
        ? h('div', { class: 'table-wrap' }, h('table', { class: 'logs' },
          h('thead', {}, h('tr', {}, ['Time', 'Call', 'Version', 'Level', 'Message'].map((t) => h('th', { scope: 'col' }, t)))),
          h('tbody', {}, lines.slice().reverse().map((l) => h('tr', {},
            h('td', {}, time(l.time)), h('td', {}, `#${l.invocation}`), h('td', {}, `v${l.version}`),
            h('td', {}, h('span', { class: `level level-${l.level}` }, l.level)), h('td', { class: 'mono' }, l.message))))))
        : h('p', { class: 'muted' }, 'No log lines yet (they are kept in memory, the last 1000).'));
    } catch (err) {
      logsBox.replaceChildren(h('p', { class: 'form-error' }, err.message));
    }
  }
  const activityBox = h('div', {});
  async function refreshActivity() {
    if (!grants.length) {
      activityBox.replaceChildren(h('p', { class: 'muted' }, 'No granted connection.'));
      return;
    }
    try {
      const all = await Promise.all(grants.map((g) => api('GET', `/connections/${enc(g)}/activity?limit=100`)
        .then((r) => r.activity.map((a) => ({ ...a, connection: g }))).catch(() => [])));
      const mine = all.flat().filter((a) => a.function === name).sort((a, b) => (a.time < b.time ? 1 : -1)).slice(0, 50);
      activityBox.replaceChildren(activityTable(mine, { showConnection: true }));
    } catch (err) {
      activityBox.replaceChildren(h('p', { class: 'form-error' }, err.message));
    }
  }
  await Promise.all([refreshLogs(), refreshActivity()]);

  const del = h('button', {
    type: 'button', class: 'btn danger-text',
    onclick: async () => {
      const done = await confirmDialog({
        title: `Delete ${name}?`,
        message: ['Every version, its logs and its grants are deleted.'],
        confirmLabel: 'Delete function',
        onConfirm: () => api('DELETE', `/functions/${enc(name)}`).then(() => true),
      });
      if (done) {
        toast(`${name} is deleted.`);
        go('#/functions');
      }
    },
  }, 'Delete');

  add(page,
    h('p', { class: 'crumbs' }, h('a', { href: '#/functions' }, 'Functions'), ' / Function'),
    header(h('div', {}, h('h1', { tabindex: '-1' }, name), ' ', h('span', { class: 'badge' }, `v${fn.current_version} current`)), del),
    h('div', { class: 'grid' },
      h('section', { class: 'card', 'aria-labelledby': 'fn-invoke' }, h('h2', { id: 'fn-invoke' }, 'Invoke'), invokeForm),
      h('section', { class: 'card', 'aria-labelledby': 'fn-limits' },
        h('h2', { id: 'fn-limits' }, 'Limits (current version)'),
        definitionList([
          ['Memory', `${current.limits.memory_mib} MiB`],
          ['Timeout', `${current.limits.timeout_ms} ms`],
          ['Max requests', String(current.limits.max_requests)],
          ['Allowed hosts', current.allowed_hosts.length
            ? h('ul', { class: 'plain' }, current.allowed_hosts.map((o) => h('li', {}, h('code', {}, o))))
            : h('span', { class: 'muted' }, 'none')],
          ['Created', time(fn.created_at)],
        ])),
      h('section', { class: 'card', 'aria-labelledby': 'fn-grants' },
        h('h2', { id: 'fn-grants' }, 'Connections granted'), grantList, grantForm, grantSlot.el),
      h('section', { class: 'card', 'aria-labelledby': 'fn-new' },
        h('h2', { id: 'fn-new' }, 'Deploy a new version'),
        deployForm({ fixedName: name, current, onDeployed: () => render() }))),
    h('section', { class: 'card', 'aria-labelledby': 'fn-versions' }, h('h2', { id: 'fn-versions' }, 'Versions'), versions),
    h('section', { class: 'card', 'aria-labelledby': 'fn-logs' },
      h('div', { class: 'card-head' }, h('h2', { id: 'fn-logs' }, 'Recent logs'),
        h('button', { type: 'button', class: 'btn small', onclick: refreshLogs }, 'Refresh')),
      logsBox),
    h('section', { class: 'card', 'aria-labelledby': 'fn-activity' },
      h('div', { class: 'card-head' }, h('h2', { id: 'fn-activity' }, 'Activity of granted connections'),
        h('button', { type: 'button', class: 'btn small', onclick: refreshActivity }, 'Refresh')),
      activityBox));
}

// ---------------------------------------------------------------- start

if (token()) renderShell();
else renderSignIn();
