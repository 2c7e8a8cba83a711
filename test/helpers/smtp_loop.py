"""Sends messages with smtplib in a loop, one recipient each (taken in turn), and prints one JSON
line per message: its Message-ID, the recipient and the server's final answer (null when the
connection failed). Stops after COUNT messages, once STOPFILE exists, or after 20 failed
connections in a row (the daemon is gone).

usage: smtp_loop.py PORT TAG COUNT STOPFILE RCPT[,RCPT...]
"""
import json, os, smtplib, sys, time

port, tag, count, stopfile = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
rcpts = sys.argv[5].split(',')
conn = None
dead = 0
for i in range(count):
    if os.path.exists(stopfile) or dead >= 20:
        break
    to = rcpts[i % len(rcpts)]
    mid = f'<{tag}-{i}@loop.test>'
    data = f'From: loop@elsewhere.example\r\nTo: {to}\r\nMessage-ID: {mid}\r\nSubject: {tag} {i}\r\n\r\nbody {i}\r\n'
    code = None
    try:
        if conn is None:
            conn = smtplib.SMTP('127.0.0.1', port, timeout=30)
            conn.ehlo()
        conn.sendmail('loop@elsewhere.example', [to], data.encode())
        code = 250
        dead = 0
    except smtplib.SMTPRecipientsRefused as e:
        code = list(e.recipients.values())[0][0]
        dead = 0
    except smtplib.SMTPResponseException as e:
        code = e.smtp_code
        dead = 0
        # A 4xx/5xx answer to DATA leaves the session usable; reset to be sure.
        try:
            conn.rset()
        except Exception:
            conn = None
    except (OSError, smtplib.SMTPException):
        # The connection broke (the daemon was killed): the answer is unknown, start again.
        conn = None
        dead += 1
        time.sleep(0.05)
    print(json.dumps({'id': mid, 'to': to, 'code': code}), flush=True)
if conn is not None:
    try:
        conn.quit()
    except Exception:
        pass
