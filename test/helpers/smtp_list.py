"""A mailing-list server's session: COUNT messages on one smtplib connection, each to GOOD and to
an unknown recipient (UNKNOWN with the message's number), and prints a JSON list, one per message:
the recipients refused (sorted), or the error that ended the session (then it stops).

usage: smtp_list.py PORT COUNT GOOD UNKNOWN_LOCAL@DOMAIN
"""
import json, smtplib, sys

port, count, good, unknown = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
local, domain = unknown.split('@')
s = smtplib.SMTP('127.0.0.1', port, timeout=60)
s.ehlo()
out = []
for i in range(count):
    try:
        refused = s.sendmail('list@lists.example', [good, f'{local}{i}@{domain}'],
                             f'Subject: list post {i}\r\n\r\npost\r\n'.encode())
        out.append(sorted(refused))
    except smtplib.SMTPException as e:
        out.append(repr(e))
        break
try:
    s.quit()
except smtplib.SMTPException:
    pass  # the server may have closed the connection already: nothing is left to say
print(json.dumps(out))
