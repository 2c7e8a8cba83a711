"""Sends raw commands to a submission port after STARTTLS (or on implicit TLS), one reply each.

usage: submit_raw.py < JSON
JSON: {"port": N, "ssl": bool (implicit TLS), "source": "127.0.0.2", "commands": ["AUTH PLAIN ...", ...]}
prints JSON: {"replies": [[code, text], ...]}; [-1, "disconnected"] once the server hung up
"""
import json, smtplib, ssl, sys

a = json.loads(sys.stdin.read())
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
src = (a.get('source', '127.0.0.1'), 0)
if a.get('ssl'):
    s = smtplib.SMTP_SSL('127.0.0.1', a['port'], timeout=120, context=ctx, source_address=src)
else:
    s = smtplib.SMTP('127.0.0.1', a['port'], timeout=120, source_address=src)
    s.ehlo('client.example')
    s.starttls(context=ctx)
s.ehlo('client.example')
replies = []
for c in a['commands']:
    try:
        code, text = s.docmd(c)
        replies.append([code, text.decode('latin1')])
    except (smtplib.SMTPServerDisconnected, ConnectionError):
        replies.append([-1, 'disconnected'])
        break
print(json.dumps({'replies': replies}))
