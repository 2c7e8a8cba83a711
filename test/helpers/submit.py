"""Submits one message with Python's smtplib, as a mail client does, and prints what happened.

usage: submit.py JSON < message
JSON: {"port": N, "mode": "starttls"|"ssl"|"plain", "user": U, "password": P (no login when
       absent), "from": F, "to": [T...], "source": "127.0.0.2" (the client's address),
       "cafile": PEM (trusted; default: no verification)}
prints JSON: {"ok": bool, "step": where it stopped, "code": N, "error": the server's text}
"""
import json, smtplib, ssl, sys

a = json.loads(sys.argv[1])
data = sys.stdin.buffer.read()
ctx = ssl.create_default_context(cafile=a.get('cafile'))
if not a.get('cafile'):
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
src = (a.get('source', '127.0.0.1'), 0)
out = {'ok': False, 'step': 'connect'}
try:
    if a['mode'] == 'ssl':
        s = smtplib.SMTP_SSL('127.0.0.1', a['port'], timeout=60, context=ctx, source_address=src)
    else:
        s = smtplib.SMTP('127.0.0.1', a['port'], timeout=60, source_address=src)
    s.ehlo('client.example')
    if a['mode'] == 'starttls':
        out['step'] = 'starttls'
        s.starttls(context=ctx)
        s.ehlo('client.example')
    if 'password' in a:
        out['step'] = 'auth'
        s.login(a['user'], a['password'])
    out['step'] = 'send'
    refused = s.sendmail(a['from'], a['to'], data)
    out['refused'] = {k: [v[0], v[1].decode()] for k, v in refused.items()}
    out['ok'] = True
    s.quit()
except smtplib.SMTPRecipientsRefused as e:
    out['refused'] = {k: [v[0], v[1].decode()] for k, v in e.recipients.items()}
    first = next(iter(e.recipients.values()))
    out['code'], out['error'] = first[0], first[1].decode()
except smtplib.SMTPResponseException as e:
    out['code'] = e.smtp_code
    out['error'] = e.smtp_error.decode()
except smtplib.SMTPNotSupportedError as e:
    out['error'] = str(e)
print(json.dumps(out))
