// What the rspamd round trip costs per message: SMTP throughput (20 KB messages, 1 and 20
// senders) of one daemon without a spam filter and one with --rspamd, against a real rspamd
// from Debian's package (configured as in the tests: its DNS lookups fail at once, so this is
// rspamd's own work and the HTTP round trip, not the network's).
import { hasRspamd, TestRspamd } from '../helpers/rspamd.js';
import { heading } from './lib.js';
import { daemonWithBoxes, throughput } from './smtp.js';

export async function benchRspamd(): Promise<void> {
  heading('SMTP delivery with and without the rspamd check, 20 KB messages');
  if (!hasRspamd) {
    process.stdout.write('  skipped: /usr/bin/rspamd is not installed (Debian package rspamd)\n');
    return;
  }
  const rspamd = new TestRspamd();
  await rspamd.start();
  const plain = await daemonWithBoxes();
  const filtered = await daemonWithBoxes(['--rspamd', rspamd.url]);
  try {
    for (const [senders, per] of [
      [1, 200],
      [20, 20],
    ] as const) {
      const without = await throughput(plain.smtpPort, senders, per);
      const withIt = await throughput(filtered.smtpPort, senders, per);
      const cost = 1000 / withIt - 1000 / without;
      process.stdout.write(
        `  ${`${senders} sender${senders > 1 ? 's' : ''}`.padEnd(10)} without ${without.toFixed(0).padStart(5)} msg/s   with rspamd ${withIt.toFixed(0).padStart(5)} msg/s   ${(withIt / without).toFixed(2)}x   +${cost.toFixed(2)} ms per message\n`,
      );
    }
  } finally {
    await plain.stop();
    await filtered.stop();
    await rspamd.stop();
  }
}
