"""Sends one message with Python's smtplib and prints the outcome as JSON.

usage: send_smtp.py PORT FROM TO[,TO...] [starttls] < message
"""
import json, smtplib, ssl, sys

port, sender, rcpts = int(sys.argv[1]), sys.argv[2], sys.argv[3].split(',')
data = sys.stdin.buffer.read()
s = smtplib.SMTP('127.0.0.1', port, timeout=30)
out = {'ehlo': s.ehlo()[1].decode().split('\n')}
if len(sys.argv) > 4 and sys.argv[4] == 'starttls':
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    out['starttls'] = s.starttls(context=ctx)[0]
    out['ehlo_after'] = s.ehlo()[1].decode().split('\n')
try:
    refused = s.sendmail(sender, rcpts, data)
    out['refused'] = {k: [v[0], v[1].decode()] for k, v in refused.items()}
    out['ok'] = True
except smtplib.SMTPRecipientsRefused as e:
    out['ok'] = False
    out['refused'] = {k: [v[0], v[1].decode()] for k, v in e.recipients.items()}
except smtplib.SMTPResponseException as e:
    out['ok'] = False
    out['code'] = e.smtp_code
    out['error'] = e.smtp_error.decode()
s.quit()
print(json.dumps(out))
