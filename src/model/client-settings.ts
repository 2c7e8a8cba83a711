// The Mail Client Settings page: what the owner of a domain enters in a mail client, as the
// original control panel's page told it ("Incoming Mailserver, Username, Password"; print this
// page). Plain text at most 78 columns wide, built from the daemon's status: the console shows
// it (and prints it with p), `vmail domains settings DOMAIN` prints it.

/** What the page needs of the daemon's status (a StatusView has these fields). */
interface Settings {
  hostname: string;
  domains: readonly string[];
  pop3: { port: number | null; stls: boolean };
  pop3s: { port: number } | null;
  tlsLogins: boolean;
  /** Submission with STARTTLS (587) and over implicit TLS (465); null or absent when off. */
  submission?: { port: number } | null;
  submissions?: { port: number } | null;
}

const row = (label: string, text: string) => `  ${label.padEnd(18)}${text}`;
const more = (text: string) => `${' '.repeat(20)}${text}`;

/** The incoming server's lines: host, each port with its TLS mode, and whether logins need TLS. */
function incoming(domain: string, s: Settings): string[] {
  const lines = [row('Account type', 'POP3'), row('Incoming server', s.hostname)];
  if (s.pop3s) lines.push(row(`Port ${s.pop3s.port}`, 'POP3S: SSL/TLS from the first byte (implicit TLS)'));
  if (s.pop3.port !== null)
    lines.push(
      row(
        `Port ${s.pop3.port}`,
        s.pop3.stls ? 'POP3 with STARTTLS (STLS) before the password' : 'POP3 without encryption',
      ),
    );
  if (!s.pop3s && !s.pop3.stls) lines.push(row('Security', 'none: no certificate is configured (tls-cert, tls-key)'));
  else if (s.tlsLogins) lines.push(row('Security', 'SSL/TLS or STARTTLS: passwords are refused without TLS'));
  else lines.push(row('Security', 'SSL/TLS or STARTTLS (plain logins are accepted too)'));
  lines.push(...userName(domain, s.domains));
  return lines;
}

/** The user name POP3 takes (see loginAddress in src/daemon/wiring/pop3.ts), and why. */
function userName(domain: string, domains: readonly string[]): string[] {
  if (domains.length === 1 && domains[0] === domain)
    return [
      row('Username', `NAME  (NAME@${domain} works too)`),
      more('This server hosts one domain, so the bare name is enough.'),
    ];
  return [
    row('Username', `the whole address: NAME@${domain}`),
    more(`This server hosts ${domains.length} domains: a bare name could be any`),
    more('of them, so POP3 takes only the whole address.'),
  ];
}

/** The outgoing server's lines: host, each submission port with its TLS mode, the login. */
function outgoing(domain: string, s: Settings): string[] {
  if (!s.submission && !s.submissions)
    return [
      row('Outgoing (SMTP)', "your Internet provider's outgoing server: this server's"),
      more('submission ports are turned off (--submission 0).'),
    ];
  const lines = [row('Outgoing (SMTP)', s.hostname)];
  if (s.submissions) lines.push(row(`Port ${s.submissions.port}`, 'SSL/TLS from the first byte (implicit TLS)'));
  if (s.submission) lines.push(row(`Port ${s.submission.port}`, 'STARTTLS, then the password'));
  lines.push(
    row('Username', `your full address, NAME@${domain}`),
    row('Password', 'this password (the POP3 one)'),
    row('Authentication', 'normal password'),
    more('Mail sent this way is DKIM-signed for the domain when it'),
    more('has a key (vmail domains dkim).'),
  );
  return lines;
}

export function clientSettingsLines(domain: string, s: Settings): string[] {
  return [
    `Mail Client Settings for ${domain}`,
    '',
    `For a POP3 account NAME@${domain}, enter in a mail client`,
    '(Thunderbird, Outlook, Apple Mail or a phone):',
    '',
    ...incoming(domain, s),
    row('Password', 'the one set on the POP3 Accounts screen'),
    row('Authentication', 'normal password'),
    '',
    ...outgoing(domain, s),
    '',
    'The incoming server',
    "  It is the daemon's hostname setting (--hostname, or the machine's name when",
    `  unset): ${s.hostname}. The MX record of ${domain} should name it.`,
    '',
    'Leaving mail on the server',
    '  Mail clients can keep copies on the server ("leave messages on server");',
    "  vmail keeps each message's ID stable, so nothing is downloaded twice. The",
    '  mailbox size on the POP3 Accounts screen grows until the client deletes what',
    '  it has fetched.',
    '',
    'After a change',
    '  New accounts and new passwords work after the next hourly apply (see the',
    '  countdown at the top right). Until then, the old password still works.',
  ];
}
