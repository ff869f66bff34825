import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FAKE_GATEWAY_TIMEOUT_MS } from './gateway-timeout.ts';

export const FAKE_NMI_SECURITY_KEY = 'nmi_fake_security_key';

/** Ten-digit ids as NMI's, unique in the process by construction (random ones could collide). */
let lastId = 1_000_000_000;
const nextId = () => String(++lastId);

interface Transaction {
  id: string;
  type: 'sale' | 'auth';
  amountCents: number;
  capturedCents: number;
  refundedCents: number;
  state: 'authorized' | 'settled' | 'voided';
  orderId: string | undefined;
  /** The vault entry the transaction charged or saved. */
  vaultId: string | undefined;
  /** Settled in a batch (settleBatch): no longer voided, only refunded. */
  batched?: boolean;
}

/** A refund: a transaction of its own at NMI, with the orderid it was sent with. */
interface RefundTransaction {
  id: string;
  /** The sale or capture it gives money back from. */
  refunds: string;
  amountCents: number;
  orderId: string | undefined;
}

/** What becomes of a processed request's answer: lost (the connection cut), or sent once the promise resolves. */
type LateAnswer = 'lost' | Promise<void>;

const xmlEscape = (value: string) =>
  value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const decimal = (cents: number) => (cents / 100).toFixed(2);

/**
 * A local fake of NMI's Direct Post `transact.php`: form-encoded requests, form-encoded answers with
 * `response` 1 (approved), 2 (declined), 3 (error). A payment token containing "decline" is declined;
 * `customer_vault=add_customer` saves the card and answers a `customer_vault_id`, with a sale or an auth or
 * alone (no `type`: only saved, nothing charged). And of the Query API
 * `query.php` (GET or POST, by `order_id` and/or `transaction_id`): an XML `<nm_response>` listing the
 * recorded transactions that match (refunds among them), each with its `<action>`s.
 */
export class FakeNmiServer {
  /** `transact.php` requests. */
  readonly calls: Record<string, string>[] = [];
  /** `query.php` requests. */
  readonly queries: Record<string, string>[] = [];
  /** `query.php` requests that found at least one transaction. */
  queryHits = 0;
  readonly transactions = new Map<string, Transaction>();
  readonly refunds = new Map<string, RefundTransaction>();
  readonly vault = new Set<string>();
  /** Security keys of the merchant accounts this fake answers; others fail authentication. */
  readonly securityKeys = new Set([FAKE_NMI_SECURITY_KEY]);
  /** Vault entries added without a transaction (`customer_vault=add_customer`, no `type`). */
  vaultAdds = 0;
  /** Requests to answer 503, in turn: each of any type, or only of its `type` (a transact type, or 'query'). */
  private failures: (string | undefined)[] = [];
  /** What becomes of the answers of the next `transact.php` requests, in turn (each is processed as usual). */
  private lateAnswers: LateAnswer[] = [];
  private server: Server | undefined;
  url = '';

  async start(): Promise<this> {
    this.server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const [path, search = ''] = (request.url ?? '').split('?', 2) as [string, string?];
        if (path === '/api/query.php' && (request.method === 'GET' || request.method === 'POST')) {
          const fields = Object.fromEntries(
            new URLSearchParams(request.method === 'GET' ? search : Buffer.concat(chunks).toString('utf8')),
          );
          this.queries.push(fields);
          if (this.takeFailure('query')) {
            response.writeHead(503).end('Service Unavailable');
            return;
          }
          response.writeHead(200, { 'content-type': 'text/xml' }).end(this.query(fields));
          return;
        }
        const fields = Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString('utf8')));
        this.calls.push(fields);
        if (this.takeFailure(fields.type)) {
          response.writeHead(503).end('Service Unavailable');
          return;
        }
        const reply = path === '/api/transact.php' && request.method === 'POST' ? this.transact(fields) : null;
        if (!reply) {
          response.writeHead(404).end();
          return;
        }
        const body = new URLSearchParams(reply).toString();
        const answer = () => {
          if (!response.socket?.destroyed) response.writeHead(200, { 'content-type': 'text/html' }).end(body);
        };
        const late = this.lateAnswers.shift();
        // Processed (and recorded) now; the answer is lost (the connection cut, as a timeout or a crash loses
        // it: whatever the machine's load, the client never has it) or sent when the test releases it.
        if (late === 'lost') request.socket.destroy();
        else if (late) void late.then(answer);
        else answer();
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/api/transact.php`;
    return this;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  environment(): Record<string, string> {
    return { NMI_SECURITY_KEY: FAKE_NMI_SECURITY_KEY, NMI_API_URL: this.url, NMI_TIMEOUT_MS: FAKE_GATEWAY_TIMEOUT_MS };
  }

  /** The next `times` requests (with `type`: of that type, e.g. 'void' or 'query') answer HTTP 503. */
  failNext(times = 1, type?: string): void {
    for (let index = 0; index < times; index += 1) this.failures.push(type);
  }

  private takeFailure(type: string | undefined): boolean {
    const index = this.failures.findIndex((failing) => failing === undefined || failing === type);
    if (index === -1) return false;
    this.failures.splice(index, 1);
    return true;
  }

  /**
   * The next `transact.php` request is processed as usual (the transaction is recorded), but its answer never
   * reaches the client: the connection is cut, so the client learns nothing of the outcome, as after a timeout.
   */
  loseNextAnswer(): void {
    this.lateAnswers.push('lost');
  }

  /**
   * The next `transact.php` request is processed as usual, and answered when the returned function is called:
   * a request kept in flight for as long as the test needs, on any machine.
   */
  holdNextAnswer(): () => void {
    let release!: () => void;
    this.lateAnswers.push(new Promise<void>((resolve) => (release = resolve)));
    return release;
  }

  /** NMI's daily batch: every settled sale or capture so far can no longer be voided, only refunded. */
  settleBatch(): void {
    for (const transaction of this.transactions.values())
      if (transaction.state === 'settled') transaction.batched = true;
  }

  count(type: string): number {
    return this.calls.filter((call) => call.type === type).length;
  }

  /** Transactions recorded with this orderid. */
  transactionsFor(orderId: string): Transaction[] {
    return [...this.transactions.values()].filter((transaction) => transaction.orderId === orderId);
  }

  private query(fields: Record<string, string>): string {
    if (!this.securityKeys.has(fields.security_key ?? '')) {
      return '<?xml version="1.0" encoding="UTF-8"?>\n<nm_response><error_response>Invalid Security Key</error_response></nm_response>';
    }
    const matching = (transaction: { id: string; orderId: string | undefined }) =>
      (fields.order_id === undefined || transaction.orderId === fields.order_id) &&
      (fields.transaction_id === undefined || transaction.id === fields.transaction_id);
    const matches = [...this.transactions.values()].filter(matching);
    const refunds = [...this.refunds.values()].filter(matching);
    if (matches.length + refunds.length > 0) this.queryHits += 1;
    const element = (name: string, value: string) => `<${name}>${xmlEscape(value)}</${name}>`;
    const action = (type: string, cents: number) =>
      `<action>${element('amount', decimal(cents))}${element('action_type', type)}${element('success', '1')}${element('response_code', '100')}</action>`;
    const transactions = matches.map((transaction) => {
      const condition =
        transaction.state === 'voided'
          ? 'canceled'
          : transaction.state === 'authorized'
            ? 'pending'
            : transaction.batched
              ? 'complete'
              : 'pendingsettlement';
      const actions = [action(transaction.type, transaction.amountCents)];
      if (transaction.type === 'auth' && transaction.state === 'settled')
        actions.push(action('capture', transaction.capturedCents));
      if (transaction.state === 'voided') actions.push(action('void', transaction.amountCents));
      return `<transaction>${element('transaction_id', transaction.id)}${element('order_id', transaction.orderId ?? '')}${element('condition', condition)}${element('customer_vault_id', transaction.vaultId ?? '')}${actions.join('')}</transaction>`;
    });
    for (const refund of refunds) {
      transactions.push(
        `<transaction>${element('transaction_id', refund.id)}${element('order_id', refund.orderId ?? '')}${element('condition', 'pendingsettlement')}${action('refund', refund.amountCents)}</transaction>`,
      );
    }
    return `<?xml version="1.0" encoding="UTF-8"?>\n<nm_response>${transactions.join('')}</nm_response>`;
  }

  private transact(fields: Record<string, string>): Record<string, string> {
    const answer = (response: '1' | '2' | '3', text: string, extra: Record<string, string> = {}) => ({
      response,
      responsetext: text,
      authcode: response === '1' ? '123456' : '',
      transactionid: extra.transactionid ?? '',
      avsresponse: '',
      cvvresponse: '',
      orderid: fields.orderid ?? '',
      type: fields.type ?? '',
      response_code: response === '1' ? '100' : response === '2' ? '200' : '300',
      ...extra,
    });
    if (!this.securityKeys.has(fields.security_key ?? '')) return answer('3', 'Authentication Failed');
    const amountCents = fields.amount === undefined ? undefined : Math.round(Number(fields.amount) * 100);
    if (fields.type === undefined && fields.customer_vault === 'add_customer') {
      // Customer Vault only: the card is kept for later transactions, and nothing is charged.
      if (!fields.payment_token) return answer('3', 'Invalid Payment Token REFID:3');
      if (/decline/i.test(fields.payment_token)) return answer('2', 'DECLINE');
      const vaultId = nextId();
      this.vault.add(vaultId);
      this.vaultAdds += 1;
      return answer('1', 'Customer Added', { customer_vault_id: vaultId });
    }
    switch (fields.type) {
      case 'sale':
      case 'auth': {
        if (!amountCents || amountCents <= 0) return answer('3', 'Invalid amount REFID:1');
        let vaultId = fields.customer_vault_id;
        if (vaultId !== undefined && !this.vault.has(vaultId)) return answer('3', 'Invalid Customer Vault Id REFID:2');
        if (vaultId === undefined) {
          if (!fields.payment_token) return answer('3', 'Invalid Payment Token REFID:3');
          if (/decline/i.test(fields.payment_token)) {
            return answer('2', 'DECLINE', { transactionid: nextId() });
          }
          if (fields.customer_vault === 'add_customer') {
            vaultId = nextId();
            this.vault.add(vaultId);
          }
        }
        const transaction: Transaction = {
          id: nextId(),
          type: fields.type,
          amountCents,
          capturedCents: fields.type === 'sale' ? amountCents : 0,
          refundedCents: 0,
          state: fields.type === 'sale' ? 'settled' : 'authorized',
          orderId: fields.orderid,
          vaultId,
        };
        this.transactions.set(transaction.id, transaction);
        return answer('1', 'SUCCESS', {
          transactionid: transaction.id,
          ...(vaultId && fields.customer_vault === 'add_customer' ? { customer_vault_id: vaultId } : {}),
        });
      }
      case 'capture': {
        const transaction = this.transactions.get(fields.transactionid ?? '');
        if (!transaction || transaction.state !== 'authorized')
          return answer('3', 'Transaction not found or not capturable REFID:4');
        const amount = amountCents ?? transaction.amountCents;
        if (amount > transaction.amountCents) return answer('3', 'Capture amount exceeds authorized amount REFID:5');
        transaction.capturedCents = amount;
        transaction.state = 'settled';
        return answer('1', 'SUCCESS', { transactionid: transaction.id });
      }
      case 'void': {
        const transaction = this.transactions.get(fields.transactionid ?? '');
        if (!transaction || transaction.state === 'voided') return answer('3', 'Transaction not found REFID:6');
        if (transaction.batched) return answer('3', 'Only transactions pending settlement can be voided REFID:10');
        transaction.state = 'voided';
        return answer('1', 'Transaction Void Successful', { transactionid: transaction.id });
      }
      case 'refund': {
        const transaction = this.transactions.get(fields.transactionid ?? '');
        if (!transaction || transaction.state !== 'settled') return answer('3', 'Transaction not found REFID:7');
        const amount = amountCents ?? transaction.capturedCents - transaction.refundedCents;
        if (amount > transaction.capturedCents - transaction.refundedCents)
          return answer('3', 'Refund amount exceeds REFID:8');
        transaction.refundedCents += amount;
        const refund = { id: nextId(), refunds: transaction.id, amountCents: amount, orderId: fields.orderid };
        this.refunds.set(refund.id, refund);
        return answer('1', 'SUCCESS', { transactionid: refund.id });
      }
      default:
        return answer('3', 'Invalid Transaction Type REFID:9');
    }
  }
}

export async function startFakeNmi(): Promise<FakeNmiServer> {
  return new FakeNmiServer().start();
}
