"""Fetches every message of a mailbox with Python's poplib and prints them as JSON.

usage: fetch_pop3.py PORT USER PASSWORD [stls|ssl|auth-plain]
"""
import base64, json, poplib, ssl, sys

port, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3]
mode = sys.argv[4] if len(sys.argv) > 4 else ''
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
if mode == 'ssl':
    p = poplib.POP3_SSL('127.0.0.1', port, timeout=30, context=ctx)
else:
    p = poplib.POP3('127.0.0.1', port, timeout=30)
out = {'welcome': p.getwelcome().decode(), 'capa': sorted(p.capa().keys())}
if mode == 'stls':
    p.stls(ctx)
    out['capa_after_stls'] = sorted(p.capa().keys())
if mode == 'auth-plain':
    token = base64.b64encode(b'\0' + user.encode() + b'\0' + password.encode()).decode()
    out['auth'] = p._shortcmd('AUTH PLAIN ' + token).decode()
else:
    p.user(user)
    out['auth'] = p.pass_(password).decode()
count, size = p.stat()
out['stat'] = [count, size]
out['list'] = [l.decode() for l in p.list()[1]]
out['uidl'] = [l.decode() for l in p.uidl()[1]]
out['messages'] = []
for i in range(1, count + 1):
    resp, lines, octets = p.retr(i)
    out['messages'].append({'octets': octets, 'data': base64.b64encode(b'\r\n'.join(lines) + b'\r\n').decode()})
out['top'] = base64.b64encode(b'\r\n'.join(p.top(1, 0)[1]) + b'\r\n').decode() if count else None
out['quit'] = p.quit().decode()
print(json.dumps(out))
