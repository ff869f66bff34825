import { randomInt } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export const FAKE_NMI_SECURITY_KEY = 'nmi_fake_security_key';

interface Transaction {
  id: string;
  type: 'sale' | 'auth';
  amountCents: number;
  capturedCents: number;
  refundedCents: number;
  state: 'authorized' | 'settled' | 'voided';
  orderId: string | undefined;
}

/**
 * A local fake of NMI's Direct Post `transact.php`: form-encoded requests, form-encoded answers with
 * `response` 1 (approved), 2 (declined), 3 (error). A payment token containing "decline" is declined;
 * `customer_vault=add_customer` saves the card and answers a `customer_vault_id`.
 */
export class FakeNmiServer {
  readonly calls: Record<string, string>[] = [];
  readonly transactions = new Map<string, Transaction>();
  readonly vault = new Set<string>();
  private failures = 0;
  private server: Server | undefined;
  url = '';

  async start(): Promise<this> {
    this.server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const fields = Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString('utf8')));
        this.calls.push(fields);
        if (this.failures > 0) {
          this.failures -= 1;
          response.writeHead(503).end('Service Unavailable');
          return;
        }
        const reply = request.url === '/api/transact.php' && request.method === 'POST' ? this.transact(fields) : null;
        if (!reply) {
          response.writeHead(404).end();
          return;
        }
        response.writeHead(200, { 'content-type': 'text/html' }).end(new URLSearchParams(reply).toString());
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
    return { NMI_SECURITY_KEY: FAKE_NMI_SECURITY_KEY, NMI_API_URL: this.url, NMI_TIMEOUT_MS: '2000' };
  }

  /** The next `times` requests answer HTTP 503. */
  failNext(times = 1): void {
    this.failures += times;
  }

  count(type: string): number {
    return this.calls.filter((call) => call.type === type).length;
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
    if (fields.security_key !== FAKE_NMI_SECURITY_KEY) return answer('3', 'Authentication Failed');
    const amountCents = fields.amount === undefined ? undefined : Math.round(Number(fields.amount) * 100);
    switch (fields.type) {
      case 'sale':
      case 'auth': {
        if (!amountCents || amountCents <= 0) return answer('3', 'Invalid amount REFID:1');
        let vaultId = fields.customer_vault_id;
        if (vaultId !== undefined && !this.vault.has(vaultId)) return answer('3', 'Invalid Customer Vault Id REFID:2');
        if (vaultId === undefined) {
          if (!fields.payment_token) return answer('3', 'Invalid Payment Token REFID:3');
          if (/decline/i.test(fields.payment_token)) {
            return answer('2', 'DECLINE', { transactionid: String(randomInt(1e9, 9e9)) });
          }
          if (fields.customer_vault === 'add_customer') {
            vaultId = String(randomInt(1e9, 9e9));
            this.vault.add(vaultId);
          }
        }
        const transaction: Transaction = {
          id: String(randomInt(1e9, 9e9)),
          type: fields.type,
          amountCents,
          capturedCents: fields.type === 'sale' ? amountCents : 0,
          refundedCents: 0,
          state: fields.type === 'sale' ? 'settled' : 'authorized',
          orderId: fields.orderid,
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
        return answer('1', 'SUCCESS', { transactionid: String(randomInt(1e9, 9e9)) });
      }
      default:
        return answer('3', 'Invalid Transaction Type REFID:9');
    }
  }
}

export async function startFakeNmi(): Promise<FakeNmiServer> {
  return new FakeNmiServer().start();
}
