// The connection cache of direct delivery (mx-delivery.ts), as Postfix's
// smtp_connection_cache_on_demand: messages to the same MX address with the same TLS demand share
// a nodemailer pool of at most PER_HOST connections (Postfix's
// default_destination_concurrency_limit), each carrying at most MAX_MESSAGES messages. A pool
// nothing has used for IDLE_MS is closed (Postfix's smtp_connection_cache_time_limit), and
// close() closes them all (the queue's stop). A message whose cached connection the MX dropped is
// sent again by the caller on a fresh connection (mx-delivery.ts: tryTarget).
import type { Transporter } from 'nodemailer';
import type SMTPPool from 'nodemailer/lib/smtp-pool/index.js';
import type SMTPTransport from 'nodemailer/lib/smtp-transport/index.js';
import { loadNodemailer } from './lazy-libs.js';

/** Connections to one MX address at most (Postfix: default_destination_concurrency_limit). */
const PER_HOST = 20;
/** Messages one connection carries before it is closed and another opened. */
const MAX_MESSAGES = 100;
/** A pool unused this long is closed (Postfix: smtp_connection_cache_time_limit, 2s). */
const IDLE_MS = 2_000;

interface Pool {
  transport: Transporter;
  /** Sends under way through it; the idle timer runs only at 0. */
  busy: number;
  idle: NodeJS.Timeout | null;
}

export interface Envelope {
  from: string;
  to: string[];
  raw: Buffer;
}

export class MxPool {
  private readonly pools = new Map<string, Pool>();
  private closed = false;

  /**
   * Sends through the pool that `key` names (made from `options` the first time): the MX's
   * answer, or the error nodemailer gives. After close() every send gets a fresh connection that
   * is closed after it, so an attempt a stop lets finish never reopens the cache.
   */
  async send(key: string, options: SMTPTransport.Options, m: Envelope): Promise<string> {
    if (this.closed) return sendOnce(options, m);
    const nodemailer = await loadNodemailer();
    if (this.closed) return sendOnce(options, m);
    let pool = this.pools.get(key);
    if (!pool) {
      pool = {
        transport: nodemailer.createTransport({
          ...options,
          pool: true,
          maxConnections: PER_HOST,
          maxMessages: MAX_MESSAGES,
        } as SMTPPool.Options),
        busy: 0,
        idle: null,
      };
      this.pools.set(key, pool);
    }
    if (pool.idle) clearTimeout(pool.idle);
    pool.idle = null;
    pool.busy++;
    try {
      return await deliver(pool.transport, m);
    } finally {
      pool.busy--;
      if (pool.busy === 0 && this.pools.get(key) === pool) {
        const idle = pool;
        pool.idle = setTimeout(() => {
          if (this.pools.get(key) === idle && idle.busy === 0) this.drop(key);
        }, IDLE_MS);
        pool.idle.unref();
      }
    }
  }

  /** Closes every cached connection; later sends use one connection each. */
  close(): void {
    this.closed = true;
    for (const key of [...this.pools.keys()]) this.drop(key);
  }

  private drop(key: string): void {
    const pool = this.pools.get(key);
    if (!pool) return;
    if (pool.idle) clearTimeout(pool.idle);
    this.pools.delete(key);
    pool.transport.close();
  }
}

/** One message over a connection of its own, closed after it. */
export async function sendOnce(options: SMTPTransport.Options, m: Envelope): Promise<string> {
  const transport = (await loadNodemailer()).createTransport(options);
  try {
    return await deliver(transport, m);
  } finally {
    transport.close();
  }
}

async function deliver(transport: Transporter, m: Envelope): Promise<string> {
  const info = await transport.sendMail({
    envelope: { from: m.from || (false as unknown as string), to: m.to },
    raw: m.raw,
  });
  return String(info.response);
}
