// The API client. The admin token lives in sessionStorage (never in a URL) and is sent
// as `Authorization: Bearer` on every call.

const TOKEN_KEY = 'switchboard.token';

/** What a 401 answer does to a signed-in console (main.js: sign out). */
let unauthorized = () => {};
export function onUnauthorized(action) {
  unauthorized = action;
}

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export const token = () => sessionStorage.getItem(TOKEN_KEY);
export const keepToken = (value) => sessionStorage.setItem(TOKEN_KEY, value);
export const forgetToken = () => sessionStorage.removeItem(TOKEN_KEY);

/**
 * Calls the API. `json` is sent as a JSON body, `body` as is (with `contentType`).
 * Answers the parsed JSON (or null for 204); with `full`, `{data, headers, status}`.
 * Errors are `ApiError`s carrying the API's `{"error": {code, message}}`.
 */
export async function api(method, path, { json, body, contentType, full, tokenOverride } = {}) {
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
    if (res.status === 401 && tokenOverride === undefined) unauthorized(error.message);
    throw error;
  }
  return full ? { data, text, headers: res.headers, status: res.status } : data;
}
