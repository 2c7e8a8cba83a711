// What a mail client is told when it asks this server how to set an address up: Thunderbird's
// autoconfig (config-v1.1.xml) and Outlook's autodiscover (the POX schema of 2006). The old
// console's "Mail Client Settings" page, served to the mail client itself: POP3 over TLS first,
// then POP3 with STARTTLS; sending over TLS first, then with STARTTLS; the whole address as
// the user name. Pure.

/** What the daemon serves, as the answers describe it (null: that listener is off). */
export interface ClientServers {
  hostname: string;
  pop3s: number | null;
  /** The plain POP3 port, and whether it offers STLS (a certificate is configured). */
  pop3: { port: number | null; stls: boolean };
  submissions: number | null;
  /** The submission port (STARTTLS before AUTH). */
  submission: number | null;
}

const xml = (s: string) =>
  s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c] ?? c);

interface Server {
  kind: 'pop3' | 'smtp';
  port: number;
  /** SSL: TLS from the first byte; STARTTLS: upgraded before the password; plain: neither. */
  socket: 'SSL' | 'STARTTLS' | 'plain';
}

/** The servers in the order a client should try them. */
function servers(s: ClientServers): { incoming: Server[]; outgoing: Server[] } {
  const incoming: Server[] = [];
  if (s.pop3s !== null) incoming.push({ kind: 'pop3', port: s.pop3s, socket: 'SSL' });
  if (s.pop3.port !== null)
    incoming.push({ kind: 'pop3', port: s.pop3.port, socket: s.pop3.stls ? 'STARTTLS' : 'plain' });
  const outgoing: Server[] = [];
  if (s.submissions !== null) outgoing.push({ kind: 'smtp', port: s.submissions, socket: 'SSL' });
  if (s.submission !== null) outgoing.push({ kind: 'smtp', port: s.submission, socket: 'STARTTLS' });
  return { incoming, outgoing };
}

/** Thunderbird's config-v1.1.xml for `domain` (https://wiki.mozilla.org/Thunderbird:Autoconfiguration:ConfigFileFormat). */
export function thunderbirdConfig(domain: string, s: ClientServers): string {
  const { incoming, outgoing } = servers(s);
  const host = xml(s.hostname);
  const server = (tag: 'incomingServer' | 'outgoingServer', v: Server) =>
    [
      `    <${tag} type="${v.kind}">`,
      `      <hostname>${host}</hostname>`,
      `      <port>${v.port}</port>`,
      `      <socketType>${v.socket}</socketType>`,
      '      <username>%EMAILADDRESS%</username>',
      '      <authentication>password-cleartext</authentication>',
      ...(v.kind === 'pop3'
        ? ['      <pop3>', '        <leaveMessagesOnServer>true</leaveMessagesOnServer>', '      </pop3>']
        : []),
      `    </${tag}>`,
    ].join('\n');
  const d = xml(domain);
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<clientConfig version="1.1">',
    `  <emailProvider id="${d}">`,
    `    <domain>${d}</domain>`,
    `    <displayName>Mail for ${d}</displayName>`,
    `    <displayShortName>${d}</displayShortName>`,
    ...incoming.map((v) => server('incomingServer', v)),
    ...outgoing.map((v) => server('outgoingServer', v)),
    '  </emailProvider>',
    '</clientConfig>',
    '',
  ].join('\n');
}

/** The address an Outlook autodiscover request asks about, or null when it names none. */
export function autodiscoverAddress(body: string): string | null {
  const m = /<(?:[A-Za-z][\w.-]*:)?EMailAddress\s*>\s*([^<\s]{3,320})\s*<\//.exec(body);
  return m ? m[1] : null;
}

/** Outlook's answer (the POX autodiscover schema of 2006, "outlook" response schema 2006a). */
export function outlookAutodiscover(address: string, s: ClientServers): string {
  const { incoming, outgoing } = servers(s);
  const protocol = (v: Server) =>
    [
      '      <Protocol>',
      `        <Type>${v.kind === 'pop3' ? 'POP3' : 'SMTP'}</Type>`,
      `        <Server>${xml(s.hostname)}</Server>`,
      `        <Port>${v.port}</Port>`,
      `        <LoginName>${xml(address)}</LoginName>`,
      '        <DomainRequired>off</DomainRequired>',
      '        <SPA>off</SPA>',
      // SSL on: TLS from the first byte; Encryption TLS: STARTTLS (Outlook 2010 and later).
      v.socket === 'SSL' ? '        <SSL>on</SSL>' : '        <SSL>off</SSL>',
      ...(v.socket === 'STARTTLS' ? ['        <Encryption>TLS</Encryption>'] : []),
      '        <AuthRequired>on</AuthRequired>',
      ...(v.kind === 'smtp' ? ['        <UsePOPAuth>on</UsePOPAuth>'] : []),
      '      </Protocol>',
    ].join('\n');
  return [
    '<?xml version="1.0" encoding="utf-8"?>',
    '<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006">',
    '  <Response xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a">',
    '    <Account>',
    '      <AccountType>email</AccountType>',
    '      <Action>settings</Action>',
    ...[...incoming, ...outgoing].map(protocol),
    '    </Account>',
    '  </Response>',
    '</Autodiscover>',
    '',
  ].join('\n');
}
