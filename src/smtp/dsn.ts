// Delivery status notifications (RFC 3464): the bounce sent to a sender whose forwarded message
// could not be delivered.
import { randomUUID } from 'node:crypto';
import { headerEnd, rfc5322Date } from './headers.js';

export interface BounceInfo {
  reportingHost: string;
  /** The postmaster domain the bounce comes from. */
  domain: string;
  sender: string;
  recipient: string;
  status: string;
  diagnostic: string;
  arrivedAt: number;
  original: Buffer;
}

/** A value for one header or report line: CR and LF (from a relay's reply, say) become spaces. */
const oneLineOf = (s: string) => s.replace(/[\r\n]+/g, ' ');

export function buildBounce(info: BounceInfo, now = new Date()): Buffer {
  const b: BounceInfo = {
    ...info,
    reportingHost: oneLineOf(info.reportingHost),
    domain: oneLineOf(info.domain),
    sender: oneLineOf(info.sender),
    recipient: oneLineOf(info.recipient),
    status: oneLineOf(info.status),
  };
  const boundary = `vmail-${randomUUID()}`;
  const end = headerEnd(b.original, 1024 * 1024);
  const originalHeaders = (
    end > 0 ? b.original.subarray(0, end) : b.original.subarray(0, Math.min(b.original.length, 64 * 1024))
  ).toString('utf8');
  const oneLine = oneLineOf(b.diagnostic).slice(0, 900);
  const lines = [
    `From: Mail Delivery System <MAILER-DAEMON@${b.domain}>`,
    `To: <${b.sender}>`,
    `Subject: Undelivered Mail Returned to Sender`,
    `Date: ${rfc5322Date(now)}`,
    `Message-ID: <${randomUUID()}@${b.reportingHost}>`,
    'Auto-Submitted: auto-replied',
    'MIME-Version: 1.0',
    `Content-Type: multipart/report; report-type=delivery-status; boundary="${boundary}"`,
    '',
    `--${boundary}`,
    'Content-Type: text/plain; charset=us-ascii',
    '',
    `This is the mail system at ${b.reportingHost}.`,
    '',
    'Your message could not be delivered to this recipient:',
    '',
    `  <${b.recipient}>: ${oneLine}`,
    '',
    `--${boundary}`,
    'Content-Type: message/delivery-status',
    '',
    `Reporting-MTA: dns; ${b.reportingHost}`,
    `Arrival-Date: ${rfc5322Date(new Date(b.arrivedAt))}`,
    '',
    `Final-Recipient: rfc822; ${b.recipient}`,
    'Action: failed',
    `Status: ${b.status}`,
    `Diagnostic-Code: smtp; ${oneLine}`,
    `Last-Attempt-Date: ${rfc5322Date(now)}`,
    '',
    `--${boundary}`,
    'Content-Type: text/rfc822-headers',
    '',
    originalHeaders.replace(/\r?\n/g, '\r\n').replace(/(\r\n)+$/, ''),
    '',
    `--${boundary}--`,
    '',
  ];
  return Buffer.from(lines.join('\r\n'), 'utf8');
}
