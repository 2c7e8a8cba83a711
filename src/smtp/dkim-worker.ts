// A worker thread for DKIM signatures (dkim.ts sends it the work): mailauth's signer hashes the
// message's body and signs its header, about 0.7 ms of CPU a message with a 2048-bit RSA key,
// which on the event loop held every session of the daemon for as long.
// Messages: {id, message, options} -> {id, signatures} or {id, error} (the message is moved here, not copied).
import { parentPort } from 'node:worker_threads';
import type { DkimAnswer, DkimJob } from './dkim.js';
import { loadDkimSign } from './mailauth-keys.js';

// Loaded at once: mailauth takes a quarter of a second, which the first message would wait.
const signer = loadDkimSign();

parentPort?.on('message', async (job: DkimJob & { id: number }) => {
  let answer: DkimAnswer;
  try {
    const sign = await signer;
    // The message arrives as a Uint8Array (a copy): a Buffer over the same bytes, not another copy.
    const message = Buffer.from(job.message.buffer, job.message.byteOffset, job.message.byteLength);
    const { signatures, errors } = await sign(message, job.options);
    if (errors?.length) {
      const e = errors[0] as { err?: Error; selector?: string };
      answer = {
        id: job.id,
        error: `DKIM signing with ${job.options.signingDomain}'s key ${e.selector}: ${e.err?.message ?? 'failed'}`,
      };
    } else answer = { id: job.id, signatures };
  } catch (err) {
    answer = { id: job.id, error: (err as Error).message };
  }
  parentPort?.postMessage(answer);
});
