/**
 * care360 answers errors in the envelope of each endpoint's published page. Each envelope is a class here, so a
 * caller can tell them apart with `instanceof` and read the fields its body has:
 *
 * | class                     | body                                                       | answered by                        |
 * | ------------------------- | ---------------------------------------------------------- | ---------------------------------- |
 * | `Care360IntakeError`      | `{"success": false, "error": "..."}`                       | case create, forms                 |
 * | `Care360PaymentsError`    | `{"success": false, "message": "..."}`                     | payments, promo codes              |
 * | `Care360UnauthorizedError`| `{"status": 401, "error": "..."}`                          | any endpoint, for a bad key        |
 * | `Care360IdempotencyError` | `{"status": 409, "code": "IDEMPOTENCY_ERROR", ...}`        | an `idempotencyKey` used before    |
 * | `Care360BundleError`      | `{"status": n, "success": false, "message", "error"}`      | product bundles                    |
 * | `Care360Error`            | anything else (`{"status", "success": false, "error"}`...) | operator and server routes, network|
 */
export class Care360Error extends Error {
  /** The HTTP status; 0 when no answer came (network error, timeout). */
  readonly status: number;
  /** The answer's body as parsed JSON (or its text, or undefined). */
  readonly body: unknown;
  /** The server's `x-request-id`, to quote when asking about a request. */
  readonly requestId: string | undefined;
  /** Seconds to wait before retrying, from `Retry-After` (429, 503). */
  readonly retryAfterSeconds: number | undefined;

  constructor(
    message: string,
    details: { status: number; body?: unknown; requestId?: string; retryAfterSeconds?: number; cause?: unknown },
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = new.target.name;
    this.status = details.status;
    this.body = details.body;
    this.requestId = details.requestId;
    this.retryAfterSeconds = details.retryAfterSeconds;
  }

  /**
   * Whether the same request may succeed if sent again as it is: rate limited, the server or a payment gateway
   * unavailable, or no answer at all. Send it with the same idempotencyKey, so that it is done at most once.
   */
  get retryable(): boolean {
    return this.status === 0 || this.status === 429 || this.status === 502 || this.status === 503;
  }
}

/** `{"success": false, "error": "..."}`: the Case Create endpoint and the forms API. */
export class Care360IntakeError extends Care360Error {
  declare readonly body: { success: false; error: string };
}

/** `{"success": false, "message": "..."}`: payments (setup, intent, case payments) and promo codes. */
export class Care360PaymentsError extends Care360Error {
  declare readonly body: { success: false; message: string };
  /** A card was declined (402): ask the patient for another card. */
  get declined(): boolean {
    return this.status === 402;
  }
}

/** `{"status": 401, "error": "..."}`: the API key is missing, unknown or revoked. */
export class Care360UnauthorizedError extends Care360Error {
  declare readonly body: { status: 401; error: string };
}

/** `{"status": 409, "success": false, "code": "IDEMPOTENCY_ERROR", "description": "..."}` */
export class Care360IdempotencyError extends Care360Error {
  declare readonly body: { status: 409; success: false; code: 'IDEMPOTENCY_ERROR'; description: string };
}

/** `{"status": n, "success": false, "message": "...", "error": "..."}`: the product bundle endpoints. */
export class Care360BundleError extends Care360Error {
  declare readonly body: { status: number; success: false; message: string; error: string };
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** The error an answer stands for, by the shape of its body (the envelope), with its message. */
export function errorFromResponse(status: number, body: unknown, headers?: Headers): Care360Error {
  const requestId = headers?.get('x-request-id') ?? undefined;
  const retryAfter = Number(headers?.get('retry-after'));
  const details = {
    status,
    body,
    requestId,
    retryAfterSeconds: Number.isFinite(retryAfter) && retryAfter >= 0 ? retryAfter : undefined,
  };
  if (isObject(body)) {
    if (body.code === 'IDEMPOTENCY_ERROR' && typeof body.description === 'string') {
      return new Care360IdempotencyError(body.description, details);
    }
    if (body.status === 401 && typeof body.error === 'string' && !('success' in body)) {
      return new Care360UnauthorizedError(body.error, details);
    }
    if (body.success === false && typeof body.message === 'string' && typeof body.error === 'string') {
      return new Care360BundleError(`${body.message}: ${body.error}`, details);
    }
    if (body.success === false && typeof body.message === 'string')
      return new Care360PaymentsError(body.message, details);
    if (body.success === false && typeof body.error === 'string' && !('status' in body)) {
      return new Care360IntakeError(body.error, details);
    }
    if (typeof body.error === 'string') return new Care360Error(body.error, details);
  }
  return new Care360Error(`care360 answered ${status}`, details);
}
