// A DNS server for tests: Debian's dnsmasq on a free loopback port, answering for the test
// domains from records each test gives (dnsmasq's own option lines, or the builders below), and
// nothing else (`local=` makes other names under the test zones NXDOMAIN). `restart` gives it
// new records; `stop` ends it (and so does the test file's end, with cleanUp). `silentDns` is a
// DNS server that never answers.
import { type ChildProcess, spawn } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, tempDir, waitFor } from './process.js';

/** Records in dnsmasq's configuration syntax (man dnsmasq), one option a line. */
export const dns = {
  mx: (domain: string, host: string, preference = 10) => `mx-host=${domain},${host},${preference}`,
  /** RFC 7505's "MX 0 .": the domain takes no mail. */
  nullMx: (domain: string) => `mx-host=${domain},.,0`,
  a: (name: string, address: string) => `host-record=${name},${address}`,
  txt: (name: string, text: string) => `txt-record=${name},"${text.replace(/"/g, '\\"')}"`,
  cname: (alias: string, target: string) => `cname=${alias},${target}`,
};

/**
 * A record as `vmail domains dns --json` gives it, as dnsmasq serves it: what a domain's zone
 * holds once the admin published it (TXT in strings of at most 255 octets; an SRV target of
 * "." is dnsmasq's "no such service").
 */
export function published(r: { type: string; name: string; value: string }): string {
  if (r.type === 'MX') {
    const [preference, host] = r.value.split(' ');
    return dns.mx(r.name, host.replace(/\.$/, ''), Number(preference));
  }
  if (r.type === 'CNAME') return dns.cname(r.name, r.value.replace(/\.$/, ''));
  if (r.type === 'SRV') {
    const [priority, weight, port, target] = r.value.split(' ');
    return target === '.'
      ? `srv-host=${r.name}`
      : `srv-host=${r.name},${target.replace(/\.$/, '')},${port},${priority},${weight}`;
  }
  return `txt-record=${r.name},${(r.value.match(/[\s\S]{1,255}/g) ?? []).map((s) => `"${s}"`).join(',')}`;
}

export interface DnsServer {
  /** `127.0.0.1:PORT`, for --resolver. */
  address: string;
  port: number;
  restart(records: string[]): Promise<void>;
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of running) p.kill('SIGKILL');
});

/**
 * Starts dnsmasq with `records`, answering for the zones `zones` (default `test`) only. A
 * missing dnsmasq fails (apt-get install dnsmasq-base).
 */
export async function startDns(records: string[], zones: string[] = ['test']): Promise<DnsServer> {
  if (!existsSync('/usr/sbin/dnsmasq')) throw new Error('dnsmasq is not installed (apt-get install dnsmasq-base)');
  const dir = tempDir('dnsmasq-');
  const conf = join(dir, 'dnsmasq.conf');
  let proc: ChildProcess | null = null;
  let port = 0;
  const start = async (list: string[]) => {
    writeFileSync(conf, [...zones.map((z) => `local=/${z}/`), ...list, ''].join('\n'));
    // A port free for TCP a moment ago may be taken for UDP, or taken meanwhile: try a few.
    for (let tries = 0; ; tries++) {
      port = port || (await freePort());
      const p = spawn(
        '/usr/sbin/dnsmasq',
        [
          '--no-daemon',
          `--port=${port}`,
          '--listen-address=127.0.0.1',
          '--bind-interfaces',
          '--no-resolv',
          '--no-hosts',
          '--user=root',
          `--conf-file=${conf}`,
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let out = '';
      p.stdout!.on('data', (c) => (out += c));
      p.stderr!.on('data', (c) => (out += c));
      let exited = false;
      p.on('exit', () => {
        exited = true;
        running.delete(p);
      });
      running.add(p);
      // dnsmasq says "started" once its sockets are bound, and exits when it cannot bind them.
      await waitFor(() => exited || /cleared cache/.test(out), 'dnsmasq to start');
      if (!exited) {
        proc = p;
        return;
      }
      if (tries >= 4) throw new Error(`dnsmasq did not start: ${out.trim()}`);
      port = 0;
    }
  };
  const stop = async () => {
    const p = proc;
    proc = null;
    if (!p || p.exitCode !== null) return;
    const gone = new Promise((r) => p.once('exit', r));
    p.kill('SIGTERM');
    await gone;
  };
  await start(records);
  return {
    get address() {
      return `127.0.0.1:${port}`;
    },
    get port() {
      return port;
    },
    restart: async (list) => {
      await stop();
      await start(list);
    },
    stop,
  };
}

/** A UDP port that takes DNS queries and never answers them. */
export function silentDns(): Promise<{ address: string; close: () => void }> {
  const socket: Socket = createSocket('udp4');
  socket.on('message', () => {
    // Swallowed: this server's whole point is to answer nothing.
  });
  return new Promise((resolve) =>
    socket.bind(0, '127.0.0.1', () =>
      resolve({ address: `127.0.0.1:${socket.address().port}`, close: () => socket.close() }),
    ),
  );
}
