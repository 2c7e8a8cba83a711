// The Mail Client Settings page (issue 26, item 7) for each way a daemon can listen: what a
// mail client needs, nothing cut at 80 columns, and the p key's effect from the app reducer.
import { describe, expect, it } from 'vitest';
import { appReducer, initialAppState } from '../../screens/app/app-reducer.js';
import { clientSettingsLines } from '../../src/model/client-settings.js';

const base = { hostname: 'mail.example.test', domains: ['example.test'], tlsLogins: false };

describe('clientSettingsLines', () => {
  it('without a certificate: one plain port, and it says there is no encryption', () => {
    const page = clientSettingsLines('example.test', { ...base, pop3: { port: 110, stls: false }, pop3s: null });
    expect(page).toContain('  Port 110          POP3 without encryption');
    expect(page.join('\n')).toMatch(/Security\s+none: no certificate is configured/);
    expect(page.join('\n')).not.toMatch(/POP3S/);
  });

  it('POP3S only (no plain listener): the one port, and logins over TLS', () => {
    const page = clientSettingsLines('example.test', {
      ...base,
      tlsLogins: true,
      pop3: { port: null, stls: true },
      pop3s: { port: 995 },
    });
    expect(page).toContain('  Port 995          POP3S: SSL/TLS from the first byte (implicit TLS)');
    expect(page.filter((l) => l.startsWith('  Port '))).toHaveLength(1);
    expect(page.join('\n')).toMatch(/passwords are refused without TLS/);
  });

  it('several domains: the whole address, and why; no line wider than 78 columns', () => {
    const long = 'a-rather-long-domain-name-for-a-company.example';
    const page = clientSettingsLines(long, {
      ...base,
      domains: ['example.test', long],
      pop3: { port: 110, stls: true },
      pop3s: { port: 995 },
    });
    expect(page.join('\n')).toMatch(new RegExp(`Username\\s+the whole address: NAME@${long.replaceAll('.', '\\.')}`));
    expect(page).toContain('                    This server hosts 2 domains: a bare name could be any');
    for (const l of clientSettingsLines('example.test', { ...base, pop3: { port: 110, stls: true }, pop3s: null }))
      expect(l.length, l).toBeLessThanOrEqual(78);
  });
});

describe('p on Mail Client Settings', () => {
  const on = { ...initialAppState, domain: 'example.test', screen: 'settings' as const };
  const key = (input: string) => ({ input, key: {} as never });
  const print = { file: 'vmail-settings-example.test.txt', lines: ['a', 'b'] };

  it('asks for the page to be printed, once per p; Esc leaves and forgets the notice', () => {
    const view = { tooSmall: false, connected: true, text: { lines: 2, height: 20, print } };
    let s = appReducer(on, { type: 'key', ...key('p'), view });
    expect(s.outbox).toEqual([{ type: 'print', ...print }]);
    expect(s.printed?.text).toBe('Printing…');
    s = appReducer(s, {
      type: 'outcome',
      outcome: { screen: 'settings', notice: { kind: 'ok', text: 'Printed to /x' } },
    });
    expect(s.printed?.text).toBe('Printed to /x');
    s = appReducer(s, { type: 'key', input: '', key: { escape: true } as never, view });
    expect(s.screen).toBe('menu');
    expect(s.printed).toBeNull();
  });

  it('does nothing on Help, nor while the daemon is away', () => {
    const view = { tooSmall: false, connected: true, text: { lines: 2, height: 20 } };
    expect(appReducer({ ...on, screen: 'help' }, { type: 'key', ...key('p'), view }).outbox).toEqual([]);
    const away = { tooSmall: false, connected: false, text: { lines: 2, height: 20, print } };
    expect(appReducer(on, { type: 'key', ...key('p'), view: away }).outbox).toEqual([]);
  });
});
