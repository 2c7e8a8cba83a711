// The connection cache of direct delivery (issue 27's bench point, src/smtp/mx-pool.ts): a
// second message to the same MX goes over the connection the first one used, and when the MX
// drops that cached connection at the worst moment (as the next message starts) the message
// still reaches the MX over a fresh connection. The MX is a real Postfix on 127.0.0.34 behind a
// small TCP relay on 127.0.0.33:25 (found through dnsmasq) that counts messages per connection
// and cuts a connection whose second MAIL FROM starts. Judged by what Postfix stored.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanUp, type DaemonHandle, startDaemon, waitFor } from '../helpers/daemon.js';
import { type DnsServer, dns, startDns } from '../helpers/dns-server.js';
import { setup, smtplib } from '../helpers/effects.js';
import { type RunningPostfix, startPostfix } from '../helpers/postfix.js';
import { freePort } from '../helpers/process.js';

afterAll(cleanUp);

const FRONT = '127.0.0.33';
const BACK = '127.0.0.34';

let d: DaemonHandle;
let dnsServer: DnsServer;
let pf: RunningPostfix;
let front: Server;
/** Connections the relay took, and how many of them it cut at a second message. */
const seen = { connections: 0, cuts: 0, reused: 0 };
const sockets = new Set<Socket>();

/** Relays to Postfix; on each connection the second MAIL FROM cuts it (both sides), once. */
function startFront(backPort: number): Promise<Server> {
  const server = createServer((client) => {
    seen.connections++;
    sockets.add(client);
    const back = connect(backPort, BACK);
    let mails = 0;
    const cut = () => {
      client.destroy();
      back.destroy();
    };
    client.on('error', cut);
    back.on('error', cut);
    client.on('close', () => {
      sockets.delete(client);
      back.destroy();
    });
    back.on('close', () => client.destroy());
    back.on('data', (b) => client.write(b));
    client.on('data', (b) => {
      if (/^MAIL FROM:/im.test(b.toString('latin1')) && ++mails === 2) {
        seen.reused++;
        if (seen.cuts === 0) {
          seen.cuts++;
          return cut();
        }
      }
      back.write(b);
    });
  });
  return new Promise((r) => server.listen(25, FRONT, () => r(server)));
}

const stored = (): string[] => {
  const dir = join(pf.maildir('user@drop.test'), 'new');
  return existsSync(dir) ? readdirSync(dir).map((f) => readFileSync(join(dir, f), 'latin1')) : [];
};

const message = (subject: string) =>
  `From: <alice@sender.test>\nTo: <user@drop.test>\nSubject: ${subject}\nMessage-ID: <${subject}-${Date.now()}@sender.test>\n\nHello.\n`;

async function sendAndWait(subject: string): Promise<void> {
  const r = await smtplib(d.smtpPort, 'alice@sender.test', ['drop@example.test'], message(subject));
  expect(r.ok, JSON.stringify(r)).toBe(true);
  await waitFor(
    () => stored().some((m) => m.includes(`Subject: ${subject}`)),
    `${subject} at the MX\n${pf.logTail()}\n${d.output()}`,
    30_000,
  );
}

beforeAll(async () => {
  dnsServer = await startDns([dns.mx('drop.test', 'mx.drop.test'), dns.a('mx.drop.test', FRONT)]);
  const backPort = await freePort();
  pf = startPostfix({ address: BACK, port: backPort, boxes: ['user@drop.test'], hostname: 'mx.drop.test' });
  front = await startFront(backPort);
  d = await startDaemon({
    args: ['--resolver', dnsServer.address, '--hostname', 'vmail.example.test', '--relay-timeout', '10s'],
  });
  await setup(d, [], [['drop', ['user@drop.test']]]);
}, 60_000);

afterAll(async () => {
  await d?.stop();
  for (const s of sockets) s.destroy();
  front?.close();
  pf?.stop();
  await dnsServer?.stop();
});

describe('the connection cache of direct delivery', () => {
  it('reuses a connection, and a message whose cached connection the MX drops still arrives', async () => {
    // Message after message, each sent once the one before is stored: the cached connection
    // carries the next one unless the machine is so slow that it idled out in between, so
    // this goes on (bounded) until the relay has cut one cached connection.
    const sent: string[] = [];
    for (let i = 0; i < 10 && seen.cuts === 0; i++) {
      sent.push(`cached-${i}`);
      await sendAndWait(sent.at(-1)!);
    }
    expect(seen.cuts, `no message went over a cached connection\n${d.output()}`).toBe(1);
    // Every message arrived, the one whose connection was cut too, and each once.
    for (const s of sent) expect(stored().filter((m) => m.includes(`Subject: ${s}\n`)).length, s).toBe(1);
    const list = JSON.parse((await d.cli(['queue', 'list', '--json'])).stdout) as unknown[];
    expect(list).toEqual([]);
  }, 120_000);

  it('a second message goes over the connection the first one opened', async () => {
    const before = seen.reused;
    for (let i = 0; i < 10 && seen.reused === before; i++) await sendAndWait(`again-${i}`);
    expect(seen.reused).toBeGreaterThan(before);
    expect(seen.cuts).toBe(1);
  }, 120_000);
});
