/** Small HTTP helpers for the scenarios' set-up (not for load: that is autocannon's job). */

export class NotAvailable extends Error {}

export interface ApiResponse {
  status: number;
  body: unknown;
  text: string;
}

export async function call(
  url: string,
  method: 'GET' | 'POST',
  path: string,
  options: { headers?: Record<string, string>; body?: string } = {},
): Promise<ApiResponse> {
  const response = await fetch(`${url}${path}`, {
    method,
    headers: { ...(options.body ? { 'content-type': 'application/json' } : {}), ...options.headers },
    body: options.body,
    signal: AbortSignal.timeout(30_000),
  });
  const text = await response.text();
  let body: unknown = undefined;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: response.status, body, text };
}

/** Fastify's answer for a route that does not exist (the endpoint has not landed yet). */
export function isMissingRoute(response: ApiResponse): boolean {
  return response.status === 404 && /Route \w+[: ]\S+ not found/.test(response.text);
}

/** Throws NotAvailable for a missing route, an Error for any other non-2xx answer. */
export function expectOk(response: ApiResponse, what: string): void {
  if (isMissingRoute(response)) throw new NotAvailable(`${what}: endpoint not available (404 route not found)`);
  if (response.status < 200 || response.status > 299) {
    throw new Error(`${what} answered ${response.status}: ${response.text.slice(0, 300)}`);
  }
}
