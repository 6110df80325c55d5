// Functions: the list with the deploy form, and a function's page (invoke, versions,
// grants, logs, activity).

import { api } from './api.js';
import { activityTable } from './connections.js';
import { confirmDialog } from './dialogs.js';
import { add, badge, definitionList, enc, h, header, time } from './dom.js';
import { busy, errorSlot, toast } from './feedback.js';
import { field, linkNameField, suggestLink, textField } from './forms.js';
import { bytes, STATUS_LABELS } from './model.js';
import { go, render } from './router.js';

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

export async function pageFunctions(page) {
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

export async function pageFunction(page, name) {
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
