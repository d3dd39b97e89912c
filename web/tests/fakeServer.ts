/** A fake HTTP server for component tests: routes answer JSON, every request is recorded. */
export interface Recorded {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: unknown;
}

type Handler = (body: unknown) => { status?: number; json: unknown };

export function installFakeServer(routes: Record<string, Handler>): Recorded[] {
  const requests: Recorded[] = [];
  globalThis.fetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = String(input);
    const method = (init?.method ?? 'GET').toUpperCase();
    const headers = Object.fromEntries(Object.entries((init?.headers as Record<string, string>) ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
    const body = typeof init?.body === 'string' ? JSON.parse(init.body) : undefined;
    requests.push({ method, url, headers, body });
    const handler = routes[`${method} ${url.split('?')[0]}`];
    if (!handler) return new Response(JSON.stringify({ detail: 'Not Found' }), { status: 404, statusText: 'Not Found' });
    const { status = 200, json } = handler(body);
    return new Response(JSON.stringify(json), { status, headers: { 'content-type': 'application/json' } });
  }) as typeof fetch;
  return requests;
}
