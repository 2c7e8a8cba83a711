"""Sends N big messages at once over smtplib connections, the body built once and shared (so
the client's memory stays small): each client gives MAIL, RCPT and DATA, then writes its own
header and the shared body and ends the message. Prints a JSON list of the DATA replies.

usage: smtp_big.py PORT FROM TO N MEGABYTES TAG
"""
import json, smtplib, sys, threading

port, sender, rcpt, n, mb, tag = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
line = b'b' * 98 + b'\r\n'
body = line * (mb * 1024 * 1024 // len(line))
out = [None] * n


def client(i):
    s = smtplib.SMTP('127.0.0.1', port, timeout=300)
    s.ehlo()
    s.mail(sender)
    s.rcpt(rcpt)
    s.putcmd('data')
    code, _ = s.getreply()
    if code != 354:
        out[i] = code
        return
    s.send(f'From: {sender}\r\nTo: {rcpt}\r\nSubject: {tag}-{i}\r\n\r\n'.encode())
    s.send(body)
    s.send(b'.\r\n')
    out[i] = s.getreply()[0]
    s.quit()


threads = [threading.Thread(target=client, args=(i,)) for i in range(n)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(json.dumps(out))
