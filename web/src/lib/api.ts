// The API client: same origin, JSON, bearer tokens; on a 401 the refresh token is spent once
// (POST /auth/refresh rotates it) and the request retried, else the session ends.

export class ApiError extends Error {
  constructor(
    public readonly status: number,
    public readonly code: string,
    message: string,
    public readonly details?: unknown,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

interface Tokens {
  accessToken: string;
  refreshToken: string;
}

const KEY = 'upkeep.tokens';
export const API = '/api/v1';

function load(): Tokens | null {
  try {
    const raw = localStorage.getItem(KEY);
    return raw ? (JSON.parse(raw) as Tokens) : null;
  } catch {
    return null;
  }
}

let tokens: Tokens | null = load();
const logoutListeners = new Set<() => void>();

export function hasSession(): boolean {
  return tokens !== null;
}

export function setTokens(t: Tokens | null): void {
  tokens = t;
  if (t) localStorage.setItem(KEY, JSON.stringify({ accessToken: t.accessToken, refreshToken: t.refreshToken }));
  else localStorage.removeItem(KEY);
}

export function onSessionEnd(fn: () => void): () => void {
  logoutListeners.add(fn);
  return () => logoutListeners.delete(fn);
}

// One refresh at a time: parallel 401s share it (a second use of a spent token would end all sessions).
let refreshing: Promise<boolean> | null = null;
async function refresh(): Promise<boolean> {
  const current = tokens;
  if (!current) return false;
  refreshing ??= (async () => {
    try {
      const res = await fetch(`${API}/auth/refresh`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ refreshToken: current.refreshToken }),
      });
      if (!res.ok) return false;
      setTokens((await res.json()) as Tokens);
      return true;
    } catch {
      return false;
    } finally {
      setTimeout(() => (refreshing = null), 0);
    }
  })();
  return refreshing;
}

export interface RequestOptions {
  body?: unknown;
  form?: FormData;
  query?: Record<string, string | number | boolean | undefined | null>;
  /** Return the Response (downloads). */
  raw?: boolean;
  auth?: boolean;
}

function url(path: string, query?: RequestOptions['query']): string {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined && v !== null && v !== '') qs.set(k, String(v));
  const s = qs.toString();
  return `${API}${path}${s ? `?${s}` : ''}`;
}

async function send(method: string, path: string, o: RequestOptions): Promise<Response> {
  const headers: Record<string, string> = {};
  if (o.auth !== false && tokens) headers.authorization = `Bearer ${tokens.accessToken}`;
  let body: BodyInit | undefined;
  if (o.form) body = o.form;
  else if (o.body !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(o.body);
  }
  try {
    return await fetch(url(path, o.query), { method, headers, body });
  } catch {
    throw new ApiError(0, 'NETWORK', 'The server cannot be reached');
  }
}

export async function request<T = unknown>(method: string, path: string, o: RequestOptions = {}): Promise<T> {
  let res = await send(method, path, o);
  if (res.status === 401 && o.auth !== false && tokens) {
    if (await refresh()) res = await send(method, path, o);
    else {
      setTokens(null);
      for (const fn of logoutListeners) fn();
    }
  }
  if (!res.ok) {
    let code = 'HTTP_' + res.status;
    let message = res.statusText;
    let details: unknown;
    try {
      const b = (await res.json()) as { error?: { code?: string; message?: string; details?: unknown } };
      if (b.error) {
        code = b.error.code ?? code;
        message = b.error.message ?? message;
        details = b.error.details;
      }
    } catch {
      /* not JSON: keep the status */
    }
    throw new ApiError(res.status, code, message, details);
  }
  if (o.raw) return res as unknown as T;
  if (res.status === 204) return undefined as T;
  const type = res.headers.get('content-type') ?? '';
  return (type.includes('json') ? await res.json() : await res.text()) as T;
}

export const get = <T>(path: string, query?: RequestOptions['query']) => request<T>('GET', path, { query });
export const post = <T>(path: string, body?: unknown) => request<T>('POST', path, { body: body ?? {} });
export const patch = <T>(path: string, body: unknown) => request<T>('PATCH', path, { body });

export async function login(email: string, password: string): Promise<void> {
  const t = await request<Tokens>('POST', '/auth/login', { body: { email, password }, auth: false });
  setTokens(t);
}

export async function logout(): Promise<void> {
  const t = tokens;
  setTokens(null);
  if (t) await request('POST', '/auth/logout', { body: { refreshToken: t.refreshToken }, auth: false }).catch(() => {});
}

/** Downloads a protected file (the token goes in a header, so a plain link would not do). */
export async function download(path: string, filename: string): Promise<void> {
  const res = await request<Response>('GET', path, { raw: true });
  const blobUrl = URL.createObjectURL(await res.blob());
  const a = document.createElement('a');
  a.href = blobUrl;
  a.download = filename;
  a.click();
  setTimeout(() => URL.revokeObjectURL(blobUrl), 10_000);
}
