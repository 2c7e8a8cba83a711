"""Sends one message with Python's smtplib and prints the outcome as JSON.

usage: send_smtp.py PORT FROM TO[,TO...] < message
"""
import json, smtplib, sys

port, sender, rcpts = int(sys.argv[1]), sys.argv[2], sys.argv[3].split(',')
data = sys.stdin.buffer.read()
s = smtplib.SMTP('127.0.0.1', port, timeout=30)
out = {'ehlo': s.ehlo()[1].decode().split('\n')}
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
