/**
 * Typed fetch wrapper over the generated OpenAPI `paths`: the path, method, query, path
 * parameters and JSON body are checked against the server's schema at compile time.
 * Browser requests ride on the HttpOnly session cookie (never a token in storage or URLs) and
 * state-changing requests carry the CSRF header the server requires.
 */
import type { paths } from './schema';

export const CSRF_HEADER = 'X-Grvtmm-Csrf';

type Method = 'get' | 'put' | 'post';
type Operation<P extends keyof paths, M extends Method> = NonNullable<paths[P][M]>;

type JsonBody<O> = O extends { requestBody: { content: { 'application/json': infer B } } }
  ? B
  : O extends { requestBody?: { content: { 'application/json': infer B } } }
    ? B | undefined
    : undefined;
type QueryOf<O> = O extends { parameters: { query?: infer Q } } ? Q : never;
type PathOf<O> = O extends { parameters: { path: infer R } } ? R : never;
type OkBody<O> = O extends { responses: { 200: { content: { 'application/json': infer R } } } }
  ? R
  : unknown;

export type PathsWith<M extends Method> = {
  [P in keyof paths]: paths[P][M] extends undefined | never ? never : P;
}[keyof paths];

export interface RequestOptions<O> {
  query?: QueryOf<O>;
  path?: PathOf<O>;
  body?: JsonBody<O>;
  signal?: AbortSignal;
}

/** A non-2xx answer: `status`, the server's `detail` (string or FastAPI 422 list) and a message. */
export class ApiError extends Error {
  readonly status: number;
  readonly detail: unknown;
  /** seconds from a Retry-After header (429), else null */
  readonly retryAfterS: number | null;

  constructor(status: number, detail: unknown, message: string, retryAfterS: number | null = null) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.detail = detail;
    this.retryAfterS = retryAfterS;
  }
}

type UnauthorizedHandler = () => void;
let onUnauthorized: UnauthorizedHandler = () => undefined;

/** Called on every 401 (the session expired or the server restarted): show the login page. */
export function setUnauthorizedHandler(handler: UnauthorizedHandler): void {
  onUnauthorized = handler;
}

export function buildUrl(
  template: string,
  path?: Record<string, string | number>,
  query?: Record<string, unknown>,
): string {
  let url = template.replace(/\{(\w+)\}/g, (_, name: string) => {
    const value = path?.[name];
    if (value === undefined) throw new Error(`missing path parameter ${name}`);
    return encodeURIComponent(String(value));
  });
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(query ?? {})) {
    if (value === undefined || value === null) continue;
    search.set(key, typeof value === 'number' ? integerText(value) : String(value));
  }
  const text = search.toString();
  if (text) url += `?${text}`;
  return url;
}

/** Integers (ns timestamps exceed 2^53) without exponent notation. */
function integerText(value: number): string {
  return Number.isInteger(value) ? BigInt(Math.round(value)).toString() : String(value);
}

/** The message a person reads for a failed response. */
export function errorMessage(status: number, statusText: string, detail: unknown): string {
  if (typeof detail === 'string' && detail) return detail;
  if (Array.isArray(detail) && detail.length > 0) {
    return detail
      .map((d) => (d && typeof d === 'object' && 'msg' in d ? String(d.msg) : String(d)))
      .join('; ');
  }
  return `${status} ${statusText || 'error'}`.trim();
}

export async function send(
  method: string,
  url: string,
  body?: unknown,
  signal?: AbortSignal,
): Promise<unknown> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (method !== 'GET') headers[CSRF_HEADER] = '1';
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const init: RequestInit = { method, headers, credentials: 'same-origin', cache: 'no-store' };
  if (body !== undefined) init.body = JSON.stringify(body);
  if (signal) init.signal = signal;
  const response = await fetch(url, init);
  const text = await response.text();
  let parsed: unknown = undefined;
  if (text) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = text;
    }
  }
  if (!response.ok) {
    const detail =
      parsed && typeof parsed === 'object' && 'detail' in parsed
        ? (parsed as { detail: unknown }).detail
        : parsed;
    if (response.status === 401 && !url.startsWith('/api/auth/login')) onUnauthorized();
    const retryAfter = Number(response.headers.get('Retry-After'));
    throw new ApiError(
      response.status,
      detail,
      errorMessage(response.status, response.statusText, detail),
      Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : null,
    );
  }
  return parsed;
}

function request<M extends Method>(method: M) {
  return async <P extends PathsWith<M>>(
    template: P,
    options: RequestOptions<Operation<P, M>> = {},
  ): Promise<OkBody<Operation<P, M>>> => {
    const url = buildUrl(
      template,
      options.path as Record<string, string> | undefined,
      options.query as Record<string, unknown> | undefined,
    );
    const result = await send(method.toUpperCase(), url, options.body, options.signal);
    return result as OkBody<Operation<P, M>>;
  };
}

export const api = {
  get: request('get'),
  put: request('put'),
  post: request('post'),
};
