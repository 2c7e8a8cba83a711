"""Sends one message with Python's smtplib from a given loopback address and prints, as JSON,
the greeting, the EHLO reply and the outcome.

usage: smtp_probe.py PORT SOURCE_IP FROM TO[,TO...] < message
"""
import json, smtplib, sys

port, source, sender, rcpts = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4].split(',')
data = sys.stdin.buffer.read()
s = smtplib.SMTP(timeout=60, source_address=(source, 0))
code, greeting = s.connect('127.0.0.1', port)
out = {'greeting': [code, greeting.decode()]}
if code != 220:
    print(json.dumps(out))
    sys.exit(0)
code, ehlo = s.ehlo()
out['ehlo'] = [code, ehlo.decode()]
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
try:
    s.quit()
except smtplib.SMTPServerDisconnected:
    pass  # a server that has already hung up (a 421) has nothing more to say
print(json.dumps(out))
